package managerapp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

// serve sends one GET for path with the header Authorization (none when empty)
// through h and returns the status code.
func serve(h http.Handler, path, authorization string) int {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

// The metrics filter against the real API server: TokenReview and
// SubjectAccessReview of service account tokens from the TokenRequest API, and
// the answers cached.
func TestMetricsAuthAgainstTheAPIServer(t *testing.T) {
	env := startTestEnv(t)
	g := NewWithT(t)
	ctx := context.Background()
	admin, err := kubernetes.NewForConfig(env.Config)
	g.Expect(err).NotTo(HaveOccurred())

	const ns = "metrics-auth"
	_, err = admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	token := func(sa string) string {
		_, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx,
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		tr, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(tr.Status.Token).NotTo(BeEmpty())
		return tr.Status.Token
	}
	reader, stranger := token("scraper"), token("stranger")
	_, err = admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"},
		Rules:      []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
	}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "scraper"}},
	}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())

	// The filter talks to the API server through a client that counts the reviews.
	var tokenReviews, accessReviews atomic.Int64
	cfg := rest.CopyConfig(env.Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			switch {
			case strings.HasSuffix(req.URL.Path, "/tokenreviews"):
				tokenReviews.Add(1)
			case strings.HasSuffix(req.URL.Path, "/subjectaccessreviews"):
				accessReviews.Add(1)
			}
			return rt.RoundTrip(req)
		})
	}
	httpClient, err := rest.HTTPClientFor(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	filter, err := metricsAuthFilter(cfg, httpClient)
	g.Expect(err).NotTo(HaveOccurred())
	var sawAuthorization atomic.Bool
	h, err := filter(logr.Discard(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawAuthorization.Store(r.Header.Get("Authorization") != "")
		_, _ = w.Write([]byte("metrics"))
	}))
	g.Expect(err).NotTo(HaveOccurred())

	g.Expect(serve(h, "/metrics", "")).To(Equal(http.StatusUnauthorized), "no Authorization header")
	g.Expect(serve(h, "/metrics", "Basic dXNlcjpwYXNz")).To(Equal(http.StatusUnauthorized), "not a bearer token")
	g.Expect(tokenReviews.Load()).To(BeZero(), "nothing to review without a bearer token")
	g.Expect(serve(h, "/metrics", "Bearer garbage")).To(Equal(http.StatusUnauthorized), "a token the API server does not know")
	g.Expect(serve(h, "/metrics", "Bearer "+stranger)).To(Equal(http.StatusForbidden), "a valid token without RBAC")
	g.Expect(serve(h, "/metrics", "Bearer "+reader)).To(Equal(http.StatusOK), "a token allowed to get /metrics")
	g.Expect(sawAuthorization.Load()).To(BeFalse(), "the handler never sees the token")
	g.Expect(serve(h, "/debug/pprof/", "Bearer "+reader)).To(Equal(http.StatusForbidden), "another path")
	g.Expect(serve(h, "/metrics", "bearer  "+reader)).To(Equal(http.StatusUnauthorized), "an empty token after two spaces")

	// Within the TTLs, the same requests are answered from the caches.
	reviews := func() [2]int64 { return [2]int64{tokenReviews.Load(), accessReviews.Load()} }
	before := reviews()
	g.Expect(before[0]).To(BeEquivalentTo(3), "one TokenReview per distinct token")
	g.Expect(before[1]).To(BeEquivalentTo(3), "one SubjectAccessReview per user and path")
	g.Expect(serve(h, "/metrics", "Bearer "+reader)).To(Equal(http.StatusOK))
	g.Expect(serve(h, "/debug/pprof/", "Bearer "+reader)).To(Equal(http.StatusForbidden))
	g.Expect(serve(h, "/metrics", "Bearer "+stranger)).To(Equal(http.StatusForbidden))
	g.Expect(serve(h, "/metrics", "Bearer garbage")).To(Equal(http.StatusUnauthorized))
	g.Expect(reviews()).To(Equal(before), "a second request within the TTL does not call the API server")
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// fakeReviews answers TokenReviews (the token "good-<n>" is the user "user-<n>")
// and SubjectAccessReviews (only /metrics is allowed), counting them.
type fakeReviews struct {
	tokens, access atomic.Int64
	err            error
}

func (f *fakeReviews) Create(_ context.Context, tr *authenticationv1.TokenReview, _ metav1.CreateOptions) (*authenticationv1.TokenReview, error) {
	f.tokens.Add(1)
	if f.err != nil {
		return nil, f.err
	}
	out := tr.DeepCopy()
	if name, ok := strings.CutPrefix(tr.Spec.Token, "good-"); ok {
		out.Status = authenticationv1.TokenReviewStatus{Authenticated: true,
			User: authenticationv1.UserInfo{Username: "user-" + name, Groups: []string{"scrapers"}}}
	} else {
		out.Status = authenticationv1.TokenReviewStatus{Error: "invalid bearer token"}
	}
	return out, nil
}

type fakeAccessReviews struct{ *fakeReviews }

func (f fakeAccessReviews) Create(_ context.Context, sar *authorizationv1.SubjectAccessReview, _ metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error) {
	f.access.Add(1)
	if f.err != nil {
		return nil, f.err
	}
	out := sar.DeepCopy()
	out.Status.Allowed = sar.Spec.NonResourceAttributes.Path == "/metrics" &&
		sar.Spec.NonResourceAttributes.Verb == "get" &&
		strings.Contains(strings.Join(sar.Spec.Groups, ","), "system:authenticated")
	return out, nil
}

func newFakeMetricsAuth(t *testing.T) (*metricsAuth, *fakeReviews, *time.Time, http.Handler) {
	fake := &fakeReviews{}
	a := newMetricsAuth(fake, fakeAccessReviews{fake})
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return now }
	h, err := a.filter(logr.Discard(), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	if err != nil {
		t.Fatal(err)
	}
	return a, fake, &now, h
}

// Anyone can send tokens: over 1024 distinct ones, each cache stays at 1024
// entries, and the expired entries go first.
func TestMetricsAuthCachesAreBounded(t *testing.T) {
	g := NewWithT(t)
	a, fake, now, h := newFakeMetricsAuth(t)
	for i := range 3000 {
		g.Expect(serve(h, "/metrics", fmt.Sprintf("Bearer good-%d", i))).To(Equal(http.StatusOK))
		g.Expect(serve(h, "/metrics", fmt.Sprintf("Bearer bad-%d", i))).To(Equal(http.StatusUnauthorized))
	}
	g.Expect(a.tokens.len()).To(Equal(metricsAuthCacheSize))
	g.Expect(a.decisions.len()).To(Equal(metricsAuthCacheSize))
	g.Expect(fake.tokens.Load()).To(BeEquivalentTo(6000))

	// The newest answers are kept; the oldest were dropped.
	g.Expect(serve(h, "/metrics", "Bearer good-2999")).To(Equal(http.StatusOK))
	g.Expect(fake.tokens.Load()).To(BeEquivalentTo(6000), "the newest token is cached")
	g.Expect(serve(h, "/metrics", "Bearer good-0")).To(Equal(http.StatusOK))
	g.Expect(fake.tokens.Load()).To(BeEquivalentTo(6001), "the oldest token was evicted")

	// 11 seconds later the unauthenticated answers (10 s) have expired but not the
	// authenticated ones (1 minute): a new token evicts only expired ones.
	*now = now.Add(11 * time.Second)
	good := 0
	for el := a.tokens.order.Front(); el != nil; el = el.Next() {
		if el.Value.(*expiringEntry[tokenResult]).value.authenticated {
			good++
		}
	}
	g.Expect(serve(h, "/metrics", "Bearer bad-new")).To(Equal(http.StatusUnauthorized))
	g.Expect(a.tokens.len()).To(Equal(good+1), "every expired entry was dropped, no live one")
	g.Expect(serve(h, "/metrics", "Bearer good-2999")).To(Equal(http.StatusOK))
	g.Expect(fake.tokens.Load()).To(BeEquivalentTo(6002), "the authenticated answer survived")
}

func TestExpiringCacheExpiresAndEvictsOldest(t *testing.T) {
	g := NewWithT(t)
	c := newExpiringCache[int](3)
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	k := func(b byte) [32]byte { return [32]byte{b} }
	c.put(k(1), 1, t0, time.Minute)
	c.put(k(2), 2, t0, 10*time.Second)
	c.put(k(3), 3, t0, time.Minute)
	c.put(k(4), 4, t0, 0) // not kept
	g.Expect(c.len()).To(Equal(3))

	v, ok := c.get(k(2), t0.Add(9*time.Second))
	g.Expect(ok).To(BeTrue())
	g.Expect(v).To(Equal(2))
	_, ok = c.get(k(2), t0.Add(10*time.Second))
	g.Expect(ok).To(BeFalse(), "expired at its TTL")
	g.Expect(c.len()).To(Equal(2), "an expired entry is dropped when read")

	c.put(k(2), 2, t0, 10*time.Second)
	c.put(k(5), 5, t0.Add(20*time.Second), time.Minute) // full: 2 expired goes, not 1
	for _, key := range []byte{1, 3, 5} {
		_, ok := c.get(k(key), t0.Add(20*time.Second))
		g.Expect(ok).To(BeTrue(), "entry %d", key)
	}
	c.put(k(6), 6, t0.Add(20*time.Second), time.Minute) // full, nothing expired: 1, the oldest, goes
	_, ok = c.get(k(1), t0.Add(20*time.Second))
	g.Expect(ok).To(BeFalse())
	g.Expect(c.len()).To(Equal(3))
}

// A token longer than 16 KiB is refused before it reaches the API server; when
// the API server fails, the answer is 500, the failure is logged, the token is
// not, and nothing is cached.
func TestMetricsAuthRefusesLongTokensAndReportsAPIErrors(t *testing.T) {
	g := NewWithT(t)
	_, fake, _, h := newFakeMetricsAuth(t)
	g.Expect(serve(h, "/metrics", "Bearer good-"+strings.Repeat("x", metricsMaxToken))).To(Equal(http.StatusUnauthorized))
	g.Expect(fake.tokens.Load()).To(BeZero())

	fake.err = errors.New("connection refused")
	var logs bytes.Buffer
	a := newMetricsAuth(fake, fakeAccessReviews{fake})
	h, err := a.filter(funcr.New(func(prefix, args string) { logs.WriteString(prefix + args + "\n") }, funcr.Options{Verbosity: 10}),
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(serve(h, "/metrics", "Bearer good-secret-token")).To(Equal(http.StatusInternalServerError))
	g.Expect(serve(h, "/metrics", "Bearer good-secret-token")).To(Equal(http.StatusInternalServerError))
	g.Expect(fake.tokens.Load()).To(BeEquivalentTo(2), "errors are not cached")
	g.Expect(logs.String()).To(ContainSubstring("connection refused"))
	g.Expect(logs.String()).NotTo(ContainSubstring("secret-token"))

	// The SubjectAccessReview fails: 500 too.
	fake.err = nil
	g.Expect(serve(h, "/metrics", "Bearer good-a")).To(Equal(http.StatusOK))
	fake.err = errors.New("etcd is down")
	g.Expect(serve(h, "/other", "Bearer good-a")).To(Equal(http.StatusInternalServerError))
	g.Expect(logs.String()).To(ContainSubstring("etcd is down"))
}

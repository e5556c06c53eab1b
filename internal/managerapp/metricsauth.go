package managerapp

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/cxops/cxops/internal/textutil"
)

// The secure metrics endpoint's authentication and authorization. It does what
// controller-runtime's filters.WithAuthenticationAndAuthorization does (a
// TokenReview for the bearer token, a SubjectAccessReview for the path and verb,
// both answered by the API server, both cached) without importing k8s.io/apiserver,
// which carried its informers, cel-go, grpc, otel and konnectivity into the manager
// (about 30 MB of binary and 17 MB of resident memory).
//
// Anyone who reaches the port can send tokens, so everything is bounded: the
// token's length, the time of each review and the size of both caches. A cache
// holds the SHA-256 of a token, never the token, and the token is never logged.

const (
	// metricsAuthCacheSize bounds each of the two caches.
	metricsAuthCacheSize = 1024
	// metricsMaxToken is the longest bearer token sent to the API server; a
	// service account token is about 1 KiB.
	metricsMaxToken = 16 << 10
)

// metricsAuth authenticates and authorizes the requests to the metrics endpoint
// through the API server. Its fields are set by newMetricsAuth; tests change the
// TTLs and the clock before calling filter.
type metricsAuth struct {
	tokenReviews  authenticationv1client.TokenReviewInterface
	accessReviews authorizationv1client.SubjectAccessReviewInterface

	// authenticatedTTL and unauthenticatedTTL are how long a TokenReview's answer
	// is kept; allowedTTL and deniedTTL a SubjectAccessReview's. Zero: not kept.
	authenticatedTTL   time.Duration
	unauthenticatedTTL time.Duration
	allowedTTL         time.Duration
	deniedTTL          time.Duration
	// reviewTimeout bounds each review.
	reviewTimeout time.Duration
	// maxToken is the longest token sent for review; a longer one is refused (401).
	maxToken int
	now      func() time.Time

	tokens    *expiringCache[tokenResult]
	decisions *expiringCache[bool]
}

// tokenResult is a TokenReview's answer.
type tokenResult struct {
	authenticated bool
	user          authenticationv1.UserInfo
}

// metricsAuthFilter is the metrics server's FilterProvider
// (metricsserver.Options.FilterProvider) when --metrics-secure is on. The
// manager needs to create tokenreviews (authentication.k8s.io) and
// subjectaccessreviews (authorization.k8s.io); a scraper needs get on the
// non-resource URL /metrics.
func metricsAuthFilter(c *rest.Config, httpClient *http.Client) (metricsserver.Filter, error) {
	authn, err := authenticationv1client.NewForConfigAndClient(c, httpClient)
	if err != nil {
		return nil, err
	}
	authz, err := authorizationv1client.NewForConfigAndClient(c, httpClient)
	if err != nil {
		return nil, err
	}
	return newMetricsAuth(authn.TokenReviews(), authz.SubjectAccessReviews()).filter, nil
}

// newMetricsAuth returns controller-runtime's settings: answers kept 1 minute
// (authenticated), 10 seconds (not authenticated), 5 minutes (allowed) and 30
// seconds (denied); 10 seconds for each review.
func newMetricsAuth(tr authenticationv1client.TokenReviewInterface, sar authorizationv1client.SubjectAccessReviewInterface) *metricsAuth {
	return &metricsAuth{
		tokenReviews:       tr,
		accessReviews:      sar,
		authenticatedTTL:   time.Minute,
		unauthenticatedTTL: 10 * time.Second,
		allowedTTL:         5 * time.Minute,
		deniedTTL:          30 * time.Second,
		reviewTimeout:      10 * time.Second,
		maxToken:           metricsMaxToken,
		now:                time.Now,
		tokens:             newExpiringCache[tokenResult](metricsAuthCacheSize),
		decisions:          newExpiringCache[bool](metricsAuthCacheSize),
	}
}

// filter is a metricsserver.Filter: handler runs only for a request whose bearer
// token the API server authenticates and whose user may use the request's verb on
// its path. 401 without a valid token, 403 without the permission, 500 when the
// API server cannot answer. The Authorization header is removed before handler
// runs.
func (a *metricsAuth) filter(log logr.Logger, handler http.Handler) (http.Handler, error) {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		token, ok := bearerToken(req)
		if !ok || len(token) > a.maxToken {
			log.V(4).Info("metrics request without a valid bearer token")
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		user, ok, err := a.authenticate(req.Context(), token)
		if err != nil {
			log.Error(err, "metrics authentication failed: the TokenReview did not complete")
			http.Error(w, "Authentication failed", http.StatusInternalServerError)
			return
		}
		if !ok {
			log.V(4).Info("metrics request with a token the API server does not authenticate")
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		req.Header.Del("Authorization")

		attrs := authorizationv1.NonResourceAttributes{Path: req.URL.Path, Verb: strings.ToLower(req.Method)}
		allowed, err := a.authorize(req.Context(), user, attrs)
		if err != nil {
			log.Error(err, "metrics authorization failed: the SubjectAccessReview did not complete",
				"user", user.Username, "path", textutil.Truncate(attrs.Path, 256), "verb", textutil.Truncate(attrs.Verb, 32))
			http.Error(w, "Authorization for user "+user.Username+" failed", http.StatusInternalServerError)
			return
		}
		if !allowed {
			log.V(4).Info("metrics request denied",
				"user", user.Username, "path", textutil.Truncate(attrs.Path, 256), "verb", textutil.Truncate(attrs.Verb, 32))
			http.Error(w, "Authorization denied for user "+user.Username, http.StatusForbidden)
			return
		}
		handler.ServeHTTP(w, req)
	}), nil
}

// bearerToken reads the token of "Authorization: Bearer <token>" as the API
// server does (k8s.io/apiserver's bearertoken authenticator).
func bearerToken(req *http.Request) (string, bool) {
	auth := strings.TrimSpace(req.Header.Get("Authorization"))
	parts := strings.SplitN(auth, " ", 3)
	if len(parts) < 2 || !strings.EqualFold(parts[0], "bearer") || parts[1] == "" {
		return "", false
	}
	return parts[1], true
}

// authenticate returns the user the API server finds for token, from the cache
// when it answered recently.
func (a *metricsAuth) authenticate(ctx context.Context, token string) (authenticationv1.UserInfo, bool, error) {
	key := sha256.Sum256([]byte(token))
	if r, ok := a.tokens.get(key, a.now()); ok {
		return r.user, r.authenticated, nil
	}
	ctx, cancel := context.WithTimeout(ctx, a.reviewTimeout)
	defer cancel()
	review, err := a.tokenReviews.Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token},
	}, metav1.CreateOptions{})
	if err != nil {
		return authenticationv1.UserInfo{}, false, err
	}
	r := tokenResult{authenticated: review.Status.Authenticated}
	ttl := a.unauthenticatedTTL
	if r.authenticated {
		r.user = withAuthenticatedGroup(review.Status.User)
		ttl = a.authenticatedTTL
	}
	a.tokens.put(key, r, a.now(), ttl)
	return r.user, r.authenticated, nil
}

// withAuthenticatedGroup adds system:authenticated to an authenticated user's
// groups, as the API server's own authentication chain does.
func withAuthenticatedGroup(u authenticationv1.UserInfo) authenticationv1.UserInfo {
	if u.Username == "system:anonymous" {
		return u
	}
	for _, g := range u.Groups {
		if g == "system:authenticated" || g == "system:unauthenticated" {
			return u
		}
	}
	u.Groups = append(append(make([]string, 0, len(u.Groups)+1), u.Groups...), "system:authenticated")
	return u
}

// authorize asks the API server whether user may use attrs, from the cache when
// it answered recently. The cache key is the hash of the whole review (user,
// groups, uid, extra, path and verb): everything the answer may depend on.
func (a *metricsAuth) authorize(ctx context.Context, user authenticationv1.UserInfo, attrs authorizationv1.NonResourceAttributes) (bool, error) {
	spec := authorizationv1.SubjectAccessReviewSpec{
		User:                  user.Username,
		UID:                   user.UID,
		Groups:                user.Groups,
		NonResourceAttributes: &attrs,
	}
	if len(user.Extra) > 0 {
		spec.Extra = make(map[string]authorizationv1.ExtraValue, len(user.Extra))
		for k, v := range user.Extra {
			spec.Extra[k] = authorizationv1.ExtraValue(v)
		}
	}
	raw, err := json.Marshal(spec) // maps are marshalled in key order: a stable key
	if err != nil {
		return false, err
	}
	key := sha256.Sum256(raw)
	if allowed, ok := a.decisions.get(key, a.now()); ok {
		return allowed, nil
	}
	ctx, cancel := context.WithTimeout(ctx, a.reviewTimeout)
	defer cancel()
	review, err := a.accessReviews.Create(ctx, &authorizationv1.SubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	allowed := review.Status.Allowed && !review.Status.Denied
	ttl := a.deniedTTL
	if allowed {
		ttl = a.allowedTTL
	}
	a.decisions.put(key, allowed, a.now(), ttl)
	return allowed, nil
}

// expiringCache is a map of at most max entries, each kept until its own expiry.
// When it is full, an insert drops the expired entries, then the oldest.
type expiringCache[V any] struct {
	mu      sync.Mutex
	max     int
	entries map[[sha256.Size]byte]*list.Element
	order   list.List // of *expiringEntry[V], oldest first
}

type expiringEntry[V any] struct {
	key     [sha256.Size]byte
	value   V
	expires time.Time
}

func newExpiringCache[V any](maxEntries int) *expiringCache[V] {
	return &expiringCache[V]{max: maxEntries, entries: make(map[[sha256.Size]byte]*list.Element)}
}

func (c *expiringCache[V]) get(key [sha256.Size]byte, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero V
	el, ok := c.entries[key]
	if !ok {
		return zero, false
	}
	e := el.Value.(*expiringEntry[V])
	if !now.Before(e.expires) {
		c.remove(el)
		return zero, false
	}
	return e.value, true
}

func (c *expiringCache[V]) put(key [sha256.Size]byte, value V, now time.Time, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.remove(el)
	}
	if len(c.entries) >= c.max {
		for el := c.order.Front(); el != nil; {
			next := el.Next()
			if !now.Before(el.Value.(*expiringEntry[V]).expires) {
				c.remove(el)
			}
			el = next
		}
	}
	for len(c.entries) >= c.max && c.order.Len() > 0 {
		c.remove(c.order.Front())
	}
	c.entries[key] = c.order.PushBack(&expiringEntry[V]{key: key, value: value, expires: now.Add(ttl)})
}

func (c *expiringCache[V]) remove(el *list.Element) {
	c.order.Remove(el)
	delete(c.entries, el.Value.(*expiringEntry[V]).key)
}

func (c *expiringCache[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

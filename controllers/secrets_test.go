package controllers

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/providers"
)

// Markers planted in the victim's Secrets: none may ever reach the attacker.
const (
	markerHeader = "MARKER-HEADER-7f3a"
	markerBearer = "MARKER-BEARER-91c2"
	markerHook   = "MARKER-HOOK-5d0e"
)

// attackerServer records everything it receives and answers like Prometheus (and
// with JSON, which the HTTP source accepts).
type attackerServer struct {
	mu       sync.Mutex
	requests []string
}

func newAttackerServer(t *testing.T) (*attackerServer, string) {
	a := &attackerServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var b strings.Builder
		b.WriteString(r.Method + " " + r.URL.String() + "\n")
		for k, vs := range r.Header {
			b.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
		}
		b.Write(body)
		a.mu.Lock()
		a.requests = append(a.requests, b.String())
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}]}}`)
	}))
	t.Cleanup(srv.Close)
	return a, srv.URL
}

// received reports whether any request so far contains s.
func (a *attackerServer) received(s string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.requests {
		if strings.Contains(r, s) {
			return true
		}
	}
	return false
}

func (a *attackerServer) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.requests)
}

// editorClient returns a client that acts as a user who may do anything with cxops
// objects in ns but nothing with Secrets.
func editorClient(t *testing.T, g Gomega, ns, user string) client.Client {
	t.Helper()
	ctx := context.Background()
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cx-editor"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{cxv1.GroupVersion.Group}, Resources: []string{"*"}, Verbs: []string{"*"}}},
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cx-editor"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}
	g.Expect(k8sClient.Create(ctx, role)).To(Succeed())
	g.Expect(k8sClient.Create(ctx, binding)).To(Succeed())
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())
	// The premise: this user cannot read Secrets, but can create cxops objects.
	g.Eventually(func(g Gomega) {
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "any"}, &corev1.Secret{})
		g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "error: %v", err)
		g.Expect(c.List(ctx, &cxv1.SignalSourceList{}, client.InNamespace(ns))).To(Succeed())
	}, timeout, poll).Should(Succeed())
	return c
}

// TestSecretsByReferenceNeedTheOptInLabel reproduces the audit's first defect: a
// user who may not read Secrets points sources and webhook sinks at a server they
// control and references Secrets they cannot read. Without the opt-in label no
// value reaches the server and the status says which label to add; with it, the
// values are sent.
func TestSecretsByReferenceNeedTheOptInLabel(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	ctx := context.Background()
	attacker, url := newAttackerServer(t)

	// The victim's Secrets, created by an admin, without the label.
	create(g,
		unlabelledSecret(ns, "api-headers", map[string]string{"X-Api-Key": markerHeader}),
		unlabelledSecret(ns, "prom-token", map[string]string{"token": markerBearer}),
		unlabelledSecret(ns, "hook-headers", map[string]string{"Authorization": markerHook}),
	)

	mallory := editorClient(t, g, ns, "mallory")
	httpSrc := &cxv1.SignalSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "exfil-http"},
		Spec: cxv1.SignalSourceSpec{HTTP: cxv1.HTTPSource{
			URL: url + "/collect", HeadersSecretRef: cxv1.LocalObjectReference{Name: "api-headers"}}},
	}
	promSrc := &cxv1.SignalSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "exfil-prom"},
		Spec: cxv1.SignalSourceSpec{Prometheus: cxv1.PrometheusSource{
			Address: url,
			Auth:    cxv1.Auth{Type: cxv1.AuthBearer, SecretRef: cxv1.LocalObjectReference{Name: "prom-token"}}}},
	}
	sinkTo := func(name string) []cxv1.WebhookSink {
		return []cxv1.WebhookSink{{Name: name, URL: url + "/hook", HeadersSecretRef: cxv1.LocalObjectReference{Name: "hook-headers"}}}
	}
	m := moment(ns, "stock", "parts", "order", objective("accuracy", "figures", "stock", "99.5"))
	m.Spec.Remediation = &cxv1.Remediation{StreamRef: cxv1.LocalObjectReference{Name: "systems"}, Sinks: sinkTo("ops")}
	st := stream(ns, "systems")
	st.Spec.Sinks = sinkTo("it")
	tk := task(ns, "exfil-1")
	tk.Spec.StreamRef = cxv1.LocalObjectReference{Name: "systems"}
	for _, o := range []client.Object{httpSrc, promSrc, staticSource(ns, "figures", map[string]string{"stock": "99.8"}),
		journey(ns, "parts", "order"), st, m, tk} {
		g.Expect(mallory.Create(ctx, o)).To(Succeed(), "creating %s", o.GetName())
	}

	label := cxv1.SecretUsableByLabel + "=" + cxv1.SecretUsableByValue
	for _, src := range []*cxv1.SignalSource{httpSrc, promSrc} {
		g.Eventually(func(g Gomega) {
			s := get(g, src)
			ready := cond(s.Status.Conditions, cxv1.ReadyCondition)
			g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(ready.Reason).To(Equal(cxv1.ReasonSecretNotUsable))
			g.Expect(ready.Message).To(ContainSubstring(label))
		}, timeout, poll).Should(Succeed(), "source %s", src.Name)
	}
	g.Eventually(func(g Gomega) {
		tk := get(g, tk)
		g.Expect(tk.Status.Deliveries).To(ContainElement(HaveField("Sink", "moment/ops")))
		g.Expect(tk.Status.Deliveries).To(ContainElement(HaveField("Sink", "stream/it")))
		for _, d := range tk.Status.Deliveries {
			g.Expect(d.Delivered).To(HaveValue(BeFalse()))
			g.Expect(d.LastError).To(ContainSubstring(label))
		}
		delivered := cond(tk.Status.Conditions, cxv1.DeliveredCondition)
		g.Expect(delivered.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(delivered.Message).To(ContainSubstring(label))
	}, timeout, poll).Should(Succeed())
	g.Expect(attacker.count()).To(BeZero(), "nothing is called while a referenced Secret is refused")
	for _, marker := range []string{markerHeader, markerBearer, markerHook} {
		g.Expect(attacker.received(marker)).To(BeFalse(), "marker %s reached the attacker", marker)
	}

	// The owner opts the Secrets in: the sources are rebuilt without a restart (the
	// watch sees the label), and a new task's notifications carry the headers.
	for _, name := range []string{"api-headers", "prom-token", "hook-headers"} {
		sec := &corev1.Secret{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, sec)).To(Succeed())
		sec.Labels = map[string]string{cxv1.SecretUsableByLabel: cxv1.SecretUsableByValue}
		g.Expect(k8sClient.Update(ctx, sec)).To(Succeed())
	}
	for _, src := range []*cxv1.SignalSource{httpSrc, promSrc} {
		g.Eventually(func(g Gomega) {
			g.Expect(cond(get(g, src).Status.Conditions, cxv1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
		}, timeout, poll).Should(Succeed(), "source %s", src.Name)
	}
	tk2 := task(ns, "exfil-2")
	tk2.Spec.StreamRef = cxv1.LocalObjectReference{Name: "systems"}
	create(g, tk2)
	g.Eventually(func(g Gomega) {
		g.Expect(cond(get(g, tk2).Status.Conditions, cxv1.DeliveredCondition).Status).To(Equal(metav1.ConditionTrue))
	}, timeout, poll).Should(Succeed())
	for _, marker := range []string{markerHeader, markerBearer, markerHook} {
		g.Expect(attacker.received(marker)).To(BeTrue(), "marker %s was not sent once opted in", marker)
	}
}

// TestSecretCacheHoldsOnlyLabelledSecrets reproduces the audit's second defect:
// the cache of Secrets held every Secret's metadata, and with it kubectl's
// last-applied-configuration (the data of an applied Secret). The cxops cache
// settings list only labelled Secrets and drop that annotation and managed fields.
func TestSecretCacheHoldsOnlyLabelledSecrets(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	applied := func(s *corev1.Secret) *corev1.Secret {
		s.Annotations = map[string]string{
			corev1.LastAppliedConfigAnnotation: `{"stringData":{"password":"` + markerBearer + `"}}`,
			"team":                             "logistics",
		}
		return s
	}
	create(g,
		applied(unlabelledSecret(ns, "private", map[string]string{"password": markerBearer})),
		applied(secret(ns, "opted-in", map[string]string{"token": "t"})))

	c, err := cache.New(env.Config, cache.Options{Scheme: scheme, ByObject: CacheByObject()})
	g.Expect(err).NotTo(HaveOccurred())
	go func() { _ = c.Start(ctx) }()
	g.Expect(c.WaitForCacheSync(ctx)).To(BeTrue())

	var got corev1.Secret
	g.Eventually(func() error {
		return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "opted-in"}, &got)
	}, timeout, poll).Should(Succeed())
	g.Expect(got.Annotations).NotTo(HaveKey(corev1.LastAppliedConfigAnnotation))
	g.Expect(got.Annotations).To(HaveKeyWithValue("team", "logistics"))
	g.Expect(got.ManagedFields).To(BeEmpty())
	g.Expect(got.Data).To(HaveKeyWithValue("token", []byte("t")))

	err = c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "private"}, &corev1.Secret{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "an unlabelled Secret is not cached: %v", err)
	var all corev1.SecretList
	g.Expect(c.List(ctx, &all, client.InNamespace(ns))).To(Succeed())
	for _, s := range all.Items {
		g.Expect(s.Name).NotTo(Equal("private"))
		g.Expect(s.Annotations).NotTo(HaveKey(corev1.LastAppliedConfigAnnotation))
	}
}

// TestSecretReaderRefusesUnlabelledSecretsWhateverTheCache: the reader keeps the
// rule when the cache is not label-selected (another manager's settings), tells a
// missing Secret from an unlabelled one, and never returns an unlabelled Secret's
// data.
func TestSecretReaderRefusesUnlabelledSecretsWhateverTheCache(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	unlabelled := unlabelledSecret("ns", "plain", nil)
	unlabelled.Data = map[string][]byte{"token": []byte(markerBearer)}
	labelled := secret("ns", "opted-in", nil)
	labelled.Data = map[string][]byte{"token": []byte("t")}
	fresh := secret("ns", "just-labelled", nil)

	// A cache that holds every Secret.
	everything := fake.NewClientBuilder().WithScheme(scheme).WithObjects(unlabelled.DeepCopy(), labelled.DeepCopy()).Build()
	api := fake.NewClientBuilder().WithScheme(scheme).WithObjects(unlabelled.DeepCopy(), labelled.DeepCopy(), fresh.DeepCopy()).Build()
	r := secretReader{cached: everything, api: api}

	data, err := r.get(ctx, "ns", "plain")
	g.Expect(errors.Is(err, providers.ErrSecretNotUsable)).To(BeTrue(), "error: %v", err)
	g.Expect(err.Error()).To(ContainSubstring("kubectl label secret plain cx.cxops.io/usable-by=cxops"))
	g.Expect(data).To(BeNil())

	data, err = r.get(ctx, "ns", "opted-in")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(data).To(HaveKeyWithValue("token", []byte("t")))

	_, err = r.get(ctx, "ns", "absent")
	g.Expect(errors.Is(err, providers.ErrSecretNotFound)).To(BeTrue(), "error: %v", err)

	// Labelled a moment ago, not in the cache yet: a transient error, not a refusal.
	_, err = r.get(ctx, "ns", "just-labelled")
	g.Expect(err).To(HaveOccurred())
	g.Expect(errors.Is(err, providers.ErrSecretNotUsable)).To(BeFalse())
	g.Expect(errors.Is(err, providers.ErrSecretNotFound)).To(BeFalse())
}

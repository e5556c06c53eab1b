package providers

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"golang.org/x/time/rate"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/egress"
)

func ref(name string) v1alpha1.LocalObjectReference {
	return v1alpha1.LocalObjectReference{Name: name}
}

func TestSecretNames(t *testing.T) {
	tests := []struct {
		name string
		spec v1alpha1.SignalSourceSpec
		want []string
	}{
		{name: "none", spec: v1alpha1.SignalSourceSpec{Static: v1alpha1.StaticSource{Values: map[string]v1alpha1.StaticValue{"a": "1"}}}},
		{name: "prometheus without secrets", spec: v1alpha1.SignalSourceSpec{Prometheus: v1alpha1.PrometheusSource{Address: "http://p:9090"}}},
		{name: "prometheus auth and CA", spec: v1alpha1.SignalSourceSpec{Prometheus: v1alpha1.PrometheusSource{
			Address: "https://p:9090",
			Auth:    v1alpha1.Auth{Type: v1alpha1.AuthBearer, SecretRef: v1alpha1.LocalObjectReference{Name: "token"}},
			TLS:     &v1alpha1.TLSConfig{CASecretRef: ref("ca")},
		}}, want: []string{"ca", "token"}},
		{name: "same secret twice", spec: v1alpha1.SignalSourceSpec{Prometheus: v1alpha1.PrometheusSource{
			Address: "https://p:9090",
			Auth:    v1alpha1.Auth{Type: v1alpha1.AuthBasic, SecretRef: v1alpha1.LocalObjectReference{Name: "prom"}},
			TLS:     &v1alpha1.TLSConfig{CASecretRef: ref("prom")},
		}}, want: []string{"prom"}},
		{name: "http headers and CA", spec: v1alpha1.SignalSourceSpec{HTTP: v1alpha1.HTTPSource{
			URL:              "https://survey.example/export",
			HeadersSecretRef: ref("survey-headers"),
			TLS:              &v1alpha1.TLSConfig{CASecretRef: ref("corp-ca"), ServerName: "x"},
		}}, want: []string{"corp-ca", "survey-headers"}},
		{name: "TLS without CA", spec: v1alpha1.SignalSourceSpec{HTTP: v1alpha1.HTTPSource{
			URL: "https://survey.example/export", TLS: &v1alpha1.TLSConfig{ServerName: "x"},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			NewWithT(t).Expect(SecretNames(tt.spec)).To(Equal(tt.want))
		})
	}
}

func TestNewInvalidSpecs(t *testing.T) {
	static := v1alpha1.StaticSource{Values: map[string]v1alpha1.StaticValue{"a": "1"}}
	prom := v1alpha1.PrometheusSource{Address: "http://p:9090"}
	tests := []struct {
		name string
		spec v1alpha1.SignalSourceSpec
		kind string
	}{
		{name: "nothing set", spec: v1alpha1.SignalSourceSpec{}},
		{name: "two set", spec: v1alpha1.SignalSourceSpec{Static: static, Prometheus: prom}},
		{name: "unknown auth type", spec: v1alpha1.SignalSourceSpec{Prometheus: v1alpha1.PrometheusSource{
			Address: "http://p:9090",
			Auth:    v1alpha1.Auth{Type: "Digest", SecretRef: v1alpha1.LocalObjectReference{Name: "s"}},
		}}, kind: KindPrometheus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := New(tt.spec, SecretMap{"s": {"token": []byte("x")}}.Get, Options{Policy: local})
			_ = expectReason(g, err, v1alpha1.ReasonInvalidSpec)
			g.Expect(Kind(tt.spec)).To(Equal(tt.kind))
		})
	}
	g := NewWithT(t)
	g.Expect(Kind(v1alpha1.SignalSourceSpec{Static: static})).To(Equal(KindStatic))
	g.Expect(Kind(v1alpha1.SignalSourceSpec{Prometheus: prom})).To(Equal(KindPrometheus))
	g.Expect(Kind(v1alpha1.SignalSourceSpec{HTTP: v1alpha1.HTTPSource{URL: "http://x"}})).To(Equal(KindHTTP))
}

func TestNewSecretGetterErrors(t *testing.T) {
	spec := v1alpha1.SignalSourceSpec{HTTP: v1alpha1.HTTPSource{URL: "http://x", HeadersSecretRef: ref("h")}}
	notFound := apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, "h")
	transient := errors.New("etcdserver: request timed out")
	tests := []struct {
		name      string
		getter    SecretGetter
		reason    string
		transient bool
	}{
		{name: "nil getter", getter: nil, reason: v1alpha1.ReasonSecretNotFound},
		{name: "ErrSecretNotFound", getter: SecretMap{}.Get, reason: v1alpha1.ReasonSecretNotFound},
		{name: "API NotFound", getter: func(string) (map[string][]byte, error) { return nil, notFound }, reason: v1alpha1.ReasonSecretNotFound},
		{name: "transient", getter: func(string) (map[string][]byte, error) { return nil, transient }, transient: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := New(spec, tt.getter, Options{Policy: local})
			g.Expect(err).To(HaveOccurred())
			if tt.transient {
				pe := expectReason(g, err, v1alpha1.ReasonSecretNotFound)
				g.Expect(pe.Message).To(Equal(`Secret "h" (headersSecretRef) cannot be read: etcdserver: request timed out`))
				g.Expect(errors.Is(err, transient)).To(BeTrue(), "the caller can tell a read failure from a missing Secret")
				return
			}
			pe := expectReason(g, err, tt.reason)
			g.Expect(pe.Message).To(Equal(`Secret "h" (headersSecretRef) does not exist in the namespace`))
		})
	}
}

func TestEgressPolicyAppliesToProviders(t *testing.T) {
	srv := newTestServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"v": 1}`))
	})
	noLoopback := egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}

	tests := []struct {
		name string
		spec v1alpha1.SignalSourceSpec
		opts Options
	}{
		{name: "prometheus at the metadata address", spec: v1alpha1.SignalSourceSpec{Prometheus: v1alpha1.PrometheusSource{
			Address: "http://169.254.169.254:9090"}}},
		{name: "http at the metadata address", spec: v1alpha1.SignalSourceSpec{HTTP: v1alpha1.HTTPSource{
			URL: "http://169.254.169.254/latest/meta-data/iam/security-credentials/"}}},
		{name: "http at the IPv6 metadata address", spec: v1alpha1.SignalSourceSpec{HTTP: v1alpha1.HTTPSource{
			URL: "http://[fd00:ec2::254]/latest/meta-data/"}}},
		{name: "allow list excluding loopback refuses the test server", spec: v1alpha1.SignalSourceSpec{HTTP: v1alpha1.HTTPSource{
			URL: srv.URL}}, opts: Options{Policy: noLoopback}},
		{name: "prometheus with allow list excluding loopback", spec: v1alpha1.SignalSourceSpec{Prometheus: v1alpha1.PrometheusSource{
			Address: srv.URL}}, opts: Options{Policy: noLoopback}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			p, err := New(tt.spec, nil, tt.opts)
			g.Expect(err).NotTo(HaveOccurred())
			closeProvider(t, p)
			pe := expectReason(g, p.Probe(testContext(t)), v1alpha1.ReasonBlockedAddress)
			g.Expect(pe.Message).To(ContainSubstring("refused by the egress policy"))
			g.Expect(egress.IsBlocked(pe)).To(BeTrue())
		})
	}
	NewWithT(t).Expect(srv.hits.Load()).To(BeZero())
}

func TestHostRateLimitAppliesToProviders(t *testing.T) {
	g := NewWithT(t)
	srv := newTestServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"v": 1}`))
	})
	limiter := egress.NewHostLimiter(rate.Every(time.Hour), 1)
	p := newHTTPProvider(t, v1alpha1.HTTPSource{URL: srv.URL}, nil, Options{Policy: local, Limiter: limiter})
	g.Expect(p.Query(testContext(t), "{.v}")).To(Equal(1.0))

	// The next token is an hour away, beyond the 10s timeout: refused at once.
	_, err := p.Query(testContext(t), "{.v}")
	pe := expectReason(g, err, v1alpha1.ReasonUnreachable)
	g.Expect(pe.Message).To(ContainSubstring("per-host rate limit"))
	g.Expect(srv.hits.Load()).To(BeEquivalentTo(1))
}

func TestOptionsTransportReplacesTheNetwork(t *testing.T) {
	g := NewWithT(t)
	var seen *http.Request
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen = r
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, ContentLength: 0, Request: r,
			Header: http.Header{}}, nil
	})
	spec := v1alpha1.SignalSourceSpec{HTTP: v1alpha1.HTTPSource{URL: "http://survey.invalid/x", HeadersSecretRef: ref("h")}}
	p, err := New(spec, SecretMap{"h": {"X-Api-Key": []byte("k")}}.Get, Options{Transport: rt})
	g.Expect(err).NotTo(HaveOccurred())
	err = p.Probe(testContext(t))
	pe := expectReason(g, err, v1alpha1.ReasonBadResponse) // empty body is not JSON
	g.Expect(pe.Message).To(ContainSubstring("not valid JSON"))
	g.Expect(seen.Header.Get("X-Api-Key")).To(Equal("k"))
	g.Expect(seen.Header.Get("Accept")).To(Equal("application/json"))
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestBlockedNameDoesNotRevealItsAddress: a name that resolves to a refused
// address is refused without saying the address (or which range holds it), so that
// a source cannot be used to read the cluster's DNS. An IP literal is repeated, as
// its author wrote it.
func TestBlockedNameDoesNotRevealItsAddress(t *testing.T) {
	g := NewWithT(t)
	srv := newTestServer(t, false, func(w http.ResponseWriter, r *http.Request) {})
	_, port, _ := strings.Cut(srv.Listener.Addr().String(), "127.0.0.1:")
	logs := &logSink{}
	p := newHTTPProvider(t, v1alpha1.HTTPSource{URL: "http://localhost:" + port + "/x"}, nil, Options{Logger: logs.logger(1)})
	pe := expectReason(g, p.Probe(testContext(t)), v1alpha1.ReasonBlockedAddress)
	g.Expect(pe.Message).To(Equal("host localhost:" + port + " resolves to an address the egress policy refuses (ask whoever runs cxops for an --egress-allow entry)"))
	g.Expect(egress.IsBlocked(pe)).To(BeTrue())
	g.Expect(logs.all()).To(MatchRegexp(`127\.0\.0\.1|::1`))
	g.Expect(srv.hits.Load()).To(BeZero())

	p = newHTTPProvider(t, v1alpha1.HTTPSource{URL: srv.URL + "/x"}, nil, Options{})
	pe = expectReason(g, p.Probe(testContext(t)), v1alpha1.ReasonBlockedAddress)
	g.Expect(pe.Message).To(ContainSubstring("address 127.0.0.1 is refused by the egress policy (loopback"))
}

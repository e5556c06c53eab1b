package providers

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"golang.org/x/time/rate"

	"github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/egress"
)

// Defect (issue 12): 100 queries on one HTTP JSON document made 100 GETs of the
// same URL per interval. The queries of one tick share one GET.
func TestHTTPJSONOneGETPerTick(t *testing.T) {
	g := NewWithT(t)
	srv := newTestServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(sampleDoc))
	})
	p := newHTTPProvider(t, v1alpha1.HTTPSource{URL: srv.URL + "/doc"}, nil, Options{Policy: local})
	g.Expect(TraitsOf(p).SharedFetch).To(BeTrue())

	tick := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	queries := []string{"{.nps.score}", "{.breakdown.promoters}", "{.breakdown.detractors}", "{.items[1].v}"}
	ask := func(tick time.Time) {
		t.Helper()
		var wg sync.WaitGroup
		for i := range 100 {
			wg.Go(func() {
				_, err := p.Query(WithTick(context.Background(), tick), queries[i%len(queries)])
				g.Expect(err).NotTo(HaveOccurred())
			})
		}
		wg.Wait()
	}
	ask(tick)
	g.Expect(srv.hits.Load()).To(Equal(int32(1)), "100 concurrent queries of one tick: one GET")
	ask(tick)
	g.Expect(srv.hits.Load()).To(Equal(int32(1)), "the same tick again: the kept document")
	ask(tick.Add(-time.Second))
	g.Expect(srv.hits.Load()).To(Equal(int32(1)), "an earlier tick: the document is fresh enough")
	for n := int32(2); n <= 4; n++ {
		tick = tick.Add(time.Minute)
		ask(tick)
		g.Expect(srv.hits.Load()).To(Equal(n), "one GET per new tick")
	}

	// No tick (a probe, another caller): always its own GET.
	before := srv.hits.Load()
	for range 3 {
		_, err := p.Query(context.Background(), "{.nps.score}")
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(srv.hits.Load()).To(Equal(before + 3))
	g.Expect(p.Probe(context.Background())).To(Succeed())
	g.Expect(srv.hits.Load()).To(Equal(before + 4))
}

// A failed GET is shared by its tick too: a source that is down is asked once
// per tick, not once per query; the next tick asks again.
func TestHTTPJSONSharesAFailurePerTick(t *testing.T) {
	g := NewWithT(t)
	var mu sync.Mutex
	status := http.StatusInternalServerError
	srv := newTestServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.WriteHeader(status)
		_, _ = w.Write([]byte(sampleDoc))
	})
	p := newHTTPProvider(t, v1alpha1.HTTPSource{URL: srv.URL}, nil, Options{Policy: local})
	tick := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	for range 10 {
		_, err := p.Query(WithTick(context.Background(), tick), "{.nps.score}")
		g.Expect(ReasonOf(err, "")).To(Equal(v1alpha1.ReasonUnreachable))
	}
	g.Expect(srv.hits.Load()).To(Equal(int32(1)))
	mu.Lock()
	status = http.StatusOK
	mu.Unlock()
	v, err := p.Query(WithTick(context.Background(), tick.Add(time.Minute)), "{.nps.score}")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(v).To(Equal(42.0))
	g.Expect(srv.hits.Load()).To(Equal(int32(2)))
}

// Two sources on one URL with different headers (credentials) never share a
// document: each provider keeps its own.
func TestHTTPJSONDocumentNotSharedAcrossSources(t *testing.T) {
	g := NewWithT(t)
	srv := newTestServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != "a" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		_, _ = w.Write([]byte(sampleDoc))
	})
	secrets := SecretMap{"a": {"X-Api-Key": []byte("a")}, "b": {"X-Api-Key": []byte("b")}}.Get
	withA := newHTTPProvider(t, v1alpha1.HTTPSource{URL: srv.URL, HeadersSecretRef: v1alpha1.LocalObjectReference{Name: "a"}}, secrets, Options{Policy: local})
	withB := newHTTPProvider(t, v1alpha1.HTTPSource{URL: srv.URL, HeadersSecretRef: v1alpha1.LocalObjectReference{Name: "b"}}, secrets, Options{Policy: local})
	ctx := WithTick(context.Background(), time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC))
	_, err := withA.Query(ctx, "{.nps.score}")
	g.Expect(err).NotTo(HaveOccurred())
	_, err = withB.Query(ctx, "{.nps.score}")
	g.Expect(ReasonOf(err, "")).To(Equal(v1alpha1.ReasonUnreachable), "B's credentials are refused: it never reads A's document")
	g.Expect(srv.hits.Load()).To(Equal(int32(2)))
}

// The providers that call a host name it, with the operator's per-host rate, for
// the engine's egress load; the static provider answers from memory.
func TestTraits(t *testing.T) {
	g := NewWithT(t)
	opts := Options{Policy: local, Limiter: egress.NewHostLimiter(rate.Limit(10), 10)}
	httpP, err := New(v1alpha1.SignalSourceSpec{HTTP: v1alpha1.HTTPSource{URL: "https://api.example.com/x"}}, nil, opts)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(TraitsOf(httpP)).To(Equal(Traits{SharedFetch: true, Host: "api.example.com:443", Rate: 10}))
	promP, err := New(v1alpha1.SignalSourceSpec{Prometheus: v1alpha1.PrometheusSource{Address: "http://Prom:9090"}}, nil, Options{Policy: local})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(TraitsOf(promP)).To(Equal(Traits{Host: "prom:9090"}), "no limiter: unlimited")
	static, err := New(v1alpha1.SignalSourceSpec{Static: v1alpha1.StaticSource{Values: map[string]v1alpha1.StaticValue{"a": "1"}}}, nil, Options{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(TraitsOf(static)).To(Equal(Traits{InMemory: true}))
	g.Expect(TraitsOf(providerWithoutTraits{})).To(Equal(Traits{}))
	g.Expect(fmt.Sprint(egress.NewHostLimiter(rate.Inf, 1).Limit())).To(Equal("0"))
}

type providerWithoutTraits struct{}

func (providerWithoutTraits) Query(context.Context, string) (float64, error) { return 0, nil }
func (providerWithoutTraits) Probe(context.Context) error                    { return nil }

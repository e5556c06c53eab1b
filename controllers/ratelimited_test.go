package controllers

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/engine"
)

// promServer is a Prometheus query API that answers 1 to every query and counts
// the requests.
func promServer(t *testing.T) (string, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1714557600,"1"]}]}}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &n
}

// Defect (issue 12): with more queries on one host than the per-host egress rate
// carries per interval, the intervals stretched silently (1,000 queries at 10s:
// 1,201 calls in 120s instead of 12,000). The source now says so with
// RateLimited=True (reason EgressRateExceeded) and
// cxops_source_interval_stretch_ratio, and stops saying so when they fit; a
// source within the rate has neither. Ready is not affected.
func TestSignalSourceRateLimited(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	busyURL, busyCalls := promServer(t)
	calmURL, _ := promServer(t)
	busy := &cxv1.SignalSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "busy"},
		Spec: cxv1.SignalSourceSpec{Prometheus: cxv1.PrometheusSource{Address: busyURL}}}
	calm := &cxv1.SignalSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "calm"},
		Spec: cxv1.SignalSourceSpec{Prometheus: cxv1.PrometheusSource{Address: calmURL}}}
	create(g, busy, calm)
	for _, src := range []*cxv1.SignalSource{busy, calm} {
		g.Eventually(func(g Gomega) {
			g.Expect(cond(get(g, src).Status.Conditions, cxv1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
		}, 20*time.Second, 50*time.Millisecond).Should(Succeed())
	}

	// The objectives are registered with the engine directly: a Moment holds at
	// most 16. The owner kind is one no controller reconciles.
	o := objective("x", "busy", "q", "0")
	o.Interval = &cxv1.Duration{Duration: 10 * time.Second}
	s, err := engine.Compile(o, 0)
	g.Expect(err).NotTo(HaveOccurred())
	register := func(source string, n int) {
		var regs []engine.Registration
		for i := range n {
			r := engine.Registration{Name: fmt.Sprintf("o%d", i), Spec: s}
			r.Spec.Source, r.Spec.Query = ns+"/"+source, fmt.Sprintf("vector(%d)", i)
			regs = append(regs, r)
		}
		system.Engine.Set(engine.Owner{Kind: "LoadTest", Namespace: ns, Name: source}, regs)
	}
	t.Cleanup(func() {
		system.Engine.Remove(engine.Owner{Kind: "LoadTest", Namespace: ns, Name: "busy"})
		system.Engine.Remove(engine.Owner{Kind: "LoadTest", Namespace: ns, Name: "calm"})
	})
	stretch := func(g Gomega, source string) float64 {
		mfs, err := system.Options.Registerer.(prometheus.Gatherer).Gather()
		g.Expect(err).NotTo(HaveOccurred())
		for _, mf := range mfs {
			if mf.GetName() != engine.MetricSourceIntervalStretch {
				continue
			}
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == ns+"/"+source {
					return m.GetGauge().GetValue()
				}
			}
		}
		return -1
	}

	// 1,200 queries every 10s: 120 calls/s where 100/s are allowed.
	register("busy", 1200)
	register("calm", 50)
	g.Eventually(func(g Gomega) {
		c := cond(get(g, busy).Status.Conditions, cxv1.RateLimitedCondition)
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(c.Reason).To(Equal(cxv1.ReasonEgressRateExceeded))
		g.Expect(c.Message).To(HavePrefix("1200 queries (every 10s or more) need 120 calls/s to 127.0.0.1:"))
		g.Expect(c.Message).To(ContainSubstring("the egress rate allows 100/s to it, so intervals are stretched about 1.2× (10s to ~12s)"))
		g.Expect(stretch(g, "busy")).To(Equal(1.2))
	}, 20*time.Second, 50*time.Millisecond).Should(Succeed())
	g.Expect(cond(get(g, busy).Status.Conditions, cxv1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue), "Ready is not affected")
	g.Consistently(func(g Gomega) {
		g.Expect(get(g, calm).Status.Conditions).NotTo(ContainElement(HaveField("Type", cxv1.RateLimitedCondition)))
		g.Expect(stretch(g, "calm")).To(Equal(1.0))
	}, time.Second, 100*time.Millisecond).Should(Succeed())
	g.Expect(busyCalls.Load()).To(BeNumerically(">", 0))
	g.Eventually(func(g Gomega) {
		g.Expect(requestsOf(g, ns+"/busy")).To(BeNumerically(">", 0), "the HTTP requests to the source are counted")
	}, 10*time.Second, 50*time.Millisecond).Should(Succeed())

	// Down to 500 queries (50 calls/s): the condition goes.
	register("busy", 500)
	g.Eventually(func(g Gomega) {
		g.Expect(get(g, busy).Status.Conditions).NotTo(ContainElement(HaveField("Type", cxv1.RateLimitedCondition)))
		g.Expect(stretch(g, "busy")).To(Equal(1.0))
	}, 20*time.Second, 50*time.Millisecond).Should(Succeed())
}

// requestsOf reads cxops_provider_http_requests_total of a source.
func requestsOf(g Gomega, source string) float64 {
	mfs, err := system.Options.Registerer.(prometheus.Gatherer).Gather()
	g.Expect(err).NotTo(HaveOccurred())
	for _, mf := range mfs {
		if mf.GetName() != MetricProviderHTTPRequests {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == source {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// switchable serves the exporter while up, and 503 while down: a scrape that
// fails makes Prometheus mark the series stale at once.
type switchable struct {
	up atomic.Bool
	h  http.Handler
}

func (s *switchable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.up.Load() {
		http.Error(w, "exporter stopped", http.StatusServiceUnavailable)
		return
	}
	s.h.ServeHTTP(w, r)
}

// An SRE's `kubectl wait --for=condition=Healthy` must not pass while the data
// behind a journey is gone: with the exporter stopped, the journey's Healthy
// condition becomes Unknown within two evaluation intervals, and comes back when
// the exporter does.
func TestJourneyHealthIsUnknownWhileTheExporterIsDown(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	sw := &switchable{h: &exporter{value: "99.8"}}
	sw.up.Store(true)
	srv := httptest.NewServer(sw)
	t.Cleanup(srv.Close)
	promURL := startPrometheus(t, strings.TrimPrefix(srv.URL, "http://"))

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "e2e-coverage"}}
	g.Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	const interval = 10 * time.Second
	objs := []client.Object{
		&cxv1.SignalSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "shop-prometheus"},
			Spec: cxv1.SignalSourceSpec{Prometheus: cxv1.PrometheusSource{Address: promURL}}},
		&cxv1.Journey{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "parts"},
			Spec: cxv1.JourneySpec{Persona: cxv1.Persona{Name: "Technician"},
				Stages: []cxv1.Stage{{Name: "order", Phase: cxv1.PhasePurchase}}}},
		&cxv1.Moment{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "stock-shown-is-real"},
			Spec: cxv1.MomentSpec{JourneyRef: cxv1.LocalObjectReference{Name: "parts"}, Stage: "order", Polarity: cxv1.PolarityPain, Owner: "logistics",
				Objectives: []cxv1.Objective{{
					Name:     "stock-accuracy",
					KPI:      cxv1.KPI{Type: cxv1.KPIStockAccuracy, Unit: "%", Direction: cxv1.HigherIsBetter},
					Signal:   cxv1.Signal{SourceRef: cxv1.LocalObjectReference{Name: "shop-prometheus"}, Query: `shop_stock_accuracy_percent{shop="spare-parts"}`},
					Target:   cxv1.Target{Operator: cxv1.OpGreaterOrEqual, Value: ptr.To("99.5")},
					Interval: &cxv1.Duration{Duration: interval},
				}}}},
	}
	for _, o := range objs {
		g.Expect(k8sClient.Create(ctx, o)).To(Succeed())
	}
	healthy := func(g Gomega) metav1.Condition {
		j := &cxv1.Journey{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "parts"}, j)).To(Succeed())
		c := apimeta.FindStatusCondition(j.Status.Conditions, cxv1.HealthyCondition)
		g.Expect(c).NotTo(BeNil())
		return *c
	}
	out, err := kubectl("wait", "-n", ns.Name, "--for=condition=Healthy", "journey/parts", "--timeout=90s")
	g.Expect(err).NotTo(HaveOccurred(), out)

	// The exporter stops. Within two intervals (plus the journey's 5s batching)
	// the journey no longer claims to be healthy.
	sw.up.Store(false)
	stopped := time.Now()
	g.Eventually(func(g Gomega) {
		c := healthy(g)
		g.Expect(c.Status).To(Equal(metav1.ConditionUnknown), c.Message)
		g.Expect(c.Reason).To(Equal(cxv1.ReasonNoData))
	}, 2*interval+10*time.Second, 200*time.Millisecond).Should(Succeed())
	t.Logf("journey Healthy=Unknown %s after the exporter stopped", time.Since(stopped).Round(time.Second))
	out, err = kubectl("wait", "-n", ns.Name, "--for=condition=Healthy", "journey/parts", "--timeout=3s")
	g.Expect(err).To(HaveOccurred(), "kubectl wait must not pass while the journey has no data: %s", out)
	out, err = kubectl("get", "journey", "parts", "-n", ns.Name)
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(out).To(MatchRegexp(`parts\s+Technician\s+(\S+\s+)?0\s+Unknown`), "the coverage column shows 0 and health Unknown")

	// It comes back: healthy again.
	sw.up.Store(true)
	out, err = kubectl("wait", "-n", ns.Name, "--for=condition=Healthy", "journey/parts", "--timeout=90s")
	g.Expect(err).NotTo(HaveOccurred(), out)
}

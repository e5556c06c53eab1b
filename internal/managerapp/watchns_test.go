package managerapp

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// --watch-namespaces: the manager reconciles the namespaces it is given and
// nothing else (the chart's watchNamespaces value, with Roles in each).
func TestWatchNamespacesLimitsTheManager(t *testing.T) {
	env := startTestEnv(t)
	g := NewWithT(t)
	scheme := runtime.NewScheme()
	g.Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	g.Expect(cxv1.AddToScheme(scheme)).To(Succeed())
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())
	ctx := context.Background()

	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	f := BindFlags(fs)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	metricsAddr := l.Addr().String()
	g.Expect(l.Close()).To(Succeed())
	g.Expect(fs.Parse([]string{"--watch-namespaces=watched", "--metrics-bind-address=" + metricsAddr, "--metrics-secure=false",
		"--health-probe-bind-address=0"})).To(Succeed())
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Run(runCtx, env.Config, f) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Logf("manager: %v", err)
			}
		case <-time.After(30 * time.Second):
		}
	})

	for _, ns := range []string{"watched", "other"} {
		g.Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		src := &cxv1.SignalSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "figures"},
			Spec: cxv1.SignalSourceSpec{Static: cxv1.StaticSource{Values: map[string]cxv1.StaticValue{"stock": "99.8"}}}}
		j := &cxv1.Journey{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "parts"},
			Spec: cxv1.JourneySpec{Persona: cxv1.Persona{Name: "Technician"}, Stages: []cxv1.Stage{{Name: "order", Phase: cxv1.PhasePurchase}}}}
		m := &cxv1.Moment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "stock"},
			Spec: cxv1.MomentSpec{JourneyRef: cxv1.LocalObjectReference{Name: "parts"}, Stage: "order", Polarity: cxv1.PolarityPain, Owner: "logistics",
				Objectives: []cxv1.Objective{{Name: "accuracy",
					KPI:    cxv1.KPI{Type: cxv1.KPIStockAccuracy, Direction: cxv1.HigherIsBetter},
					Signal: cxv1.Signal{SourceRef: cxv1.LocalObjectReference{Name: "figures"}, Query: "stock"},
					Target: cxv1.Target{Operator: cxv1.OpGreaterOrEqual, Value: ptr.To("99.5")}}}}}
		for _, o := range []client.Object{src, j, m} {
			g.Expect(c.Create(ctx, o)).To(Succeed())
		}
	}
	moment := func(ns string) *cxv1.Moment {
		m := &cxv1.Moment{}
		g.Expect(c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "stock"}, m)).To(Succeed())
		return m
	}
	g.Eventually(func() cxv1.HealthState { return moment("watched").Status.Health }, time.Minute, 100*time.Millisecond).
		Should(Equal(cxv1.HealthHealthy))
	g.Consistently(func() int64 { return moment("other").Status.ObservedGeneration }, 3*time.Second, 100*time.Millisecond).
		Should(BeZero(), "a namespace the manager does not watch is left alone")

	metricsServeTheObjectiveSeries(t, metricsAddr)
}

// metricsServeTheObjectiveSeries: the manager's /metrics serves the
// per-objective series, which the engine builds apart from the registry
// (serveObjectiveSeries), next to the registry's own families: each series once.
func metricsServeTheObjectiveSeries(t *testing.T, addr string) {
	g := NewWithT(t)
	labels := `namespace="watched",objective="accuracy",owner="stock",owner_kind="Moment"`
	want := []string{
		`cxops_objective_value{` + labels + `} 99.8`,
		`cxops_objective_target{bound="value",` + labels + `} 99.5`,
		`cxops_objective_state{` + labels + `,state="Met"} 1`,
	}
	g.Eventually(func(g Gomega) {
		resp, err := http.Get(fmt.Sprintf("http://%s/metrics", addr))
		g.Expect(err).NotTo(HaveOccurred())
		defer func() { _ = resp.Body.Close() }()
		body, err := io.ReadAll(resp.Body)
		g.Expect(err).NotTo(HaveOccurred())
		text := string(body)
		g.Expect(resp.Uncompressed).To(BeTrue(), "gzipped for a client that accepts it")
		parser := expfmt.NewTextParser(model.LegacyValidation)
		families, err := parser.TextToMetricFamilies(strings.NewReader(text))
		g.Expect(err).NotTo(HaveOccurred(), "one valid text exposition, each family once")
		g.Expect(families).To(HaveKey("cxops_objective_value"))
		for _, line := range want {
			g.Expect(strings.Count(text, line+"\n")).To(Equal(1), line)
		}
		g.Expect(strings.Count(text, "# TYPE cxops_objective_state gauge")).To(Equal(1))
		g.Expect(text).NotTo(ContainSubstring(`namespace="other"`), "nor the namespace it does not watch")
		g.Expect(text).To(ContainSubstring("cxops_evaluations_total"), "the registry's own families")
	}, time.Minute, 200*time.Millisecond).Should(Succeed())
}

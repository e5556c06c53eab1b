package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
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

// exporter serves one gauge that the test sets.
type exporter struct {
	mu    sync.Mutex
	value string
}

func (e *exporter) set(v string) { e.mu.Lock(); e.value = v; e.mu.Unlock() }

func (e *exporter) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	_, _ = fmt.Fprintf(w, "# TYPE shop_stock_accuracy_percent gauge\nshop_stock_accuracy_percent{shop=\"spare-parts\"} %s\n", e.value)
}

// startPrometheus runs a real Prometheus on a loopback port, scraping the exporter
// every second, and returns its address.
func startPrometheus(t *testing.T, target string) string {
	bin := requireTool(t, "prometheus", "the end-to-end test drives drift with a real Prometheus")
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: shop
    static_configs:
      - targets: [%q]
`, target)
	g := NewWithT(t)
	g.Expect(os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600)).To(Succeed())
	addr := freeAddr(t)
	cmd := exec.Command(bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	g.Expect(cmd.Start()).To(Succeed())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus logs:\n%s", logs.String())
		}
	})
	url := "http://" + addr
	g.Eventually(func() error {
		resp, err := http.Get(url + "/-/ready")
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("prometheus not ready: %s", resp.Status)
		}
		return nil
	}, time.Minute, 100*time.Millisecond).Should(Succeed())
	return url
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

func TestDriftAndRecoveryWithRealPrometheus(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	exp := &exporter{value: "99.8"}
	srv := httptest.NewServer(exp)
	t.Cleanup(srv.Close)
	promURL := startPrometheus(t, strings.TrimPrefix(srv.URL, "http://"))

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "e2e-prometheus"}}
	g.Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	src := &cxv1.SignalSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "shop-prometheus"},
		Spec: cxv1.SignalSourceSpec{Prometheus: cxv1.PrometheusSource{Address: promURL}}}
	j := &cxv1.Journey{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "parts"},
		Spec: cxv1.JourneySpec{Persona: cxv1.Persona{Name: "Technician"},
			Stages: []cxv1.Stage{{Name: "order", Phase: cxv1.PhasePurchase}}}}
	m := &cxv1.Moment{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "stock-shown-is-real", Labels: map[string]string{"shop": "spare-parts"}},
		Spec: cxv1.MomentSpec{JourneyRef: cxv1.LocalObjectReference{Name: "parts"}, Stage: "order", Polarity: cxv1.PolarityPain, Owner: "logistics",
			Objectives: []cxv1.Objective{{
				Name:     "stock-accuracy",
				KPI:      cxv1.KPI{Type: cxv1.KPIStockAccuracy, Unit: "%", Direction: cxv1.HigherIsBetter},
				Signal:   cxv1.Signal{SourceRef: cxv1.LocalObjectReference{Name: "shop-prometheus"}, Query: `shop_stock_accuracy_percent{shop="{{ index .Labels "shop" }}"}`},
				Target:   cxv1.Target{Operator: cxv1.OpGreaterOrEqual, Value: ptr.To("99.5")},
				Interval: &cxv1.Duration{Duration: 10 * time.Second},
			}}}}
	for _, o := range []client.Object{src, j, m} {
		g.Expect(k8sClient.Create(ctx, o)).To(Succeed())
	}

	state := func(g Gomega) cxv1.ObjectiveStatus {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(m), m)).To(Succeed())
		for _, o := range m.Status.Objectives {
			if o.Name == "stock-accuracy" {
				return o
			}
		}
		return cxv1.ObjectiveStatus{}
	}
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(src), src)).To(Succeed())
		c := apimeta.FindStatusCondition(src.Status.Conditions, cxv1.ReadyCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
	}, time.Minute, 200*time.Millisecond).Should(Succeed())
	g.Eventually(func(g Gomega) {
		o := state(g)
		g.Expect(o.State).To(Equal(cxv1.StateMet), o.Message)
		g.Expect(o.Value).To(HaveValue(Equal("99.8")))
	}, time.Minute, 200*time.Millisecond).Should(Succeed())

	// The exported value drops: Prometheus scrapes it, the objective drifts (for: 0)
	// and a remediation task opens.
	exp.set("97.2")
	g.Eventually(func(g Gomega) {
		o := state(g)
		g.Expect(o.State).To(Equal(cxv1.StateDrifting), o.Message)
		g.Expect(o.Value).To(HaveValue(Equal("97.2")))
		g.Expect(o.TaskRef).NotTo(BeEmpty())
	}, time.Minute, 200*time.Millisecond).Should(Succeed())
	out, err := kubectl("get", "rtask", "-n", ns.Name, "-l", "cx.cxops.io/moment=stock-shown-is-real")
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(out).To(ContainSubstring("stock-accuracy"))

	// It recovers.
	exp.set("99.9")
	g.Eventually(func(g Gomega) {
		o := state(g)
		g.Expect(o.State).To(Equal(cxv1.StateMet), o.Message)
	}, time.Minute, 200*time.Millisecond).Should(Succeed())
	g.Eventually(func(g Gomega) {
		var tasks cxv1.RemediationTaskList
		g.Expect(k8sClient.List(ctx, &tasks, client.InNamespace(ns.Name))).To(Succeed())
		g.Expect(tasks.Items).To(HaveLen(1))
		g.Expect(tasks.Items[0].Status.Phase).To(Equal(cxv1.TaskResolved))
	}, time.Minute, 200*time.Millisecond).Should(Succeed())

	// The series disappears: no data is Unknown, never Met.
	srv.Close()
	g.Eventually(func(g Gomega) {
		o := state(g)
		g.Expect(o.State).To(Equal(cxv1.StateUnknown))
		g.Expect(o.Message).To(ContainSubstring("no series"))
	}, 2*time.Minute, 500*time.Millisecond).Should(Succeed())
}

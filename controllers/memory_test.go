package controllers

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// TestMemoryAtScale is a measuring harness, not a check: with
// CXOPS_MEM_MOMENTS=10000 it runs a second manager with the production cache
// options against the test API server, converges that many moments (one
// journey, one static source, one objective each), and logs the manager's heap
// once converged and around a scrape of its metrics registry. Without the
// variable it is skipped.
func TestMemoryAtScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("CXOPS_MEM_MOMENTS"))
	if n <= 0 {
		t.Skip("set CXOPS_MEM_MOMENTS to the number of moments to measure")
	}
	if os.Getenv("CXOPS_MEM_PROFILE") != "" {
		runtime.MemProfileRate = 1024
	}
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = 5000, 10000
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())

	// The suite's manager stops: only the measured one runs.
	stopManager()
	defer func() { g.Expect(restartManager()).To(Succeed()) }()
	heap := func(label string) uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		t.Logf("%-28s heap in use %6.1f MiB, heap objects %8d, sys %6.1f MiB", label,
			float64(ms.HeapInuse)/(1<<20), ms.HeapObjects, float64(ms.Sys)/(1<<20))
		return ms.HeapInuse
	}
	base := heap("before the manager")

	reg := prometheus.NewRegistry()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Cache:      cache.Options{DefaultTransform: CacheTransform(), ByObject: CacheByObject()},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	g.Expect(err).NotTo(HaveOccurred())
	sys, err := Setup(mgr, Options{Concurrency: 4, Registerer: reg})
	g.Expect(err).NotTo(HaveOccurred())
	go func() { _ = mgr.Start(ctx) }()

	ns := newNamespace(t)
	g.Expect(c.Create(ctx, staticSource(ns, "figures", map[string]string{"stock": "99.8"}))).To(Succeed())
	g.Expect(c.Create(ctx, journey(ns, "parts", "order"))).To(Succeed())
	start := time.Now()
	var wg sync.WaitGroup
	work := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				m := moment(ns, fmt.Sprintf("m%05d", i), "parts", "order", objective("accuracy", "figures", "stock", "99.5"))
				m.Spec.Description = "Stock accuracy as the technician sees it when ordering parts."
				if err := c.Create(ctx, m); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	t.Logf("created %d moments in %s", n, time.Since(start).Round(time.Second))
	// Converged when the journey counts every moment healthy (a Get, not a list
	// of every moment: the harness must not add garbage of its own).
	var peak uint64
	g.Eventually(func(g Gomega) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
		j := &cxv1.Journey{}
		g.Expect(c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "parts"}, j)).To(Succeed())
		g.Expect(j.Status.Moments.Healthy).To(Equal(int32(n)))
	}, 30*time.Minute, time.Second).Should(Succeed())
	t.Logf("converged in %s; %d evaluations; peak heap in use while converging %.1f MiB",
		time.Since(start).Round(time.Second), sys.Engine.Evaluations(), float64(peak)/(1<<20))
	converged := heap("converged")
	t.Logf("per moment: %.1f KiB", float64(converged-base)/float64(n)/1024)
	if path := os.Getenv("CXOPS_MEM_PROFILE"); path != "" {
		f, err := os.Create(path)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(pprof.WriteHeapProfile(f)).To(Succeed())
		g.Expect(f.Close()).To(Succeed())
	}

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	scrapeStart := time.Now()
	families, err := reg.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	series := 0
	for _, f := range families {
		series += len(f.Metric)
		g.Expect(enc.Encode(f)).To(Succeed())
	}
	took := time.Since(scrapeStart)
	runtime.ReadMemStats(&after)
	t.Logf("scrape: %d series, %d KiB of text, %s, %.1f MiB allocated in %d allocations", series, buf.Len()/1024,
		took.Round(time.Millisecond), float64(after.TotalAlloc-before.TotalAlloc)/(1<<20), after.Mallocs-before.Mallocs)
	heap("after a scrape")
}

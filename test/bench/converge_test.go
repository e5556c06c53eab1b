// Package bench measures cxops against the numbers in the design: convergence of
// 10,000 Moments against a bare client's status writes, the manager's memory, and
// steady-state writes. Run with `make bench`.
package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/testenv"
)

const workers = 8

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkConverge10kMoments compares the time the manager needs to bring N
// applied Moments to their first evaluated status with the time a bare client
// needs to write N status updates of the same shape, on the same API server, with
// the same concurrency; it also reports the manager's peak resident memory and the
// status writes it made per moment. N defaults to 10,000 (CXOPS_BENCH_MOMENTS).
func BenchmarkConverge10kMoments(b *testing.B) {
	n := envInt("CXOPS_BENCH_MOMENTS", 10000)
	for range b.N {
		convergeOnce(b, n)
	}
}

func convergeOnce(b *testing.B, n int) {
	ctx := context.Background()
	env, err := testenv.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = cxv1.AddToScheme(scheme)
	cfg := env.Config
	cfg.QPS, cfg.Burst = 5000, 10000
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		b.Fatal(err)
	}

	// Baseline: a bare client writes one status per moment.
	mustCreate(b, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "baseline"}})
	applyStart := time.Now()
	parallel(n, func(i int) error { return c.Create(ctx, benchMoment("baseline", i)) })
	applyTime := time.Since(applyStart)
	start := time.Now()
	parallel(n, func(i int) error {
		m := benchMoment("baseline", i)
		if err := c.Get(ctx, client.ObjectKeyFromObject(m), m); err != nil {
			return err
		}
		before := m.DeepCopy()
		fillStatus(m)
		return c.Status().Patch(ctx, m, client.MergeFrom(before))
	})
	baseline := time.Since(start)
	if err := c.DeleteAllOf(ctx, &cxv1.Moment{}, client.InNamespace("baseline")); err != nil {
		b.Fatal(err)
	}

	// The same number of moments, in 100 journeys over 100 static values.
	mustCreate(b, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "converge"}})
	values := map[string]cxv1.StaticValue{}
	for i := range 100 {
		values[fmt.Sprintf("v%d", i)] = "99.9"
	}
	mustCreate(b, c, &cxv1.SignalSource{ObjectMeta: metav1.ObjectMeta{Namespace: "converge", Name: "figures"},
		Spec: cxv1.SignalSourceSpec{Static: cxv1.StaticSource{Values: values}}})
	for j := range 100 {
		mustCreate(b, c, &cxv1.Journey{ObjectMeta: metav1.ObjectMeta{Namespace: "converge", Name: fmt.Sprintf("journey-%d", j)},
			Spec: cxv1.JourneySpec{Persona: cxv1.Persona{Name: "Technician"}, Stages: []cxv1.Stage{{Name: "order", Phase: cxv1.PhasePurchase}}}})
	}
	parallel(n, func(i int) error { return c.Create(ctx, benchMoment("converge", i)) })

	done, counted, modified := watchConverged(b, c, n)
	mgr := startManager(b, env)
	start = time.Now()
	select {
	case <-done:
	case <-time.After(30 * time.Minute):
		b.Fatalf("only %d of %d moments converged in 30m", counted.Load(), n)
	}
	converge := time.Since(start)
	peak := mgr.memory("VmHWM:")
	// Resident memory once converged: a few seconds after the last first write.
	time.Sleep(5 * time.Second)
	rss := mgr.memory("VmRSS:")
	if addr := os.Getenv("CXOPS_BENCH_PPROF"); addr != "" {
		// Keep a heap profile of the converged manager for `go tool pprof`.
		if out, err := exec.Command("curl", "-s", "-o", "/tmp/cxops-manager-heap.pprof", "http://"+addr+"/debug/pprof/heap").CombinedOutput(); err != nil {
			b.Logf("heap profile: %v %s", err, out)
		}
	}
	mgr.stop()

	b.ReportMetric(float64(n), "moments")
	b.ReportMetric(applyTime.Seconds(), "apply-s")
	b.ReportMetric(baseline.Seconds(), "bare-client-s")
	b.ReportMetric(converge.Seconds(), "converge-s")
	b.ReportMetric(converge.Seconds()/baseline.Seconds(), "ratio(target<=1.25)")
	b.ReportMetric(float64(rss)/(1<<20), "rss-MiB(target<100)")
	b.ReportMetric(float64(peak)/(1<<20), "peak-rss-MiB")
	writes := float64(modified.Load()) / float64(n)
	b.ReportMetric(writes, "status-writes/moment")
	fmt.Printf("converge %d moments: bare client %.1fs, manager %.1fs, ratio %.2f (target <= 1.25); manager resident memory %.0f MiB converged, %.0f MiB peak (target < 100); %.2f status writes per moment\n",
		n, baseline.Seconds(), converge.Seconds(), converge.Seconds()/baseline.Seconds(), float64(rss)/(1<<20), float64(peak)/(1<<20), writes)
}

func benchMoment(ns string, i int) *cxv1.Moment {
	return &cxv1.Moment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("moment-%05d", i)},
		Spec: cxv1.MomentSpec{
			JourneyRef: cxv1.LocalObjectReference{Name: fmt.Sprintf("journey-%d", i%100)},
			Stage:      "order", Polarity: cxv1.PolarityPain, Owner: "logistics",
			Objectives: []cxv1.Objective{{
				Name:   "accuracy",
				KPI:    cxv1.KPI{Type: cxv1.KPIStockAccuracy, Direction: cxv1.HigherIsBetter},
				Signal: cxv1.Signal{SourceRef: cxv1.LocalObjectReference{Name: "figures"}, Query: fmt.Sprintf("v%d", i%100)},
				Target: cxv1.Target{Operator: cxv1.OpGreaterOrEqual, Value: ptr.To("99.5")},
			}},
		},
	}
}

// fillStatus writes what the manager writes on a moment's first evaluation.
func fillStatus(m *cxv1.Moment) {
	now := metav1.Now().Rfc3339Copy()
	m.Status = cxv1.MomentStatus{
		ObservedGeneration: m.Generation, Health: cxv1.HealthHealthy, LastHeartbeatTime: &now,
		Conditions: []metav1.Condition{
			{Type: cxv1.ReadyCondition, Status: metav1.ConditionTrue, Reason: cxv1.ReasonSucceeded, Message: "1 objectives evaluated", LastTransitionTime: now, ObservedGeneration: m.Generation},
			{Type: cxv1.HealthyCondition, Status: metav1.ConditionTrue, Reason: cxv1.ReasonObjectivesMet, Message: "all 1 objectives are met", LastTransitionTime: now, ObservedGeneration: m.Generation},
		},
		Objectives: []cxv1.ObjectiveStatus{{Name: "accuracy", State: cxv1.StateMet, Since: &now, Value: ptr.To("99.9"), Target: ">= 99.5", LastEvaluated: &now}},
	}
}

func parallel(n int, f func(i int) error) {
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				for attempt := 0; ; attempt++ {
					err := f(i)
					if err == nil || attempt == 5 {
						if err != nil {
							panic(err)
						}
						break
					}
				}
			}
		}()
	}
	wg.Wait()
}

func mustCreate(b *testing.B, c client.Client, o client.Object) {
	if err := c.Create(context.Background(), o); err != nil {
		b.Fatal(err)
	}
}

// watchConverged closes done when n moments in "converge" show an evaluated
// objective for their current generation; it also counts the updates it sees (the
// manager's status writes).
func watchConverged(b *testing.B, c client.WithWatch, n int) (chan struct{}, *atomic.Int64, *atomic.Int64) {
	var list cxv1.MomentList
	if err := c.List(context.Background(), &list, client.InNamespace("converge"), client.Limit(1)); err != nil {
		b.Fatal(err)
	}
	w, err := c.Watch(context.Background(), &cxv1.MomentList{}, client.InNamespace("converge"),
		&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	var count, modified atomic.Int64
	go func() {
		defer w.Stop()
		seen := map[string]bool{}
		for ev := range w.ResultChan() {
			m, ok := ev.Object.(*cxv1.Moment)
			if ok && ev.Type == watch.Modified {
				modified.Add(1)
			}
			if !ok || ev.Type == watch.Deleted || seen[m.Name] {
				continue
			}
			if m.Status.ObservedGeneration == m.Generation && len(m.Status.Objectives) == 1 && m.Status.Objectives[0].State == cxv1.StateMet {
				seen[m.Name] = true
				if int(count.Add(1)) == n {
					close(done)
					return
				}
			}
		}
	}()
	return done, &count, &modified
}

type managerProcess struct {
	cmd *exec.Cmd
}

// startManager builds and runs the manager binary against the test API server.
func startManager(b *testing.B, env *testenv.Env) *managerProcess {
	dir := b.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig); err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(dir, "manager")
	build := exec.Command("go", "build", "-o", bin, "./cmd/manager")
	build.Dir = testenv.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("building the manager: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "--kubeconfig", kubeconfig, "--metrics-bind-address=0", "--health-probe-bind-address=0",
		fmt.Sprintf("--concurrency=%d", workers), "--kube-api-qps=5000", "--kube-api-burst=10000", "--zap-log-level=error",
		"--pprof-bind-address="+os.Getenv("CXOPS_BENCH_PPROF"))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	// CXOPS_BENCH_MANAGER_ENV adds to the manager's environment (GOGC=..., say).
	cmd.Env = append(os.Environ(), strings.Fields(os.Getenv("CXOPS_BENCH_MANAGER_ENV"))...)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return &managerProcess{cmd: cmd}
}

// memory reads a line of the process' /proc status, such as VmRSS: or VmHWM:.
func (p *managerProcess) memory(field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	defer func() { _ = f.Close() }()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return -1
}

func (p *managerProcess) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	_ = p.cmd.Wait()
}

package engine

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/providers"
)

// BenchmarkThroughputDistinctQueries measures the engine's whole scheduling path
// (heap → source queue → worker → provider → Step → notify) with no shared
// queries: 10,000 objectives, each on its own query of one static source (the
// real in-memory provider, no network). One op is one tick of every objective;
// evals/s is the number to read, at -cpu 1 for one core (evals/cpu-s, per
// CPU-second of the process, is steadier on a shared machine):
//
//	go test ./internal/engine -run '^$' -bench BenchmarkThroughputDistinctQueries -cpu 1 -benchtime 200x
//
// The target is at least 1,000,000 evaluations per second per core, with
// allocs/eval near 0.
func BenchmarkThroughputDistinctQueries(b *testing.B) {
	const owners, perOwner = 2500, 4
	const total = owners * perOwner
	values := make(map[string]v1alpha1.StaticValue, total)
	for i := range total {
		values[benchQuery(i)] = "99.9"
	}
	for _, withMetrics := range []bool{false, true} {
		b.Run(fmt.Sprintf("metrics=%v", withMetrics), func(b *testing.B) {
			p, err := providers.New(v1alpha1.SignalSourceSpec{Static: v1alpha1.StaticSource{Values: values}}, nil, providers.Options{})
			if err != nil {
				b.Fatal(err)
			}
			clk := testingclock.NewFakeClock(t0)
			lookup := providers.NewRegistry()
			lookup.Set("shop/static", p)
			opts := Options{Clock: clk, Providers: lookup, Jitter: -1, Notify: func(Owner) {}}
			if withMetrics {
				opts.Registerer = prometheus.NewRegistry()
			}
			e := New(opts)
			s := benchSpec(b)
			s.Interval = 10 * time.Second
			for i := range owners {
				regs := make([]Registration, perOwner)
				for j := range regs {
					regs[j] = reg(fmt.Sprintf("o%d", j), "shop/static", benchQuery(i*perOwner+j), s)
				}
				e.Set(Owner{Kind: "Moment", Namespace: "shop", Name: fmt.Sprintf("m%d", i)}, regs)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- e.Start(ctx) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					b.Error(err)
				}
			}()
			waitEvals := func(n uint64) {
				for e.evals.Load() < n {
					runtime.Gosched()
				}
			}
			waitIdle := func() time.Time {
				for {
					if due, ok := e.idle(); ok {
						return due
					}
					runtime.Gosched()
				}
			}
			waitEvals(total) // the prompt first evaluation
			waitIdle()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			cpuBefore := cpuTime()
			b.ResetTimer()
			ticks := 0
			for b.Loop() {
				clk.SetTime(waitIdle())
				ticks++
				waitEvals(uint64(total * (ticks + 1)))
			}
			b.StopTimer()
			cpu := cpuTime() - cpuBefore
			runtime.ReadMemStats(&after)
			evals := float64(total * ticks)
			b.ReportMetric(evals/b.Elapsed().Seconds(), "evals/s")
			// The process's CPU time, less sensitive than wall time to other
			// processes on a shared machine: evaluations per CPU-second of this
			// process (the benchmark's own polling included).
			b.ReportMetric(evals/cpu.Seconds(), "evals/cpu-s")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/evals, "allocs/eval")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/evals, "B/eval")
		})
	}
}

// cpuTime is the user and system CPU time of the process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchQuery is the i-th distinct query, as long as a typical PromQL selector.
func benchQuery(i int) string {
	return fmt.Sprintf(`sum(rate(http_requests_total{moment="m%d",code!~"5.."}[5m]))`, i)
}

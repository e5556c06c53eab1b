package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/providers"
)

func benchSpec(b *testing.B) Spec {
	b.Helper()
	o := apiObjective(v1alpha1.OpGreaterOrEqual, "99.5")
	o.Target.Warning = ptr("99.7")
	o.For = dur(5 * time.Minute)
	o.RecoverFor = dur(5 * time.Minute)
	s, err := Compile(o, 0)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkStep measures the state machine alone, one core. The target is at
// least 1,000,000 evaluations per second; the steady paths do not allocate.
func BenchmarkStep(b *testing.B) {
	cases := []struct {
		name   string
		values []float64
		err    error
	}{
		{"met", []float64{99.8, 99.9, 100, 99.75}, nil},
		{"warning", []float64{99.6, 99.65, 99.55}, nil},
		{"breached", []float64{98, 97.5, 99}, nil},
		{"unknown", []float64{0}, errors.New("connection refused")},
		// Every evaluation is a transition: the worst case, with a message built
		// each time.
		{"flapping", []float64{99.9, 98}, nil},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			s := benchSpec(b)
			var st State
			now := t0
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				now = now.Add(time.Second)
				st = Step(&s, st, Observation{Value: c.values[i%len(c.values)], Err: c.err}, now)
				i++
			}
			b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "evals/s")
			if st.LastEvaluated.IsZero() {
				b.Fatal("no evaluation")
			}
		})
	}
}

// staticProvider answers every query at once with the same value.
type staticProvider float64

func (p staticProvider) Query(context.Context, string) (float64, error) { return float64(p), nil }
func (staticProvider) Probe(context.Context) error                      { return nil }

// BenchmarkEngineTick measures one full tick of 10,000 objectives over 100
// queries on one source: the loop hands 100 due groups to the workers, which
// fetch (an instant provider), step every member and update the metrics.
func BenchmarkEngineTick(b *testing.B) {
	const owners, perOwner, queries = 2500, 4, 100
	for _, withMetrics := range []bool{false, true} {
		b.Run(fmt.Sprintf("metrics=%v", withMetrics), func(b *testing.B) {
			clk := testingclock.NewFakeClock(t0)
			lookup := providers.NewRegistry()
			lookup.Set("shop/prom", staticProvider(99.9))
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
					regs[j] = reg(fmt.Sprintf("o%d", j), "shop/prom", fmt.Sprintf("q%d", (i*perOwner+j)%queries), s)
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

			const total = owners * perOwner
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
			ticks := 0
			for b.Loop() {
				clk.SetTime(waitIdle())
				ticks++
				waitEvals(uint64(total * (ticks + 1)))
			}
			b.ReportMetric(float64(total*ticks)/b.Elapsed().Seconds(), "evals/s")
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(ticks), "µs/tick")
		})
	}
}

// BenchmarkEngineMemory registers 10,000 owners with 3 objectives each, every
// objective on its own query (no sharing: the worst case), and reports the heap
// held per objective, without and with metrics.
func BenchmarkEngineMemory(b *testing.B) {
	const owners, perOwner = 10000, 3
	s := benchSpec(b)
	for _, withMetrics := range []bool{false, true} {
		b.Run(fmt.Sprintf("metrics=%v", withMetrics), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				b.StartTimer()
				opts := Options{Clock: testingclock.NewFakeClock(t0)}
				if withMetrics {
					opts.Registerer = prometheus.NewRegistry()
				}
				e := New(opts)
				for i := range owners {
					regs := make([]Registration, perOwner)
					for j := range regs {
						regs[j] = reg(fmt.Sprintf("objective-%d", j), "shop/prom",
							fmt.Sprintf(`sum(rate(http_requests_total{moment="m%d",objective="%d",code!~"5.."}[5m]))`, i, j), s)
					}
					e.Set(Owner{Kind: "Moment", Namespace: "shop", Name: fmt.Sprintf("moment-%d", i)}, regs)
				}
				b.StopTimer()
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(owners*perOwner), "heapB/objective")
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heapMiB")
				runtime.KeepAlive(e)
				b.StartTimer()
			}
		})
	}
}

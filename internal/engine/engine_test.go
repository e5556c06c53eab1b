package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/providers"
)

// testProvider counts calls and answers from a table of values by query. When
// block is set, Query waits for it to be closed (or for its context).
type testProvider struct {
	calls atomic.Int64
	block chan struct{}
	panic bool

	mu     sync.Mutex
	values map[string]float64
	err    error
}

func newTestProvider(values map[string]float64) *testProvider {
	return &testProvider{values: values}
}

func (p *testProvider) Query(ctx context.Context, q string) (float64, error) {
	p.calls.Add(1)
	if p.block != nil {
		select {
		case <-p.block:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if p.panic {
		panic("boom")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return 0, p.err
	}
	v, ok := p.values[q]
	if !ok {
		return 0, providers.Errorf(v1alpha1.ReasonNoData, "query %q returned no data", q)
	}
	return v, nil
}

func (p *testProvider) Probe(context.Context) error { return nil }

func (p *testProvider) set(q string, v float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.values[q] = v
}

// halfSource makes every jitter draw 0.5: ticks come exactly every interval and
// a first evaluation comes min(interval/10, 1s)/2 after registration.
type halfSource struct{}

func (halfSource) Uint64() uint64 { return 1 << 52 } // Float64 uses the low 53 bits

// harness runs an engine on a fake clock.
type harness struct {
	t   *testing.T
	g   Gomega
	clk *testingclock.FakeClock
	reg *providers.Registry
	e   *Engine

	mu       sync.Mutex
	notified map[Owner]int
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	h := &harness{
		t:        t,
		g:        NewWithT(t),
		clk:      testingclock.NewFakeClock(t0),
		reg:      providers.NewRegistry(),
		notified: map[Owner]int{},
	}
	h.g.SetDefaultEventuallyTimeout(10 * time.Second)
	h.g.SetDefaultEventuallyPollingInterval(time.Millisecond)
	h.g.SetDefaultConsistentlyDuration(50 * time.Millisecond)
	opts.Clock = h.clk
	opts.Providers = h.reg
	opts.Notify = func(o Owner) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.notified[o]++
	}
	if opts.Rand == nil {
		opts.Rand = halfSource{}
	}
	h.e = New(opts)
	return h
}

func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.e.Start(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		h.g.Eventually(done).Should(Receive(BeNil()))
	})
}

func (h *harness) notifications(o Owner) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.notified[o]
}

// idle reports whether the engine has nothing to do before its next due time,
// and that due time: the loop waits on a timer armed for the earliest due group
// (or the staleness sweep, if earlier), in the future, with no wake-up pending
// and no fetch in flight.
func (e *Engine) idle() (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.waiting || e.busy > 0 || len(e.runnable) > 0 || len(e.wake) > 0 {
		return time.Time{}, false
	}
	armed := e.sweepAt
	if len(e.heap) > 0 && (armed.IsZero() || e.heap[0].due.Before(armed)) {
		armed = e.heap[0].due
	}
	if len(e.heap) == 0 {
		return time.Time{}, e.armedFor.Equal(armed)
	}
	top := e.heap[0].due
	return top, e.armedFor.Equal(armed) && armed.After(e.clock.Now())
}

// settle waits until the engine is idle and returns its next due time (zero when
// nothing is scheduled).
func (h *harness) settle() time.Time {
	h.t.Helper()
	var due time.Time
	h.g.Eventually(func() bool {
		var ok bool
		due, ok = h.e.idle()
		return ok
	}).Should(BeTrue(), "engine never became idle")
	return due
}

// tick moves the clock to the next due time, waits for that tick to be done and
// returns the time it ran at.
func (h *harness) tick() time.Time {
	h.t.Helper()
	due := h.settle()
	if due.IsZero() {
		h.t.Fatal("nothing is scheduled")
	}
	h.clk.SetTime(due)
	h.settle()
	return due
}

func (h *harness) snapshot(o Owner) []Result {
	h.t.Helper()
	rs, ok := h.e.Snapshot(o)
	if !ok {
		h.t.Fatalf("%s is not registered", o)
	}
	return rs
}

func reg(name, source, query string, s Spec) Registration {
	s.Source, s.Query = source, query
	return Registration{Name: name, Spec: s}
}

func moment(name string) Owner { return Owner{Kind: "Moment", Namespace: "shop", Name: name} }

func TestDedupOneFetchPerIntervalForAGroup(t *testing.T) {
	h := newHarness(t, Options{})
	p := newTestProvider(map[string]float64{"availability": 99.9})
	h.reg.Set("shop/prom", p)
	s := spec(v1alpha1.OpGreaterOrEqual, 99.5)
	s.Interval = 30 * time.Second

	// 100 objectives: 10 owners with 10 objectives each, all on one query.
	for i := range 10 {
		var regs []Registration
		for j := range 10 {
			regs = append(regs, reg(fmt.Sprintf("o%d", j), "shop/prom", "availability", s))
		}
		h.e.Set(moment(fmt.Sprintf("m%d", i)), regs)
	}
	// Another query on the same source is its own group.
	other := spec(v1alpha1.OpGreaterOrEqual, 99.5)
	other.Interval = time.Minute
	h.reg.Set("shop/prom2", newTestProvider(map[string]float64{"availability": 99.9}))
	h.e.Set(moment("other"), []Registration{reg("o", "shop/prom2", "availability", other)})
	h.start()

	first := h.tick()
	h.g.Expect(first).To(Equal(t0.Add(500 * time.Millisecond))) // prompt: min(30s/10, 1s) * 0.5
	h.g.Expect(p.calls.Load()).To(Equal(int64(1)))
	prev := first
	for n := 2; n <= 5; n++ {
		at := h.tick()
		h.g.Expect(at.Sub(prev)).To(Equal(30*time.Second), "one tick per interval")
		h.g.Expect(p.calls.Load()).To(Equal(int64(n)), "one provider call per interval for 100 objectives")
		prev = at
	}
	for i := range 10 {
		for _, r := range h.snapshot(moment(fmt.Sprintf("m%d", i))) {
			h.g.Expect(r.Evaluated).To(BeTrue())
			h.g.Expect(r.State.State).To(Equal(met))
			h.g.Expect(r.State.Value).To(Equal(99.9))
			h.g.Expect(r.Target).To(Equal(">= 99.5"))
		}
	}
	h.g.Expect(h.e.evals.Load()).To(BeNumerically(">=", 500))
}

func TestGroupIntervalIsTheSmallest(t *testing.T) {
	h := newHarness(t, Options{})
	p := newTestProvider(map[string]float64{"q": 1})
	h.reg.Set("shop/prom", p)
	slow := spec(v1alpha1.OpGreaterOrEqual, 0)
	slow.Interval = 5 * time.Minute
	fast := slow
	fast.Interval = 20 * time.Second
	h.e.Set(moment("a"), []Registration{reg("slow", "shop/prom", "q", slow)})
	h.e.Set(moment("b"), []Registration{reg("fast", "shop/prom", "q", fast)})
	h.start()
	first := h.tick()
	h.g.Expect(h.tick().Sub(first)).To(Equal(20 * time.Second))
	h.g.Expect(p.calls.Load()).To(Equal(int64(2)))

	// The fast member leaves: the group slows down again.
	h.e.Remove(moment("b"))
	at := h.tick() // the tick already scheduled
	h.g.Expect(h.tick().Sub(at)).To(Equal(5 * time.Minute))
}

func TestNotifyOnlyOnTransitions(t *testing.T) {
	h := newHarness(t, Options{})
	p := newTestProvider(map[string]float64{"a": 99.8, "b": 5})
	h.reg.Set("shop/prom", p)
	s := withFor(spec(v1alpha1.OpGreaterOrEqual, 99.5), time.Hour, 0)
	rng := Spec{Operator: v1alpha1.OpInRange, Min: 1, Max: 10, Interval: 10 * time.Second, NoData: v1alpha1.NoDataUnknown, Target: "in [1, 10]"}
	m, other := moment("checkout"), moment("other")
	h.e.Set(m, []Registration{
		reg("a1", "shop/prom", "a", s),
		reg("a2", "shop/prom", "a", s),
		reg("b", "shop/prom", "b", rng),
	})
	h.e.Set(other, []Registration{reg("b", "shop/prom", "b", rng)})
	h.start()

	// The first evaluation notifies, once per owner and tick: groups a and b are
	// due at the same time but are separate ticks.
	h.tick()
	h.settle()
	h.g.Expect(h.notifications(m)).To(BeNumerically("<=", 2))
	base, baseOther := h.notifications(m), h.notifications(other)
	h.g.Expect(base).To(BeNumerically(">=", 1))
	h.g.Expect(baseOther).To(Equal(1))

	// Values move, states do not: no notification.
	for i := range 5 {
		p.set("a", 99.6+float64(i)/10)
		p.set("b", float64(2+i))
		h.tick()
	}
	h.g.Expect(h.notifications(m)).To(Equal(base))
	h.g.Expect(h.notifications(other)).To(Equal(baseOther))

	// Both objectives on "a" breach in the same tick: one notification.
	p.set("a", 99)
	h.tick()
	h.g.Expect(h.notifications(m)).To(Equal(base + 1))
	h.g.Expect(h.notifications(other)).To(Equal(baseOther))
	rs := h.snapshot(m)
	h.g.Expect(rs[0].State.State).To(Equal(breached))
	h.g.Expect(rs[1].State.State).To(Equal(breached))
	h.g.Expect(rs[0].State.Message).To(ContainSubstring("value 99 misses target >= 99.5"))

	// Still breached with another value: nothing.
	p.set("a", 98)
	h.tick()
	h.g.Expect(h.notifications(m)).To(Equal(base + 1))
}

func TestDriftAfterForAndRecovery(t *testing.T) {
	h := newHarness(t, Options{})
	p := newTestProvider(map[string]float64{"nps": 20})
	h.reg.Set("shop/survey", p)
	s := withFor(spec(v1alpha1.OpGreaterOrEqual, 30), 30*time.Second, 20*time.Second)
	m := moment("delivery")
	h.e.Set(m, []Registration{reg("nps", "shop/survey", "nps", s)})
	h.start()

	first := h.tick()
	st := h.snapshot(m)[0].State
	h.g.Expect(st.State).To(Equal(breached))
	h.g.Expect(st.BreachingSince).To(Equal(first))
	h.g.Expect(h.notifications(m)).To(Equal(1))

	h.tick() // +10s
	h.tick() // +20s
	h.g.Expect(h.snapshot(m)[0].State.State).To(Equal(breached))
	h.g.Expect(h.notifications(m)).To(Equal(1))

	at := h.tick() // +30s: for has elapsed
	st = h.snapshot(m)[0].State
	h.g.Expect(st.State).To(Equal(drifting))
	h.g.Expect(st.DriftingSince).To(Equal(at))
	h.g.Expect(st.BreachingSince).To(Equal(first))
	h.g.Expect(h.notifications(m)).To(Equal(2))

	// Recovery: MetSince set (a notification: the recovery clock must survive a
	// restart), then recovered after recoverFor.
	p.set("nps", 40)
	metAt := h.tick()
	st = h.snapshot(m)[0].State
	h.g.Expect(st.State).To(Equal(drifting))
	h.g.Expect(st.MetSince).To(Equal(metAt))
	h.g.Expect(h.notifications(m)).To(Equal(3))
	h.tick()
	h.g.Expect(h.notifications(m)).To(Equal(3))
	h.tick()
	st = h.snapshot(m)[0].State
	h.g.Expect(st.State).To(Equal(met))
	h.g.Expect(st.DriftingSince.IsZero() && st.BreachingSince.IsZero() && st.MetSince.IsZero()).To(BeTrue())
	h.g.Expect(h.notifications(m)).To(Equal(4))
}

func TestRestoredEpisodeContinues(t *testing.T) {
	h := newHarness(t, Options{})
	p := newTestProvider(map[string]float64{"q": 1})
	h.reg.Set("shop/prom", p)
	s := withFor(spec(v1alpha1.OpGreaterOrEqual, 5), time.Minute, 0)
	s.Source, s.Query = "shop/prom", "q"
	restored := State{
		State: drifting, Since: t0.Add(-time.Hour), BreachingSince: t0.Add(-2 * time.Hour),
		DriftingSince: t0.Add(-time.Hour), Message: "from status",
	}
	m := moment("restart")
	h.e.Set(m, []Registration{{Name: "o", Spec: s, Initial: restored}})
	r := h.snapshot(m)[0]
	h.g.Expect(r.Evaluated).To(BeFalse())
	h.g.Expect(r.State).To(Equal(restored))
	h.start()
	h.tick()
	r = h.snapshot(m)[0]
	h.g.Expect(r.Evaluated).To(BeTrue())
	h.g.Expect(r.State.State).To(Equal(drifting))
	h.g.Expect(r.State.Since).To(Equal(restored.Since))
	h.g.Expect(r.State.DriftingSince).To(Equal(restored.DriftingSince))
	h.g.Expect(h.notifications(m)).To(Equal(1), "the first evaluation notifies")
}

func TestSlowProviderDoesNotBlockOtherGroups(t *testing.T) {
	h := newHarness(t, Options{Workers: 2, MaxFetchesPerNamespace: 2}) // at most one fetch per source
	slow := newTestProvider(map[string]float64{"a": 1, "b": 1, "c": 1})
	slow.block = make(chan struct{})
	fast := newTestProvider(map[string]float64{"x": 1})
	h.reg.Set("shop/slow", slow)
	h.reg.Set("shop/fast", fast)
	s := spec(v1alpha1.OpGreaterOrEqual, 0)
	h.e.Set(moment("slow"), []Registration{
		reg("a", "shop/slow", "a", s), reg("b", "shop/slow", "b", s), reg("c", "shop/slow", "c", s),
	})
	h.e.Set(moment("fast"), []Registration{reg("x", "shop/fast", "x", s)})
	h.start()

	// The clock keeps moving while the slow source hangs: the fast group keeps
	// its schedule, and the slow source never takes more than its share.
	h.g.Eventually(func() int64 {
		h.clk.Step(time.Second)
		return fast.calls.Load()
	}).Should(BeNumerically(">=", 4))
	h.g.Expect(slow.calls.Load()).To(Equal(int64(1)))
	h.g.Expect(h.snapshot(moment("fast"))[0].State.State).To(Equal(met))

	close(slow.block)
	h.g.Eventually(func() int64 {
		h.clk.Step(time.Second)
		return slow.calls.Load()
	}).Should(BeNumerically(">=", 3))
	h.g.Eventually(func() bool {
		for _, r := range h.snapshot(moment("slow")) {
			if !r.Evaluated {
				return false
			}
		}
		return true
	}).Should(BeTrue())
}

func TestFetchTimeout(t *testing.T) {
	h := newHarness(t, Options{FetchTimeout: 20 * time.Millisecond})
	p := newTestProvider(map[string]float64{"q": 1})
	p.block = make(chan struct{}) // never answers
	h.reg.Set("shop/prom", p)
	m := moment("m")
	h.e.Set(m, []Registration{reg("o", "shop/prom", "q", spec(v1alpha1.OpGreaterOrEqual, 0))})
	h.start()
	h.tick()
	st := h.snapshot(m)[0].State
	h.g.Expect(st.State).To(Equal(unknown))
	h.g.Expect(st.Message).To(Equal("no data: signal source shop/prom did not answer within 20ms"))
}

func TestMissingProviderIsNotReady(t *testing.T) {
	h := newHarness(t, Options{})
	m := moment("m")
	h.e.Set(m, []Registration{reg("o", "shop/missing", "q", spec(v1alpha1.OpGreaterOrEqual, 0))})
	h.start()
	h.tick()
	st := h.snapshot(m)[0].State
	h.g.Expect(st.State).To(Equal(unknown))
	h.g.Expect(st.Message).To(Equal("no data: signal source shop/missing is not ready"))

	p := newTestProvider(map[string]float64{"q": 1})
	h.reg.Set("shop/missing", p)
	h.tick()
	h.g.Expect(h.snapshot(m)[0].State.State).To(Equal(met))
	h.g.Expect(p.calls.Load()).To(Equal(int64(1)))
}

func TestProviderErrorsAndPanics(t *testing.T) {
	h := newHarness(t, Options{})
	p := newTestProvider(nil)
	p.err = providers.Errorf(v1alpha1.ReasonUnauthorized, "the source refused the credentials")
	h.reg.Set("shop/prom", p)
	m := moment("m")
	h.e.Set(m, []Registration{reg("o", "shop/prom", "q", spec(v1alpha1.OpGreaterOrEqual, 0))})
	h.start()
	h.tick()
	h.g.Expect(h.snapshot(m)[0].State.Message).To(Equal("no data: the source refused the credentials"))
	p.panic = true
	h.tick()
	h.g.Expect(h.snapshot(m)[0].State.Message).To(Equal("no data: the signal provider failed unexpectedly"))
}

func TestRemoveStopsFetching(t *testing.T) {
	metrics := prometheus.NewRegistry()
	h := newHarness(t, Options{Registerer: metrics})
	p := newTestProvider(map[string]float64{"q": 1})
	h.reg.Set("shop/prom", p)
	m := moment("m")
	h.e.Set(m, []Registration{reg("o", "shop/prom", "q", spec(v1alpha1.OpGreaterOrEqual, 0))})
	h.start()
	h.tick()
	h.g.Expect(p.calls.Load()).To(Equal(int64(1)))

	h.e.Remove(m)
	_, ok := h.e.Snapshot(m)
	h.g.Expect(ok).To(BeFalse())
	h.g.Expect(h.settle().IsZero()).To(BeTrue(), "nothing scheduled")
	h.clk.Step(10 * time.Minute)
	h.g.Consistently(p.calls.Load).Should(Equal(int64(1)))
	h.e.mu.Lock()
	h.g.Expect(h.e.groups).To(BeEmpty())
	h.g.Expect(h.e.sources).To(BeEmpty())
	h.e.mu.Unlock()
	h.g.Expect(testutil.GatherAndCount(metrics, MetricObjectiveValue, MetricObjectiveTarget, MetricObjectiveState,
		MetricProviderRequests, MetricProviderRequestDuration)).To(Equal(0))
}

func TestRemoveDuringFetchDiscardsTheResult(t *testing.T) {
	h := newHarness(t, Options{})
	p := newTestProvider(map[string]float64{"q": 1})
	p.block = make(chan struct{})
	h.reg.Set("shop/prom", p)
	m := moment("m")
	h.e.Set(m, []Registration{reg("o", "shop/prom", "q", spec(v1alpha1.OpGreaterOrEqual, 0))})
	h.start()
	h.clk.Step(time.Second)
	h.g.Eventually(p.calls.Load).Should(Equal(int64(1)))
	h.e.Remove(m)
	close(p.block)
	h.g.Expect(h.settle().IsZero()).To(BeTrue())
	h.g.Expect(h.notifications(m)).To(Equal(0))
}

func TestSetIsIdempotent(t *testing.T) {
	h := newHarness(t, Options{})
	p := newTestProvider(map[string]float64{"q": 99.9, "q2": 99.9})
	h.reg.Set("shop/prom", p)
	s := withFor(spec(v1alpha1.OpGreaterOrEqual, 99.5), time.Hour, 0)
	s.Interval = time.Minute
	m := moment("m")
	regs := []Registration{reg("a", "shop/prom", "q", s), reg("b", "shop/prom", "q", s)}
	h.e.Set(m, regs)
	h.start()
	first := h.tick()
	due := h.settle()
	before := h.snapshot(m)

	// Reconciles call Set again and again: nothing moves, nothing is fetched.
	for range 100 {
		again := []Registration{reg("a", "shop/prom", "q", s), reg("b", "shop/prom", "q", s)}
		again[0].Initial = State{State: unknown} // ignored for known objectives
		h.e.Set(m, again)
	}
	h.g.Expect(h.settle()).To(Equal(due))
	h.g.Expect(due.Sub(first)).To(Equal(time.Minute))
	h.g.Expect(h.snapshot(m)).To(Equal(before))
	h.g.Expect(p.calls.Load()).To(Equal(int64(1)))

	// A changed target keeps the state and is re-evaluated promptly.
	changed := s
	changed.Value, changed.Target = 99.95, ">= 99.95"
	h.e.Set(m, []Registration{reg("a", "shop/prom", "q", changed), reg("b", "shop/prom", "q", s)})
	h.g.Expect(h.settle()).To(Equal(first.Add(500 * time.Millisecond)))
	h.tick()
	rs := h.snapshot(m)
	h.g.Expect(rs[0].Target).To(Equal(">= 99.95"))
	h.g.Expect(rs[0].State.State).To(Equal(breached))
	h.g.Expect(rs[0].State.Message).To(ContainSubstring(">= 99.95"))
	h.g.Expect(rs[1].State.State).To(Equal(met))
	h.g.Expect(rs[1].State.Since).To(Equal(before[1].State.Since))
	h.g.Expect(p.calls.Load()).To(Equal(int64(2)))

	// A changed signal moves the objective to another group: its episode is kept,
	// its value dropped until that group is evaluated.
	moved := changed
	h.e.Set(m, []Registration{reg("a", "shop/prom", "q2", moved), reg("b", "shop/prom", "q", s)})
	r := h.snapshot(m)[0]
	h.g.Expect(r.Evaluated).To(BeFalse())
	h.g.Expect(r.State.HasValue).To(BeFalse())
	h.g.Expect(r.State.BreachingSince).To(Equal(rs[0].State.BreachingSince))
	h.tick()
	r = h.snapshot(m)[0]
	h.g.Expect(r.Evaluated).To(BeTrue())
	h.g.Expect(r.State.State).To(Equal(breached))
	h.g.Expect(r.State.Since).To(Equal(rs[0].State.Since))

	// Dropping an objective from the list removes it; order follows the list.
	h.e.Set(m, []Registration{reg("b", "shop/prom", "q", s)})
	rs = h.snapshot(m)
	h.g.Expect(rs).To(HaveLen(1))
	h.g.Expect(rs[0].Name).To(Equal("b"))
	h.e.mu.Lock()
	h.g.Expect(h.e.groups).To(HaveLen(1))
	h.e.mu.Unlock()
}

func TestSetLastDuplicateWins(t *testing.T) {
	h := newHarness(t, Options{})
	a := spec(v1alpha1.OpGreaterOrEqual, 1)
	b := spec(v1alpha1.OpGreaterOrEqual, 2)
	b.Target = "second"
	h.e.Set(moment("m"), []Registration{reg("x", "s/s", "q", a), reg("x", "s/s", "q", b)})
	rs := h.snapshot(moment("m"))
	h.g.Expect(rs).To(HaveLen(1))
	h.g.Expect(rs[0].Target).To(Equal("second"))
}

func TestShutdownDiscardsInterruptedFetches(t *testing.T) {
	h := newHarness(t, Options{})
	p := newTestProvider(map[string]float64{"q": 1})
	h.reg.Set("shop/prom", p)
	m := moment("m")
	h.e.Set(m, []Registration{reg("o", "shop/prom", "q", spec(v1alpha1.OpGreaterOrEqual, 0))})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.e.Start(ctx) }()
	h.tick()
	h.g.Expect(h.snapshot(m)[0].State.State).To(Equal(met))

	p.block = make(chan struct{}) // safe: no fetch in flight while idle
	due := h.settle()
	h.clk.SetTime(due)
	h.g.Eventually(p.calls.Load).Should(Equal(int64(2)))
	cancel()
	h.g.Eventually(done).Should(Receive(BeNil()))
	h.g.Expect(h.snapshot(m)[0].State.State).To(Equal(met), "leaving must not turn objectives Unknown")
	h.g.Expect(h.e.Start(context.Background())).To(MatchError(ContainSubstring("already started")))
}

func TestMetrics(t *testing.T) {
	metrics := prometheus.NewRegistry()
	h := newHarness(t, Options{Registerer: metrics})
	p := newTestProvider(map[string]float64{"q": 99.6})
	h.reg.Set("shop/prom", p)
	s := withFor(spec(v1alpha1.OpGreaterOrEqual, 99.5), 0, 0)
	s.HasWarning, s.Warning = true, 99.7
	m := moment("checkout")
	h.e.Set(m, []Registration{reg("availability", "shop/prom", "q", s)})
	h.start()
	h.tick()

	expect := func(text string, names ...string) {
		h.t.Helper()
		h.g.Expect(testutil.GatherAndCompare(metrics, strings.NewReader(text), names...)).To(Succeed())
	}
	labels := `namespace="shop",objective="availability",owner="checkout",owner_kind="Moment"`
	expect(`
# HELP cxops_objective_value Latest observed value of an objective; absent while there is no data.
# TYPE cxops_objective_value gauge
cxops_objective_value{`+labels+`} 99.6
# HELP cxops_objective_target Target of an objective; bound is value, min, max or warning.
# TYPE cxops_objective_target gauge
cxops_objective_target{bound="value",`+labels+`} 99.5
cxops_objective_target{bound="warning",`+labels+`} 99.7
# HELP cxops_objective_state 1 for the objective's current state (Met, Warning, Breached, Drifting, Unknown); one series per objective.
# TYPE cxops_objective_state gauge
cxops_objective_state{`+labels+`,state="Warning"} 1
# HELP cxops_provider_requests_total Signal fetches by source and result (success or the failure reason).
# TYPE cxops_provider_requests_total counter
cxops_provider_requests_total{result="success",source="shop/prom"} 1
# HELP cxops_evaluations_total Objective evaluations.
# TYPE cxops_evaluations_total counter
cxops_evaluations_total 1
`, MetricObjectiveValue, MetricObjectiveTarget, MetricObjectiveState, MetricProviderRequests, MetricEvaluations)
	h.g.Expect(testutil.GatherAndCount(metrics, MetricEvaluationLag, MetricProviderRequestDuration)).To(Equal(2))

	// A transition replaces the state series; no data removes the value series.
	p.mu.Lock()
	p.err = providers.Errorf(v1alpha1.ReasonUnreachable, "connection refused")
	p.mu.Unlock()
	h.tick()
	expect(`
# HELP cxops_objective_state 1 for the objective's current state (Met, Warning, Breached, Drifting, Unknown); one series per objective.
# TYPE cxops_objective_state gauge
cxops_objective_state{`+labels+`,state="Unknown"} 1
# HELP cxops_provider_requests_total Signal fetches by source and result (success or the failure reason).
# TYPE cxops_provider_requests_total counter
cxops_provider_requests_total{result="Unreachable",source="shop/prom"} 1
cxops_provider_requests_total{result="success",source="shop/prom"} 1
`, MetricObjectiveValue, MetricObjectiveState, MetricProviderRequests)

	// A new target replaces the target series.
	r := inRangeSpec(1, 5)
	h.e.Set(m, []Registration{reg("availability", "shop/prom", "q", r)})
	expect(`
# HELP cxops_objective_target Target of an objective; bound is value, min, max or warning.
# TYPE cxops_objective_target gauge
cxops_objective_target{bound="max",`+labels+`} 5
cxops_objective_target{bound="min",`+labels+`} 1
`, MetricObjectiveTarget)

	// Two engines may share a registry.
	New(Options{Registerer: metrics})
}

// inRangeSpec is a test spec for an inclusive range.
func inRangeSpec(lo, hi float64) Spec {
	return Spec{Operator: v1alpha1.OpInRange, Min: lo, Max: hi, Interval: 10 * time.Second,
		NoData: v1alpha1.NoDataUnknown, Weight: 1, Target: fmt.Sprintf("in [%v, %v]", lo, hi)}
}

func TestEngineSatisfiesRunnable(t *testing.T) {
	var r interface {
		Start(context.Context) error
		NeedLeaderElection() bool
	} = New(Options{})
	if !r.NeedLeaderElection() {
		t.Fatal("the engine must run on the leader only")
	}
	var _ ProviderLookup = providers.NewRegistry()
}

func TestJitterStaysWithinBounds(t *testing.T) {
	e := New(Options{Jitter: 0.2})
	for range 1000 {
		d := e.jittered(time.Minute)
		if d < 48*time.Second || d > 72*time.Second {
			t.Fatalf("jittered interval %s out of ±20%%", d)
		}
		if f := e.firstDelay(time.Minute); f < 0 || f > time.Second {
			t.Fatalf("first delay %s", f)
		}
	}
	e = New(Options{Jitter: -1})
	if e.jittered(time.Minute) != time.Minute || e.firstDelay(time.Minute) != 0 {
		t.Fatal("negative jitter must disable jitter")
	}
}

func TestTriggerSourceEvaluatesNow(t *testing.T) {
	h := newHarness(t, Options{})
	p := newTestProvider(map[string]float64{"q": 1, "r": 1})
	other := newTestProvider(map[string]float64{"q": 1})
	h.reg.Set("shop/static", p)
	h.reg.Set("shop/other", other)
	s := withFor(spec(v1alpha1.OpGreaterOrEqual, 5), 2*time.Hour, 0)
	s.Interval = time.Hour
	m := moment("m")
	h.e.Set(m, []Registration{
		reg("a", "shop/static", "q", s), reg("b", "shop/static", "r", s), reg("c", "shop/other", "q", s),
	})
	h.start()
	first := h.tick()
	h.g.Expect(h.e.Evaluations()).To(Equal(uint64(3)))
	h.g.Expect(h.snapshot(m)[0].State.State).To(Equal(breached))

	// A patched static value: its source's groups are evaluated at once, the other
	// source keeps its schedule.
	p.set("q", 10)
	h.e.TriggerSource("shop/static")
	h.g.Eventually(p.calls.Load).Should(Equal(int64(4)))
	h.g.Expect(h.settle()).To(Equal(first.Add(time.Hour)))
	h.g.Expect(other.calls.Load()).To(Equal(int64(1)))
	h.g.Expect(h.snapshot(m)[0].State.State).To(Equal(met))
	h.g.Expect(h.e.Evaluations()).To(Equal(uint64(5)))
}

func TestOwnerString(t *testing.T) {
	if got := moment("checkout").String(); got != "Moment shop/checkout" {
		t.Fatalf("String() = %q", got)
	}
}

func TestMessageFormatsExtremeValues(t *testing.T) {
	for v, want := range map[float64]string{1e20: "1e+20", 1.5e-9: "1.5e-09", 0: "0", -42.5: "-42.5"} {
		if got := formatFloat(v); got != want {
			t.Errorf("formatFloat(%v) = %q, want %q", v, got, want)
		}
	}
}

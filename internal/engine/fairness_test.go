package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"

	"github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/providers"
)

// Defect: two sources of one namespace whose endpoints accept and never answer
// took every worker (the cap was per source, half the workers), and another
// namespace's 10s objective fell from 6 to 2 fetches a minute. With the
// per-namespace cap the other namespace keeps one fetch per interval, and a fault
// shows within one interval.
func TestHangingSourcesDoNotStarveAnotherNamespace(t *testing.T) {
	// The hanging fetches never end within the test: the fetch timeout is far away.
	h := newHarness(t, Options{Workers: 16, FetchTimeout: time.Hour})
	for _, name := range []string{"tenant/hang1", "tenant/hang2"} {
		p := newTestProvider(nil)
		p.block = make(chan struct{}) // answers only when its context ends
		h.reg.Set(name, p)
		var regs []Registration
		for i := range 12 {
			regs = append(regs, reg(fmt.Sprintf("o%d", i), name, fmt.Sprintf("q%d", i), spec(v1alpha1.OpGreaterOrEqual, 0)))
		}
		h.e.Set(Owner{Kind: "Moment", Namespace: "tenant", Name: name[len("tenant/"):]}, regs)
	}
	good := newTestProvider(map[string]float64{"q": 1})
	h.reg.Set("shop/prom", good)
	m := moment("checkout")
	h.e.Set(m, []Registration{reg("o", "shop/prom", "q", spec(v1alpha1.OpGreaterOrEqual, 0))})
	h.start()

	// Every group is due at t0+500ms; then the healthy objective is due every 10s.
	// The tenant's fetches hang throughout: the healthy one gets its fetch at each
	// of its ticks, six a minute.
	due := t0.Add(500 * time.Millisecond)
	for n := int64(1); n <= 12; n++ {
		h.clk.SetTime(due)
		h.g.Eventually(good.calls.Load, 2*time.Second).Should(Equal(n), "fetch %d of the healthy objective at %s", n, due)
		h.g.Eventually(func() time.Time { return h.snapshot(m)[0].State.LastEvaluated }, 2*time.Second).Should(Equal(due))
		due = due.Add(10 * time.Second)
	}
	h.e.mu.Lock()
	tenant := h.e.namespaces["tenant"].inflight
	h.e.mu.Unlock()
	h.g.Expect(tenant).To(Equal(4), "the tenant holds at most a quarter of the workers")

	// A fault is detected at the next tick, within one interval.
	good.mu.Lock()
	good.err = providers.Errorf(v1alpha1.ReasonUnreachable, "connection refused")
	good.mu.Unlock()
	before := h.notifications(m)
	h.clk.SetTime(due)
	h.g.Eventually(func() v1alpha1.ObjectiveState { return h.snapshot(m)[0].State.State }, 2*time.Second).Should(Equal(unknown))
	h.g.Eventually(func() int { return h.notifications(m) }, 2*time.Second).Should(Equal(before + 1))
}

// Round robin: a namespace with many due groups does not delay the first fetch of
// another namespace's group due at the same time by more than one round.
func TestRoundRobinOverNamespaces(t *testing.T) {
	h := newHarness(t, Options{Workers: 1, MaxFetchesPerNamespace: 1})
	var order []string
	var mu sync.Mutex
	record := func(name string) providers.Provider {
		return providerFunc(func(q string) (float64, error) {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, name)
			return 1, nil
		})
	}
	h.reg.Set("a/s1", record("a/s1"))
	h.reg.Set("a/s2", record("a/s2"))
	h.reg.Set("b/s", record("b/s"))
	var regs []Registration
	for i := range 3 {
		regs = append(regs, reg(fmt.Sprintf("x%d", i), "a/s1", fmt.Sprintf("q%d", i), spec(v1alpha1.OpGreaterOrEqual, 0)))
		regs = append(regs, reg(fmt.Sprintf("y%d", i), "a/s2", fmt.Sprintf("q%d", i), spec(v1alpha1.OpGreaterOrEqual, 0)))
	}
	h.e.Set(Owner{Kind: "Moment", Namespace: "a", Name: "m"}, regs)
	h.e.Set(Owner{Kind: "Moment", Namespace: "b", Name: "m"}, []Registration{reg("z", "b/s", "q", spec(v1alpha1.OpGreaterOrEqual, 0))})
	h.start()
	h.tick()
	h.settle()
	mu.Lock()
	defer mu.Unlock()
	h.g.Expect(order).To(HaveLen(7))
	h.g.Expect(order[:2]).To(ContainElement("b/s"), "b is served in the first round")
	// Within namespace a, the two sources alternate.
	var a []string
	for _, s := range order {
		if s != "b/s" {
			a = append(a, s)
		}
	}
	for i := 1; i < len(a); i++ {
		h.g.Expect(a[i]).NotTo(Equal(a[i-1]), "sources of one namespace alternate: %v", order)
	}
}

type providerFunc func(q string) (float64, error)

func (f providerFunc) Query(_ context.Context, q string) (float64, error) { return f(q) }
func (providerFunc) Probe(context.Context) error                          { return nil }

// Defect: an objective whose endpoint went from "HTTP 500" to "invalid JSON" to
// "connection refused" kept the first message until the status heartbeat: the
// owner was notified on state changes only.
func TestCauseChangeNotifies(t *testing.T) {
	h := newHarness(t, Options{})
	p := newTestProvider(map[string]float64{"q": 1})
	h.reg.Set("shop/http", p)
	m := moment("m")
	h.e.Set(m, []Registration{reg("o", "shop/http", "q", spec(v1alpha1.OpGreaterOrEqual, 0))})
	h.start()
	h.tick()
	h.g.Expect(h.notifications(m)).To(Equal(1))
	h.g.Expect(h.snapshot(m)[0].Interval).To(Equal(10 * time.Second))

	setErr := func(err error) {
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
	}
	n := 1
	for _, msg := range []string{"answered HTTP 500", "the body is not JSON", "connection refused"} {
		setErr(providers.Errorf(v1alpha1.ReasonBadResponse, "%s", msg))
		h.tick()
		n++
		h.g.Expect(h.notifications(m)).To(Equal(n), "a new cause notifies: %s", msg)
		h.g.Expect(h.snapshot(m)[0].State.Message).To(Equal("no data: " + msg))
		// The same cause again does not.
		h.tick()
		h.g.Expect(h.notifications(m)).To(Equal(n))
	}

	// Values alone still do not notify, nor does a breach whose value moves.
	setErr(nil)
	h.tick()
	n++
	h.g.Expect(h.notifications(m)).To(Equal(n))
	for i := range 3 {
		p.set("q", float64(2+i))
		h.tick()
	}
	h.g.Expect(h.notifications(m)).To(Equal(n))
	h.e.Set(m, []Registration{reg("o", "shop/http", "q", withFor(spec(v1alpha1.OpGreaterOrEqual, 100), time.Hour, 0))})
	h.tick()
	n++
	for i := range 3 {
		p.set("q", float64(10+i))
		h.tick()
	}
	h.g.Expect(h.notifications(m)).To(Equal(n))
	h.g.Expect(h.snapshot(m)[0].State.State).To(Equal(breached))
}

// outcomes records SourceOutcome calls.
type outcomes struct {
	mu    sync.Mutex
	calls []string
}

func (o *outcomes) record(source string, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err == nil {
		o.calls = append(o.calls, source+": ok")
		return
	}
	o.calls = append(o.calls, source+": "+providers.ReasonOf(err, "Error")+": "+err.Error())
}

func (o *outcomes) get() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.calls...)
}

// Defect: a failing source stayed Ready for up to five minutes while every fetch
// failed. The engine reports a source's fetch outcome when it changes: first
// failure, a new cause, first success after failures; never while it is stable.
func TestSourceOutcomeChanges(t *testing.T) {
	var got outcomes
	var logMu sync.Mutex
	var logs []string
	logger := funcr.New(func(prefix, args string) {
		logMu.Lock()
		defer logMu.Unlock()
		logs = append(logs, args)
	}, funcr.Options{Verbosity: 1})
	h := newHarness(t, Options{SourceOutcome: got.record, Logger: logger})
	p := newTestProvider(map[string]float64{"q": 1, "r": 1})
	h.reg.Set("shop/http", p)
	m := moment("m")
	h.e.Set(m, []Registration{
		reg("a", "shop/http", "q", spec(v1alpha1.OpGreaterOrEqual, 0)),
		reg("b", "shop/http", "r", spec(v1alpha1.OpGreaterOrEqual, 0)),
	})
	h.start()
	for range 3 {
		h.tick()
	}
	h.g.Expect(got.get()).To(BeEmpty(), "a healthy source reports nothing")

	setErr := func(err error) {
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
	}
	// Both groups fail: one report once both failed, none while it lasts.
	setErr(providers.Errorf(v1alpha1.ReasonBadResponse, "shop answered HTTP 500"))
	for range 3 {
		h.tick()
	}
	h.g.Expect(got.get()).To(Equal([]string{"shop/http: BadResponse: shop answered HTTP 500"}))
	setErr(providers.Errorf(v1alpha1.ReasonUnreachable, "shop: connection refused"))
	for range 3 {
		h.tick()
	}
	h.g.Expect(got.get()).To(HaveLen(2))
	h.g.Expect(got.get()[1]).To(Equal("shop/http: Unreachable: shop: connection refused"))

	// Flapping: one report per change.
	for i := range 4 {
		if i%2 == 0 {
			setErr(nil)
		} else {
			setErr(providers.Errorf(v1alpha1.ReasonUnreachable, "shop: connection refused"))
		}
		h.tick()
		h.tick()
	}
	h.g.Expect(got.get()).To(Equal([]string{
		"shop/http: BadResponse: shop answered HTTP 500",
		"shop/http: Unreachable: shop: connection refused",
		"shop/http: ok",
		"shop/http: Unreachable: shop: connection refused",
		"shop/http: ok",
		"shop/http: Unreachable: shop: connection refused",
	}))

	// No data for one query is an answer: the source is not failing.
	setErr(nil)
	p.mu.Lock()
	delete(p.values, "q")
	p.mu.Unlock()
	h.tick()
	h.tick()
	h.g.Expect(got.get()).To(HaveLen(7))
	h.g.Expect(got.get()[6]).To(Equal("shop/http: ok"))

	// A failing source that nothing fetches any more is reported ok: forgotten.
	setErr(errors.New("boom"))
	h.tick()
	h.tick()
	h.g.Expect(got.get()).To(HaveLen(8))
	h.e.Remove(m)
	h.g.Eventually(got.get).Should(HaveLen(9))
	h.g.Expect(got.get()[8]).To(Equal("shop/http: ok"))

	// Outcome changes are logged at Info, each failed fetch at V(1).
	logMu.Lock()
	defer logMu.Unlock()
	h.g.Expect(logs).To(ContainElement(And(ContainSubstring(`"level"=0`),
		ContainSubstring(`"msg"="signal source fetches are failing"`), ContainSubstring(`"source"="shop/http"`),
		ContainSubstring(`"reason"="BadResponse"`), ContainSubstring(`"message"="shop answered HTTP 500"`))))
	h.g.Expect(logs).To(ContainElement(ContainSubstring(`"msg"="signal source is no longer failing"`)))
	h.g.Expect(logs).To(ContainElement(And(ContainSubstring(`"level"=1`), ContainSubstring(`"msg"="signal fetch failed"`))))
}

// Defect: an objective that is not evaluated any more (a starved schedule, a hung
// fetch) kept its last state. Past 2 intervals + the fetch timeout it is Unknown,
// and its owner is notified.
func TestStaleValueIsUnknown(t *testing.T) {
	h := newHarness(t, Options{FetchTimeout: 5 * time.Second})
	p := newTestProvider(map[string]float64{"q": 1})
	h.reg.Set("shop/prom", p)
	m := moment("m")
	s := withFor(spec(v1alpha1.OpGreaterOrEqual, 0), time.Hour, 0)
	h.e.Set(m, []Registration{reg("o", "shop/prom", "q", s)})
	h.start()
	last := h.tick()
	h.g.Expect(h.snapshot(m)[0].State.State).To(Equal(met))
	h.g.Expect(h.notifications(m)).To(Equal(1))

	// The next fetch hangs (its timeout is real time, far away for the fake clock).
	p.block = make(chan struct{})
	h.clk.SetTime(last.Add(10 * time.Second))
	h.g.Eventually(p.calls.Load).Should(Equal(int64(2)))

	staleAt := last.Add(25 * time.Second) // 2 x 10s + 5s
	h.clk.SetTime(staleAt.Add(-time.Millisecond))
	h.g.Consistently(func() v1alpha1.ObjectiveState { return h.snapshot(m)[0].State.State }).Should(Equal(met))
	h.clk.SetTime(staleAt)
	// The snapshot says so at once; the sweep makes it the engine's state and
	// notifies the owner.
	r := h.snapshot(m)[0]
	h.g.Expect(r.State.State).To(Equal(unknown))
	h.g.Expect(r.State.Since).To(Equal(staleAt))
	h.g.Expect(r.State.HasValue).To(BeFalse())
	h.g.Expect(r.State.LastEvaluated).To(Equal(last))
	h.g.Expect(r.State.Message).To(Equal("no fresh value since 2024-05-01T10:00:00Z: not evaluated within 25s"))
	h.g.Eventually(func() int { return h.notifications(m) }).Should(Equal(2))
	h.e.mu.Lock()
	h.g.Expect(h.e.owners[m].objs[0].state.State).To(Equal(unknown))
	h.e.mu.Unlock()
	h.clk.SetTime(staleAt.Add(time.Minute))
	h.g.Consistently(func() int { return h.notifications(m) }).Should(Equal(2), "stale once, notified once")
	h.g.Expect(h.snapshot(m)[0]).To(Equal(r))

	// The fetch answers: fresh again.
	close(p.block)
	h.g.Eventually(func() v1alpha1.ObjectiveState { return h.snapshot(m)[0].State.State }).Should(Equal(met))
	h.g.Eventually(func() int { return h.notifications(m) }).Should(Equal(3))
}

// A clock that jumps past a due time (a paused process) does not flap the
// objectives Unknown: the group is fetched at once and evaluated within the fetch
// timeout.
func TestClockJumpIsNotStale(t *testing.T) {
	h := newHarness(t, Options{FetchTimeout: 5 * time.Second})
	p := newTestProvider(map[string]float64{"q": 1})
	h.reg.Set("shop/prom", p)
	m := moment("m")
	h.e.Set(m, []Registration{reg("o", "shop/prom", "q", spec(v1alpha1.OpGreaterOrEqual, 0))})
	h.start()
	last := h.tick()
	p.block = make(chan struct{}) // safe: no fetch in flight while idle
	h.settle()
	h.clk.SetTime(last.Add(time.Hour))
	h.g.Eventually(p.calls.Load).Should(Equal(int64(2)))
	h.g.Expect(h.snapshot(m)[0].State.State).To(Equal(met))
	close(p.block)
	h.settle()
	h.g.Expect(h.snapshot(m)[0].State.LastEvaluated).To(Equal(last.Add(time.Hour)))
	h.g.Expect(h.notifications(m)).To(Equal(1), "no Unknown in between")
}

// /readyz asks the engine whether it is stalled: every worker busy with no fetch
// finished for longer than twice the fetch timeout.
func TestStalledWhenEveryWorkerHangs(t *testing.T) {
	h := newHarness(t, Options{Workers: 2, MaxFetchesPerNamespace: 2, MaxFetchesPerSource: 2, FetchTimeout: time.Hour})
	h.g.Expect(h.e.Stalled()).To(Succeed(), "not started: not stalled")
	p := newTestProvider(nil)
	p.block = make(chan struct{})
	h.reg.Set("shop/hang", p)
	h.e.Set(moment("m"), []Registration{
		reg("a", "shop/hang", "q1", spec(v1alpha1.OpGreaterOrEqual, 0)),
		reg("b", "shop/hang", "q2", spec(v1alpha1.OpGreaterOrEqual, 0)),
	})
	h.start()
	h.clk.SetTime(t0.Add(time.Second))
	h.g.Eventually(func() int {
		h.e.mu.Lock()
		defer h.e.mu.Unlock()
		return h.e.busy
	}, 2*time.Second).Should(Equal(2))
	h.g.Expect(h.e.Stalled()).To(Succeed(), "busy, but not for long")
	h.clk.SetTime(t0.Add(2*time.Hour + 2*time.Second))
	h.g.Expect(h.e.Stalled()).To(MatchError(ContainSubstring("all 2 fetch workers have been busy")))
}

package engine

import (
	"container/heap"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/providers"
)

// The schedule. Objectives sharing (Source, Query) form a group, fetched once per
// tick for all members. A group is in one of three places:
//
//   - the heap, ordered by due time, while it waits for its next tick;
//   - its source's queue, once due, while it waits for a worker (a source has at
//     most perSource fetches in flight, a namespace at most perNamespace, the
//     pool at most workers);
//   - a worker, while it is fetched and evaluated; the worker then puts it back
//     in the heap.
//
// One loop goroutine moves due groups from the heap to the queues and hands
// queued groups to workers, round robin over namespaces and, within a namespace,
// over its sources; it sleeps on a single timer armed for the heap's earliest due
// time (or the next staleness sweep, if earlier). Nothing is allocated per
// objective beyond its struct.

// groupKey identifies a group: one query against one source.
type groupKey struct {
	source, query string
}

// group is the objectives sharing one (Source, Query).
type group struct {
	key      groupKey
	src      *sourceQueue
	members  []*objective
	interval time.Duration // smallest member interval
	due      time.Time
	hidx     int  // index in the heap, -1 when not in it
	removed  bool // no member left: skip when queued, discard when running

	// evaluatedAt is the time of the group's latest evaluation (zero before the
	// first): the staleness sweep starts from it.
	evaluatedAt time.Time
	// startedAt is when the group's fetch in flight started, zero when none is:
	// its members are evaluated within the fetch timeout, so they are not stale
	// yet (a clock that jumps past a due time must not flap them).
	startedAt time.Time
	// fetched and failed are the outcome of the group's latest fetch of its
	// provider, counted in its source's totals.
	fetched, failed bool
}

// sourceQueue is the due groups of one source waiting for a worker, and the
// outcome of the source's fetches.
type sourceQueue struct {
	name     string
	ns       *nsQueue
	groups   int // live groups using the source
	inflight int
	queue    []*group
	runnable bool // in ns.runnable

	// Fetch outcome (see outcomeLocked): how many live groups fetched the
	// provider at least once, how many of those failed their latest fetch, and
	// what was last reported.
	fetched, failed int
	failing         bool   // a failure is the reported outcome
	reason, message string // of the reported failure
	reporter        *group // the group whose failure was reported
}

// nsQueue is the sources of one namespace with queued groups: workers go round
// robin over namespaces, then over the namespace's sources, so that one tenant's
// slow sources cannot take the pool.
type nsQueue struct {
	name     string
	sources  int // live sources in the namespace
	inflight int
	runnable []*sourceQueue // sources with queued groups and a free slot
	queued   bool           // in Engine.runnable
}

// namespaceOf returns the namespace of a "namespace/name" source key.
func namespaceOf(source string) string {
	if i := strings.IndexByte(source, '/'); i >= 0 {
		return source[:i]
	}
	return source
}

// groupHeap orders groups by due time.
type groupHeap []*group

func (h groupHeap) Len() int           { return len(h) }
func (h groupHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h groupHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx, h[j].hidx = i, j
}

func (h *groupHeap) Push(x any) {
	g := x.(*group)
	g.hidx = len(*h)
	*h = append(*h, g)
}

func (h *groupHeap) Pop() any {
	old := *h
	g := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	g.hidx = -1
	return g
}

// firstDelay is the small random delay before a prompt evaluation: up to
// min(interval/10, 1s), none when jitter is disabled.
func (e *Engine) firstDelay(interval time.Duration) time.Duration {
	if e.jitter == 0 {
		return 0
	}
	return time.Duration(e.rnd.Float64() * float64(min(interval/10, time.Second)))
}

// jittered returns interval stretched or shrunk by up to the jitter fraction.
func (e *Engine) jittered(interval time.Duration) time.Duration {
	if e.jitter == 0 {
		return interval
	}
	return interval + time.Duration((2*e.rnd.Float64()-1)*e.jitter*float64(interval))
}

// joinLocked adds an objective to the group of its (Source, Query), creating the
// group if needed, and asks for a prompt evaluation.
func (e *Engine) joinLocked(o *objective, now time.Time) {
	k := groupKey{source: o.spec.Source, query: o.spec.Query}
	g := e.groups[k]
	if g == nil {
		src := e.sources[k.source]
		if src == nil {
			nsName := namespaceOf(k.source)
			ns := e.namespaces[nsName]
			if ns == nil {
				ns = &nsQueue{name: nsName}
				e.namespaces[nsName] = ns
			}
			ns.sources++
			src = &sourceQueue{name: k.source, ns: ns}
			e.sources[k.source] = src
		}
		src.groups++
		g = &group{key: k, src: src, interval: o.spec.Interval, due: now.Add(e.firstDelay(o.spec.Interval)), hidx: -1}
		e.groups[k] = g
		heap.Push(&e.heap, g)
	}
	o.group, o.gidx = g, len(g.members)
	g.members = append(g.members, o)
	g.interval = min(g.interval, o.spec.Interval)
	e.soonLocked(g, now)
}

// leaveLocked takes an objective out of its group, removing the group when it was
// the last member.
func (e *Engine) leaveLocked(o *objective) {
	g := o.group
	if g == nil {
		return
	}
	last := len(g.members) - 1
	g.members[o.gidx] = g.members[last]
	g.members[o.gidx].gidx = o.gidx
	g.members[last] = nil
	g.members = g.members[:last]
	o.group, o.gidx = nil, -1
	if len(g.members) > 0 {
		if o.spec.Interval == g.interval {
			e.recomputeIntervalLocked(g)
		}
		return
	}
	delete(e.groups, g.key)
	g.removed = true
	if g.hidx >= 0 {
		heap.Remove(&e.heap, g.hidx)
	}
	g.src.groups--
	e.forgetOutcomeLocked(g)
	e.maybeDropSourceLocked(g.src)
}

// recomputeIntervalLocked sets a group's interval to its members' smallest.
func (e *Engine) recomputeIntervalLocked(g *group) {
	iv := time.Duration(0)
	for _, m := range g.members {
		if iv == 0 || m.spec.Interval < iv {
			iv = m.spec.Interval
		}
	}
	g.interval = iv
}

// soonLocked brings a waiting group's next tick forward to within firstDelay. A
// group already queued or running needs nothing: it is evaluated with its
// current members and specs when its fetch completes.
func (e *Engine) soonLocked(g *group, now time.Time) {
	if g.hidx < 0 {
		return
	}
	if due := now.Add(e.firstDelay(g.interval)); due.Before(g.due) {
		g.due = due
		heap.Fix(&e.heap, g.hidx)
	}
}

// maybeDropSourceLocked forgets a source nothing uses or waits for any more.
func (e *Engine) maybeDropSourceLocked(s *sourceQueue) {
	if s.groups > 0 || s.inflight > 0 || len(s.queue) > 0 || s.runnable {
		return
	}
	if e.sources[s.name] == s {
		delete(e.sources, s.name)
		e.metrics.sourceRemoved(s.name)
		s.ns.sources--
		e.maybeDropNamespaceLocked(s.ns)
	}
}

// maybeDropNamespaceLocked forgets a namespace with no source left.
func (e *Engine) maybeDropNamespaceLocked(n *nsQueue) {
	if n.sources > 0 || n.inflight > 0 || n.queued || len(n.runnable) > 0 {
		return
	}
	if e.namespaces[n.name] == n {
		delete(e.namespaces, n.name)
	}
}

// enqueueLocked puts a due group in its source's queue.
func (e *Engine) enqueueLocked(g *group) {
	s := g.src
	s.queue = append(s.queue, g)
	e.markRunnableLocked(s)
}

// markRunnableLocked puts a source with queued groups and a free slot in its
// namespace's round, and the namespace in the engine's round if it has a free
// slot too.
func (e *Engine) markRunnableLocked(s *sourceQueue) {
	if !s.runnable && len(s.queue) > 0 && s.inflight < e.perSource {
		s.runnable = true
		s.ns.runnable = append(s.ns.runnable, s)
	}
	n := s.ns
	if !n.queued && len(n.runnable) > 0 && n.inflight < e.perNamespace {
		n.queued = true
		e.runnable = append(e.runnable, n)
	}
}

// nextLocked takes the next group of a namespace's round of sources, nil when
// none is left.
func (e *Engine) nextLocked(n *nsQueue) *group {
	for len(n.runnable) > 0 {
		s := n.runnable[0]
		n.runnable[0] = nil
		n.runnable = n.runnable[1:]
		s.runnable = false
		for len(s.queue) > 0 {
			g := s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
			if !g.removed {
				return g
			}
		}
		e.maybeDropSourceLocked(s)
	}
	n.runnable = nil // let the backing array go
	return nil
}

// dispatchLocked moves due groups to their queues and hands queued groups to
// free workers: one group per namespace in turn, and within a namespace one per
// source in turn.
func (e *Engine) dispatchLocked(now time.Time) {
	for len(e.heap) > 0 && !e.heap[0].due.After(now) {
		e.enqueueLocked(heap.Pop(&e.heap).(*group))
	}
	for e.busy < e.workers && len(e.runnable) > 0 {
		n := e.runnable[0]
		e.runnable[0] = nil
		e.runnable = e.runnable[1:]
		n.queued = false
		g := e.nextLocked(n)
		if g == nil {
			e.maybeDropNamespaceLocked(n)
			continue
		}
		s := g.src
		g.startedAt = now
		s.inflight++
		n.inflight++
		e.busy++
		e.metrics.lagObserved(now.Sub(g.due).Seconds())
		e.jobs <- g // never blocks: busy <= workers == cap(jobs)
		e.markRunnableLocked(s)
	}
	if len(e.runnable) == 0 {
		e.runnable = nil // let the backing array go
	}
}

// loop is the scheduler goroutine.
func (e *Engine) loop(ctx context.Context) {
	timer := e.clock.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var owners []Owner
	for {
		e.mu.Lock()
		e.waiting = false
		now := e.clock.Now()
		e.dispatchLocked(now)
		owners = e.sweepLocked(now, owners[:0])
		e.armedFor = time.Time{}
		if len(e.heap) > 0 {
			e.armedFor = e.heap[0].due
		}
		if !e.sweepAt.IsZero() && (e.armedFor.IsZero() || e.sweepAt.Before(e.armedFor)) {
			e.armedFor = e.sweepAt
		}
		if !e.armedFor.IsZero() {
			timer.Reset(e.armedFor.Sub(now))
		} else {
			timer.Stop()
		}
		if len(owners) > 0 && e.notify != nil {
			e.mu.Unlock()
			for _, o := range owners {
				e.notify(o)
			}
			e.mu.Lock()
		}
		e.waiting = true
		e.mu.Unlock()

		select {
		case <-ctx.Done():
			e.mu.Lock()
			e.waiting = false
			e.mu.Unlock()
			return
		case <-timer.C():
		case <-e.wake:
		}
	}
}

// worker fetches and evaluates the groups the loop hands it.
func (e *Engine) worker(ctx context.Context) {
	var owners []Owner
	for {
		select {
		case <-ctx.Done():
			return
		case g := <-e.jobs:
			owners = e.runGroup(ctx, g, owners[:0])
		}
	}
}

// runGroup fetches a group's signal, evaluates every member with it, puts the
// group back in the heap and notifies the owners whose objectives transitioned
// (or whose cause changed), then reports a change of the source's outcome. It
// returns the owners buffer for reuse.
func (e *Engine) runGroup(ctx context.Context, g *group, owners []Owner) []Owner {
	start := e.clock.Now()
	obs, result := e.fetch(ctx, g.key)
	now := e.clock.Now()
	if result != "" {
		e.metrics.fetched(g.key.source, result, now.Sub(start).Seconds())
	}

	e.mu.Lock()
	e.progress = now
	g.startedAt = time.Time{}
	g.src.inflight--
	g.src.ns.inflight--
	if !g.removed {
		// When ctx is done (shutting down, or leadership lost) the fetch was cut
		// short: its failure must not become the objectives' state.
		if ctx.Err() == nil {
			owners = e.evaluateLocked(g, obs, now, owners)
			if result != "" {
				e.outcomeLocked(g, obs.Err)
			}
		}
		next := g.due.Add(e.jittered(g.interval))
		if !next.After(now) {
			next = now.Add(e.jittered(g.interval))
		}
		g.due = next
		heap.Push(&e.heap, g)
	}
	e.markRunnableLocked(g.src)
	e.maybeDropSourceLocked(g.src)
	out := e.takeOutboxLocked()
	if (len(owners) == 0 || e.notify == nil) && len(out) == 0 {
		e.busy--
		e.kickLocked()
		e.mu.Unlock()
		return owners
	}
	e.mu.Unlock()

	// The worker keeps its pool slot while it notifies, so a busy engine is one
	// that still has effects to deliver.
	if e.notify != nil {
		for _, o := range owners {
			e.notify(o)
		}
	}
	e.deliverOutcomes(out)
	e.mu.Lock()
	e.busy--
	e.kickLocked()
	e.mu.Unlock()
	return owners
}

// evaluateLocked steps every member of g with obs and appends, once each, the
// owners to notify.
func (e *Engine) evaluateLocked(g *group, obs Observation, now time.Time, owners []Owner) []Owner {
	e.epoch++
	for _, o := range g.members {
		prev := o.state
		o.state = Step(&o.spec, prev, obs, now)
		first := !o.evaluated
		o.evaluated, o.stale = true, false
		if (first || changed(&prev, &o.state)) && o.owner.mark != e.epoch {
			o.owner.mark = e.epoch
			owners = append(owners, o.owner.key)
		}
	}
	g.evaluatedAt = now
	if at := now.Add(e.staleAfter(g.interval)); e.sweepAt.IsZero() || at.Before(e.sweepAt) {
		e.sweepAt = at
	}
	e.metrics.countEvaluations(len(g.members))
	e.evals.Add(uint64(len(g.members)))
	return owners
}

// changed reports a change that the owner's status must record: the state, a
// hysteresis timestamp set or cleared, or the cause of a state that is not Met
// (its message: Step rebuilds it only when the cause changes, so a moving value
// alone does not count).
func changed(a, b *State) bool {
	return a.State != b.State ||
		!a.BreachingSince.Equal(b.BreachingSince) ||
		!a.DriftingSince.Equal(b.DriftingSince) ||
		!a.MetSince.Equal(b.MetSince) ||
		a.Message != b.Message
}

// fetch queries a group's source. result is the metric result label ("success"
// or the failure reason), empty when no provider was called.
func (e *Engine) fetch(ctx context.Context, k groupKey) (Observation, string) {
	var p providers.Provider
	ok := false
	if e.providers != nil {
		p, ok = e.providers.Get(k.source)
	}
	if !ok || p == nil {
		return Observation{Err: &providers.Error{
			Reason:  v1alpha1.ReasonSourceNotReady,
			Message: "signal source " + k.source + " is not ready",
		}}, ""
	}
	fctx, cancel := context.WithTimeout(ctx, e.fetchTimeout)
	defer cancel()
	v, err := query(fctx, p, k.query)
	if err != nil {
		if fctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			err = &providers.Error{
				Reason:  v1alpha1.ReasonUnreachable,
				Message: fmt.Sprintf("signal source %s did not answer within %s", k.source, e.fetchTimeout),
				Err:     err,
			}
		}
		reason := providers.ReasonOf(err, "Error")
		if ctx.Err() == nil {
			// Provider messages carry no response body nor secret.
			e.log.V(1).Info("signal fetch failed", "source", k.source, "reason", reason, "message", err.Error())
		}
		return Observation{Err: err}, reason
	}
	return Observation{Value: v}, "success"
}

// query calls the provider, turning a panic into an error.
func query(ctx context.Context, p providers.Provider, q string) (v float64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = providers.Errorf("ProviderFailed", "the signal provider failed unexpectedly")
		}
	}()
	return p.Query(ctx, q)
}

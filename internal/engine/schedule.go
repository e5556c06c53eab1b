package engine

import (
	"container/heap"
	"context"
	"fmt"
	"math"
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
	counted  bool          // interval is counted in src.intervals
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
	// last is the observation of the group's latest evaluation (valid when
	// evaluatedAt is set): an objective joining the group while it is fresh is
	// evaluated with it at once.
	last Observation
}

// sourceQueue is the due groups of one source waiting for a worker, and the
// outcome of the source's fetches.
type sourceQueue struct {
	name     string
	ns       *nsQueue
	groups   int // live groups using the source
	inflight int // batches in flight
	queue    []*group
	head     int  // queue[head:] waits; the slots before it are free
	runnable bool // in ns.runnable

	// traits of the source's provider, as of its latest lookup (zero while the
	// source is not ready).
	traits providers.Traits
	// ticks is, for a source whose ticks are aligned (see aligned), the next
	// tick of each interval: a group whose next tick falls in the jitter window
	// of one takes it, so that the source's queries of one interval are fetched
	// together. firstAt is the same for prompt evaluations.
	ticks   map[time.Duration]time.Time
	firstAt time.Time
	// intervals counts the source's live groups by interval: the calls per
	// second its schedule needs (see load.go).
	intervals map[time.Duration]int
	load      SourceLoad // as of the latest load computation
	reported  float64    // the stretch last reported to LoadChanged (0: none)

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

// maxBatch bounds the groups of one batch: the due groups of an in-memory (or
// not ready) source that one worker fetches and evaluates under one lock.
const maxBatch = 256

// maxTicks bounds sourceQueue.ticks: past ticks are pruned beyond it.
const maxTicks = 16

// batch is the work a worker gets: due groups of one source, with the source's
// provider (nil when it is not ready) as looked up when the batch was made. A
// network provider's batch has one group: each fetch has its own deadline and a
// slow query never delays another.
type batch struct {
	src    *sourceQueue
	p      providers.Provider
	traits providers.Traits
	groups []*group
}

// aligned says whether a source's queries of one interval share their ticks: an
// in-memory provider is then called in large batches, a shared-fetch provider
// once per tick. Other sources keep independent ticks, so that a network source
// gets its calls spread over the interval.
func (e *Engine) aligned(s *sourceQueue) bool {
	return e.jitter > 0 && (s.traits.InMemory || s.traits.SharedFetch)
}

// lookupLocked finds the provider of a source and records its traits.
func (e *Engine) lookupLocked(s *sourceQueue) providers.Provider {
	var p providers.Provider
	if e.providers != nil {
		if q, ok := e.providers.Get(s.name); ok && q != nil {
			p = q
		}
	}
	var t providers.Traits
	if p != nil {
		t = providers.TraitsOf(p)
	}
	if t != s.traits {
		s.traits = t
		e.loadDirty = true
	}
	return p
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

// promptLocked is the time of a prompt evaluation of a group of s: within
// firstDelay, and for an aligned source the prompt tick of the source's other
// groups when it lies in that window.
func (e *Engine) promptLocked(s *sourceQueue, interval time.Duration, now time.Time) time.Time {
	due := now.Add(e.firstDelay(interval))
	if !e.aligned(s) {
		return due
	}
	if t := s.firstAt; !t.Before(now) && !t.After(now.Add(min(interval/10, time.Second))) {
		return t
	}
	s.firstAt = due
	return due
}

// nextDueLocked is a group's next tick after the one that ran at now: an
// interval (jittered) after its due time, or after now if that is past. For an
// aligned source it is the source's next tick of that interval when that lies
// within the jitter window, so that the source's groups stay together; a group
// whose own tick is further from it moves toward it by the jitter window.
func (e *Engine) nextDueLocked(g *group, now time.Time) time.Time {
	base := g.due
	next := base.Add(e.jittered(g.interval))
	if !next.After(now) {
		base = now
		next = now.Add(e.jittered(g.interval))
	}
	s := g.src
	if !e.aligned(s) {
		return next
	}
	if t, ok := s.ticks[g.interval]; ok && t.After(now) {
		// The source's tick (or the one an interval before or after it) closest
		// to this group's own; a group further away moves toward it by at most
		// the jitter window per tick, so that a late joiner catches up.
		natural := base.Add(g.interval)
		window := time.Duration(e.jitter * float64(g.interval))
		k := math.Round(float64(natural.Sub(t)) / float64(g.interval))
		target := t.Add(time.Duration(k) * g.interval)
		switch d := target.Sub(natural); {
		case d > window:
			target = natural.Add(window)
		case d < -window:
			target = natural.Add(-window)
		}
		if target.After(now) {
			return target
		}
	}
	if s.ticks == nil {
		s.ticks = map[time.Duration]time.Time{}
	}
	if len(s.ticks) >= maxTicks {
		for iv, t := range s.ticks {
			if !t.After(now) {
				delete(s.ticks, iv)
			}
		}
	}
	s.ticks[g.interval] = next
	return next
}

// setIntervalLocked sets a group's interval, keeping its source's count of
// groups by interval.
func (e *Engine) setIntervalLocked(g *group, iv time.Duration) {
	if g.interval == iv && g.counted {
		return
	}
	s := g.src
	if s.intervals == nil {
		s.intervals = map[time.Duration]int{}
	}
	if g.counted {
		if s.intervals[g.interval]--; s.intervals[g.interval] <= 0 {
			delete(s.intervals, g.interval)
		}
	}
	g.interval, g.counted = iv, iv > 0
	if g.counted {
		s.intervals[iv]++
	}
	e.loadDirty = true
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
			e.lookupLocked(src)
		}
		src.groups++
		g = &group{key: k, src: src, due: e.promptLocked(src, o.spec.Interval, now), hidx: -1}
		e.setIntervalLocked(g, o.spec.Interval)
		e.groups[k] = g
		heap.Push(&e.heap, g)
	}
	o.group, o.gidx = g, len(g.members)
	g.members = append(g.members, o)
	e.setIntervalLocked(g, min(g.interval, o.spec.Interval))
	if e.evaluateOnJoinLocked(g, o, now) {
		return
	}
	e.soonLocked(g, now)
}

// evaluateOnJoinLocked evaluates an objective joining g at once when that costs
// no request: with the group's latest observation while it is fresh (younger
// than the group's interval, no fetch in flight), or by asking an in-memory
// provider (the static one), which answers without I/O. The caller's Snapshot
// then already holds the objective's state, so a new moment is written once,
// evaluated, instead of Evaluating first; and joining does not pull the whole
// group's next fetch forward. It reports whether it evaluated o.
func (e *Engine) evaluateOnJoinLocked(g *group, o *objective, now time.Time) bool {
	var obs Observation
	switch {
	case !g.evaluatedAt.IsZero() && g.startedAt.IsZero() && now.Sub(g.evaluatedAt) < g.interval:
		obs = g.last
	case g.src.traits.InMemory:
		p := e.lookupLocked(g.src)
		if p == nil {
			return false
		}
		v, err := query(context.Background(), p, g.key.query)
		obs = e.fetchResultOf(g.key, v, err, context.Background()).obs
	default:
		return false
	}
	o.state = Step(&o.spec, o.state, obs, now)
	o.evaluated, o.stale = true, false
	if g.evaluatedAt.IsZero() {
		g.last, g.evaluatedAt = obs, now
		if at := now.Add(e.staleAfter(g.interval)); e.sweepAt.IsZero() || at.Before(e.sweepAt) {
			e.sweepAt = at
		}
	}
	e.metrics.countEvaluations(1)
	e.evals.Add(1)
	return true
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
	e.setIntervalLocked(g, 0)
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
	e.setIntervalLocked(g, iv)
}

// soonLocked brings a waiting group's next tick forward to within firstDelay. A
// group already queued or running needs nothing: it is evaluated with its
// current members and specs when its fetch completes.
func (e *Engine) soonLocked(g *group, now time.Time) {
	if g.hidx < 0 {
		return
	}
	if due := e.promptLocked(g.src, g.interval, now); due.Before(g.due) {
		g.due = due
		heap.Fix(&e.heap, g.hidx)
	}
}

// maybeDropSourceLocked forgets a source nothing uses or waits for any more.
func (e *Engine) maybeDropSourceLocked(s *sourceQueue) {
	if s.groups > 0 || s.inflight > 0 || s.waiting() > 0 || s.runnable {
		return
	}
	if e.sources[s.name] == s {
		delete(e.sources, s.name)
		e.metrics.sourceRemoved(s.name)
		e.sourceGoneLocked(s)
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

// waiting is the number of groups in the source's queue.
func (s *sourceQueue) waiting() int { return len(s.queue) - s.head }

// enqueueLocked puts a due group in its source's queue.
func (e *Engine) enqueueLocked(g *group) {
	s := g.src
	if s.head > 0 && s.head == len(s.queue) {
		clear(s.queue)
		s.queue, s.head = s.queue[:0], 0
	}
	s.queue = append(s.queue, g)
	e.markRunnableLocked(s)
}

// markRunnableLocked puts a source with queued groups and a free slot in its
// namespace's round, and the namespace in the engine's round if it has a free
// slot too.
func (e *Engine) markRunnableLocked(s *sourceQueue) {
	if !s.runnable && s.waiting() > 0 && s.inflight < e.perSource {
		s.runnable = true
		s.ns.runnable = append(s.ns.runnable, s)
	}
	n := s.ns
	if !n.queued && len(n.runnable) > 0 && n.inflight < e.perNamespace {
		n.queued = true
		e.runnable = append(e.runnable, n)
	}
}

// nextLocked takes the next batch of a namespace's round of sources; false when
// none is left.
func (e *Engine) nextLocked(n *nsQueue) (batch, bool) {
	for len(n.runnable) > 0 {
		s := n.runnable[0]
		n.runnable[0] = nil
		n.runnable = n.runnable[1:]
		s.runnable = false
		if b, ok := e.takeLocked(s); ok {
			return b, true
		}
		e.maybeDropSourceLocked(s)
	}
	n.runnable = nil // let the backing array go
	return batch{}, false
}

// takeLocked makes a batch of a source's queued groups: up to maxBatch for an
// in-memory or not ready source, one otherwise. Removed groups are skipped.
func (e *Engine) takeLocked(s *sourceQueue) (batch, bool) {
	b := batch{src: s, p: e.lookupLocked(s)}
	b.traits = s.traits
	limit := 1
	if b.p == nil || b.traits.InMemory {
		limit = maxBatch
	}
	var groups []*group
	if k := len(e.spare); k > 0 {
		groups, e.spare = e.spare[k-1], e.spare[:k-1]
	}
	for s.head < len(s.queue) && len(groups) < limit {
		g := s.queue[s.head]
		s.queue[s.head] = nil
		s.head++
		if !g.removed {
			groups = append(groups, g)
		}
	}
	if s.head == len(s.queue) {
		s.queue, s.head = s.queue[:0], 0
	}
	if len(groups) == 0 {
		e.spare = append(e.spare, groups)
		return batch{}, false
	}
	b.groups = groups
	return b, true
}

// dispatchLocked moves due groups to their queues and hands batches of queued
// groups to free workers: one batch per namespace in turn, and within a
// namespace one per source in turn.
func (e *Engine) dispatchLocked(now time.Time) {
	for len(e.heap) > 0 && !e.heap[0].due.After(now) {
		e.enqueueLocked(heap.Pop(&e.heap).(*group))
	}
	for e.busy < e.workers && len(e.runnable) > 0 {
		n := e.runnable[0]
		e.runnable[0] = nil
		e.runnable = e.runnable[1:]
		n.queued = false
		b, ok := e.nextLocked(n)
		if !ok {
			e.maybeDropNamespaceLocked(n)
			continue
		}
		s := b.src
		for _, g := range b.groups {
			g.startedAt = now
			e.metrics.lagObserved(now.Sub(g.due).Seconds())
		}
		s.inflight++
		n.inflight++
		e.busy++
		e.jobs <- b // never blocks: busy <= workers == cap(jobs)
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
		e.loadLocked()
		loads := e.takeLoadOutboxLocked()
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
		if (len(owners) > 0 && e.notify != nil) || len(loads) > 0 {
			e.mu.Unlock()
			if e.notify != nil {
				for _, o := range owners {
					e.notify(o)
				}
			}
			e.deliverLoads(loads)
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

// worker fetches and evaluates the batches the loop hands it.
func (e *Engine) worker(ctx context.Context) {
	var w workerState
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-e.jobs:
			e.runBatch(ctx, b, &w)
		}
	}
}

// workerState is a worker's buffers, reused from batch to batch.
type workerState struct {
	results []fetchResult
	owners  []Owner
}

// fetchResult is the outcome of one group's fetch.
type fetchResult struct {
	obs Observation
	// result is the metric result label ("success" or the failure reason),
	// empty when no provider was called.
	result  string
	seconds float64
}

// runBatch fetches the signals of a batch, then under one lock evaluates every
// member of its groups, puts the groups back in the heap and records the
// source's outcome; it then notifies the owners whose objectives transitioned
// (or whose cause changed) and reports a change of the source's outcome.
func (e *Engine) runBatch(ctx context.Context, b batch, w *workerState) {
	w.results = e.fetchBatch(ctx, &b, w.results[:0])
	now := e.clock.Now()
	e.metrics.fetchedBatch(b.src.name, w.results)

	e.mu.Lock()
	e.progress = now
	s := b.src
	s.inflight--
	s.ns.inflight--
	// When ctx is done (shutting down, or leadership lost) the fetches were cut
	// short: their failures must not become the objectives' state.
	live := ctx.Err() == nil
	e.epoch++
	owners := w.owners[:0]
	evaluated := 0
	for i, g := range b.groups {
		g.startedAt = time.Time{}
		if g.removed {
			continue
		}
		if live {
			r := &w.results[i]
			owners = e.evaluateLocked(g, r.obs, now, owners)
			evaluated += len(g.members)
			if r.result != "" {
				e.outcomeLocked(g, r.obs.Err)
			}
		}
		g.due = e.nextDueLocked(g, now)
		heap.Push(&e.heap, g)
	}
	if evaluated > 0 {
		e.metrics.countEvaluations(evaluated)
		e.evals.Add(uint64(evaluated))
	}
	clear(b.groups)
	e.spare = append(e.spare, b.groups[:0])
	e.markRunnableLocked(s)
	e.maybeDropSourceLocked(s)
	out := e.takeOutboxLocked()
	w.owners = owners
	if (len(owners) == 0 || e.notify == nil) && len(out) == 0 {
		e.busy--
		e.kickLocked()
		e.mu.Unlock()
		return
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
}

// fetchBatch fetches the signal of every group of a batch, appending one result
// per group to results. An in-memory provider is called without a deadline and
// without timing the calls (its answers take no time to speak of); a network
// provider's call gets the fetch timeout, and a shared-fetch provider the tick.
func (e *Engine) fetchBatch(ctx context.Context, b *batch, results []fetchResult) []fetchResult {
	switch {
	case b.p == nil:
		err := &providers.Error{
			Reason:  v1alpha1.ReasonSourceNotReady,
			Message: "signal source " + b.src.name + " is not ready",
		}
		for range b.groups {
			results = append(results, fetchResult{obs: Observation{Err: err}})
		}
	case b.traits.InMemory:
		for _, g := range b.groups {
			v, err := query(ctx, b.p, g.key.query)
			r := e.fetchResultOf(g.key, v, err, ctx)
			r.seconds = -1 // not timed: it takes no time to speak of
			results = append(results, r)
		}
	default:
		for _, g := range b.groups {
			start := e.clock.Now()
			r := e.fetch(ctx, b, g)
			r.seconds = e.clock.Since(start).Seconds()
			results = append(results, r)
		}
	}
	return results
}

// fetch queries one group's signal from a network provider, within the fetch
// timeout.
func (e *Engine) fetch(ctx context.Context, b *batch, g *group) fetchResult {
	fctx, cancel := context.WithTimeout(ctx, e.fetchTimeout)
	defer cancel()
	qctx := fctx
	if b.traits.SharedFetch {
		qctx = providers.WithTick(fctx, g.due)
	}
	v, err := query(qctx, b.p, g.key.query)
	if err != nil && fctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
		err = &providers.Error{
			Reason:  v1alpha1.ReasonUnreachable,
			Message: fmt.Sprintf("signal source %s did not answer within %s", g.key.source, e.fetchTimeout),
			Err:     err,
		}
	}
	return e.fetchResultOf(g.key, v, err, ctx)
}

// fetchResultOf turns a provider's answer into a fetch result, logging a failure
// at V(1) unless ctx is done.
func (e *Engine) fetchResultOf(k groupKey, v float64, err error, ctx context.Context) fetchResult {
	if err == nil {
		return fetchResult{obs: Observation{Value: v}, result: "success"}
	}
	reason := providers.ReasonOf(err, "Error")
	if ctx.Err() == nil {
		// Provider messages carry no response body nor secret.
		e.log.V(1).Info("signal fetch failed", "source", k.source, "reason", reason, "message", err.Error())
	}
	return fetchResult{obs: Observation{Err: err}, result: reason}
}

// evaluateLocked steps every member of g with obs and appends, once each per
// epoch, the owners to notify.
func (e *Engine) evaluateLocked(g *group, obs Observation, now time.Time, owners []Owner) []Owner {
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
	g.evaluatedAt, g.last = now, obs
	if at := now.Add(e.staleAfter(g.interval)); e.sweepAt.IsZero() || at.Before(e.sweepAt) {
		e.sweepAt = at
	}
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

// query calls the provider, turning a panic into an error.
func query(ctx context.Context, p providers.Provider, q string) (v float64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = providers.Errorf("ProviderFailed", "the signal provider failed unexpectedly")
		}
	}()
	return p.Query(ctx, q)
}

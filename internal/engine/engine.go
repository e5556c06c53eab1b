package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"

	"github.com/cxops/cxops/internal/providers"
)

// Owner identifies the object whose objectives are registered: a Moment or a
// Journey.
type Owner struct {
	// Kind is "Moment" or "Journey".
	Kind string
	// Namespace of the owner.
	Namespace string
	// Name of the owner.
	Name string
}

// String returns "Kind namespace/name".
func (o Owner) String() string { return o.Kind + " " + o.Namespace + "/" + o.Name }

// ProviderLookup finds the provider of a signal source by its "namespace/name"
// key. *providers.Registry satisfies it.
type ProviderLookup interface {
	// Get returns the provider of a source, or false when the source is unknown or
	// not ready. The engine calls it with its lock held: it must not call the
	// engine.
	Get(source string) (providers.Provider, bool)
}

// Registration is one objective handed to Engine.Set.
type Registration struct {
	// Name of the objective, unique within its owner.
	Name string
	// Spec is the compiled objective, with Source and Query set.
	Spec Spec
	// Initial is the state to start from when the objective is new to the engine,
	// typically restored from the owner's status so that an episode survives a
	// restart or a change of leader. It is ignored for an objective the engine
	// already holds: the engine's own state is at least as recent.
	Initial State
}

// Result is the current state of one registered objective, as Snapshot returns
// it.
type Result struct {
	// Name of the objective.
	Name string
	// Target as a person reads it (Spec.Target).
	Target string
	// State of the objective.
	State State
	// Evaluated says whether the objective was evaluated at least once since it was
	// registered (or since its signal changed). Before that, State is the
	// registration's Initial state.
	Evaluated bool
	// Interval is the objective's evaluation interval (Spec.Interval), for owners
	// that pace their status writes by it.
	Interval time.Duration
	// Stale says that the objective's value is older than its staleness bound
	// (2 × Interval + the fetch timeout): State is then Unknown with a message
	// "no fresh value since <time>: ...".
	Stale bool
}

// Options configure an Engine. The zero value of every field has a usable
// default.
type Options struct {
	// Clock drives the schedule and timestamps the evaluations. Defaults to the
	// real clock; tests use k8s.io/utils/clock/testing.FakeClock.
	Clock clock.WithTicker
	// Providers finds the provider of a source. A source it does not know is "not
	// ready": its objectives observe no data and nothing is called.
	Providers ProviderLookup
	// Notify is called once per owner and tick when one of the owner's objectives
	// changed state (or one of its hysteresis timestamps was set or cleared, or
	// the cause of a state that is not Met changed: its Message), after an
	// objective's first evaluation, and when a value goes stale. It is called from
	// a fetch worker or the schedule loop, without locks held, and must not block
	// for long: enqueueing a reconcile request is what it is for. Values that
	// change without a transition do not notify.
	Notify func(Owner)
	// SourceOutcome is called when the outcome of a source's fetches changes:
	// with the error when the source starts failing (the latest fetch of every
	// query of the source failed, no data excepted) or its failure's reason or
	// message changes, with nil when a fetch succeeds again or nothing fetches
	// the failing source any more. It is called without locks held, from a fetch
	// worker or the caller of Set or Remove, and must not block: enqueueing a
	// reconcile request is what it is for. The error's text is the provider's
	// message (no response body, no secret).
	SourceOutcome func(source string, err error)
	// LoadChanged is called when what a source's schedule asks of its host's
	// egress rate changes enough to tell (see Load): the source starts or stops
	// having its intervals stretched by the rate, or its stretch changes by more
	// than a tenth. It is called without locks held, from the schedule loop or a
	// caller of Load, and must not block: enqueueing a reconcile request is what
	// it is for.
	LoadChanged func(source string)
	// Logger receives the source outcome changes (Info, keys source, reason,
	// message) and individual fetch errors (V(1)). Defaults to logr.Discard().
	Logger logr.Logger
	// Registerer receives the engine's metrics; nil disables them.
	Registerer prometheus.Registerer
	// Workers is the number of concurrent fetches. Defaults to 16.
	Workers int
	// MaxFetchesPerNamespace bounds the concurrent fetches of the sources of one
	// namespace (the part of the source key before "/"), so that one tenant's
	// slow sources cannot take the pool. Defaults to a quarter of Workers (at
	// least 1).
	MaxFetchesPerNamespace int
	// MaxFetchesPerSource bounds the concurrent fetches against one source, so
	// that a slow source cannot take its namespace's share. Defaults to half of
	// MaxFetchesPerNamespace (at least 1).
	MaxFetchesPerSource int
	// Jitter spreads the ticks: each interval is stretched or shrunk by up to this
	// fraction. 0 means the default 0.1; a negative value disables jitter
	// (including the small delay before a first evaluation). At most 0.5.
	Jitter float64
	// FetchTimeout bounds each fetch, on top of the provider's own timeout.
	// Defaults to 30s.
	FetchTimeout time.Duration
	// Rand is the source of jitter; tests pass a deterministic one. Defaults to a
	// randomly seeded PCG.
	Rand rand.Source
}

// Engine evaluates registered objectives on timers. It groups objectives by
// (Source, Query), fetches each group once per tick with a bounded pool of
// workers, steps every member's state machine with the shared observation and
// notifies owners on transitions. It runs only on the leader (see Start); Set,
// Remove and Snapshot are safe for concurrent use at any time.
type Engine struct {
	clock         clock.WithTicker
	providers     ProviderLookup
	notify        func(Owner)
	sourceOutcome func(string, error)
	log           logr.Logger
	metrics       *metrics
	workers       int
	perSource     int
	perNamespace  int
	jitter        float64
	fetchTimeout  time.Duration

	mu         sync.Mutex
	rnd        *rand.Rand
	owners     map[Owner]*ownerEntry
	groups     map[groupKey]*group
	sources    map[string]*sourceQueue
	namespaces map[string]*nsQueue
	heap       groupHeap
	runnable   []*nsQueue // namespaces with a runnable source and a free slot, round robin
	busy       int        // groups handed to workers and not finished
	sweepAt    time.Time  // next staleness sweep, zero if none
	outbox     []outcome  // source outcome changes to deliver outside the lock
	epoch      uint64     // one per evaluated tick, to coalesce notifications
	started    bool
	progress   time.Time // when a fetch last completed (or the engine started)
	waiting    bool      // the loop is blocked waiting for armedFor (tests)
	armedFor   time.Time // the due time the loop's timer is armed for, zero if none

	loadDirty  bool         // a source's groups, intervals or traits changed: recompute loads
	loadOut    []string     // sources whose load changed, to report outside the lock
	loadChange func(string) // Options.LoadChanged
	spare      [][]*group   // batch buffers handed back by workers

	jobs  chan batch
	wake  chan struct{}
	evals atomic.Uint64 // objective evaluations, for tests and benchmarks
	// seriesApart: the per-objective series are served by WriteObjectiveSeries, not
	// by the engine's collector (SeriesApart).
	seriesApart atomic.Bool
}

// ownerEntry is one owner's registered objectives, in registration order.
type ownerEntry struct {
	key  Owner
	objs []*objective
	mark uint64 // epoch of the last notification queued for this owner
}

// objective is one registered objective and its live state.
type objective struct {
	owner     *ownerEntry
	name      string
	spec      Spec
	state     State
	evaluated bool
	stale     bool // state was set by the staleness sweep
	group     *group
	gidx      int // index in group.members
}

// New returns an engine; call Start to run it.
func New(opts Options) *Engine {
	e := &Engine{
		clock:         opts.Clock,
		providers:     opts.Providers,
		notify:        opts.Notify,
		sourceOutcome: opts.SourceOutcome,
		loadChange:    opts.LoadChanged,
		log:           opts.Logger,
		workers:       opts.Workers,
		perSource:     opts.MaxFetchesPerSource,
		perNamespace:  opts.MaxFetchesPerNamespace,
		jitter:        opts.Jitter,
		fetchTimeout:  opts.FetchTimeout,
		owners:        map[Owner]*ownerEntry{},
		groups:        map[groupKey]*group{},
		sources:       map[string]*sourceQueue{},
		namespaces:    map[string]*nsQueue{},
		wake:          make(chan struct{}, 1),
	}
	if e.log.GetSink() == nil {
		e.log = logr.Discard()
	}
	if e.clock == nil {
		e.clock = clock.RealClock{}
	}
	if e.workers <= 0 {
		e.workers = 16
	}
	if e.perNamespace <= 0 {
		e.perNamespace = max(1, e.workers/4)
	}
	if e.perSource <= 0 {
		e.perSource = max(1, e.perNamespace/2)
	}
	switch {
	case e.jitter == 0:
		e.jitter = 0.1
	case e.jitter < 0:
		e.jitter = 0
	case e.jitter > 0.5:
		e.jitter = 0.5
	}
	if e.fetchTimeout <= 0 {
		e.fetchTimeout = 30 * time.Second
	}
	src := opts.Rand
	if src == nil {
		src = rand.NewPCG(rand.Uint64(), rand.Uint64())
	}
	e.rnd = rand.New(src)
	e.metrics = newMetrics(opts.Registerer, e)
	e.jobs = make(chan batch, e.workers)
	return e
}

// NeedLeaderElection reports that the engine runs only on the elected leader
// (controller-runtime's LeaderElectionRunnable).
func (e *Engine) NeedLeaderElection() bool { return true }

// Start runs the schedule and the fetch workers until ctx is done, then waits for
// the workers to stop. It satisfies controller-runtime's manager.Runnable. A fetch
// interrupted by the end of ctx is discarded, not evaluated: leaving leadership
// must not turn objectives Unknown.
func (e *Engine) Start(ctx context.Context) error {
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return errors.New("engine: already started")
	}
	e.started = true
	e.progress = e.clock.Now()
	e.mu.Unlock()

	var wg sync.WaitGroup
	for range e.workers {
		wg.Go(func() { e.worker(ctx) })
	}
	e.loop(ctx)
	wg.Wait()
	return nil
}

// Stalled returns an error while the engine has due work that it has not made
// progress on for longer than twice the fetch timeout (at least a minute): the
// scheduling loop is not dispatching (the heap holds an overdue group), or every
// worker is busy and none has finished a fetch in that time. A slow tenant alone
// never stalls the engine: its fetches are capped per namespace and source. It
// returns nil before Start (a replica that does not lead evaluates nothing).
func (e *Engine) Stalled() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.started {
		return nil
	}
	now := e.clock.Now()
	limit := max(2*e.fetchTimeout, time.Minute)
	if len(e.heap) > 0 && now.Sub(e.heap[0].due) > limit {
		return fmt.Errorf("evaluation is stalled: a check due at %s has not been dispatched", e.heap[0].due.UTC().Format(time.RFC3339))
	}
	if e.busy >= e.workers && now.Sub(e.progress) > limit {
		return fmt.Errorf("evaluation is stalled: all %d fetch workers have been busy since %s", e.workers, e.progress.UTC().Format(time.RFC3339))
	}
	return nil
}

// Set replaces the objectives of owner. It is idempotent: objectives whose name
// and Spec are unchanged keep their state and schedule, so calling Set on every
// reconcile costs a comparison. A new objective starts from its Initial state and
// is evaluated promptly. An objective whose Spec changed keeps its episode
// (State, Since, BreachingSince, DriftingSince) and is re-evaluated promptly with
// the new spec; if its signal (Source or Query) changed, its value and recovery
// clock (MetSince) are dropped and it counts as not yet evaluated. Objectives
// absent from objs are removed. When names repeat, the last one wins.
func (e *Engine) Set(owner Owner, objs []Registration) {
	e.mu.Lock()
	e.setLocked(owner, objs)
	out := e.takeOutboxLocked()
	e.mu.Unlock()
	e.deliverOutcomes(out)
}

func (e *Engine) setLocked(owner Owner, objs []Registration) {
	oe := e.owners[owner]
	if oe != nil && sameRegistrations(oe.objs, objs) {
		return
	}
	if oe == nil {
		oe = &ownerEntry{key: owner}
		e.owners[owner] = oe
	}
	now := e.clock.Now()

	old := make(map[string]*objective, len(oe.objs))
	for _, o := range oe.objs {
		old[o.name] = o
	}
	last := make(map[string]int, len(objs))
	for i := range objs {
		last[objs[i].Name] = i
	}
	next := make([]*objective, 0, len(last))
	for i := range objs {
		r := &objs[i]
		if last[r.Name] != i {
			continue
		}
		if o, ok := old[r.Name]; ok {
			delete(old, r.Name)
			if o.spec != r.Spec {
				e.changeSpecLocked(o, r.Spec, now)
			}
			next = append(next, o)
			continue
		}
		o := &objective{owner: oe, name: r.Name, spec: r.Spec, state: r.Initial, gidx: -1}
		e.joinLocked(o, now)
		next = append(next, o)
	}
	for _, o := range old {
		e.dropObjectiveLocked(o)
	}
	oe.objs = next
	e.kickLocked()
}

// Remove forgets owner's objectives: they are no longer fetched, a fetch in
// flight is discarded, and their metric series are deleted.
func (e *Engine) Remove(owner Owner) {
	e.mu.Lock()
	oe := e.owners[owner]
	if oe == nil {
		e.mu.Unlock()
		return
	}
	for _, o := range oe.objs {
		e.dropObjectiveLocked(o)
	}
	oe.objs = nil
	delete(e.owners, owner)
	e.kickLocked()
	out := e.takeOutboxLocked()
	e.mu.Unlock()
	e.deliverOutcomes(out)
}

// Snapshot returns the current state of owner's objectives in registration
// order, and false if owner is not registered. An objective whose value is older
// than 2 × its interval + the fetch timeout is reported Unknown (Stale), even
// before the engine's sweep marks it so.
func (e *Engine) Snapshot(owner Owner) ([]Result, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	oe := e.owners[owner]
	if oe == nil {
		return nil, false
	}
	now := e.clock.Now()
	out := make([]Result, len(oe.objs))
	for i, o := range oe.objs {
		out[i] = Result{Name: o.name, Target: o.spec.Target, State: o.state, Evaluated: o.evaluated,
			Interval: o.spec.Interval, Stale: o.stale}
		if e.isStale(o, now) {
			out[i].State, out[i].Stale = e.staleState(o), true
		}
	}
	return out, true
}

// sameRegistrations reports whether objs registers exactly the objectives held,
// in the same order, with the same specs.
func sameRegistrations(held []*objective, objs []Registration) bool {
	if len(held) != len(objs) {
		return false
	}
	for i, o := range held {
		if o.name != objs[i].Name || o.spec != objs[i].Spec {
			return false
		}
	}
	return true
}

// changeSpecLocked applies a new spec to a registered objective.
func (e *Engine) changeSpecLocked(o *objective, s Spec, now time.Time) {
	sameSignal := o.spec.Source == s.Source && o.spec.Query == s.Query
	// The message was written against the old target: Step rebuilds an empty one.
	o.state.Message = ""
	if sameSignal {
		o.spec = s
		e.recomputeIntervalLocked(o.group)
		e.soonLocked(o.group, now)
	} else {
		e.leaveLocked(o)
		o.spec = s
		o.state.Value, o.state.HasValue = 0, false
		o.state.MetSince = time.Time{}
		o.evaluated, o.stale = false, false
		e.joinLocked(o, now)
	}
}

// dropObjectiveLocked takes an objective out of its group and deletes its series.
func (e *Engine) dropObjectiveLocked(o *objective) {
	e.leaveLocked(o)
}

// kickLocked wakes the loop. It is called with e.mu held so that tests observing
// the engine under the lock see the pending wake-up.
func (e *Engine) kickLocked() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

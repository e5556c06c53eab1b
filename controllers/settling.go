package controllers

import (
	"sync"
	"time"

	"github.com/cxops/cxops/internal/engine"
)

// sourceSettleGrace bounds how long an objective waits for its source's provider
// to be known (see sourceSettling): long enough for the SignalSource controller
// to go through its queue after a start or a failover, short enough that a
// source it cannot handle shows as not ready soon.
const sourceSettleGrace = time.Minute

// sourceSettling tells whether the SignalSource controller has settled a source
// since this process started: registered its provider, or found that it cannot
// build one. Until then the engine does not know the source, and would evaluate
// its objectives into Unknown ("not ready") only to evaluate them back a moment
// later: after a restart or a failover, a status write per moment for nothing,
// and more for journeys. So an objective whose source is not settled yet is held:
// not registered with the engine, its status left as it was (the last leader's,
// which holds the episode), for at most sourceSettleGrace from the first time
// the source was asked about. When the source settles, the owners that wait for
// it are notified.
//
// The zero value is not usable: see newSourceSettling.
type sourceSettling struct {
	clock  Clock
	grace  time.Duration
	notify func(engine.Owner)

	mu      sync.Mutex
	settled map[string]struct{}
	asked   map[string]time.Time
	waiters map[string]map[engine.Owner]struct{}
}

func newSourceSettling(clock Clock, grace time.Duration, notify func(engine.Owner)) *sourceSettling {
	return &sourceSettling{
		clock: clock, grace: grace, notify: notify,
		settled: map[string]struct{}{}, asked: map[string]time.Time{}, waiters: map[string]map[engine.Owner]struct{}{},
	}
}

// settle records that the provider of source ("namespace/name") is registered,
// or that none can be built, and notifies the owners waiting for it.
func (s *sourceSettling) settle(source string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.settled[source] = struct{}{}
	delete(s.asked, source)
	waiters := s.waiters[source]
	delete(s.waiters, source)
	s.mu.Unlock()
	for o := range waiters {
		s.notify(o)
	}
}

// forget drops what is known of a deleted source: a source created again under
// the same name is not settled until the controller has seen it.
func (s *sourceSettling) forget(source string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.settled, source)
	delete(s.asked, source)
	delete(s.waiters, source)
}

// hold splits an owner's registrations into those the engine may evaluate now
// and the names of those held until their source settles, and returns how long
// until the earliest hold ends (0 when nothing is held). The owner is notified
// when a source it waits for settles.
func (s *sourceSettling) hold(owner engine.Owner, regs []engine.Registration) (ready []engine.Registration, held []string, until time.Duration) {
	if s == nil {
		return regs, nil, 0
	}
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	all := true
	for _, r := range regs {
		if _, ok := s.settled[r.Spec.Source]; !ok {
			all = false
			break
		}
	}
	if all {
		return regs, nil, 0
	}
	ready = make([]engine.Registration, 0, len(regs))
	for _, r := range regs {
		src := r.Spec.Source
		if _, ok := s.settled[src]; ok {
			ready = append(ready, r)
			continue
		}
		asked, ok := s.asked[src]
		if !ok {
			asked = now
			s.asked[src] = now
		}
		left := asked.Add(s.grace).Sub(now)
		if left <= 0 {
			ready = append(ready, r)
			continue
		}
		w := s.waiters[src]
		if w == nil {
			w = map[engine.Owner]struct{}{}
			s.waiters[src] = w
		}
		w[owner] = struct{}{}
		held = append(held, r.Name)
		until = minPositive(until, left)
	}
	return ready, held, until
}

// withHeld appends to an engine snapshot a not-yet-evaluated result for each
// held objective, so that the status keeps what it said and a new generation
// waits for its evaluation (see firstSight).
func withHeld(snap []engine.Result, held []string) []engine.Result {
	for _, name := range held {
		snap = append(snap, engine.Result{Name: name})
	}
	return snap
}

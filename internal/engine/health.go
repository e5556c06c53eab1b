package engine

import (
	"time"

	"github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/providers"
)

// Staleness and source outcomes: what the engine knows about the freshness of
// its values and the health of its sources, beyond single observations.

// sweepFloor is the shortest time between two staleness sweeps: a sweep scans
// every group, so many groups with close deadlines cost one scan per second at
// most. The snapshot is exact regardless (see Snapshot).
const sweepFloor = time.Second

// staleAfter is how old a value may get before it is no longer trusted: two
// intervals (one missed tick) and the fetch timeout.
func (e *Engine) staleAfter(interval time.Duration) time.Duration {
	return 2*interval + e.fetchTimeout
}

// staleAt is when an evaluated objective's value becomes stale.
func (e *Engine) staleAt(o *objective) time.Time {
	return o.state.LastEvaluated.Add(e.staleAfter(o.spec.Interval))
}

// isStale reports whether an objective's value is stale at now but not yet
// marked so. A fetch that started less than the fetch timeout ago will evaluate
// it by then: it is not stale yet.
func (e *Engine) isStale(o *objective, now time.Time) bool {
	return o.evaluated && !o.stale && !now.Before(e.staleAt(o)) && !e.fetchingLocked(o.group, now)
}

// fetchingLocked reports whether g's fetch is in flight for less than the fetch
// timeout.
func (e *Engine) fetchingLocked(g *group, now time.Time) bool {
	return g != nil && !g.startedAt.IsZero() && now.Before(g.startedAt.Add(e.fetchTimeout))
}

// staleState is an objective's state once its value is stale: Unknown since the
// value became stale, with no value and no recovery clock (as with no data, the
// breach clock runs on), explained by "no fresh value since <LastEvaluated>".
func (e *Engine) staleState(o *objective) State {
	st := o.state
	after := e.staleAfter(o.spec.Interval)
	if st.State != v1alpha1.StateUnknown {
		st.State = v1alpha1.StateUnknown
		st.Since = st.LastEvaluated.Add(after)
	}
	st.MetSince = time.Time{}
	st.Value, st.HasValue = 0, false
	b := make([]byte, 0, 80)
	b = append(b, "no fresh value since "...)
	b = appendTime(b, st.LastEvaluated)
	b = append(b, ": not evaluated within "...)
	b = append(b, after.String()...)
	st.Message = string(b)
	return st
}

// sweepLocked marks the objectives whose value went stale, appends their owners
// to notify, and sets the time of the next sweep: the earliest deadline of a
// fresh value, at least sweepFloor away (zero when no value can go stale).
func (e *Engine) sweepLocked(now time.Time, owners []Owner) []Owner {
	if len(e.groups) == 0 {
		e.sweepAt = time.Time{}
		return owners
	}
	if e.sweepAt.IsZero() || now.Before(e.sweepAt) {
		return owners
	}
	e.epoch++
	var next time.Time
	earliest := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, g := range e.groups {
		if g.evaluatedAt.IsZero() {
			continue
		}
		if at := g.evaluatedAt.Add(e.staleAfter(g.interval)); now.Before(at) {
			earliest(at)
			continue
		}
		if e.fetchingLocked(g, now) {
			earliest(g.startedAt.Add(e.fetchTimeout))
			continue
		}
		for _, o := range g.members {
			if !o.evaluated || o.stale {
				continue
			}
			if at := e.staleAt(o); now.Before(at) {
				earliest(at)
				continue
			}
			prev := o.state
			o.state = e.staleState(o)
			o.stale = true
			if changed(&prev, &o.state) && o.owner.mark != e.epoch {
				o.owner.mark = e.epoch
				owners = append(owners, o.owner.key)
			}
		}
	}
	if !next.IsZero() && next.Before(now.Add(sweepFloor)) {
		next = now.Add(sweepFloor)
	}
	e.sweepAt = next
	return owners
}

// outcome is a change of a source's fetch outcome, delivered to SourceOutcome
// outside the lock.
type outcome struct {
	source string
	err    error
}

// outcomeLocked records the outcome of a group's fetch of its provider. No data
// is an answer: only other errors count as failures.
func (e *Engine) outcomeLocked(g *group, err error) {
	s := g.src
	failed := err != nil && providers.ReasonOf(err, "") != v1alpha1.ReasonNoData
	if !g.fetched {
		g.fetched = true
		s.fetched++
	}
	if g.failed != failed {
		g.failed = failed
		if failed {
			s.failed++
		} else {
			s.failed--
		}
	}
	if !failed {
		err = nil
	}
	e.judgeLocked(s, g, err)
}

// forgetOutcomeLocked takes a removed group out of its source's outcome.
func (e *Engine) forgetOutcomeLocked(g *group) {
	s := g.src
	if g.fetched {
		s.fetched--
		if g.failed {
			s.failed--
		}
	}
	g.fetched, g.failed = false, false
	if s.reporter == g {
		s.reporter = nil
	}
	e.judgeLocked(s, nil, nil)
}

// judgeLocked decides whether a source's outcome changed and queues the change.
// A source is failing when the latest fetch of every group that fetched it
// failed. While it fails, a new cause (reason or message) is reported when it
// comes from the group whose failure was reported, so that groups failing for
// different reasons do not alternate the report. g and err are the group just
// fetched and its failure (nil: success, or a group removed).
func (e *Engine) judgeLocked(s *sourceQueue, g *group, err error) {
	failing := s.fetched > 0 && s.failed == s.fetched
	switch {
	case failing && !s.failing:
		if err == nil {
			return // a removal left only failing groups: report at their next fetch
		}
		s.failing, s.reporter = true, g
		s.reason, s.message = providers.ReasonOf(err, "Error"), err.Error()
		e.outbox = append(e.outbox, outcome{source: s.name, err: err})
	case failing && err != nil && (s.reporter == g || s.reporter == nil):
		s.reporter = g
		reason, message := providers.ReasonOf(err, "Error"), err.Error()
		if reason != s.reason || message != s.message {
			s.reason, s.message = reason, message
			e.outbox = append(e.outbox, outcome{source: s.name, err: err})
		}
	case !failing && s.failing:
		s.failing, s.reporter, s.reason, s.message = false, nil, "", ""
		e.outbox = append(e.outbox, outcome{source: s.name})
	}
}

// takeOutboxLocked returns the queued outcome changes and empties the queue.
func (e *Engine) takeOutboxLocked() []outcome {
	out := e.outbox
	e.outbox = nil
	return out
}

// deliverOutcomes logs and reports outcome changes; it is called without locks.
func (e *Engine) deliverOutcomes(out []outcome) {
	for _, o := range out {
		if o.err == nil {
			e.log.Info("signal source is no longer failing", "source", o.source)
		} else {
			e.log.Info("signal source fetches are failing", "source", o.source,
				"reason", providers.ReasonOf(o.err, "Error"), "message", o.err.Error())
		}
		if e.sourceOutcome != nil {
			e.sourceOutcome(o.source, o.err)
		}
	}
}

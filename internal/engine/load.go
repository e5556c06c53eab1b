package engine

import (
	"fmt"
	"math"
	"time"
)

// Egress load: what each source's schedule asks of the per-host egress rate. A
// source needs one call per query per interval (a shared-fetch source one per
// interval, its queries' ticks being aligned); the sources on one host share its
// rate. When they need more than the rate allows, the calls wait for the rate
// and every interval of those sources stretches by need/rate: Load says so, and
// LoadChanged reports it, so that it does not happen silently.

// SourceLoad is what a source's schedule asks of its host's egress rate.
type SourceLoad struct {
	// Host is the egress rate-limit key of the source's calls ("host:port");
	// empty when the source makes no calls (in-memory, not ready) or is unknown.
	Host string
	// Queries is the number of distinct queries the source is asked.
	Queries int
	// Interval is the smallest interval of those queries.
	Interval time.Duration
	// Calls is the calls per second the source's schedule needs.
	Calls float64
	// HostCalls is the calls per second the schedules of every source on Host
	// need together.
	HostCalls float64
	// Rate is the calls per second the egress limit allows to Host, 0 when
	// unlimited.
	Rate float64
	// Stretch is HostCalls/Rate when that is above 1 (the intervals take that
	// many times longer than scheduled), else 1.
	Stretch float64
}

// Stretched reports whether the egress rate stretches the source's intervals.
func (l SourceLoad) Stretched() bool { return l.Stretch > 1 }

// Message explains a stretch for a person, such as "1000 queries (every 10s)
// need 100 calls/s to prom:9090, 100 calls/s with the other sources on that host;
// the egress rate allows 10/s to it, so intervals are stretched about 10× (10s
// to ~1m40s)". It is empty when the source is not stretched.
func (l SourceLoad) Message() string {
	if !l.Stretched() {
		return ""
	}
	stretched := time.Duration(float64(l.Interval) * l.Stretch).Round(time.Second)
	return fmt.Sprintf("%d queries (every %s or more) need %s calls/s to %s, %s calls/s with the other sources on that host; "+
		"the egress rate allows %s/s to it, so intervals are stretched about %s× (%s to ~%s): "+
		"use fewer distinct queries or longer intervals, or raise the operator's per-host rate",
		l.Queries, l.Interval, rateString(l.Calls), l.Host, rateString(l.HostCalls), rateString(l.Rate),
		rateString(l.Stretch), l.Interval, stretched)
}

// rateString formats a rate with up to two decimals.
func rateString(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2g", v)
}

// Load returns what source's schedule asks of its host's egress rate now; the
// zero SourceLoad (not stretched) for a source nothing uses.
func (e *Engine) Load(source string) SourceLoad {
	e.mu.Lock()
	e.loadLocked()
	var l SourceLoad
	if s := e.sources[source]; s != nil {
		l = s.load
	}
	out := e.takeLoadOutboxLocked()
	e.mu.Unlock()
	e.deliverLoads(out)
	if l.Stretch == 0 {
		l.Stretch = 1
	}
	return l
}

// callsPerSecond is the calls per second a source's schedule needs.
func (s *sourceQueue) callsPerSecond() float64 {
	if s.traits.InMemory {
		return 0
	}
	calls := 0.0
	for iv, n := range s.intervals {
		if s.traits.SharedFetch {
			n = 1
		}
		calls += float64(n) / iv.Seconds()
	}
	return calls
}

// loadLocked recomputes the load of every source when something it depends on
// changed, and queues the sources whose stretch changed enough to report.
func (e *Engine) loadLocked() {
	if !e.loadDirty {
		return
	}
	e.loadDirty = false
	hosts := map[string]float64{}
	for _, s := range e.sources {
		if s.traits.Host != "" && s.traits.Rate > 0 {
			hosts[s.traits.Host] += s.callsPerSecond()
		}
	}
	for _, s := range e.sources {
		l := SourceLoad{Stretch: 1}
		if s.traits.Host != "" && !s.traits.InMemory {
			l.Host, l.Rate, l.Calls = s.traits.Host, s.traits.Rate, s.callsPerSecond()
			l.HostCalls = l.Calls
			if l.Rate > 0 {
				l.HostCalls = hosts[l.Host]
				if l.HostCalls > l.Rate {
					l.Stretch = l.HostCalls / l.Rate
				}
			}
			for iv, n := range s.intervals {
				l.Queries += n
				if l.Interval == 0 || iv < l.Interval {
					l.Interval = iv
				}
			}
		}
		s.load = l
		if loadChanged(s.reported, l.Stretch) {
			s.reported = l.Stretch
			e.loadOut = append(e.loadOut, s.name)
		}
	}
}

// loadChanged reports whether a stretch differs enough from the one last
// reported (0: none, which counts as 1) to tell: it crosses 1, or moves by more
// than a tenth.
func loadChanged(reported, now float64) bool {
	if reported == 0 {
		reported = 1
	}
	if (reported > 1) != (now > 1) {
		return true
	}
	return now > 1 && math.Abs(now/reported-1) > 0.1
}

// sourceGoneLocked accounts for a source nothing uses any more: the other
// sources of its host get its share, and a stretch it reported is withdrawn.
func (e *Engine) sourceGoneLocked(s *sourceQueue) {
	e.loadDirty = true
	if s.reported > 1 {
		e.loadOut = append(e.loadOut, s.name)
	}
}

// takeLoadOutboxLocked returns the sources whose load changed and empties the
// queue.
func (e *Engine) takeLoadOutboxLocked() []string {
	out := e.loadOut
	e.loadOut = nil
	return out
}

// deliverLoads logs and reports load changes; it is called without locks.
func (e *Engine) deliverLoads(out []string) {
	for _, source := range out {
		e.log.V(1).Info("egress load of a signal source changed", "source", source)
		if e.loadChange != nil {
			e.loadChange(source)
		}
	}
}

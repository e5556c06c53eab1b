// Package scoring derives health, scores, gaps and roadmap risk from objective
// states. It is pure: no clients, no clocks (the caller passes "now").
package scoring

import (
	"math"
	"sort"
	"strconv"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// DegradedBelow is the journey score under which a journey is Degraded.
const DegradedBelow = 80

// DefaultMinCoverage is the share of a journey's objective weight, in percent,
// that must have data for its health to be known when spec.minCoverage is unset.
const DefaultMinCoverage = 80

// AtRiskWithin is how close to its due date an initiative whose objectives are
// still breached counts as at risk.
const AtRiskWithin = 14 * 24 * 3600 // seconds

// Missed reports whether a state misses the target.
func Missed(s cxv1.ObjectiveState) bool {
	return s == cxv1.StateBreached || s == cxv1.StateDrifting
}

// Attained reports whether a state reaches the target.
func Attained(s cxv1.ObjectiveState) bool {
	return s == cxv1.StateMet || s == cxv1.StateWarning
}

// ObjectivesHealth summarizes objective states: Degraded when one misses its target,
// else Unknown when one has no data, else AtRisk when one is at its warning bound,
// else Healthy. No objectives at all is Unknown.
func ObjectivesHealth(states []cxv1.ObjectiveState) cxv1.HealthState {
	if len(states) == 0 {
		return cxv1.HealthUnknown
	}
	var unknown, warning bool
	for _, s := range states {
		switch {
		case Missed(s):
			return cxv1.HealthDegraded
		case s == cxv1.StateUnknown || s == "":
			unknown = true
		case s == cxv1.StateWarning:
			warning = true
		}
	}
	switch {
	case unknown:
		return cxv1.HealthUnknown
	case warning:
		return cxv1.HealthAtRisk
	}
	return cxv1.HealthHealthy
}

// rank orders health states from best to worst.
func rank(h cxv1.HealthState) int {
	switch h {
	case cxv1.HealthHealthy:
		return 0
	case cxv1.HealthAtRisk:
		return 1
	case cxv1.HealthUnknown:
		return 2
	case cxv1.HealthDegraded:
		return 3
	}
	return 2
}

// Worst returns the worst of the given health states; none is Unknown.
func Worst(hs ...cxv1.HealthState) cxv1.HealthState {
	if len(hs) == 0 {
		return cxv1.HealthUnknown
	}
	w := hs[0]
	for _, h := range hs[1:] {
		if rank(h) > rank(w) {
			w = h
		}
	}
	return w
}

// ZeroCounts are counts of no moments: every count is 0 (not unset), so that a
// count of 0 is written and shown as 0.
func ZeroCounts() cxv1.MomentCounts {
	return cxv1.MomentCounts{Total: new(int32), Healthy: new(int32), AtRisk: new(int32), Degraded: new(int32), Unknown: new(int32)}
}

// Count adds a health state to counts; counts that were unset become 0 first.
func Count(c *cxv1.MomentCounts, h cxv1.HealthState) {
	for _, p := range []**int32{&c.Total, &c.Healthy, &c.AtRisk, &c.Degraded, &c.Unknown} {
		if *p == nil {
			*p = new(int32)
		}
	}
	*c.Total++
	switch h {
	case cxv1.HealthHealthy:
		*c.Healthy++
	case cxv1.HealthAtRisk:
		*c.AtRisk++
	case cxv1.HealthDegraded:
		*c.Degraded++
	default:
		*c.Unknown++
	}
}

// Objective is one evaluated objective, as the journey sees it.
type Objective struct {
	Moment  string // empty for a journey-level objective
	Stage   string
	Name    string
	State   cxv1.ObjectiveState
	Weight  float64 // the objective's weight × its moment's weight; 0 means 1
	MomentW float64 // the moment's impact weight, for ranking gaps; 0 means 1
	Key     bool
	Value   string // last value as a decimal string, may be empty
	Target  string // as a person reads it
	NormGap float64
	HasNorm bool
	// Episode is set while a drift episode is open (driftingSince is set), also
	// when the objective has no data any more: its task is still open.
	Episode bool
}

// HasData reports whether an objective has a state backed by data.
func (o Objective) HasData() bool {
	return o.State != cxv1.StateUnknown && o.State != ""
}

// Coverage returns the share of the objectives' weight that has data, in percent
// (rounded down), and false when there are no objectives.
func Coverage(objs []Objective) (int32, bool) {
	var total, covered float64
	for _, o := range objs {
		w := o.Weight
		if w <= 0 {
			w = 1
		}
		total += w
		if o.HasData() {
			covered += w
		}
	}
	if total == 0 {
		return 0, false
	}
	return int32(math.Floor(100*covered/total + 1e-9)), true
}

// Blind returns the objectives without data that make a journey's health Unknown
// whatever its coverage: key objectives, and objectives whose drift episode is
// still open (a breach nobody can see recover).
func Blind(objs []Objective) []Objective {
	var out []Objective
	for _, o := range objs {
		if !o.HasData() && (o.Key || o.Episode) {
			out = append(out, o)
		}
	}
	return out
}

// Score returns the weighted share of objectives attained, 0-100, over the objectives
// with data; ok is false when no objective has data yet.
func Score(objs []Objective) (score int32, ok bool) {
	var total, met float64
	for _, o := range objs {
		if o.State == cxv1.StateUnknown || o.State == "" {
			continue
		}
		w := o.Weight
		if w <= 0 {
			w = 1
		}
		total += w
		if Attained(o.State) {
			met += w
		}
	}
	if total == 0 {
		return 0, false
	}
	return int32(math.Floor(100*met/total + 1e-9)), true
}

// KeyMissed returns the first key objective that misses its target.
func KeyMissed(objs []Objective) (Objective, bool) {
	for _, o := range objs {
		if o.Key && Missed(o.State) {
			return o, true
		}
	}
	return Objective{}, false
}

// JourneyHealth decides a journey's health, most certain first:
//
//   - Degraded when a key objective misses its target, or when the score over the
//     objectives with data is under DegradedBelow: what is known is bad enough.
//   - Unknown when an objective that matters has no data (see Blind), when the
//     coverage is under minCoverage, or when nothing has data: Unknown is never
//     good.
//   - AtRisk when any objective or moment is not Healthy (warning, breached but
//     not enough to degrade, or some data missing within the coverage allowed).
//   - Healthy otherwise.
func JourneyHealth(objs []Objective, moments []cxv1.HealthState, minCoverage int32) cxv1.HealthState {
	if _, missed := KeyMissed(objs); missed {
		return cxv1.HealthDegraded
	}
	score, ok := Score(objs)
	if ok && score < DegradedBelow {
		return cxv1.HealthDegraded
	}
	if coverage, any := Coverage(objs); !ok || !any || coverage < minCoverage || len(Blind(objs)) > 0 {
		return cxv1.HealthUnknown
	}
	for _, o := range objs {
		if !Attained(o.State) || o.State == cxv1.StateWarning {
			return cxv1.HealthAtRisk
		}
	}
	for _, h := range moments {
		if h != cxv1.HealthHealthy {
			return cxv1.HealthAtRisk
		}
	}
	return cxv1.HealthHealthy
}

// NormalizedGap is how far a value misses its target, relative to the target's
// magnitude (or the width of the range for InRange), so that gaps on different
// scales can be ranked together. It is 0 when the target is reached.
func NormalizedGap(op cxv1.Operator, value, target, lo, hi float64) float64 {
	var gap, scale float64
	switch op {
	case cxv1.OpGreaterOrEqual, cxv1.OpGreater:
		gap, scale = target-value, math.Abs(target)
	case cxv1.OpLessOrEqual, cxv1.OpLess:
		gap, scale = value-target, math.Abs(target)
	case cxv1.OpEqual:
		gap, scale = math.Abs(value-target), math.Abs(target)
	case cxv1.OpInRange:
		switch {
		case value < lo:
			gap = lo - value
		case value > hi:
			gap = value - hi
		}
		scale = hi - lo
	}
	if gap <= 0 {
		return 0
	}
	if scale < 1 {
		scale = 1
	}
	return gap / scale
}

// TopGaps ranks the objectives that miss their target by moment weight × normalized
// gap, largest first, and returns at most n.
func TopGaps(objs []Objective, n int) []cxv1.Gap {
	type ranked struct {
		o     Objective
		score float64
	}
	var rs []ranked
	for _, o := range objs {
		if !Missed(o.State) {
			continue
		}
		w := o.MomentW
		if w <= 0 {
			w = 1
		}
		g := 0.0
		if o.HasNorm {
			g = o.NormGap
		}
		rs = append(rs, ranked{o, w * g})
	}
	sort.SliceStable(rs, func(i, j int) bool {
		if rs[i].score != rs[j].score {
			return rs[i].score > rs[j].score
		}
		if rs[i].o.Moment != rs[j].o.Moment {
			return rs[i].o.Moment < rs[j].o.Moment
		}
		return rs[i].o.Name < rs[j].o.Name
	})
	if len(rs) > n {
		rs = rs[:n]
	}
	out := make([]cxv1.Gap, 0, len(rs))
	for _, r := range rs {
		out = append(out, cxv1.Gap{
			Moment: r.o.Moment, Stage: r.o.Stage, Objective: r.o.Name, State: r.o.State,
			Value: r.o.Value, Target: r.o.Target, Score: strconv.FormatFloat(r.score, 'f', 3, 64),
		})
	}
	return out
}

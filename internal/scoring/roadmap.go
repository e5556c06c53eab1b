package scoring

import (
	"fmt"
	"sort"
	"strings"
	"time"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// Lookup returns the states of a moment's objectives by name, and false when the
// moment does not exist.
type Lookup func(moment string) (map[string]cxv1.ObjectiveState, bool)

// Initiative evaluates one initiative against the objectives it addresses. An
// addressed objective is attained when it is Met or Warning; it is unresolved when
// it misses its target (Breached, Drifting) or has no data (Unknown, which includes
// not evaluated yet): no data never counts as attained. An initiative that is not
// Done is at risk when an addressed objective is unresolved and the initiative is
// Blocked, overdue, or due within 14 days. The message names the objectives (at
// most 3 of each kind) and the moments and objectives that do not exist; callers
// truncate it to the status field's limit.
func Initiative(in cxv1.Initiative, lookup Lookup, now time.Time) cxv1.InitiativeStatus {
	st := cxv1.InitiativeStatus{Name: in.Name}
	var addressed, attained int32
	atRisk := false
	var missed, noData, unknownMoments, unknownObjectives []string
	for _, ref := range in.Addresses {
		states, ok := lookup(ref.Moment)
		if !ok {
			unknownMoments = append(unknownMoments, ref.Moment)
			continue
		}
		if _, ok := states[ref.Objective]; ref.Objective != "" && !ok {
			unknownObjectives = append(unknownObjectives, ref.Moment+"/"+ref.Objective)
			continue
		}
		for name, s := range states {
			if ref.Objective != "" && name != ref.Objective {
				continue
			}
			addressed++
			switch {
			case Attained(s):
				attained++
			case Missed(s):
				missed = append(missed, ref.Moment+"/"+name)
			default:
				noData = append(noData, ref.Moment+"/"+name)
			}
		}
	}
	sort.Strings(missed)
	sort.Strings(noData)
	var notes []string
	if len(unknownMoments) > 0 {
		notes = append(notes, fmt.Sprintf("addresses moments that do not exist: %v", limit(unknownMoments, 5)))
	}
	if len(unknownObjectives) > 0 {
		notes = append(notes, fmt.Sprintf("addresses objectives that do not exist: %v", limit(unknownObjectives, 5)))
	}
	unresolved := ""
	switch {
	case len(missed) > 0 && len(noData) > 0:
		unresolved = fmt.Sprintf("%v still miss their target and %v have no data", limit(missed, 3), limit(noData, 3))
	case len(missed) > 0:
		unresolved = fmt.Sprintf("%v still miss their target", limit(missed, 3))
	case len(noData) > 0:
		unresolved = fmt.Sprintf("%v have no data", limit(noData, 3))
	}
	if in.State != cxv1.InitiativeDone && unresolved != "" {
		due, hasDue := DueTime(in.DueDate)
		switch {
		case in.State == cxv1.InitiativeBlocked:
			atRisk = true
			unresolved = "blocked while " + unresolved
		case hasDue && now.After(due):
			atRisk = true
			unresolved = fmt.Sprintf("overdue since %s while %s", in.DueDate, unresolved)
		case hasDue && due.Sub(now) <= AtRiskWithin*time.Second:
			atRisk = true
			unresolved = fmt.Sprintf("due %s while %s", in.DueDate, unresolved)
		}
		if atRisk || len(noData) > 0 {
			notes = append([]string{unresolved}, notes...)
		}
	}
	st.Message = strings.Join(notes, "; ")
	st.ObjectivesAddressed, st.ObjectivesAttained, st.AtRisk = &addressed, &attained, &atRisk
	return st
}

// DueTime returns the end of the due date (the initiative is overdue from the next
// day on, UTC).
func DueTime(date string) (time.Time, bool) {
	if date == "" {
		return time.Time{}, false
	}
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return time.Time{}, false
	}
	return d.Add(24 * time.Hour), true
}

// Progress is the mean progress of the initiatives in percent: Done counts 100,
// others their reported progress (0 when unset).
func Progress(ins []cxv1.Initiative) int32 {
	if len(ins) == 0 {
		return 0
	}
	var sum int64
	for _, in := range ins {
		switch {
		case in.State == cxv1.InitiativeDone:
			sum += 100
		case in.Progress != nil:
			sum += int64(*in.Progress)
		}
	}
	return int32(sum / int64(len(ins)))
}

func limit(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
	}
	return s
}

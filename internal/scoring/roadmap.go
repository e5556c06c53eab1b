package scoring

import (
	"fmt"
	"sort"
	"time"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// Lookup returns the states of a moment's objectives by name, and false when the
// moment does not exist.
type Lookup func(moment string) (map[string]cxv1.ObjectiveState, bool)

// Initiative evaluates one initiative against the objectives it addresses. An
// initiative that is not Done is at risk when an addressed objective still misses
// its target and the initiative is Blocked, overdue, or due within 14 days.
func Initiative(in cxv1.Initiative, lookup Lookup, now time.Time) cxv1.InitiativeStatus {
	st := cxv1.InitiativeStatus{Name: in.Name}
	var missed []string
	var unknownMoments []string
	for _, ref := range in.Addresses {
		states, ok := lookup(ref.Moment)
		if !ok {
			unknownMoments = append(unknownMoments, ref.Moment)
			continue
		}
		for name, s := range states {
			if ref.Objective != "" && name != ref.Objective {
				continue
			}
			st.ObjectivesAddressed++
			if Attained(s) {
				st.ObjectivesAttained++
			}
			if Missed(s) {
				missed = append(missed, ref.Moment+"/"+name)
			}
		}
	}
	sort.Strings(missed)
	if in.State == cxv1.InitiativeDone || len(missed) == 0 {
		if len(unknownMoments) > 0 {
			st.Message = fmt.Sprintf("addresses moments that do not exist: %v", limit(unknownMoments, 5))
		}
		return st
	}
	due, hasDue := DueTime(in.DueDate)
	switch {
	case in.State == cxv1.InitiativeBlocked:
		st.AtRisk = true
		st.Message = fmt.Sprintf("blocked while %v still miss their target", limit(missed, 3))
	case hasDue && now.After(due):
		st.AtRisk = true
		st.Message = fmt.Sprintf("overdue since %s while %v still miss their target", in.DueDate, limit(missed, 3))
	case hasDue && due.Sub(now) <= AtRiskWithin*time.Second:
		st.AtRisk = true
		st.Message = fmt.Sprintf("due %s while %v still miss their target", in.DueDate, limit(missed, 3))
	}
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

package engine

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/textutil"
)

// State is the evaluated state of one objective: what Step reads and returns, and
// what the controller keeps in ObjectiveStatus. The zero time means "unset" for
// every timestamp.
type State struct {
	// State is Met, Warning, Breached, Drifting or Unknown; empty before the first
	// evaluation.
	State v1alpha1.ObjectiveState
	// Since is when the objective entered State. It moves only when State changes.
	Since time.Time
	// BreachingSince is when the current breach episode began.
	BreachingSince time.Time
	// DriftingSince is when the objective started drifting in this episode.
	DriftingSince time.Time
	// MetSince is when a drifting objective was first met again (recovery clock).
	MetSince time.Time
	// Value is the value of the latest observation, when HasValue is set.
	Value float64
	// HasValue says whether the latest observation had a value (false after no
	// data or a failed fetch).
	HasValue bool
	// Message explains the state for people. It is empty for Met, and is rebuilt
	// only when the state or its cause changes, so that it is stable while the
	// state lasts (the live value is in Value and in the metrics).
	Message string
	// LastEvaluated is the time of the latest evaluation.
	LastEvaluated time.Time
}

// Observation is the outcome of one fetch of an objective's signal.
type Observation struct {
	// Value is the observed value, meaningful when Err is nil.
	Value float64
	// Err is non-nil when there is no data or the fetch failed; its text goes
	// into the state's message.
	Err error
}

// maxErrText bounds how much of an error's text goes into a message, so that
// messages fit the status field (1024 characters).
const maxErrText = 768

var (
	errNaN             = errors.New("the query returned NaN, not a number")
	errInvalidOperator = errors.New("the target operator is not supported; compile the objective first")
)

// verdict is how one observation compares with a spec.
type verdict uint8

const (
	verdictMet verdict = iota
	verdictWarning
	verdictBreach
	verdictNoData
)

// classify compares a value with the spec's target and warning bound.
func (s *Spec) classify(v float64) verdict {
	switch s.Operator {
	case v1alpha1.OpGreaterOrEqual:
		if !(v >= s.Value) {
			return verdictBreach
		}
		if s.HasWarning && v < s.Warning {
			return verdictWarning
		}
	case v1alpha1.OpLessOrEqual:
		if !(v <= s.Value) {
			return verdictBreach
		}
		if s.HasWarning && v > s.Warning {
			return verdictWarning
		}
	case v1alpha1.OpGreater:
		if !(v > s.Value) {
			return verdictBreach
		}
		if s.HasWarning && v < s.Warning {
			return verdictWarning
		}
	case v1alpha1.OpLess:
		if !(v < s.Value) {
			return verdictBreach
		}
		if s.HasWarning && v > s.Warning {
			return verdictWarning
		}
	case v1alpha1.OpEqual:
		if v != s.Value {
			return verdictBreach
		}
	case v1alpha1.OpInRange:
		if !(v >= s.Min && v <= s.Max) {
			return verdictBreach
		}
	default:
		return verdictNoData
	}
	return verdictMet
}

// Step evaluates one observation against a spec and returns the next state. It is
// pure (no clock, no locks, no I/O) and allocates only when it builds a message,
// which happens on transitions, never on the steady Met path. The rules are
// described in the package documentation.
func Step(s *Spec, st State, obs Observation, now time.Time) State {
	prev := st
	st.LastEvaluated = now

	var v verdict
	var cause error
	if obs.Err != nil {
		v, cause = verdictNoData, obs.Err
	} else if math.IsNaN(obs.Value) {
		v, cause = verdictNoData, errNaN
	} else if v = s.classify(obs.Value); v == verdictNoData {
		cause = errInvalidOperator
	}
	if cause != nil {
		st.Value, st.HasValue = 0, false
		if s.NoData == v1alpha1.NoDataBreached && cause != errInvalidOperator {
			v = verdictBreach
		}
	} else {
		st.Value, st.HasValue = obs.Value, true
	}

	switch v {
	case verdictMet, verdictWarning:
		ok := v1alpha1.StateMet
		if v == verdictWarning {
			ok = v1alpha1.StateWarning
		}
		switch {
		case st.DriftingSince.IsZero():
			st.BreachingSince, st.MetSince = time.Time{}, time.Time{}
			st.State = ok
		default:
			if st.MetSince.IsZero() {
				st.MetSince = now
			}
			if now.Sub(st.MetSince) >= s.RecoverFor {
				st.BreachingSince, st.DriftingSince, st.MetSince = time.Time{}, time.Time{}, time.Time{}
				st.State = ok
			} else {
				st.State = v1alpha1.StateDrifting
			}
		}
	case verdictBreach:
		st.MetSince = time.Time{}
		if st.BreachingSince.IsZero() {
			st.BreachingSince = now
		}
		switch {
		case !st.DriftingSince.IsZero():
			st.State = v1alpha1.StateDrifting
		case now.Sub(st.BreachingSince) >= s.For:
			st.DriftingSince = now
			st.State = v1alpha1.StateDrifting
		default:
			st.State = v1alpha1.StateBreached
		}
	default: // no data, policy Unknown: the breach clock runs on, recovery restarts.
		st.MetSince = time.Time{}
		st.State = v1alpha1.StateUnknown
	}

	if st.State != prev.State {
		st.Since = now
	}

	// Messages: the steady Met path costs one comparison.
	if st.State == v1alpha1.StateMet {
		st.Message = ""
		return st
	}
	errText := ""
	if cause != nil {
		errText = textutil.Truncate(cause.Error(), maxErrText)
	}
	if st.State != prev.State ||
		st.Message == "" ||
		st.HasValue != prev.HasValue ||
		st.MetSince.IsZero() != prev.MetSince.IsZero() ||
		(cause != nil && !strings.HasSuffix(st.Message, errText)) {
		st.Message = buildMessage(s, &st, errText)
	}
	return st
}

// buildMessage explains a state that is not Met. When there is no data, the
// error's text comes last, which is how Step notices that it changed.
func buildMessage(s *Spec, st *State, errText string) string {
	b := make([]byte, 0, 128+len(s.Target)+len(errText))
	switch st.State {
	case v1alpha1.StateWarning:
		b = append(b, "at risk: value "...)
		b = appendValue(b, st.Value)
		if s.Operator == v1alpha1.OpGreaterOrEqual || s.Operator == v1alpha1.OpGreater {
			b = append(b, " is below the warning bound "...)
		} else {
			b = append(b, " is above the warning bound "...)
		}
		b = appendValue(b, s.Warning)
	case v1alpha1.StateBreached:
		b = appendBreach(b, s, st, errText)
	case v1alpha1.StateDrifting:
		b = append(b, "drifting since "...)
		b = appendTime(b, st.DriftingSince)
		if !st.MetSince.IsZero() {
			b = append(b, ", recovering: value "...)
			b = appendValue(b, st.Value)
			b = append(b, " meets target "...)
			b = append(b, s.Target...)
			b = append(b, " since "...)
			b = appendTime(b, st.MetSince)
			b = append(b, ", recovered after "...)
			b = append(b, s.RecoverFor.String()...)
			break
		}
		b = append(b, ": "...)
		b = appendBreach(b, s, st, errText)
	case v1alpha1.StateUnknown:
		b = append(b, "no data"...)
		switch {
		case !st.DriftingSince.IsZero():
			b = append(b, " (drifting since "...)
			b = appendTime(b, st.DriftingSince)
			b = append(b, ')')
		case !st.BreachingSince.IsZero():
			b = append(b, " (breaching since "...)
			b = appendTime(b, st.BreachingSince)
			b = append(b, ')')
		}
		b = append(b, ": "...)
		b = append(b, errText...)
	}
	return string(b)
}

// appendBreach describes a breach: a value missing the target, or missing data
// counted as a breach.
func appendBreach(b []byte, s *Spec, st *State, errText string) []byte {
	if !st.HasValue {
		b = append(b, "no data, counted as a breach (noData: Breached) since "...)
		b = appendTime(b, st.BreachingSince)
		b = append(b, ": "...)
		return append(b, errText...)
	}
	b = append(b, "value "...)
	b = appendValue(b, st.Value)
	b = append(b, " misses target "...)
	b = append(b, s.Target...)
	b = append(b, " since "...)
	return appendTime(b, st.BreachingSince)
}

func appendValue(b []byte, v float64) []byte {
	if a := math.Abs(v); a != 0 && (a >= 1e15 || a < 1e-6) {
		return strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}

func appendTime(b []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(b, time.RFC3339)
}

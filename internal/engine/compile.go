package engine

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/cxops/cxops/api/v1alpha1"
)

// Interval bounds applied by Compile.
const (
	// DefaultInterval is the evaluation interval of an objective that sets none.
	DefaultInterval = time.Minute
	// MinimumInterval is the shortest evaluation interval; shorter ones are raised
	// to it.
	MinimumInterval = 10 * time.Second
)

// Spec is a compiled objective: everything Step and the Engine need, with the
// decimal strings of the API parsed once. Spec is comparable with ==, which is how
// the Engine recognizes an unchanged objective.
type Spec struct {
	// Operator compares the observed value with the target.
	Operator v1alpha1.Operator
	// Value is the target of every operator but InRange.
	Value float64
	// Min and Max are the inclusive bounds of InRange.
	Min, Max float64
	// Warning is the warning bound, meaningful when HasWarning is set (operators
	// >=, >, <= and < only).
	Warning float64
	// HasWarning says whether the objective has a warning bound.
	HasWarning bool

	// Interval between evaluations, already defaulted and floored.
	Interval time.Duration
	// For is how long a breach must last before the objective is drifting.
	For time.Duration
	// RecoverFor is how long a drifting objective must be met again before it has
	// recovered.
	RecoverFor time.Duration
	// NoData is what missing data or a failed fetch means (Unknown or Breached).
	NoData v1alpha1.NoDataPolicy

	// Weight of the objective for scores (1 when unset).
	Weight int32
	// Key marks an objective whose breach degrades the whole journey.
	Key bool

	// Target is the target as a person reads it: ">= 99.5", "in [1, 5]",
	// ">= 99.5 (warning below 99.7)".
	Target string

	// Source is the signal source key, "namespace/name". Compile leaves it empty:
	// the caller knows the namespace and sets it.
	Source string
	// Query is the rendered query sent to the source. Compile leaves it empty: the
	// caller renders the objective's query template and sets it.
	Query string
}

// Compile turns an API objective into a Spec. minInterval is the signal source's
// minInterval (0 for none): the interval defaults to DefaultInterval and is raised
// to MinimumInterval and to minInterval when shorter. Source and Query are left for
// the caller to set. The error says what is wrong in words a person can act on.
func Compile(o v1alpha1.Objective, minInterval time.Duration) (Spec, error) {
	s := Spec{Operator: o.Target.Operator}
	fail := func(format string, args ...any) (Spec, error) {
		return Spec{}, fmt.Errorf("objective %q: %s", o.Name, fmt.Sprintf(format, args...))
	}
	t := o.Target

	var value, lo, hi, warn string
	var err error
	switch t.Operator {
	case v1alpha1.OpGreaterOrEqual, v1alpha1.OpGreater, v1alpha1.OpLessOrEqual, v1alpha1.OpLess, v1alpha1.OpEqual:
		if t.Value == nil {
			return fail("target operator %s needs a value", t.Operator)
		}
		if t.Min != nil || t.Max != nil {
			return fail("target operator %s takes a value, not min and max", t.Operator)
		}
		if value, s.Value, err = parseDecimal("value", *t.Value); err != nil {
			return fail("%v", err)
		}
	case v1alpha1.OpInRange:
		if t.Min == nil || t.Max == nil {
			return fail("target operator InRange needs min and max")
		}
		if t.Value != nil {
			return fail("target operator InRange takes min and max, not a value")
		}
		if lo, s.Min, err = parseDecimal("min", *t.Min); err != nil {
			return fail("%v", err)
		}
		if hi, s.Max, err = parseDecimal("max", *t.Max); err != nil {
			return fail("%v", err)
		}
		if !(s.Min < s.Max) {
			return fail("target min %s must be less than max %s", lo, hi)
		}
	case "":
		return fail("target operator is required")
	default:
		return fail("target operator %q is not one of >=, >, <=, <, == or InRange", t.Operator)
	}

	if t.Warning != nil {
		if warn, s.Warning, err = parseDecimal("warning", *t.Warning); err != nil {
			return fail("%v", err)
		}
		s.HasWarning = true
		switch t.Operator {
		case v1alpha1.OpGreaterOrEqual, v1alpha1.OpGreater:
			if !(s.Warning > s.Value) {
				return fail("with operator %s the warning bound %s must be above the target value %s (the safe side)", t.Operator, warn, value)
			}
		case v1alpha1.OpLessOrEqual, v1alpha1.OpLess:
			if !(s.Warning < s.Value) {
				return fail("with operator %s the warning bound %s must be below the target value %s (the safe side)", t.Operator, warn, value)
			}
		default:
			return fail("a warning bound is only supported with the operators >=, >, <= and <, not %s", t.Operator)
		}
	}

	switch d := o.KPI.Direction; {
	case d == v1alpha1.LowerIsBetter && (t.Operator == v1alpha1.OpGreaterOrEqual || t.Operator == v1alpha1.OpGreater):
		return fail("a target with operator %s needs kpi.direction HigherIsBetter, not LowerIsBetter", t.Operator)
	case d == v1alpha1.HigherIsBetter && (t.Operator == v1alpha1.OpLessOrEqual || t.Operator == v1alpha1.OpLess):
		return fail("a target with operator %s needs kpi.direction LowerIsBetter, not HigherIsBetter", t.Operator)
	}

	for _, d := range []struct {
		field string
		v     *v1alpha1.Duration
	}{{"interval", o.Interval}, {"for", o.For}, {"recoverFor", o.RecoverFor}} {
		if d.v != nil && d.v.Err() != nil {
			return fail("%s: %v", d.field, d.v.Err())
		}
	}
	s.Interval = DefaultInterval
	if o.Interval != nil {
		s.Interval = o.Interval.Duration
	}
	s.Interval = max(s.Interval, MinimumInterval, minInterval)

	if o.For != nil {
		if s.For = o.For.Duration; s.For < 0 {
			return fail("for must not be negative, got %s", s.For)
		}
	}
	if o.RecoverFor != nil {
		if s.RecoverFor = o.RecoverFor.Duration; s.RecoverFor < 0 {
			return fail("recoverFor must not be negative, got %s", s.RecoverFor)
		}
	}

	switch o.NoData {
	case "", v1alpha1.NoDataUnknown:
		s.NoData = v1alpha1.NoDataUnknown
	case v1alpha1.NoDataBreached:
		s.NoData = v1alpha1.NoDataBreached
	default:
		return fail("noData %q is not one of Unknown or Breached", o.NoData)
	}

	s.Weight = 1
	if o.Weight != 0 { // 0 is unset: the schema refuses a weight of 0
		if s.Weight = o.Weight; s.Weight < 1 || s.Weight > 100 {
			return fail("weight must be between 1 and 100, got %d", s.Weight)
		}
	}
	s.Key = o.Key != nil && *o.Key

	s.Target = renderTarget(t.Operator, value, lo, hi, warn)
	return s, nil
}

// parseDecimal parses one of the target's decimal strings, returning it trimmed
// for display along with its value.
func parseDecimal(field, raw string) (string, float64, error) {
	text := strings.TrimSpace(raw)
	if text == "" {
		return "", 0, fmt.Errorf("target %s is empty; it must be a decimal number such as 99.5 or -10", field)
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return "", 0, fmt.Errorf("target %s %q is not a decimal number such as 99.5 or -10", field, raw)
	}
	return text, f, nil
}

// renderTarget spells the target as a person reads it, keeping the decimal
// strings as written.
func renderTarget(op v1alpha1.Operator, value, lo, hi, warn string) string {
	var b strings.Builder
	if op == v1alpha1.OpInRange {
		b.WriteString("in [")
		b.WriteString(lo)
		b.WriteString(", ")
		b.WriteString(hi)
		b.WriteString("]")
		return b.String()
	}
	b.WriteString(string(op))
	b.WriteString(" ")
	b.WriteString(value)
	if warn != "" {
		if op == v1alpha1.OpGreaterOrEqual || op == v1alpha1.OpGreater {
			b.WriteString(" (warning below ")
		} else {
			b.WriteString(" (warning above ")
		}
		b.WriteString(warn)
		b.WriteString(")")
	}
	return b.String()
}

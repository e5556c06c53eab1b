package engine

import (
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/cxops/cxops/api/v1alpha1"
)

// The schema's rules for the fields FuzzCompile varies (api/v1alpha1/common_types.go).
var (
	schemaDecimal  = regexp.MustCompile(`^[-+]?[0-9]+(\.[0-9]+)?$`)
	schemaDuration = regexp.MustCompile(`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`)
)

// schemaDecimalOK is the pattern and length of a decimal field.
func schemaDecimalOK(s string) bool { return len(s) <= 32 && schemaDecimal.MatchString(s) }

// schemaDurationOK is the pattern and length of a duration field.
func schemaDurationOK(s string) bool { return len(s) <= 32 && schemaDuration.MatchString(s) }

// decodeDuration decodes a duration field the way a client decodes the object
// from the API server.
func decodeDuration(s string) (*v1alpha1.Duration, error) {
	d := &v1alpha1.Duration{}
	if err := json.Unmarshal([]byte(strconv.Quote(s)), d); err != nil {
		return nil, err
	}
	return d, d.Err()
}

// FuzzCompile feeds Compile targets, durations, operators and directions: it never
// panics, never accepts a non-finite number, and accepts (and decodes) every
// objective the schema accepts, so an object the API server stored never stalls
// the controller or breaks decoding.
func FuzzCompile(f *testing.F) {
	type seed struct {
		op, value, lo, hi, warn, interval, forD, recoverFor string
		higher                                              bool
	}
	for _, s := range []seed{
		{op: ">=", value: "99.5", higher: true},
		{op: ">=", value: "99.5", warn: "99.7", interval: "30s", forD: "10m", recoverFor: "1h", higher: true},
		{op: "<", value: "300", warn: "200", interval: "1m30s"},
		{op: "InRange", lo: "-10", hi: "+5", higher: true},
		{op: "==", value: "0", interval: "10s", forD: "0s"},
		{op: ">", value: "99999999999999999999999999999999", higher: true},
		{op: "<=", value: "-0.000000000000000000000000000001"},
		{op: ">=", value: "1e3", higher: true},
		{op: ">=", value: "NaN", higher: true},
		{op: ">=", value: "0x1p3", higher: true},
		{op: "InRange", lo: "1", hi: "1"},
		{op: ">=", value: "1", forD: "2562047h", recoverFor: "9223372036854775807ns", higher: true},
		{op: ">=", value: "1", interval: "0.5h1.5m2.5s3ms4us5ns", higher: true},
		{op: "", value: "1"},
		// Regression: pattern-valid durations out of time.Duration's range were stored
		// by the API server and could not be decoded.
		{op: ">=", value: "1", forD: "3000000h", higher: true},
		{op: ">=", value: "1", recoverFor: "9223372036854775808ns", higher: true},
	} {
		f.Add(s.op, s.value, s.lo, s.hi, s.warn, s.interval, s.forD, s.recoverFor, s.higher)
	}
	f.Fuzz(func(t *testing.T, op, value, lo, hi, warn, interval, forD, recoverFor string, higher bool) {
		o := v1alpha1.Objective{
			Name:   "o",
			KPI:    v1alpha1.KPI{Direction: v1alpha1.LowerIsBetter},
			Signal: v1alpha1.Signal{SourceRef: v1alpha1.LocalObjectReference{Name: "s"}, Query: "q"},
			Target: v1alpha1.Target{Operator: v1alpha1.Operator(op)},
		}
		if higher {
			o.KPI.Direction = v1alpha1.HigherIsBetter
		}
		set := func(s string) *string {
			if s == "" {
				return nil
			}
			return &s
		}
		o.Target.Value, o.Target.Min, o.Target.Max, o.Target.Warning = set(value), set(lo), set(hi), set(warn)

		accepted := schemaAccepts(o, interval, forD, recoverFor)
		decoded := true
		for _, d := range []struct {
			raw string
			to  **v1alpha1.Duration
		}{{interval, &o.Interval}, {forD, &o.For}, {recoverFor, &o.RecoverFor}} {
			if d.raw == "" {
				continue
			}
			v, err := decodeDuration(d.raw)
			if err != nil {
				if accepted {
					t.Fatalf("the schema accepts the duration %q but a client cannot decode it: %v", d.raw, err)
				}
				decoded = false
				continue
			}
			*d.to = v
		}
		if !decoded {
			return
		}

		s, err := Compile(o, 0)
		if err != nil {
			if accepted {
				t.Fatalf("the schema accepts %+v (interval %q, for %q, recoverFor %q) but Compile refuses it: %v", o.Target, interval, forD, recoverFor, err)
			}
			return
		}
		for _, v := range []float64{s.Value, s.Min, s.Max, s.Warning} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("Compile accepted a non-finite number in %+v", o.Target)
			}
		}
		if s.Interval < MinimumInterval || s.For < 0 || s.RecoverFor < 0 {
			t.Fatalf("Compile accepted interval %s, for %s, recoverFor %s", s.Interval, s.For, s.RecoverFor)
		}
	})
}

// schemaAccepts models the schema's validation of the fields FuzzCompile varies
// (enums, patterns, lengths and the CEL rules of Target and Objective).
func schemaAccepts(o v1alpha1.Objective, interval, forD, recoverFor string) bool {
	t := o.Target
	switch t.Operator {
	case v1alpha1.OpGreaterOrEqual, v1alpha1.OpGreater, v1alpha1.OpLessOrEqual, v1alpha1.OpLess, v1alpha1.OpEqual, v1alpha1.OpInRange:
	default:
		return false
	}
	for _, p := range []*string{t.Value, t.Min, t.Max, t.Warning} {
		if p != nil && !schemaDecimalOK(*p) {
			return false
		}
	}
	num := func(p *string) float64 { f, _ := strconv.ParseFloat(*p, 64); return f }
	if t.Operator == v1alpha1.OpInRange {
		if t.Min == nil || t.Max == nil || t.Value != nil {
			return false
		}
	} else if t.Value == nil || t.Min != nil || t.Max != nil {
		return false
	}
	if t.Min != nil && t.Max != nil && !(num(t.Min) < num(t.Max)) {
		return false
	}
	if t.Warning != nil {
		switch t.Operator {
		case v1alpha1.OpGreaterOrEqual, v1alpha1.OpGreater:
			if !(num(t.Warning) > num(t.Value)) {
				return false
			}
		case v1alpha1.OpLessOrEqual, v1alpha1.OpLess:
			if !(num(t.Warning) < num(t.Value)) {
				return false
			}
		default:
			return false
		}
	}
	switch t.Operator {
	case v1alpha1.OpGreaterOrEqual, v1alpha1.OpGreater:
		if o.KPI.Direction != v1alpha1.HigherIsBetter {
			return false
		}
	case v1alpha1.OpLessOrEqual, v1alpha1.OpLess:
		if o.KPI.Direction != v1alpha1.LowerIsBetter {
			return false
		}
	}
	// Each duration rule ends in a CEL comparison, duration(self) >= 10s for
	// interval and >= 0s for for and recoverFor; CEL's duration() fails on a value
	// time.ParseDuration cannot represent, which refuses the object.
	for _, d := range []struct {
		raw string
		min time.Duration
	}{{interval, 10 * time.Second}, {forD, 0}, {recoverFor, 0}} {
		if d.raw == "" {
			continue
		}
		v, err := time.ParseDuration(d.raw)
		if !schemaDurationOK(d.raw) || err != nil || v < d.min {
			return false
		}
	}
	return true
}

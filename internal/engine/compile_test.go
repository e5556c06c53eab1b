package engine

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cxops/cxops/api/v1alpha1"
)

func ptr[T any](v T) *T { return &v }

func dur(d time.Duration) *v1alpha1.Duration { return &v1alpha1.Duration{Duration: d} }

func apiObjective(op v1alpha1.Operator, value string) v1alpha1.Objective {
	o := v1alpha1.Objective{
		Name:   "availability",
		Signal: v1alpha1.Signal{SourceRef: v1alpha1.LocalObjectReference{Name: "prom"}, Query: "up"},
		Target: v1alpha1.Target{Operator: op},
	}
	if value != "" {
		o.Target.Value = ptr(value)
	}
	return o
}

func TestCompile(t *testing.T) {
	tests := []struct {
		name        string
		obj         func() v1alpha1.Objective
		minInterval time.Duration
		want        func(s *Spec) bool
		target      string
		interval    time.Duration
	}{
		{
			name:     "defaults",
			obj:      func() v1alpha1.Objective { return apiObjective(v1alpha1.OpGreaterOrEqual, "99.5") },
			target:   ">= 99.5",
			interval: time.Minute,
			want: func(s *Spec) bool {
				return s.Value == 99.5 && s.For == 0 && s.RecoverFor == 0 &&
					s.NoData == v1alpha1.NoDataUnknown && s.Weight == 1 && !s.Key && !s.HasWarning &&
					s.Source == "" && s.Query == ""
			},
		},
		{
			name: "warning above for >=",
			obj: func() v1alpha1.Objective {
				o := apiObjective(v1alpha1.OpGreaterOrEqual, "99.5")
				o.Target.Warning = ptr("99.7")
				return o
			},
			target:   ">= 99.5 (warning below 99.7)",
			interval: time.Minute,
			want:     func(s *Spec) bool { return s.HasWarning && s.Warning == 99.7 },
		},
		{
			name: "warning below for <",
			obj: func() v1alpha1.Objective {
				o := apiObjective(v1alpha1.OpLess, "300")
				o.KPI.Direction = v1alpha1.LowerIsBetter
				o.Target.Warning = ptr("200")
				return o
			},
			target:   "< 300 (warning above 200)",
			interval: time.Minute,
			want:     func(s *Spec) bool { return s.HasWarning && s.Warning == 200 && s.Value == 300 },
		},
		{
			name: "in range with negative bound",
			obj: func() v1alpha1.Objective {
				o := apiObjective(v1alpha1.OpInRange, "")
				o.Target.Min, o.Target.Max = ptr("-10"), ptr(" 5 ")
				return o
			},
			target:   "in [-10, 5]",
			interval: time.Minute,
			want:     func(s *Spec) bool { return s.Min == -10 && s.Max == 5 },
		},
		{
			name:     "equal keeps the decimal as written",
			obj:      func() v1alpha1.Objective { return apiObjective(v1alpha1.OpEqual, "3.50") },
			target:   "== 3.50",
			interval: time.Minute,
			want:     func(s *Spec) bool { return s.Value == 3.5 },
		},
		{
			name: "interval floor 10s",
			obj: func() v1alpha1.Objective {
				o := apiObjective(v1alpha1.OpGreater, "0")
				o.Interval = dur(2 * time.Second)
				return o
			},
			target:   "> 0",
			interval: 10 * time.Second,
			want:     func(*Spec) bool { return true },
		},
		{
			name: "interval floor source minInterval",
			obj: func() v1alpha1.Objective {
				o := apiObjective(v1alpha1.OpGreater, "0")
				o.Interval = dur(30 * time.Second)
				return o
			},
			minInterval: 2 * time.Minute,
			target:      "> 0",
			interval:    2 * time.Minute,
			want:        func(*Spec) bool { return true },
		},
		{
			name: "everything set",
			obj: func() v1alpha1.Objective {
				o := apiObjective(v1alpha1.OpLessOrEqual, "2")
				o.Interval = dur(5 * time.Minute)
				o.For = dur(10 * time.Minute)
				o.RecoverFor = dur(15 * time.Minute)
				o.NoData = v1alpha1.NoDataBreached
				o.Weight = 7
				o.Key = ptr(true)
				return o
			},
			target:   "<= 2",
			interval: 5 * time.Minute,
			want: func(s *Spec) bool {
				return s.For == 10*time.Minute && s.RecoverFor == 15*time.Minute &&
					s.NoData == v1alpha1.NoDataBreached && s.Weight == 7 && s.Key
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Compile(tt.obj(), tt.minInterval)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if s.Target != tt.target {
				t.Errorf("Target = %q, want %q", s.Target, tt.target)
			}
			if s.Interval != tt.interval {
				t.Errorf("Interval = %s, want %s", s.Interval, tt.interval)
			}
			if !tt.want(&s) {
				t.Errorf("unexpected spec %+v", s)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(o *v1alpha1.Objective)
		want string
	}{
		{"missing operator", func(o *v1alpha1.Objective) { o.Target.Operator = "" }, "operator is required"},
		{"unknown operator", func(o *v1alpha1.Objective) { o.Target.Operator = "~" }, `operator "~" is not one of`},
		{"missing value", func(o *v1alpha1.Objective) { o.Target.Value = nil }, "needs a value"},
		{"not a number", func(o *v1alpha1.Objective) { o.Target.Value = ptr("99,5") }, `value "99,5" is not a decimal number`},
		{"NaN", func(o *v1alpha1.Objective) { o.Target.Value = ptr("NaN") }, "is not a decimal number"},
		{"Inf", func(o *v1alpha1.Objective) { o.Target.Value = ptr("+Inf") }, "is not a decimal number"},
		{"empty", func(o *v1alpha1.Objective) { o.Target.Value = ptr(" ") }, "value is empty"},
		{"value with min", func(o *v1alpha1.Objective) { o.Target.Min = ptr("1") }, "not min and max"},
		{"range without max", func(o *v1alpha1.Objective) {
			o.Target = v1alpha1.Target{Operator: v1alpha1.OpInRange, Min: ptr("1")}
		}, "needs min and max"},
		{"range with value", func(o *v1alpha1.Objective) {
			o.Target = v1alpha1.Target{Operator: v1alpha1.OpInRange, Min: ptr("1"), Max: ptr("2"), Value: ptr("1")}
		}, "not a value"},
		{"range inverted", func(o *v1alpha1.Objective) {
			o.Target = v1alpha1.Target{Operator: v1alpha1.OpInRange, Min: ptr("5"), Max: ptr("1")}
		}, "min 5 must be less than max 1"},
		{"bad max", func(o *v1alpha1.Objective) {
			o.Target = v1alpha1.Target{Operator: v1alpha1.OpInRange, Min: ptr("1"), Max: ptr("x")}
		}, `max "x"`},
		{"warning on the wrong side", func(o *v1alpha1.Objective) { o.Target.Warning = ptr("99") }, "must be above the target value 99.5"},
		{"warning on the wrong side for <=", func(o *v1alpha1.Objective) {
			o.Target = v1alpha1.Target{Operator: v1alpha1.OpLessOrEqual, Value: ptr("5"), Warning: ptr("6")}
		}, "must be below the target value 5"},
		{"warning with ==", func(o *v1alpha1.Objective) {
			o.Target = v1alpha1.Target{Operator: v1alpha1.OpEqual, Value: ptr("5"), Warning: ptr("6")}
		}, "only supported with the operators"},
		{"bad warning", func(o *v1alpha1.Objective) { o.Target.Warning = ptr("high") }, `warning "high"`},
		{"direction disagrees", func(o *v1alpha1.Objective) { o.KPI.Direction = v1alpha1.LowerIsBetter }, "needs kpi.direction HigherIsBetter"},
		{"negative for", func(o *v1alpha1.Objective) { o.For = dur(-time.Second) }, "for must not be negative"},
		{"negative recoverFor", func(o *v1alpha1.Objective) { o.RecoverFor = dur(-time.Second) }, "recoverFor must not be negative"},
		{"bad noData", func(o *v1alpha1.Objective) { o.NoData = "Met" }, `noData "Met"`},
		{"weight too high", func(o *v1alpha1.Objective) { o.Weight = 101 }, "weight must be between 1 and 100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := apiObjective(v1alpha1.OpGreaterOrEqual, "99.5")
			tt.edit(&o)
			_, err := Compile(o, 0)
			if err == nil {
				t.Fatalf("Compile succeeded, want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), `objective "availability": `) {
				t.Errorf("error %q, want it to name the objective and contain %q", err, tt.want)
			}
		})
	}
}

// An objective stored before durations were bounded decodes with an invalid
// duration: Compile refuses it with a reason, so that the moment stalls with a
// message instead of evaluating with a duration of zero.
func TestCompileRefusesAnUndecodableDuration(t *testing.T) {
	var o v1alpha1.Objective
	if err := json.Unmarshal([]byte(`{"name":"o","kpi":{"type":"NPS","direction":"HigherIsBetter"},
		"target":{"operator":">=","value":"30"},"for":"3000000h"}`), &o); err != nil {
		t.Fatal(err)
	}
	_, err := Compile(o, 0)
	if err == nil || !strings.Contains(err.Error(), `for: "3000000h" is not a duration`) {
		t.Fatalf("Compile = %v, want the invalid for named", err)
	}
}

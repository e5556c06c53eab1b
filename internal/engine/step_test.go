package engine

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cxops/cxops/api/v1alpha1"
)

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// x marks an unset timestamp in the tables below.
const x = -1

const (
	met      = v1alpha1.StateMet
	warning  = v1alpha1.StateWarning
	breached = v1alpha1.StateBreached
	drifting = v1alpha1.StateDrifting
	unknown  = v1alpha1.StateUnknown
)

// obs is one observation in a sequence, and the state expected after it. Times are
// seconds after t0.
type obs struct {
	at    int
	value float64
	err   string // non-empty: no data, with this error
	want  v1alpha1.ObjectiveState
	since int
	// breachingSince, driftingSince, metSince
	b, d, m int
	// msg must be contained in the message; "-" means the message must be empty.
	msg string
}

func at(sec int) time.Time {
	if sec == x {
		return time.Time{}
	}
	return t0.Add(time.Duration(sec) * time.Second)
}

func spec(op v1alpha1.Operator, value float64) Spec {
	s := Spec{Operator: op, Value: value, Interval: 10 * time.Second, NoData: v1alpha1.NoDataUnknown, Weight: 1}
	s.Target = string(op) + " " + formatFloat(value)
	return s
}

func formatFloat(v float64) string { return string(appendValue(nil, v)) }

func withFor(s Spec, f, r time.Duration) Spec { s.For, s.RecoverFor = f, r; return s }

func runSequence(t *testing.T, s Spec, st State, seq []obs) State {
	t.Helper()
	for i, o := range seq {
		var ob Observation
		if o.err != "" {
			ob.Err = errors.New(o.err)
		} else {
			ob.Value = o.value
		}
		now := at(o.at)
		st = Step(&s, st, ob, now)
		where := func() string { return fmt.Sprintf("step %d at %s", i, now.Format("15:04:05")) }
		if st.State != o.want {
			t.Fatalf("%s: state %s, want %s (message %q)", where(), st.State, o.want, st.Message)
		}
		checkTime := func(name string, got time.Time, want int) {
			t.Helper()
			if !got.Equal(at(want)) {
				t.Errorf("%s: %s = %v, want %v", where(), name, got, at(want))
			}
		}
		checkTime("Since", st.Since, o.since)
		checkTime("BreachingSince", st.BreachingSince, o.b)
		checkTime("DriftingSince", st.DriftingSince, o.d)
		checkTime("MetSince", st.MetSince, o.m)
		if !st.LastEvaluated.Equal(now) {
			t.Errorf("%s: LastEvaluated = %v", where(), st.LastEvaluated)
		}
		switch {
		case o.msg == "-" && st.Message != "":
			t.Errorf("%s: message %q, want none", where(), st.Message)
		case o.msg != "" && o.msg != "-" && !strings.Contains(st.Message, o.msg):
			t.Errorf("%s: message %q, want it to contain %q", where(), st.Message, o.msg)
		}
		if o.err == "" && (!st.HasValue || st.Value != o.value) && !math.IsNaN(o.value) {
			t.Errorf("%s: value %v (has %v), want %v", where(), st.Value, st.HasValue, o.value)
		}
		if (o.err != "" || math.IsNaN(o.value)) && st.HasValue {
			t.Errorf("%s: HasValue after no data", where())
		}
	}
	return st
}

func TestStepSequences(t *testing.T) {
	ge := spec(v1alpha1.OpGreaterOrEqual, 99.5)
	geWarn := ge
	geWarn.HasWarning, geWarn.Warning, geWarn.Target = true, 99.7, ">= 99.5 (warning below 99.7)"
	ltWarn := spec(v1alpha1.OpLess, 300)
	ltWarn.HasWarning, ltWarn.Warning = true, 200
	gt := spec(v1alpha1.OpGreater, 0)
	le := spec(v1alpha1.OpLessOrEqual, 2)
	eq := spec(v1alpha1.OpEqual, 3)
	rng := Spec{Operator: v1alpha1.OpInRange, Min: 1, Max: 5, Target: "in [1, 5]", NoData: v1alpha1.NoDataUnknown}
	noDataBreached := withFor(ge, 20*time.Second, 0)
	noDataBreached.NoData = v1alpha1.NoDataBreached

	tests := []struct {
		name string
		spec Spec
		seq  []obs
	}{
		{"met stays met, since does not move", ge, []obs{
			{0, 99.9, "", met, 0, x, x, x, "-"},
			{10, 99.5, "", met, 0, x, x, x, "-"},
			{20, 100, "", met, 0, x, x, x, "-"},
		}},
		{"warning bounds for >=", geWarn, []obs{
			{0, 99.6, "", warning, 0, x, x, x, "at risk: value 99.6 is below the warning bound 99.7"},
			{10, 99.5, "", warning, 0, x, x, x, "value 99.6"}, // message kept while the state lasts
			{20, 99.7, "", met, 20, x, x, x, "-"},
			{30, 99.49, "", drifting, 30, 30, 30, x, "drifting since 2024-05-01T10:00:30Z: value 99.49 misses target"},
		}},
		{"warning bounds for <", withFor(ltWarn, time.Minute, 0), []obs{
			{0, 200, "", met, 0, x, x, x, "-"},
			{10, 250, "", warning, 10, x, x, x, "at risk: value 250 is above the warning bound 200"},
			{20, 300, "", breached, 20, 20, x, x, "value 300 misses target < 300 since 2024-05-01T10:00:20Z"},
			{30, 299.9, "", warning, 30, x, x, x, ""},
		}},
		{"> is strict", withFor(gt, time.Hour, 0), []obs{
			{0, 0, "", breached, 0, 0, x, x, ""},
			{10, 0.001, "", met, 10, x, x, x, "-"},
		}},
		{"<= includes the bound", withFor(le, time.Hour, 0), []obs{
			{0, 2, "", met, 0, x, x, x, "-"},
			{10, 2.0001, "", breached, 10, 10, x, x, ""},
		}},
		{"== is exact", withFor(eq, time.Hour, 0), []obs{
			{0, 3, "", met, 0, x, x, x, "-"},
			{10, 3.0000001, "", breached, 10, 10, x, x, ""},
			{20, 2.9999999, "", breached, 10, 10, x, x, ""},
		}},
		{"InRange is inclusive", withFor(rng, time.Hour, 0), []obs{
			{0, 1, "", met, 0, x, x, x, "-"},
			{10, 5, "", met, 0, x, x, x, "-"},
			{20, 0.999, "", breached, 20, 20, x, x, "misses target in [1, 5]"},
			{30, 5.001, "", breached, 20, 20, x, x, ""},
			{40, 3, "", met, 40, x, x, x, "-"},
		}},
		{"a short breach is only Breached", withFor(ge, 30*time.Second, 0), []obs{
			{0, 99, "", breached, 0, 0, x, x, "value 99 misses target >= 99.5 since 2024-05-01T10:00:00Z"},
			{10, 98, "", breached, 0, 0, x, x, "value 99 misses"}, // stable message
			{20, 99.6, "", met, 20, x, x, x, "-"},
			{30, 99, "", breached, 30, 30, x, x, "since 2024-05-01T10:00:30Z"}, // a new episode
		}},
		{"a breach lasting for drifts", withFor(ge, 30*time.Second, 0), []obs{
			{0, 99, "", breached, 0, 0, x, x, ""},
			{10, 99, "", breached, 0, 0, x, x, ""},
			{20, 99, "", breached, 0, 0, x, x, ""},
			{30, 99, "", drifting, 30, 0, 30, x, "drifting since 2024-05-01T10:00:30Z"},
			{40, 98, "", drifting, 30, 0, 30, x, ""},
		}},
		{"for 0 drifts at the first breach", withFor(ge, 0, 0), []obs{
			{0, 99.9, "", met, 0, x, x, x, "-"},
			{10, 99, "", drifting, 10, 10, 10, x, ""},
		}},
		{"recovery needs recoverFor of continuous met", withFor(ge, 0, 20*time.Second), []obs{
			{0, 99, "", drifting, 0, 0, 0, x, ""},
			{10, 99.9, "", drifting, 0, 0, 0, 10, "recovering: value 99.9 meets target >= 99.5 since 2024-05-01T10:00:10Z, recovered after 20s"},
			{20, 99.9, "", drifting, 0, 0, 0, 10, "recovering"},
			{25, 99, "", drifting, 0, 0, 0, x, "drifting since 2024-05-01T10:00:00Z: value 99 misses"}, // recovery interrupted
			{30, 99.9, "", drifting, 0, 0, 0, 30, "recovering"},
			{40, 99.9, "", drifting, 0, 0, 0, 30, ""},
			{50, 99.9, "", met, 50, x, x, x, "-"},
		}},
		{"recoverFor 0 recovers at once, to Warning", withFor(geWarn, 0, 0), []obs{
			{0, 99, "", drifting, 0, 0, 0, x, ""},
			{10, 99.6, "", warning, 10, x, x, x, "warning bound"},
		}},
		{"no data is Unknown, never Met", ge, []obs{
			{0, 99.9, "", met, 0, x, x, x, "-"},
			{10, 0, "connection refused", unknown, 10, x, x, x, "no data: connection refused"},
			{20, 0, "connection refused", unknown, 10, x, x, x, "no data: connection refused"},
			{30, 0, "server said 503", unknown, 10, x, x, x, "no data: server said 503"}, // new cause, new message
			{40, 99.9, "", met, 40, x, x, x, "-"},
		}},
		{"a breach, a gap and a breach are one episode", withFor(ge, 30*time.Second, 0), []obs{
			{0, 99, "", breached, 0, 0, x, x, ""},
			{10, 0, "timeout", unknown, 10, 0, x, x, "no data (breaching since 2024-05-01T10:00:00Z): timeout"},
			{20, 99, "", breached, 20, 0, x, x, ""},
			{30, 99, "", drifting, 30, 0, 30, x, ""},
		}},
		{"unknown while drifting keeps the episode", withFor(ge, 0, 0), []obs{
			{0, 99, "", drifting, 0, 0, 0, x, ""},
			{10, 0, "timeout", unknown, 10, 0, 0, x, "no data (drifting since 2024-05-01T10:00:00Z): timeout"},
			{20, 99, "", drifting, 20, 0, 0, x, "drifting since 2024-05-01T10:00:00Z"},
		}},
		{"unknown restarts the recovery clock", withFor(ge, 0, 20*time.Second), []obs{
			{0, 99, "", drifting, 0, 0, 0, x, ""},
			{10, 99.9, "", drifting, 0, 0, 0, 10, "recovering"},
			{20, 0, "timeout", unknown, 20, 0, 0, x, "no data"},
			{30, 99.9, "", drifting, 30, 0, 0, 30, "recovering"},
			{40, 99.9, "", drifting, 30, 0, 0, 30, ""},
			{50, 99.9, "", met, 50, x, x, x, "-"},
		}},
		{"noData Breached counts a gap as a breach", noDataBreached, []obs{
			{0, 99.9, "", met, 0, x, x, x, "-"},
			{10, 0, "timeout", breached, 10, 10, x, x, "no data, counted as a breach (noData: Breached) since 2024-05-01T10:00:10Z: timeout"},
			{20, 0, "refused", breached, 10, 10, x, x, ": refused"},
			{30, 0, "refused", drifting, 30, 10, 30, x, "drifting since 2024-05-01T10:00:30Z: no data, counted as a breach"},
			{40, 99, "", drifting, 30, 10, 30, x, "value 99 misses"}, // data is back, still a breach
			{50, 99.9, "", met, 50, x, x, x, "-"},
		}},
		{"NaN is no data", ge, []obs{
			{0, math.NaN(), "", unknown, 0, x, x, x, "no data: the query returned NaN"},
			{10, 99.9, "", met, 10, x, x, x, "-"},
		}},
		{"the first evaluation sets Since", withFor(ge, time.Minute, 0), []obs{
			{5, 99, "", breached, 5, 5, x, x, ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSequence(t, tt.spec, State{}, tt.seq)
		})
	}
}

// TestStepRestart checks that a state restored from status timestamps continues
// its episode exactly as if the engine had never stopped.
func TestStepRestart(t *testing.T) {
	s := withFor(spec(v1alpha1.OpGreaterOrEqual, 99.5), 60*time.Second, 30*time.Second)

	t.Run("breached continues to drift at BreachingSince+for", func(t *testing.T) {
		restored := State{State: breached, Since: at(0), BreachingSince: at(0), Value: 99, HasValue: true}
		runSequence(t, s, restored, []obs{
			{50, 99, "", breached, 0, 0, x, x, "value 99 misses"}, // message rebuilt: none was restored
			{60, 99, "", drifting, 60, 0, 60, x, ""},
		})
	})
	t.Run("drifting stays drifting with its Since", func(t *testing.T) {
		restored := State{State: drifting, Since: at(60), BreachingSince: at(0), DriftingSince: at(60), Message: "restored"}
		runSequence(t, s, restored, []obs{
			{300, 99, "", drifting, 60, 0, 60, x, ""},
		})
	})
	t.Run("recovering continues from MetSince", func(t *testing.T) {
		restored := State{State: drifting, Since: at(60), BreachingSince: at(0), DriftingSince: at(60), MetSince: at(100), Value: 99.9, HasValue: true}
		runSequence(t, s, restored, []obs{
			{120, 99.9, "", drifting, 60, 0, 60, 100, "recovering"},
			{130, 99.9, "", met, 130, x, x, x, "-"},
		})
	})
	t.Run("unknown while breaching continues the episode", func(t *testing.T) {
		restored := State{State: unknown, Since: at(30), BreachingSince: at(0), Message: "no data: x"}
		runSequence(t, s, restored, []obs{
			{70, 99, "", drifting, 70, 0, 70, x, ""},
		})
	})
	t.Run("a stale MetSince without drifting is dropped", func(t *testing.T) {
		restored := State{State: met, Since: at(0), MetSince: at(0)}
		runSequence(t, s, restored, []obs{
			{10, 99.9, "", met, 0, x, x, x, "-"},
		})
	})
}

func TestStepMessageRebuiltWhenCleared(t *testing.T) {
	s := withFor(spec(v1alpha1.OpGreaterOrEqual, 99.5), time.Hour, 0)
	st := Step(&s, State{}, Observation{Value: 99}, at(0))
	if !strings.Contains(st.Message, ">= 99.5") {
		t.Fatalf("message %q", st.Message)
	}
	// The engine clears the message when the target changes; Step rebuilds it.
	s2 := withFor(spec(v1alpha1.OpGreaterOrEqual, 99.2), time.Hour, 0)
	st.Message = ""
	st = Step(&s2, st, Observation{Value: 99}, at(10))
	if !strings.Contains(st.Message, ">= 99.2") || st.State != breached || !st.Since.Equal(at(0)) {
		t.Fatalf("state %+v", st)
	}
}

func TestStepInvalidOperatorIsUnknown(t *testing.T) {
	s := Spec{Operator: "~", NoData: v1alpha1.NoDataBreached}
	st := Step(&s, State{}, Observation{Value: 1}, at(0))
	if st.State != unknown || !strings.Contains(st.Message, "not supported") {
		t.Fatalf("state %+v", st)
	}
}

func TestStepLongErrorIsTruncated(t *testing.T) {
	s := spec(v1alpha1.OpGreaterOrEqual, 99.5)
	long := errors.New(strings.Repeat("é", 1000))
	st := Step(&s, State{}, Observation{Err: long}, at(0))
	if len(st.Message) > 1024 {
		t.Fatalf("message of %d bytes", len(st.Message))
	}
	msg := st.Message
	st = Step(&s, st, Observation{Err: long}, at(10))
	if st.Message != msg {
		t.Fatal("message rebuilt for the same error")
	}
}

func TestStepDoesNotAllocateOnSteadyPaths(t *testing.T) {
	s := withFor(spec(v1alpha1.OpGreaterOrEqual, 99.5), time.Minute, 0)
	err := errors.New("timeout")
	cases := []struct {
		name string
		obs  Observation
	}{
		{"met", Observation{Value: 99.9}},
		{"breached", Observation{Value: 99}},
		{"unknown", Observation{Err: err}},
	}
	for _, c := range cases {
		st := Step(&s, State{}, c.obs, at(0))
		now := at(1)
		allocs := testing.AllocsPerRun(1000, func() {
			st = Step(&s, st, c.obs, now)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per Step", c.name, allocs)
		}
	}
}

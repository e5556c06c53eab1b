package scoring

import (
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/utils/ptr"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

func TestObjectivesHealth(t *testing.T) {
	cases := []struct {
		states []cxv1.ObjectiveState
		want   cxv1.HealthState
	}{
		{nil, cxv1.HealthUnknown},
		{[]cxv1.ObjectiveState{cxv1.StateMet, cxv1.StateMet}, cxv1.HealthHealthy},
		{[]cxv1.ObjectiveState{cxv1.StateMet, cxv1.StateWarning}, cxv1.HealthAtRisk},
		{[]cxv1.ObjectiveState{cxv1.StateWarning, cxv1.StateUnknown}, cxv1.HealthUnknown},
		{[]cxv1.ObjectiveState{cxv1.StateUnknown, cxv1.StateBreached}, cxv1.HealthDegraded},
		{[]cxv1.ObjectiveState{cxv1.StateDrifting}, cxv1.HealthDegraded},
	}
	for _, tc := range cases {
		if got := ObjectivesHealth(tc.states); got != tc.want {
			t.Errorf("ObjectivesHealth(%v) = %s, want %s", tc.states, got, tc.want)
		}
	}
}

func TestWorstAndCount(t *testing.T) {
	g := NewWithT(t)
	g.Expect(Worst()).To(Equal(cxv1.HealthUnknown))
	g.Expect(Worst(cxv1.HealthHealthy, cxv1.HealthAtRisk)).To(Equal(cxv1.HealthAtRisk))
	g.Expect(Worst(cxv1.HealthAtRisk, cxv1.HealthUnknown, cxv1.HealthHealthy)).To(Equal(cxv1.HealthUnknown))
	g.Expect(Worst(cxv1.HealthDegraded, cxv1.HealthUnknown)).To(Equal(cxv1.HealthDegraded))
	var c cxv1.MomentCounts
	for _, h := range []cxv1.HealthState{cxv1.HealthHealthy, cxv1.HealthHealthy, cxv1.HealthDegraded, cxv1.HealthUnknown, cxv1.HealthAtRisk} {
		Count(&c, h)
	}
	g.Expect(c).To(Equal(momentCounts(5, 2, 1, 1, 1)))
}

func TestScoreAndJourneyHealth(t *testing.T) {
	met := func(w float64) Objective { return Objective{State: cxv1.StateMet, Weight: w} }
	cases := []struct {
		name      string
		objs      []Objective
		moments   []cxv1.HealthState
		wantScore int32
		wantOK    bool
		want      cxv1.HealthState
	}{
		{"no data", []Objective{{State: cxv1.StateUnknown}}, nil, 0, false, cxv1.HealthUnknown},
		{"all met", []Objective{met(1), met(2)}, []cxv1.HealthState{cxv1.HealthHealthy}, 100, true, cxv1.HealthHealthy},
		{"unknown is left out of the score, and low coverage is Unknown", []Objective{met(1), {State: cxv1.StateUnknown, Weight: 5}}, []cxv1.HealthState{cxv1.HealthHealthy, cxv1.HealthUnknown}, 100, true, cxv1.HealthUnknown},
		{"missing data within the coverage allowed is at risk", []Objective{met(9), {State: cxv1.StateUnknown, Weight: 1}}, []cxv1.HealthState{cxv1.HealthHealthy, cxv1.HealthUnknown}, 100, true, cxv1.HealthAtRisk},
		{"a key objective without data is Unknown whatever the coverage", []Objective{met(99), {State: cxv1.StateUnknown, Weight: 1, Key: true}}, nil, 100, true, cxv1.HealthUnknown},
		{"an open drift episode without data is Unknown whatever the coverage", []Objective{met(99), {State: cxv1.StateUnknown, Weight: 1, Episode: true}}, nil, 100, true, cxv1.HealthUnknown},
		{"a total outage is Unknown, never a score of 100", []Objective{met(1), {State: cxv1.StateUnknown, Weight: 1, Episode: true}, {State: cxv1.StateUnknown, Weight: 1, Episode: true}}, nil, 100, true, cxv1.HealthUnknown},
		{"known bad beats unknown", []Objective{met(1), {State: cxv1.StateDrifting, Weight: 1}, {State: cxv1.StateUnknown, Weight: 8}}, nil, 50, true, cxv1.HealthDegraded},
		{"weighted share", []Objective{met(9), {State: cxv1.StateBreached, Weight: 1}}, nil, 90, true, cxv1.HealthAtRisk},
		{"low score degrades", []Objective{met(1), {State: cxv1.StateDrifting, Weight: 1}}, nil, 50, true, cxv1.HealthDegraded},
		{"warning counts as met but is at risk", []Objective{{State: cxv1.StateWarning}}, nil, 100, true, cxv1.HealthAtRisk},
		{"a missed key objective degrades whatever the score", []Objective{met(99), {State: cxv1.StateBreached, Weight: 1, Key: true}}, nil, 99, true, cxv1.HealthDegraded},
		{"a met key objective does not", []Objective{met(99), {State: cxv1.StateMet, Weight: 1, Key: true}}, []cxv1.HealthState{cxv1.HealthHealthy}, 100, true, cxv1.HealthHealthy},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			score, ok := Score(tc.objs)
			g.Expect(ok).To(Equal(tc.wantOK))
			g.Expect(score).To(Equal(tc.wantScore))
			g.Expect(JourneyHealth(tc.objs, tc.moments, DefaultMinCoverage)).To(Equal(tc.want))
		})
	}
}

func TestCoverage(t *testing.T) {
	g := NewWithT(t)
	_, ok := Coverage(nil)
	g.Expect(ok).To(BeFalse())
	c, ok := Coverage([]Objective{{State: cxv1.StateMet, Weight: 3}, {State: cxv1.StateUnknown, Weight: 1}, {State: "", Weight: 0}})
	g.Expect(ok).To(BeTrue())
	g.Expect(c).To(Equal(int32(60))) // 3 of 5
	g.Expect(Blind([]Objective{{Name: "a", Key: true}, {Name: "b", Episode: true, State: cxv1.StateUnknown}, {Name: "c", Key: true, State: cxv1.StateMet}, {Name: "d"}})).
		To(HaveLen(2))
	g.Expect(JourneyHealth([]Objective{{State: cxv1.StateMet, Weight: 1}, {State: cxv1.StateUnknown, Weight: 1}}, nil, 50)).To(Equal(cxv1.HealthAtRisk))
	g.Expect(JourneyHealth([]Objective{{State: cxv1.StateMet, Weight: 1}, {State: cxv1.StateUnknown, Weight: 1}}, nil, 51)).To(Equal(cxv1.HealthUnknown))
}

func TestNormalizedGap(t *testing.T) {
	g := NewWithT(t)
	g.Expect(NormalizedGap(cxv1.OpGreaterOrEqual, 98, 99.5, 0, 0)).To(BeNumerically("~", 1.5/99.5, 1e-9))
	g.Expect(NormalizedGap(cxv1.OpGreaterOrEqual, 100, 99.5, 0, 0)).To(BeZero())
	g.Expect(NormalizedGap(cxv1.OpLessOrEqual, 90, 60, 0, 0)).To(BeNumerically("~", 0.5, 1e-9))
	g.Expect(NormalizedGap(cxv1.OpGreaterOrEqual, -20, 0, 0, 0)).To(BeNumerically("~", 20, 1e-9), "a zero target scales by 1")
	g.Expect(NormalizedGap(cxv1.OpInRange, 10, 0, 25, 60)).To(BeNumerically("~", 15.0/35, 1e-9))
	g.Expect(NormalizedGap(cxv1.OpInRange, 70, 0, 25, 60)).To(BeNumerically("~", 10.0/35, 1e-9))
	g.Expect(NormalizedGap(cxv1.OpInRange, 30, 0, 25, 60)).To(BeZero())
	g.Expect(NormalizedGap(cxv1.OpEqual, 4, 5, 0, 0)).To(BeNumerically("~", 0.2, 1e-9))
}

func TestTopGapsRanksByMomentWeightTimesGap(t *testing.T) {
	g := NewWithT(t)
	objs := []Objective{
		{Moment: "stock", Name: "accuracy", State: cxv1.StateDrifting, MomentW: 10, NormGap: 0.02, HasNorm: true}, // 0.2
		{Moment: "chat", Name: "response", State: cxv1.StateBreached, MomentW: 5, NormGap: 0.5, HasNorm: true},    // 2.5
		{Moment: "nps", Name: "nps", State: cxv1.StateBreached, MomentW: 1, NormGap: 0.9, HasNorm: true},          // 0.9
		{Moment: "ok", Name: "fine", State: cxv1.StateMet, MomentW: 100, NormGap: 0, HasNorm: true},
		{Moment: "warn", Name: "close", State: cxv1.StateWarning, MomentW: 100},
		{Moment: "a", Name: "x", State: cxv1.StateBreached, MomentW: 1, NormGap: 0.1, HasNorm: true},
		{Moment: "b", Name: "x", State: cxv1.StateBreached, MomentW: 1, NormGap: 0.1, HasNorm: true},
		{Moment: "c", Name: "x", State: cxv1.StateBreached, MomentW: 1, NormGap: 0.05, HasNorm: true},
	}
	gaps := TopGaps(objs, 5)
	g.Expect(gaps).To(HaveLen(5))
	var order []string
	for _, gp := range gaps {
		order = append(order, gp.Moment)
	}
	g.Expect(order).To(Equal([]string{"chat", "nps", "stock", "a", "b"}))
	g.Expect(gaps[0].Score).To(Equal("2.500"))
}

func TestInitiativeRisk(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	moments := map[string]map[string]cxv1.ObjectiveState{
		"stock": {"accuracy": cxv1.StateDrifting, "latency": cxv1.StateMet},
		"chat":  {"response": cxv1.StateMet},
	}
	lookup := func(m string) (map[string]cxv1.ObjectiveState, bool) { s, ok := moments[m]; return s, ok }
	addr := func(m, o string) []cxv1.ObjectiveReference {
		return []cxv1.ObjectiveReference{{Moment: m, Objective: o}}
	}

	cases := []struct {
		name           string
		in             cxv1.Initiative
		wantRisk       bool
		addr, attained int32
	}{
		{"due in 10 days, still breached", cxv1.Initiative{Name: "a", State: cxv1.InitiativeInProgress, DueDate: "2026-12-03", Addresses: addr("stock", "accuracy")}, true, 1, 0},
		{"due in 30 days, breached", cxv1.Initiative{Name: "b", State: cxv1.InitiativeInProgress, DueDate: "2026-12-23", Addresses: addr("stock", "accuracy")}, false, 1, 0},
		{"overdue, breached", cxv1.Initiative{Name: "c", State: cxv1.InitiativePlanned, DueDate: "2026-11-01", Addresses: addr("stock", "")}, true, 2, 1},
		{"overdue but objectives met", cxv1.Initiative{Name: "d", State: cxv1.InitiativeInProgress, DueDate: "2026-11-01", Addresses: addr("chat", "")}, false, 1, 1},
		{"done is never at risk", cxv1.Initiative{Name: "e", State: cxv1.InitiativeDone, DueDate: "2026-11-01", Addresses: addr("stock", "accuracy")}, false, 1, 0},
		{"blocked while breached", cxv1.Initiative{Name: "f", State: cxv1.InitiativeBlocked, Addresses: addr("stock", "accuracy")}, true, 1, 0},
		{"due today counts as due, not overdue", cxv1.Initiative{Name: "g", State: cxv1.InitiativeInProgress, DueDate: "2026-11-23", Addresses: addr("stock", "accuracy")}, true, 1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			st := Initiative(tc.in, lookup, now)
			g.Expect(st.AtRisk).To(HaveValue(Equal(tc.wantRisk)), st.Message)
			g.Expect(st.ObjectivesAddressed).To(HaveValue(Equal(tc.addr)))
			g.Expect(st.ObjectivesAttained).To(HaveValue(Equal(tc.attained)))
		})
	}
	st := Initiative(cxv1.Initiative{Name: "x", State: cxv1.InitiativePlanned, Addresses: addr("gone", "")}, lookup, now)
	NewWithT(t).Expect(st.Message).To(ContainSubstring("do not exist: [gone]"))
}

// TestInitiativeNoDataIsNotAttained: an addressed objective without data (Unknown)
// is never attained and counts toward at-risk like a missed target.
func TestInitiativeNoDataIsNotAttained(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	moments := map[string]map[string]cxv1.ObjectiveState{
		"stock": {"accuracy": cxv1.StateUnknown, "latency": cxv1.StateMet, "freshness": cxv1.StateBreached},
	}
	lookup := func(m string) (map[string]cxv1.ObjectiveState, bool) { s, ok := moments[m]; return s, ok }
	addr := func(refs ...string) []cxv1.ObjectiveReference {
		var out []cxv1.ObjectiveReference
		for _, r := range refs {
			m, o, _ := strings.Cut(r, "/")
			out = append(out, cxv1.ObjectiveReference{Moment: m, Objective: o})
		}
		return out
	}
	cases := []struct {
		name           string
		in             cxv1.Initiative
		wantRisk       bool
		addr, attained int32
		wantMessage    string
	}{
		{"due soon, no data", cxv1.Initiative{State: cxv1.InitiativeInProgress, DueDate: "2026-12-01", Addresses: addr("stock/accuracy")},
			true, 1, 0, "due 2026-12-01 while [stock/accuracy] have no data"},
		{"overdue, no data", cxv1.Initiative{State: cxv1.InitiativeInProgress, DueDate: "2026-11-01", Addresses: addr("stock/accuracy")},
			true, 1, 0, "overdue since 2026-11-01 while [stock/accuracy] have no data"},
		{"blocked, no data", cxv1.Initiative{State: cxv1.InitiativeBlocked, Addresses: addr("stock/accuracy")},
			true, 1, 0, "blocked while [stock/accuracy] have no data"},
		{"due later, no data: not at risk but said", cxv1.Initiative{State: cxv1.InitiativeInProgress, DueDate: "2027-06-01", Addresses: addr("stock/accuracy")},
			false, 1, 0, "[stock/accuracy] have no data"},
		{"done with no data", cxv1.Initiative{State: cxv1.InitiativeDone, DueDate: "2026-11-01", Addresses: addr("stock/accuracy")},
			false, 1, 0, ""},
		{"missed and no data", cxv1.Initiative{State: cxv1.InitiativeInProgress, DueDate: "2026-12-01", Addresses: addr("stock/")},
			true, 3, 1, "due 2026-12-01 while [stock/freshness] still miss their target and [stock/accuracy] have no data"},
		{"met is attained", cxv1.Initiative{State: cxv1.InitiativeInProgress, DueDate: "2026-12-01", Addresses: addr("stock/latency")},
			false, 1, 1, ""},
		{"objective that does not exist", cxv1.Initiative{State: cxv1.InitiativeInProgress, Addresses: addr("stock/acuracy")},
			false, 0, 0, "addresses objectives that do not exist: [stock/acuracy]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			st := Initiative(tc.in, lookup, now)
			g.Expect(st.AtRisk).To(HaveValue(Equal(tc.wantRisk)), st.Message)
			g.Expect(st.ObjectivesAddressed).To(HaveValue(Equal(tc.addr)))
			g.Expect(st.ObjectivesAttained).To(HaveValue(Equal(tc.attained)))
			g.Expect(st.Message).To(Equal(tc.wantMessage))
		})
	}
}

func TestProgress(t *testing.T) {
	g := NewWithT(t)
	g.Expect(Progress(nil)).To(BeZero())
	g.Expect(Progress([]cxv1.Initiative{
		{State: cxv1.InitiativeDone},
		{State: cxv1.InitiativeInProgress, Progress: ptr.To[int32](50)},
		{State: cxv1.InitiativePlanned},
	})).To(Equal(int32(50)))
}

// momentCounts are moment counts as cxops writes them: every count set, 0 included.
func momentCounts(total, healthy, atRisk, degraded, unknown int32) cxv1.MomentCounts {
	return cxv1.MomentCounts{Total: &total, Healthy: &healthy, AtRisk: &atRisk, Degraded: &degraded, Unknown: &unknown}
}

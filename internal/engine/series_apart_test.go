package engine

import (
	"bytes"
	"fmt"
	"math"
	"testing"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/cxops/cxops/api/v1alpha1"
)

// seriesEngine registers objectives of every kind of target, in states with and
// without a value, on owners whose names sort differently from their creation.
func seriesEngine(t testing.TB, registry prometheus.Registerer, owners int) *Engine {
	t.Helper()
	e := New(Options{Clock: testingclock.NewFakeClock(t0), Registerer: registry})
	ge := apiObjective(v1alpha1.OpGreaterOrEqual, "99.5")
	ge.Target.Warning = ptr("99.7")
	geSpec, err := Compile(ge, 0)
	if err != nil {
		t.Fatal(err)
	}
	in := apiObjective(v1alpha1.OpInRange, "")
	in.Target.Min, in.Target.Max = ptr("1"), ptr("5")
	inSpec, err := Compile(in, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range owners {
		ns := []string{"shop", "care", "parts"}[i%3]
		kind := []string{"Moment", "Journey"}[i%2]
		e.Set(Owner{Kind: kind, Namespace: ns, Name: fmt.Sprintf("o%d", owners-i)}, []Registration{
			reg("latency", "shop/prom", fmt.Sprintf("q%d", i), geSpec),
			reg("queue", "shop/prom", fmt.Sprintf("r%d", i), inSpec),
		})
	}
	e.mu.Lock()
	i := 0
	for _, ow := range e.owners {
		for _, o := range ow.objs {
			switch i % 4 {
			case 0:
				o.state.Value, o.state.HasValue, o.state.State = 99.8, true, v1alpha1.StateMet
			case 1:
				o.state.Value, o.state.HasValue, o.state.State = 97, true, v1alpha1.StateDrifting
			case 2:
				o.state.State = v1alpha1.StateUnknown // no value
			}
			i++ // case 3: never evaluated, no state
		}
	}
	e.mu.Unlock()
	return e
}

func text(t *testing.T, mfs []*dto.MetricFamily) string {
	t.Helper()
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// objectiveSeriesText is the text of the per-objective families reg gathers.
func objectiveSeriesText(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{MetricObjectiveValue: true, MetricObjectiveTarget: true, MetricObjectiveState: true}
	var out []*dto.MetricFamily
	for _, mf := range mfs {
		if names[mf.GetName()] {
			out = append(out, mf)
		}
	}
	return text(t, out)
}

// The per-objective series served apart (SeriesApart, WriteObjectiveSeries) are
// the very text the engine's collector produced through a registry, and the
// collector then leaves them out.
func TestObjectiveSeriesApartMatchTheCollector(t *testing.T) {
	g := NewWithT(t)
	reg := prometheus.NewRegistry()
	e := seriesEngine(t, reg, 30)
	want := objectiveSeriesText(t, reg)
	g.Expect(want).To(ContainSubstring(`cxops_objective_target{bound="max",namespace="care",objective="queue"`))
	g.Expect(want).To(ContainSubstring(`cxops_objective_target{bound="warning",namespace="care",objective="latency"`))
	g.Expect(want).To(ContainSubstring(`state="Unknown"`))

	e.SeriesApart()
	g.Expect(objectiveSeriesText(t, reg)).To(BeEmpty(), "the collector leaves them out")
	var got bytes.Buffer
	g.Expect(e.WriteObjectiveSeries(&got)).To(Succeed())
	g.Expect(got.String()).To(Equal(want))

	var none bytes.Buffer
	g.Expect(New(Options{Clock: testingclock.NewFakeClock(t0)}).WriteObjectiveSeries(&none)).To(Succeed())
	g.Expect(none.Len()).To(BeZero(), "nothing without objectives")
}

// WriteObjectiveSeries writes what the collector's families encode to for label
// values the text format escapes and values it spells out (NaN, -Inf, -1).
func TestObjectiveSeriesTextEscapes(t *testing.T) {
	g := NewWithT(t)
	registry := prometheus.NewRegistry()
	e := seriesEngine(t, registry, 3)
	s, err := Compile(apiObjective(v1alpha1.OpGreaterOrEqual, "1"), 0)
	g.Expect(err).NotTo(HaveOccurred())
	e.Set(Owner{Kind: "Moment", Namespace: "odd", Name: `a"b\c` + "\nd"}, []Registration{reg(`x"y`, "odd/prom", "q", s)})
	e.Set(Owner{Kind: "Moment", Namespace: "odd", Name: "nan"}, []Registration{reg("n", "odd/prom", "q1", s), reg("i", "odd/prom", "q2", s), reg("m", "odd/prom", "q3", s)})
	e.mu.Lock()
	for _, o := range e.owners[Owner{Kind: "Moment", Namespace: "odd", Name: "nan"}].objs {
		o.state.HasValue, o.state.State = true, v1alpha1.StateUnknown
		o.state.Value = map[string]float64{"n": math.NaN(), "i": math.Inf(-1), "m": -1}[o.name]
	}
	e.mu.Unlock()
	want := objectiveSeriesText(t, registry)
	g.Expect(want).To(ContainSubstring(`owner="a\"b\\c\nd"`))
	g.Expect(want).To(ContainSubstring(`} NaN`))
	e.SeriesApart()
	var got bytes.Buffer
	g.Expect(e.WriteObjectiveSeries(&got)).To(Succeed())
	g.Expect(got.String()).To(Equal(want))
}

package engine

import (
	"bytes"
	"fmt"
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

// The per-objective series served apart (SeriesApart, ObjectiveFamilies) are the
// very text the engine's collector produced through a registry, and the
// collector then leaves them out.
func TestObjectiveFamiliesMatchTheCollector(t *testing.T) {
	g := NewWithT(t)
	reg := prometheus.NewRegistry()
	e := seriesEngine(t, reg, 30)
	names := map[string]bool{MetricObjectiveValue: true, MetricObjectiveTarget: true, MetricObjectiveState: true}
	viaRegistry := func() []*dto.MetricFamily {
		mfs, err := reg.Gather()
		g.Expect(err).NotTo(HaveOccurred())
		var out []*dto.MetricFamily
		for _, mf := range mfs {
			if names[mf.GetName()] {
				out = append(out, mf)
			}
		}
		return out
	}
	want := text(t, viaRegistry())
	g.Expect(want).To(ContainSubstring(`cxops_objective_target{bound="max",namespace="care",objective="queue"`))
	g.Expect(want).To(ContainSubstring(`cxops_objective_target{bound="warning",namespace="care",objective="latency"`))
	g.Expect(want).To(ContainSubstring(`state="Unknown"`))

	e.SeriesApart()
	g.Expect(viaRegistry()).To(BeEmpty(), "the collector leaves them out")
	g.Expect(text(t, e.ObjectiveFamilies())).To(Equal(want))

	g.Expect(New(Options{Clock: testingclock.NewFakeClock(t0)}).ObjectiveFamilies()).To(BeNil())
}

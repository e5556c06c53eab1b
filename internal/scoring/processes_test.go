package scoring

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

func TestProcessStatuses(t *testing.T) {
	g := NewWithT(t)
	stage := &cxv1.Stage{Name: "order", Blueprint: cxv1.StageBlueprint{Backstage: []cxv1.BackstageProcess{
		{Name: "stock-sync"}, {Name: "order-entry"}, {Name: "picking"},
	}}}
	mk := func(name, stage, process string, h cxv1.HealthState, drifting ...bool) *cxv1.Moment {
		m := &cxv1.Moment{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: cxv1.MomentSpec{Stage: stage, Process: process}}
		m.Status.Health = h
		for i, d := range drifting {
			m.Spec.Objectives = append(m.Spec.Objectives, cxv1.Objective{Name: fmt.Sprint(i)})
			s := cxv1.ObjectiveStatus{Name: fmt.Sprint(i)}
			if d {
				s.DriftingSince = &metav1.Time{}
			}
			m.Status.Objectives = append(m.Status.Objectives, s)
		}
		return m
	}
	got := ProcessStatuses(stage, []*cxv1.Moment{
		mk("b", "order", "stock-sync", cxv1.HealthHealthy, false),
		mk("a", "order", "stock-sync", cxv1.HealthDegraded, true, false),
		mk("c", "order", "order-entry", "", false), // not measured yet: Unknown
		mk("d", "deliver", "picking", cxv1.HealthHealthy, false),
		mk("e", "order", "no-such-process", cxv1.HealthHealthy, false),
		mk("f", "order", "", cxv1.HealthHealthy, false),
	})
	g.Expect(got).To(Equal([]cxv1.ProcessStatus{
		{Name: "stock-sync", Health: cxv1.HealthDegraded, ControlPoints: new(int32(3)), Drifting: new(int32(1)), Moments: []string{"a", "b"}},
		{Name: "order-entry", Health: cxv1.HealthUnknown, ControlPoints: new(int32(1)), Drifting: new(int32(0)), Moments: []string{"c"}},
		{Name: "picking", Health: cxv1.HealthUnknown, ControlPoints: new(int32(0)), Drifting: new(int32(0))},
	}))

	// Healthy and Unknown together are Unknown: Unknown is never good.
	got = ProcessStatuses(stage, []*cxv1.Moment{
		mk("a", "order", "picking", cxv1.HealthHealthy), mk("b", "order", "picking", cxv1.HealthUnknown),
	})
	g.Expect(got[2].Health).To(Equal(cxv1.HealthUnknown))

	// Bounded: at most 32 moments listed (all counted), at most 16 processes.
	var many []*cxv1.Moment
	for i := range 40 {
		many = append(many, mk(fmt.Sprintf("m%02d", i), "order", "picking", cxv1.HealthHealthy, false))
	}
	got = ProcessStatuses(stage, many)
	g.Expect(got[2].Moments).To(HaveLen(MaxProcessMoments))
	g.Expect(got[2].Moments[0]).To(Equal("m00"))
	g.Expect(*got[2].ControlPoints).To(Equal(int32(40)))
	big := &cxv1.Stage{Name: "order", Blueprint: cxv1.StageBlueprint{}}
	for i := range 20 {
		big.Blueprint.Backstage = append(big.Blueprint.Backstage, cxv1.BackstageProcess{Name: fmt.Sprint(i)})
	}
	g.Expect(ProcessStatuses(big, nil)).To(HaveLen(MaxProcesses))
	g.Expect(ProcessStatuses(&cxv1.Stage{Name: "order"}, many)).To(BeNil())
}

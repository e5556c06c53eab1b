package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/engine"
)

// shopBlueprint is the service blueprint of the spare-parts shop's order stage.
func shopBlueprint() *cxv1.StageBlueprint {
	return &cxv1.StageBlueprint{
		CustomerActions: []string{"puts the part in the cart", "checks the stock shown", "places the order"},
		Frontstage: []cxv1.FrontstageAction{
			{Action: "show stock per warehouse", Touchpoint: "stock display", Channel: cxv1.ChannelWeb, Team: "e-commerce"},
			{Action: "confirm the order with a delivery date", Touchpoint: "order confirmation", Channel: cxv1.ChannelEmail},
		},
		Backstage: []cxv1.BackstageProcess{
			{Name: "stock-sync", DisplayName: "Stock synchronisation", Owner: "logistics", Systems: []string{"erp", "shop"},
				SIPOC: cxv1.SIPOC{Suppliers: []string{"ERP"}, Inputs: []string{"stock levels"}, Outputs: []string{"available-to-promise"}, Customers: []string{"web shop"}}},
			{Name: "order-entry", Owner: "sales", Systems: []string{"erp"}},
		},
		SupportSystems: []cxv1.SupportSystem{
			{Name: "erp", Description: "SAP S/4HANA, stock and orders", Owner: "it"},
			{Name: "shop", Owner: "e-commerce"},
		},
	}
}

// journeyWithBlueprint is a journey whose stages all carry bp.
func journeyWithBlueprint(ns, name string, bp *cxv1.StageBlueprint, stages ...string) *cxv1.Journey {
	j := journey(ns, name, stages...)
	for i := range j.Spec.Stages {
		j.Spec.Stages[i].Blueprint = *bp.DeepCopy()
	}
	return j
}

func withProcess(m *cxv1.Moment, process string) *cxv1.Moment {
	m.Spec.Process = process
	return m
}

// TestBlueprintValidation applies valid blueprints and, for every rule of
// StageBlueprint (its CEL rules, the process name format, MinProperties and the
// size bounds), one that breaks it, and checks the message a user sees.
func TestBlueprintValidation(t *testing.T) {
	ns := newNamespace(t)
	with := func(n string, edit func(bp *cxv1.StageBlueprint)) client.Object {
		bp := shopBlueprint()
		edit(bp)
		j := journeyWithBlueprint(ns, n, bp, "order")
		j.Spec.Vision = "a technician orders the right part in five minutes and it arrives when promised"
		return j
	}
	strs := func(n int, f string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf(f, i)
		}
		return out
	}
	cases := []struct {
		name    string
		obj     func(name string) client.Object
		wantErr string // empty: must be accepted
	}{
		{"full blueprint and vision", func(n string) client.Object { return with(n, func(*cxv1.StageBlueprint) {}) }, ""},
		{"only customer actions", func(n string) client.Object {
			return journeyWithBlueprint(ns, n, &cxv1.StageBlueprint{CustomerActions: []string{"calls the hotline"}}, "order")
		}, ""},
		{"a process without systems or SIPOC, no support systems", func(n string) client.Object {
			return journeyWithBlueprint(ns, n, &cxv1.StageBlueprint{Backstage: []cxv1.BackstageProcess{{Name: "picking", Owner: "warehouse"}}}, "order")
		}, ""},
		{"the same process name in two stages", func(n string) client.Object {
			return journeyWithBlueprint(ns, n, shopBlueprint(), "order", "deliver")
		}, ""},
		{"16 processes, 16 actions, 8 systems per process", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) {
				bp.CustomerActions = strs(16, "action %d")
				bp.SupportSystems = nil
				for i := range 8 {
					bp.SupportSystems = append(bp.SupportSystems, cxv1.SupportSystem{Name: fmt.Sprintf("system-%d", i)})
				}
				bp.Backstage = nil
				for i := range 16 {
					bp.Backstage = append(bp.Backstage, cxv1.BackstageProcess{Name: fmt.Sprintf("process-%d", i), Owner: "ops", Systems: strs(8, "system-%d")})
				}
			})
		}, ""},

		// CEL rules of StageBlueprint.
		{"duplicate process names", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) { bp.Backstage[1].Name = "stock-sync" })
		}, "backstage process names must be unique within a stage"},
		{"duplicate support systems", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) { bp.SupportSystems[1].Name = "erp" })
		}, "support system names must be unique within a stage"},
		{"a system not declared in supportSystems", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) { bp.Backstage[1].Systems = []string{"erp", "crm"} })
		}, "every system a backstage process runs on must be declared in supportSystems of the same stage"},
		{"systems without any supportSystems", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) { bp.SupportSystems = nil })
		}, "every system a backstage process runs on must be declared in supportSystems of the same stage"},
		{"process name with capitals", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) { bp.Backstage[0].Name = "Stock-Sync" })
		}, "process name must be lowercase letters, digits and '-', starting and ending with a letter or digit, such as stock-sync"},
		{"process name ending with '-'", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) { bp.Backstage[0].Name = "stock-" })
		}, "process name must be lowercase letters, digits and '-'"},

		// MinProperties.
		// An empty blueprint or SIPOC is dropped by Go's omitzero, so these two are
		// sent as a client that is not Go would send them: with an explicit {}.
		{"empty blueprint", func(n string) client.Object {
			return withEmptyObject(journeyWithBlueprint(ns, n, &cxv1.StageBlueprint{CustomerActions: []string{"x"}}, "order"),
				"spec", "stages", 0, "blueprint")
		}, "spec.stages[0].blueprint: Invalid value: 0: spec.stages[0].blueprint in body should have at least 1 properties"},
		{"empty SIPOC", func(n string) client.Object {
			return withEmptyObject(with(n, func(*cxv1.StageBlueprint) {}), "spec", "stages", 0, "blueprint", "backstage", 0, "sipoc")
		}, "spec.stages[0].blueprint.backstage[0].sipoc in body should have at least 1 properties"},

		// Size bounds.
		{"17 customer actions", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) { bp.CustomerActions = strs(17, "action %d") })
		}, "spec.stages[0].blueprint.customerActions: Too many: 17: must have at most 16 items"},
		{"a customer action of 257 characters", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) { bp.CustomerActions = []string{strings.Repeat("a", 257)} })
		}, "spec.stages[0].blueprint.customerActions[0]: Too long: may not be more than 256"},
		{"17 processes", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) {
				bp.Backstage = nil
				for i := range 17 {
					bp.Backstage = append(bp.Backstage, cxv1.BackstageProcess{Name: fmt.Sprintf("process-%d", i), Owner: "ops"})
				}
			})
		}, "spec.stages[0].blueprint.backstage: Too many: 17: must have at most 16 items"},
		{"a process on 9 systems", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) {
				bp.SupportSystems = nil
				for i := range 9 {
					bp.SupportSystems = append(bp.SupportSystems, cxv1.SupportSystem{Name: fmt.Sprintf("system-%d", i)})
				}
				bp.Backstage[0].Systems = strs(9, "system-%d")
				bp.Backstage[1].Systems = nil
			})
		}, "spec.stages[0].blueprint.backstage[0].systems: Too many: 9: must have at most 8 items"},
		{"a process name of 64 characters", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) { bp.Backstage[0].Name = strings.Repeat("a", 64) })
		}, "spec.stages[0].blueprint.backstage[0].name: Too long: may not be more than 63"},
		{"a process without owner", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) { bp.Backstage[0].Owner = "" })
		}, "spec.stages[0].blueprint.backstage[0].owner"},
		{"17 support systems", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) {
				bp.Backstage[0].Systems, bp.Backstage[1].Systems = nil, nil
				bp.SupportSystems = nil
				for i := range 17 {
					bp.SupportSystems = append(bp.SupportSystems, cxv1.SupportSystem{Name: fmt.Sprintf("system-%d", i)})
				}
			})
		}, "spec.stages[0].blueprint.supportSystems: Too many: 17: must have at most 16 items"},
		{"17 frontstage actions", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) {
				bp.Frontstage = nil
				for i := range 17 {
					bp.Frontstage = append(bp.Frontstage, cxv1.FrontstageAction{Action: fmt.Sprintf("action %d", i)})
				}
			})
		}, "spec.stages[0].blueprint.frontstage: Too many: 17: must have at most 16 items"},
		{"a SIPOC with 9 inputs", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) { bp.Backstage[0].SIPOC.Inputs = strs(9, "input %d") })
		}, "spec.stages[0].blueprint.backstage[0].sipoc.inputs: Too many: 9: must have at most 8 items"},
		// Every text a tenant writes in a blueprint is bounded, each bound refused
		// one past it.
		{"a frontstage action of 257 characters", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) { bp.Frontstage[0].Action = strings.Repeat("a", 257) })
		}, "spec.stages[0].blueprint.frontstage[0].action: Too long: may not be more than 256"},
		{"a frontstage touchpoint of 129 characters", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) { bp.Frontstage[0].Touchpoint = strings.Repeat("t", 129) })
		}, "spec.stages[0].blueprint.frontstage[0].touchpoint: Too long: may not be more than 128"},
		{"a frontstage team of 64 characters", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) { bp.Frontstage[0].Team = strings.Repeat("t", 64) })
		}, "spec.stages[0].blueprint.frontstage[0].team: Too long: may not be more than 63"},
		{"a frontstage channel that is not one", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) { bp.Frontstage[0].Channel = "Pigeon" })
		}, "spec.stages[0].blueprint.frontstage[0].channel: Unsupported value"},
		{"a process display name of 129 characters", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) { bp.Backstage[0].DisplayName = strings.Repeat("d", 129) })
		}, "spec.stages[0].blueprint.backstage[0].displayName: Too long: may not be more than 128"},
		{"a process owner of 64 characters", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) { bp.Backstage[0].Owner = strings.Repeat("o", 64) })
		}, "spec.stages[0].blueprint.backstage[0].owner: Too long: may not be more than 63"},
		{"a system name of 64 characters", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) {
				long := strings.Repeat("s", 64)
				bp.SupportSystems[0].Name, bp.Backstage[0].Systems, bp.Backstage[1].Systems = long, []string{long}, nil
			})
		}, "spec.stages[0].blueprint.backstage[0].systems[0]: Too long: may not be more than 63"},
		{"a SIPOC supplier of 129 characters", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) { bp.Backstage[0].SIPOC.Suppliers = []string{strings.Repeat("s", 129)} })
		}, "spec.stages[0].blueprint.backstage[0].sipoc.suppliers[0]: Too long: may not be more than 128"},
		{"a SIPOC with 9 suppliers", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) { bp.Backstage[0].SIPOC.Suppliers = strs(9, "supplier %d") })
		}, "spec.stages[0].blueprint.backstage[0].sipoc.suppliers: Too many: 9: must have at most 8 items"},
		{"a SIPOC input of 129 characters", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) { bp.Backstage[0].SIPOC.Inputs = []string{strings.Repeat("i", 129)} })
		}, "spec.stages[0].blueprint.backstage[0].sipoc.inputs[0]: Too long: may not be more than 128"},
		{"a SIPOC with 9 outputs", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) { bp.Backstage[0].SIPOC.Outputs = strs(9, "output %d") })
		}, "spec.stages[0].blueprint.backstage[0].sipoc.outputs: Too many: 9: must have at most 8 items"},
		{"a SIPOC output of 129 characters", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) { bp.Backstage[0].SIPOC.Outputs = []string{strings.Repeat("o", 129)} })
		}, "spec.stages[0].blueprint.backstage[0].sipoc.outputs[0]: Too long: may not be more than 128"},
		{"a SIPOC with 9 customers", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) { bp.Backstage[0].SIPOC.Customers = strs(9, "customer %d") })
		}, "spec.stages[0].blueprint.backstage[0].sipoc.customers: Too many: 9: must have at most 8 items"},
		{"a SIPOC customer of 129 characters", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) { bp.Backstage[0].SIPOC.Customers = []string{strings.Repeat("c", 129)} })
		}, "spec.stages[0].blueprint.backstage[0].sipoc.customers[0]: Too long: may not be more than 128"},
		{"a support system name of 64 characters", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) {
				bp.Backstage[0].Systems, bp.Backstage[1].Systems = nil, nil
				bp.SupportSystems[0].Name = strings.Repeat("s", 64)
			})
		}, "spec.stages[0].blueprint.supportSystems[0].name: Too long: may not be more than 63"},
		{"a support system description of 257 characters", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) { bp.SupportSystems[0].Description = strings.Repeat("d", 257) })
		}, "spec.stages[0].blueprint.supportSystems[0].description: Too long: may not be more than 256"},
		{"a support system owner of 64 characters", func(n string) client.Object {
			return with(n, func(bp *cxv1.StageBlueprint) { bp.SupportSystems[0].Owner = strings.Repeat("o", 64) })
		}, "spec.stages[0].blueprint.supportSystems[0].owner: Too long: may not be more than 63"},
		{"a vision of 1025 characters", func(n string) client.Object {
			j := with(n, func(*cxv1.StageBlueprint) {}).(*cxv1.Journey)
			j.Spec.Vision = strings.Repeat("v", 1025)
			return j
		}, "spec.vision: Too long: may not be more than 1024"},

		// Moment spec.process.
		{"moment with a process", func(n string) client.Object {
			return withProcess(moment(ns, n, "j", "order", objective("accuracy", "s", "stock", "99.5")), "stock-sync")
		}, ""},
		{"moment with a process of 64 characters", func(n string) client.Object {
			return withProcess(moment(ns, n, "j", "order", objective("accuracy", "s", "stock", "99.5")), strings.Repeat("p", 64))
		}, "spec.process: Too long: may not be more than 63"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			obj := tc.obj(fmt.Sprintf("bp-%02d", i))
			err := k8sClient.Create(context.Background(), obj)
			if tc.wantErr == "" {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).To(ContainSubstring(tc.wantErr))
		})
	}
}

// TestBlueprintMissingProcessStallsAfterGraceAndRecovers: a moment naming a
// process its stage's blueprint does not have is handled like a missing stage:
// not evaluated, Reconciling with a message naming the process and those that
// exist, Stalled (kstatus Failed) once the reference grace has passed on the
// injected clock, and Ready by itself when the journey gains the process.
func TestBlueprintMissingProcessStallsAfterGraceAndRecovers(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	src := staticSource(ns, "figures", map[string]string{"stock": "99.8"})
	j := journeyWithBlueprint(ns, "parts", shopBlueprint(), "order")
	m := withProcess(moment(ns, "stock", "parts", "order", objective("accuracy", "figures", "stock", "99.5")), "stock-synk")
	create(g, src, j, m)

	const want = `process "stock-synk" is not a backstage process of stage "order" of journey "parts" (processes: stock-sync, order-entry)`
	g.Eventually(func(g Gomega) {
		m := get(g, m)
		g.Expect(m.Status.ObservedGeneration).To(Equal(m.Generation))
		ready := cond(m.Status.Conditions, cxv1.ReadyCondition)
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(ready.Reason).To(Equal(cxv1.ReasonProcessNotFound))
		g.Expect(ready.Message).To(Equal(want))
		g.Expect(cond(m.Status.Conditions, cxv1.ReconcilingCondition).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(cond(m.Status.Conditions, cxv1.HealthyCondition).Status).To(Equal(metav1.ConditionUnknown))
		g.Expect(m.Status.Health).To(Equal(cxv1.HealthUnknown))
		g.Expect(kstatusOf(g, m)).To(Equal(kstatus.InProgressStatus))
		g.Expect(objState(m, "accuracy").State).To(Equal(cxv1.StateUnknown))
	}, timeout, poll).Should(Succeed())
	_, registered := system.Engine.Snapshot(engine.Owner{Kind: "Moment", Namespace: ns, Name: "stock"})
	g.Expect(registered).To(BeFalse(), "a moment naming a process that does not exist is not evaluated, like one naming a missing stage")

	testClock.Step(2*time.Minute + time.Second)
	g.Eventually(func(g Gomega) {
		m := get(g, m)
		g.Expect(kstatusOf(g, m)).To(Equal(kstatus.FailedStatus), "%+v", m.Status.Conditions)
		stalled := cond(m.Status.Conditions, cxv1.StalledCondition)
		g.Expect(stalled.Reason).To(Equal(cxv1.ReasonProcessNotFound))
		g.Expect(stalled.Message).To(HavePrefix(want))
		g.Expect(stalled.Message).To(ContainSubstring("cxops resumes by itself once it exists"))
	}, timeout, poll).Should(Succeed())

	// The journey gains the process: the moment recovers without being touched.
	j = get(g, j)
	patch := client.MergeFrom(j.DeepCopy())
	j.Spec.Stages[0].Blueprint.Backstage = append(j.Spec.Stages[0].Blueprint.Backstage, cxv1.BackstageProcess{Name: "stock-synk", Owner: "logistics"})
	g.Expect(k8sClient.Patch(context.Background(), j, patch)).To(Succeed())
	g.Eventually(func(g Gomega) {
		m := get(g, m)
		g.Expect(kstatusOf(g, m)).To(Equal(kstatus.CurrentStatus), "%+v", m.Status.Conditions)
		g.Expect(objState(m, "accuracy").State).To(Equal(cxv1.StateMet))
		g.Expect(cond(m.Status.Conditions, cxv1.StalledCondition).Status).To(BeEmpty())
	}, timeout, poll).Should(Succeed())

	// A stage without a blueprint says so.
	m2 := withProcess(moment(ns, "chat", "parts", "order", objective("accuracy", "figures", "stock", "99.5")), "stock-sync")
	m2.Spec.Stage = "deliver"
	j = get(g, j)
	patch = client.MergeFrom(j.DeepCopy())
	j.Spec.Stages = append(j.Spec.Stages, cxv1.Stage{Name: "deliver", Phase: cxv1.PhaseAfterPurchase})
	g.Expect(k8sClient.Patch(context.Background(), j, patch)).To(Succeed())
	create(g, m2)
	g.Eventually(func(g Gomega) {
		ready := cond(get(g, m2).Status.Conditions, cxv1.ReadyCondition)
		g.Expect(ready.Reason).To(Equal(cxv1.ReasonProcessNotFound))
		g.Expect(ready.Message).To(Equal(`process "stock-sync" is not a backstage process of stage "deliver" of journey "parts" ` +
			`(the stage has no backstage processes: add spec.stages[].blueprint.backstage to the journey)`))
	}, timeout, poll).Should(Succeed())
}

// TestBlueprintProcessHealthInJourneyStatus: status.stages[].processes has, per
// backstage process, the moments naming it, their objectives as control points,
// the drifting ones, and the worst health; Unknown when no moment names the
// process or none has data. A journey whose moments do not change writes nothing.
func TestBlueprintProcessHealthInJourneyStatus(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	src := staticSource(ns, "figures", map[string]string{"stock": "99.8", "orders": "97", "catalogue": "99"})
	bp := shopBlueprint()
	bp.Backstage = append(bp.Backstage,
		cxv1.BackstageProcess{Name: "picking", Owner: "warehouse"},
		cxv1.BackstageProcess{Name: "invoicing", Owner: "accounting"})
	j := journeyWithBlueprint(ns, "parts", bp, "order")
	j.Spec.Stages = append(j.Spec.Stages, cxv1.Stage{Name: "discover", Phase: cxv1.PhaseBeforePurchase})

	stockA := withProcess(moment(ns, "stock-shown", "parts", "order", objective("accuracy", "figures", "stock", "99.5")), "stock-sync")
	stockB := withProcess(moment(ns, "stock-reserved", "parts", "order",
		objective("accuracy", "figures", "stock", "99.5"), objective("catalogue", "figures", "catalogue", "98")), "stock-sync")
	orders := withProcess(moment(ns, "order-accepted", "parts", "order", objective("entry", "figures", "orders", "95")), "order-entry")
	// No data: the static value does not exist.
	picking := withProcess(moment(ns, "picked-today", "parts", "order", objective("picked", "figures", "picked", "95")), "picking")
	// Names no process: counted in the stage, in no process.
	plain := moment(ns, "quote", "parts", "order", objective("quote", "figures", "orders", "10"))
	create(g, src, j, stockA, stockB, orders, picking, plain)

	processes := func(g Gomega) []cxv1.ProcessStatus {
		j := get(g, j)
		g.Expect(j.Status.Stages).To(HaveLen(2))
		g.Expect(j.Status.Stages[1].Processes).To(BeNil(), "a stage without a blueprint has no processes")
		return j.Status.Stages[0].Processes
	}
	g.Eventually(func(g Gomega) {
		g.Expect(processes(g)).To(Equal([]cxv1.ProcessStatus{
			{Name: "stock-sync", Health: cxv1.HealthHealthy, ControlPoints: new(int32(3)), Drifting: new(int32(0)), Moments: []string{"stock-reserved", "stock-shown"}},
			{Name: "order-entry", Health: cxv1.HealthHealthy, ControlPoints: new(int32(1)), Drifting: new(int32(0)), Moments: []string{"order-accepted"}},
			{Name: "picking", Health: cxv1.HealthUnknown, ControlPoints: new(int32(1)), Drifting: new(int32(0)), Moments: []string{"picked-today"}},
			{Name: "invoicing", Health: cxv1.HealthUnknown, ControlPoints: new(int32(0)), Drifting: new(int32(0))},
		}))
	}, timeout, poll).Should(Succeed())

	// Order entry misses its target (for is 0s: drifting at once): the process is
	// Degraded with one drifting control point.
	setStatic(g, src, "orders", "80")
	g.Eventually(func(g Gomega) {
		ps := processes(g)
		g.Expect(ps[1]).To(Equal(cxv1.ProcessStatus{Name: "order-entry", Health: cxv1.HealthDegraded, ControlPoints: new(int32(1)), Drifting: new(int32(1)),
			Moments: []string{"order-accepted"}}))
		g.Expect(ps[0].Health).To(Equal(cxv1.HealthHealthy))
	}, timeout, poll).Should(Succeed())

	// One of the two stock moments at risk: the process takes the worst health.
	stockB = get(g, stockB)
	patch := client.MergeFrom(stockB.DeepCopy())
	stockB.Spec.Objectives[1].Target.Warning = ptrString("99.5")
	g.Expect(k8sClient.Patch(context.Background(), stockB, patch)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(processes(g)[0].Health).To(Equal(cxv1.HealthAtRisk))
	}, timeout, poll).Should(Succeed())

	// Steady: the journey's status does not change, so it is not written.
	g.Eventually(func(g Gomega) {
		g.Expect(processes(g)[0].Health).To(Equal(cxv1.HealthAtRisk))
		g.Expect(get(g, j).Status.ObservedGeneration).To(Equal(int64(1)))
	}, timeout, poll).Should(Succeed())
	base := writes.of("journeys", ns, "parts")
	g.Consistently(func() int { return writes.of("journeys", ns, "parts") }, 2*time.Second, poll).Should(Equal(base))
}

func ptrString(s string) *string { return &s }

// withEmptyObject is obj as unstructured JSON with an empty object {} at path
// (field names and list indexes), as kubectl would send a manifest saying so.
func withEmptyObject(obj client.Object, path ...any) client.Object {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		panic(err)
	}
	var cur any = m
	for i, p := range path {
		last := i == len(path)-1
		switch k := p.(type) {
		case string:
			mm := cur.(map[string]any)
			if last {
				mm[k] = map[string]any{}
			} else {
				cur = mm[k]
			}
		case int:
			l := cur.([]any)
			if last {
				l[k] = map[string]any{}
			} else {
				cur = l[k]
			}
		}
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(cxv1.GroupVersion.WithKind("Journey"))
	return u
}

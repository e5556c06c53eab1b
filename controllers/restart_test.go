package controllers

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/engine"
)

// Issue 12: after a restart or a failover, objectives were evaluated before the
// SignalSource controller had registered their source's provider: they turned
// Unknown ("not ready") and back, two status writes per moment and more for
// their journeys. A restart with stable signals now writes nothing.
func TestRestartWithStableSignalsWritesNothing(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	const n = 40
	src := staticSource(ns, "figures", map[string]string{"stock": "99.8", "chat": "40"})
	j := journey(ns, "parts", "order", "deliver")
	create(g, src, j, stream(ns, "systems"))
	for i := range n {
		stage := "order"
		key, target := "stock", "99.5"
		if i%4 == 3 {
			// Drifting (for is 0), its task open: a stable state that is not Met.
			stage, key, target = "deliver", "chat", "60"
		}
		name := fmt.Sprintf("m%02d", i)
		if i == 0 {
			name = "stock" // addressed by the stream
		}
		create(g, moment(ns, name, "parts", stage, objective("accuracy", "figures", key, target)))
	}
	converged := func(g Gomega) {
		var list cxv1.MomentList
		g.Expect(k8sClient.List(t.Context(), &list, client.InNamespace(ns))).To(Succeed())
		g.Expect(list.Items).To(HaveLen(n))
		for i := range list.Items {
			m := &list.Items[i]
			g.Expect(kstatusOf(g, m)).To(Equal(kstatus.CurrentStatus), m.Name)
			g.Expect(objState(m, "accuracy").State).To(BeElementOf(cxv1.StateMet, cxv1.StateDrifting), m.Name)
		}
		// The journey has measured the final states (moments converging en masse
		// are measured at most every 30 s).
		jj := get(g, j)
		g.Expect(jj.Status.Moments.Total).To(HaveValue(Equal(int32(n))))
		g.Expect(jj.Status.DriftingMoments).To(HaveValue(Equal(int32(n / 4))))
		g.Expect(cond(jj.Status.Conditions, cxv1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(cond(get(g, stream(ns, "systems")).Status.Conditions, cxv1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
	}
	g.Eventually(converged, timeout+journeyMeasureEvery, poll).Should(Succeed())
	// Quiet: nothing left to write (a journey measures its moments' changes in
	// batches).
	g.Eventually(func() bool {
		before := writes.inNamespace(ns)
		time.Sleep(journeyBatch + time.Second)
		return len(writes.since(ns, before)) == 0
	}, 2*timeout).Should(BeTrue())
	base := writes.inNamespace(ns)

	g.Expect(restartManager()).To(Succeed())
	// The new manager evaluates every moment (the clock does not move: no heartbeat
	// is due)...
	g.Eventually(func(g Gomega) {
		for i := range n {
			name := fmt.Sprintf("m%02d", i)
			if i == 0 {
				name = "stock"
			}
			snap, ok := system.Engine.Snapshot(engine.Owner{Kind: "Moment", Namespace: ns, Name: name})
			g.Expect(ok).To(BeTrue(), name)
			g.Expect(snap).To(HaveLen(1))
			g.Expect(snap[0].Evaluated).To(BeTrue(), name)
		}
	}, timeout, poll).Should(Succeed())
	// ...and writes nothing: not to moments, journeys, streams nor sources.
	g.Consistently(func() map[string]int { return writes.since(ns, base) }, 3*time.Second, poll).Should(BeEmpty())
	converged(g)
}

// Issue 12: the bench saw the SignalSource controller write in the two minutes
// after a restart. The first probe of the new process refreshed lastProbeTime
// because it was older than half the probe interval (5 minutes), though the
// previous process had probed on time and the next probe was not due.
func TestRestartKeepsARecentProbeTime(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	src := staticSource(ns, "figures", map[string]string{"stock": "99.8"})
	create(g, src)
	var probed time.Time
	g.Eventually(func(g Gomega) {
		s := get(g, src)
		g.Expect(cond(s.Status.Conditions, cxv1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(s.Status.LastProbeTime).NotTo(BeNil())
		probed = s.Status.LastProbeTime.Time
	}, timeout, poll).Should(Succeed())
	// Three minutes of the probe interval pass; then the manager restarts.
	testClock.Step(3 * time.Minute)
	base := writes.inNamespace(ns)
	g.Expect(restartManager()).To(Succeed())
	g.Eventually(func() bool {
		_, ok := system.Registry.Get(ns + "/figures")
		return ok
	}, timeout, poll).Should(BeTrue(), "the new manager registers the source")
	g.Consistently(func() map[string]int { return writes.since(ns, base) }, 3*time.Second, poll).Should(BeEmpty())
	// The next probe, one interval later (wall-clock requeue), refreshes it:
	// TestProbeTimeDue.
	g.Expect(get(g, src).Status.LastProbeTime.Time).To(Equal(probed))
}

package controllers

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// Issue 12: a heartbeat was due one period (± 5 %) after the last write, so
// 10,000 moments created or restarted at once wrote their heartbeats in a burst.
// Each moment now has its own phase: the heartbeats of moments written at the
// same instant spread evenly over the period.
func TestHeartbeatsOfMomentsWrittenTogetherSpreadEvenly(t *testing.T) {
	g := NewWithT(t)
	const n, period = 10000, 5 * time.Minute
	start := time.Date(2026, 12, 2, 10, 0, 7, 0, time.UTC)
	perMinute := map[int]int{}
	for i := range n {
		phase := heartbeatPhase("tenant", fmt.Sprintf("moment-%d", i), uuid.NewUUID(), period)
		g.Expect(phase).To(And(BeNumerically(">=", 0), BeNumerically("<", period)))
		next := nextHeartbeat(start, phase, period)
		g.Expect(next.Sub(start)).To(And(BeNumerically(">=", period/2), BeNumerically("<", period*3/2)))
		// The next one comes exactly a period later, also after a write a second late.
		g.Expect(nextHeartbeat(next, phase, period)).To(Equal(next.Add(period)))
		g.Expect(nextHeartbeat(next.Add(time.Second), phase, period)).To(Equal(next.Add(period)))
		g.Expect(nextHeartbeat(next.Add(-time.Second), phase, period)).To(Equal(next.Add(period)))
		perMinute[int(next.Sub(start)/time.Minute)]++
	}
	avg := float64(n) / (float64(period) / float64(time.Minute))
	for minute, count := range perMinute {
		g.Expect(float64(count)).To(BeNumerically("<", 2*avg), "minute %d after the mass write", minute)
	}
}

// The phase depends on the object alone: a restart keeps it.
func TestHeartbeatPhaseIsStable(t *testing.T) {
	g := NewWithT(t)
	uid := types.UID("6f1c0b8e-6d0b-4d0e-9a59-4a7f3b1c2d3e")
	p := heartbeatPhase("ns", "stock", uid, 5*time.Minute)
	g.Expect(heartbeatPhase("ns", "stock", uid, 5*time.Minute)).To(Equal(p))
	g.Expect(heartbeatPhase("ns", "stock", "another-uid", 5*time.Minute)).NotTo(Equal(p))
}

// The same, end to end: moments created at once write their next heartbeats
// spread over the period (per minute at most twice the average), not in a burst
// one period later.
func TestHeartbeatsOfMomentsCreatedAtOnceAreSpread(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	const n = 60
	period := system.Options.Heartbeat
	o := objective("accuracy", "figures", "stock", "99.5")
	o.Interval = &cxv1.Duration{Duration: 10 * time.Second}
	create(g, staticSource(ns, "figures", map[string]string{"stock": "99.8"}), journey(ns, "parts", "order"))
	for i := range n {
		create(g, moment(ns, fmt.Sprintf("m%02d", i), "parts", "order", o))
	}
	g.Eventually(func(g Gomega) {
		var list cxv1.MomentList
		g.Expect(k8sClient.List(t.Context(), &list, client.InNamespace(ns))).To(Succeed())
		g.Expect(list.Items).To(HaveLen(n))
		for i := range list.Items {
			g.Expect(objState(&list.Items[i], "accuracy").State).To(Equal(cxv1.StateMet))
			g.Expect(list.Items[i].Status.LastHeartbeatTime).NotTo(BeNil())
		}
	}, timeout, poll).Should(Succeed())
	t0 := testClock.Now()

	// Each moment's heartbeat is due at nextHeartbeat(its last write, its phase).
	// Every step of the clock waits until the moments due by then have written
	// it, so a reconcile that runs late on a loaded machine is not measured at a
	// later step's time.
	var list cxv1.MomentList
	g.Expect(k8sClient.List(t.Context(), &list, client.InNamespace(ns))).To(Succeed())
	due := map[string]time.Time{}
	for _, m := range list.Items {
		due[m.Name] = nextHeartbeat(m.Status.LastHeartbeatTime.Time, heartbeatPhase(ns, m.Name, m.UID, period), period)
	}
	for range int(2 * period / (10 * time.Second)) {
		testClock.Step(10 * time.Second)
		now := testClock.Now()
		g.Eventually(func(g Gomega) {
			var list cxv1.MomentList
			g.Expect(k8sClient.List(t.Context(), &list, client.InNamespace(ns))).To(Succeed())
			for _, m := range list.Items {
				if d := due[m.Name]; !d.After(now) {
					// metav1.Time keeps whole seconds.
					g.Expect(m.Status.LastHeartbeatTime.Time).To(BeTemporally(">=", d.Truncate(time.Second)), m.Name)
				}
			}
		}, timeout, poll).Should(Succeed())
	}
	// Every moment's first heartbeat after the mass creation is written within
	// [t0 + period/2, t0 + 3/2 period), give or take the clock's 10 s steps, and
	// they are spread evenly.
	var first map[string]time.Duration
	g.Eventually(func(g Gomega) {
		first = writes.firstHeartbeats(ns, t0.Truncate(time.Second))
		g.Expect(first).To(HaveLen(n))
	}, timeout, poll).Should(Succeed())
	perMinute := map[int]int{}
	for _, d := range first {
		perMinute[int(d/time.Minute)]++
	}
	avg := float64(n) / (float64(period) / float64(time.Minute))
	for minute, count := range perMinute {
		g.Expect(float64(count)).To(BeNumerically("<", 2*avg), "minute %d after the creation: %v", minute, perMinute)
	}
	for name, d := range first {
		g.Expect(d).To(And(BeNumerically(">=", period/2), BeNumerically("<=", period*3/2+10*time.Second)), name)
	}
}

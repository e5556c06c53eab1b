package controllers

import (
	"encoding/json"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"

	"github.com/cxops/cxops/internal/engine"
)

// TestFirstSightDeferIsBounded: the first status of a generation whose sources
// are not registered yet waits at most firstSightDefer from the first time it
// was deferred; a new generation starts its own wait; an evaluated key forgets.
func TestFirstSightDeferIsBounded(t *testing.T) {
	g := NewWithT(t)
	var f firstSight
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	g.Expect(f.deferFor("m", 1, t0)).To(Equal(firstSightDefer))
	g.Expect(f.deferFor("m", 1, t0.Add(1500*time.Millisecond))).To(Equal(500 * time.Millisecond))
	g.Expect(f.deferFor("m", 1, t0.Add(firstSightDefer))).To(BeNumerically("<=", 0), "the wait is over: write Evaluating")
	g.Expect(f.deferFor("m", 2, t0.Add(3*time.Second))).To(Equal(firstSightDefer), "a new generation waits again")
	// Evaluated: nothing is kept for the key.
	g.Expect(f.evaluating("m", 2, 1, nil, []engine.Result{{Evaluated: true}})).To(BeFalse())
	g.Expect(f.deferred).NotTo(HaveKey("m"))
}

// TestProbeTimeDue: lastProbeTime is set when missing or after a failure, then
// refreshed at most once per probe interval; the first probe of a process leaves a
// recent time alone (no write after a restart) and refreshes one the previous
// process let go stale; the following probe, one interval later, refreshes it.
func TestProbeTimeDue(t *testing.T) {
	g := NewWithT(t)
	const interval = 5 * time.Minute
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	last := &metav1.Time{Time: t0}
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	g.Expect(probeTimeDue(nil, true, at(0), interval, false)).To(BeTrue())
	g.Expect(probeTimeDue(last, false, at(time.Second), interval, false)).To(BeTrue(), "recovered")
	g.Expect(probeTimeDue(last, true, at(2*time.Minute), interval, false)).To(BeFalse(), "between probes")
	g.Expect(probeTimeDue(last, true, at(interval), interval, false)).To(BeTrue(), "the next probe")
	// After a restart.
	g.Expect(probeTimeDue(nil, true, at(0), interval, true)).To(BeTrue())
	g.Expect(probeTimeDue(last, false, at(time.Second), interval, true)).To(BeTrue())
	g.Expect(probeTimeDue(last, true, at(3*time.Minute), interval, true)).To(BeFalse(), "probed on time before the restart")
	g.Expect(probeTimeDue(last, true, at(interval+interval/10), interval, true)).To(BeFalse(), "still within the jitter")
	g.Expect(probeTimeDue(last, true, at(6*time.Minute), interval, true)).To(BeTrue(), "a missed probe")
	g.Expect(probeTimeDue(last, true, at(3*time.Minute+interval), interval, false)).To(BeTrue(), "the new process's next probe")
}

// TestStatusMergePatch: the patch of a status change is the merge patch
// client.MergeFromWithOptimisticLock would send (the changed and removed status
// fields and the resourceVersion), computed from the statuses alone.
func TestStatusMergePatch(t *testing.T) {
	g := NewWithT(t)
	before := &cxv1.Moment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "stock", ResourceVersion: "42", Generation: 2},
		Spec: cxv1.MomentSpec{Owner: "logistics"}}
	before.Status.Health = cxv1.HealthHealthy
	before.Status.ObservedGeneration = 1
	before.Status.Objectives = []cxv1.ObjectiveStatus{{Name: "accuracy", State: cxv1.StateMet, Value: ptr.To("99.9")}}
	after := before.DeepCopy()
	after.Status.ObservedGeneration = 2
	after.Status.Health = ""
	after.Status.Objectives[0].Value = ptr.To("98")
	statusOf := func(o client.Object) any { return o.(*cxv1.Moment).Status }

	want, err := client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}).Data(after)
	g.Expect(err).NotTo(HaveOccurred())
	got, err := statusMergePatch{before: statusOf(before), after: statusOf(after), resourceVersion: before.ResourceVersion}.Data(after)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(MatchJSON(want))
	g.Expect(got).To(MatchJSON(`{"metadata":{"resourceVersion":"42"},"status":{"health":null,"observedGeneration":2,` +
		`"objectives":[{"name":"accuracy","state":"Met","value":"98"}]}}`))

	_, err = statusMergePatch{before: statusOf(before), after: statusOf(after)}.Data(after)
	g.Expect(err).To(HaveOccurred(), "no resourceVersion, no optimistic lock")

	// A first status: the whole status, which applied to the object gives what
	// MergeFrom's patch gives.
	fresh := &cxv1.Moment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "stock", ResourceVersion: "7", Generation: 1},
		Spec: cxv1.MomentSpec{Owner: "logistics"}}
	first := fresh.DeepCopy()
	first.Status = *after.Status.DeepCopy()
	first.Status.Objectives[0].Since = &metav1.Time{Time: time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)}
	want, err = client.MergeFromWithOptions(fresh, client.MergeFromWithOptimisticLock{}).Data(first)
	g.Expect(err).NotTo(HaveOccurred())
	got, err = statusMergePatch{before: statusOf(fresh), after: statusOf(first), resourceVersion: fresh.ResourceVersion}.Data(first)
	g.Expect(err).NotTo(HaveOccurred())
	doc, err := json.Marshal(fresh)
	g.Expect(err).NotTo(HaveOccurred())
	applied := func(patch []byte) string {
		out, err := jsonpatch.MergePatch(doc, patch)
		g.Expect(err).NotTo(HaveOccurred())
		return string(out)
	}
	g.Expect(applied(got)).To(MatchJSON(applied(want)))
	g.Expect(got).To(ContainSubstring(`"resourceVersion":"7"`))
}

// TestZeroStatusesMarshalEmpty: a first status is sent whole as its merge patch
// (statusMergePatch), which equals the diff only while every kind's zero status
// marshals to {}: a field without omitempty would send its zero value, and
// overwrite what the API server holds.
func TestZeroStatusesMarshalEmpty(t *testing.T) {
	g := NewWithT(t)
	for _, st := range []any{cxv1.MomentStatus{}, cxv1.JourneyStatus{}, cxv1.RemediationTaskStatus{},
		cxv1.RoadmapStreamStatus{}, cxv1.SignalSourceStatus{}} {
		out, err := json.Marshal(st)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(string(out)).To(Equal("{}"), "%T", st)
	}
}

// TestCacheLagHoldsOnlyWritesInFlight: a write is remembered until the watch
// delivers it (or a later version), so that the map does not keep an entry per
// object between heartbeats; until then a reconcile from an older copy waits.
func TestCacheLagHoldsOnlyWritesInFlight(t *testing.T) {
	g := NewWithT(t)
	var c cacheLag
	observe := c.observe()
	update := func(rv string) bool {
		m := &cxv1.Moment{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "m", ResourceVersion: rv}}
		return observe.Update(event.UpdateEvent{ObjectOld: m, ObjectNew: m})
	}
	c.wrote("ns/m", "10")
	g.Expect(c.behind("ns/m", "9")).To(BeTrue())
	g.Expect(update("9")).To(BeTrue(), "the observer passes every event")
	g.Expect(len(c.written)).To(Equal(1), "an older version leaves the write in flight")
	g.Expect(update("10")).To(BeTrue())
	g.Expect(len(c.written)).To(Equal(0), "the watch delivered the write")
	g.Expect(c.behind("ns/m", "9")).To(BeFalse())

	c.wrote("ns/m", "12")
	update("13")
	g.Expect(len(c.written)).To(Equal(0), "a later version covers the write")
	c.wrote("ns/m", "14")
	update("not-a-number")
	g.Expect(len(c.written)).To(Equal(0), "versions that are not integers turn the guard off")
}

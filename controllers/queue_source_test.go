package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
	testingclock "k8s.io/utils/clock/testing"
)

// TestEnqueueAtAPastInstantEnqueuesNow: a deadline armed after the clock has
// already passed it (the clock moved between computing the deadline and arming
// it: a fake clock stepped by a test while the reconcile was writing its status)
// enqueues the key at once. A fake clock's timer for a past instant would only
// fire at the next step, which may never come: the moment then never stalled.
func TestEnqueueAtAPastInstantEnqueuesNow(t *testing.T) {
	g := NewWithT(t)
	clk := testingclock.NewFakeClock(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC))
	q := newQueueSource(clk)
	key := types.NamespacedName{Namespace: "shop", Name: "stock"}

	q.EnqueueAt(key, clk.Now().Add(time.Minute))
	g.Expect(q.pending).To(BeEmpty(), "a future deadline waits for the clock")

	deadline := clk.Now().Add(2 * time.Minute)
	clk.Step(2*time.Minute + time.Second)
	q.EnqueueAt(key, deadline)
	g.Expect(q.pending).To(HaveKey(key), "a deadline already passed enqueues at once")
	g.Expect(q.timers).NotTo(HaveKey(key), "and replaces the earlier deadline")
}

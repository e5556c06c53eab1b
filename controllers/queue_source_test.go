package controllers

import (
	"fmt"
	"maps"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
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
	g.Expect(q.byKey).NotTo(HaveKey(key), "and replaces the earlier deadline")
	g.Expect(q.deadlines).To(BeEmpty())
}

// TestDeadlinesFireInOrderOnOneTimer: deadlines of many keys wait in one heap;
// each key is enqueued when the clock passes its latest deadline, a replaced or
// forgotten deadline never fires, and only one timer is armed at a time.
func TestDeadlinesFireInOrderOnOneTimer(t *testing.T) {
	g := NewWithT(t)
	clk := testingclock.NewFakeClock(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC))
	q := newQueueSource(clk)
	key := func(i int) types.NamespacedName {
		return types.NamespacedName{Namespace: "shop", Name: fmt.Sprintf("m%03d", i)}
	}
	const n = 300
	for i := range n {
		q.EnqueueAfter(key(i), time.Duration(n-i)*time.Second) // the last key is due first
	}
	q.EnqueueAfter(key(0), 10*time.Minute) // replaced: due after every other
	q.Forget(key(1))                       // deleted: never due
	g.Expect(q.deadlines).To(HaveLen(n - 1))
	g.Expect(clk.HasWaiters()).To(BeTrue())

	pending := func() map[types.NamespacedName]struct{} {
		q.mu.Lock()
		defer q.mu.Unlock()
		return maps.Clone(q.pending)
	}
	clk.Step(10 * time.Second) // keys n-10 .. n-1
	g.Eventually(pending).Should(HaveLen(10))
	for i := n - 10; i < n; i++ {
		g.Expect(pending()).To(HaveKey(key(i)))
	}
	clk.Step(time.Duration(n) * time.Second)
	g.Eventually(pending).Should(HaveLen(n - 2)) // all but the replaced and the forgotten
	g.Expect(pending()).NotTo(HaveKey(key(0)))
	g.Expect(pending()).NotTo(HaveKey(key(1)))
	clk.Step(10 * time.Minute)
	g.Eventually(pending).Should(HaveKey(key(0)))
	g.Expect(pending()).NotTo(HaveKey(key(1)))
	g.Expect(q.deadlines).To(BeEmpty())
	g.Expect(q.byKey).To(BeEmpty())
}

// TestDeadlinesAreLowPriority: a deadline's reconcile (a heartbeat) waits behind
// a change the engine reported and behind an object of the initial list added
// before it, as controller-runtime's priority queue orders resyncs.
func TestDeadlinesAreLowPriority(t *testing.T) {
	g := NewWithT(t)
	clk := testingclock.NewFakeClock(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC))
	pq := priorityqueue.New[reconcile.Request]("test")
	defer pq.ShutDown()
	q := newQueueSource(clk)
	g.Expect(q.Source().Start(t.Context(), pq)).To(Succeed())
	key := func(name string) types.NamespacedName { return types.NamespacedName{Namespace: "shop", Name: name} }

	pq.AddWithOpts(priorityqueue.AddOpts{Priority: ptr.To(handler.LowPriority)}, reconcile.Request{NamespacedName: key("listed")})
	q.EnqueueAfter(key("beat"), time.Minute)
	clk.Step(time.Minute)
	g.Eventually(pq.Len).Should(Equal(2))
	q.EnqueueAt(key("due"), clk.Now().Add(-time.Second)) // already due: at once, low too
	q.Enqueue(key("changed"))

	var order []string
	for range 4 {
		item, _ := pq.Get()
		order = append(order, item.Name)
		pq.Done(item)
	}
	g.Expect(order).To(Equal([]string{"changed", "listed", "beat", "due"}))
}

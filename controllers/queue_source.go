package controllers

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// queueSource lets code outside a controller (the evaluation engine, timers on the
// injected clock) enqueue objects without blocking: the workqueue deduplicates, and
// keys enqueued before the controller starts are kept until it does.
//
// Deadlines (EnqueueAfter, EnqueueAt) wait in one heap ordered by time, with one
// timer of the clock armed for the earliest: 10,000 moments each with a heartbeat
// deadline cost about 130 bytes each, where a timer per key cost about 550.
type queueSource struct {
	clock   clock.WithDelayedExecution
	mu      sync.Mutex
	queue   workqueue.TypedRateLimitingInterface[reconcile.Request]
	pending map[types.NamespacedName]struct{}

	deadlines deadlineHeap
	byKey     map[types.NamespacedName]*deadline
	timer     clock.Timer
	timerAt   time.Time
}

// deadline is when a key is due, and its place in the heap.
type deadline struct {
	key types.NamespacedName
	at  time.Time
	idx int
}

// deadlineHeap is a container/heap of deadlines, the earliest first.
type deadlineHeap []*deadline

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h deadlineHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *deadlineHeap) Push(x any) {
	d := x.(*deadline)
	d.idx = len(*h)
	*h = append(*h, d)
}
func (h *deadlineHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return d
}

func newQueueSource(c clock.WithDelayedExecution) *queueSource {
	return &queueSource{clock: c, pending: map[types.NamespacedName]struct{}{}, byKey: map[types.NamespacedName]*deadline{}}
}

// Source is the controller-runtime source to pass to WatchesRawSource.
func (q *queueSource) Source() source.Source {
	return source.Func(func(_ context.Context, wq workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		q.mu.Lock()
		defer q.mu.Unlock()
		q.queue = wq
		for key := range q.pending {
			wq.Add(reconcile.Request{NamespacedName: key})
		}
		q.pending = nil
		return nil
	})
}

// Enqueue asks for a reconcile of the object.
func (q *queueSource) Enqueue(key types.NamespacedName) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.enqueueLocked(key, false)
}

// enqueueLocked adds key to the queue. A deadline's reconcile (low: a heartbeat,
// an escalation) has the low priority controller-runtime gives the objects of
// the initial list and resyncs: it never goes ahead of a change (a transition
// the engine reported, an edit) nor of an object not reconciled yet. At the
// default client limits, 10,000 moments converging took 319 s with the
// heartbeats of the first ones ahead of the last ones.
func (q *queueSource) enqueueLocked(key types.NamespacedName, low bool) {
	if q.queue == nil {
		q.pending[key] = struct{}{}
		return
	}
	req := reconcile.Request{NamespacedName: key}
	if pq, ok := q.queue.(priorityqueue.PriorityQueue[reconcile.Request]); ok && low {
		pq.AddWithOpts(priorityqueue.AddOpts{Priority: ptr.To(handler.LowPriority)}, req)
		return
	}
	q.queue.Add(req)
}

// EnqueueAfter asks for a reconcile once d has passed on the injected clock (so
// that deadlines such as heartbeats and escalations follow a test's fake clock). A
// later call for the same key replaces the earlier deadline.
func (q *queueSource) EnqueueAfter(key types.NamespacedName, d time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.forgetLocked(key)
	if d <= 0 {
		// Already due: at once. A fake clock fires a timer for a past instant
		// only when it is stepped again, which may never happen.
		q.enqueueLocked(key, true)
		return
	}
	dl := &deadline{key: key, at: q.clock.Now().Add(d)}
	heap.Push(&q.deadlines, dl)
	q.byKey[key] = dl
	q.armLocked()
}

// EnqueueAt asks for a reconcile at the instant at of the injected clock. Unlike
// EnqueueAfter with a duration computed earlier, a clock that moved on between
// computing the deadline and arming it does not push the deadline back.
func (q *queueSource) EnqueueAt(key types.NamespacedName, at time.Time) {
	q.EnqueueAfter(key, at.Sub(q.clock.Now()))
}

// Forget drops the deadline of a deleted object.
func (q *queueSource) Forget(key types.NamespacedName) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.forgetLocked(key)
}

func (q *queueSource) forgetLocked(key types.NamespacedName) {
	if dl, ok := q.byKey[key]; ok {
		heap.Remove(&q.deadlines, dl.idx)
		delete(q.byKey, key)
	}
}

// armLocked keeps one timer armed for the earliest deadline. A timer armed for an
// earlier instant stays: it fires, finds nothing due yet, and arms the next.
func (q *queueSource) armLocked() {
	if len(q.deadlines) == 0 {
		return
	}
	next := q.deadlines[0].at
	if q.timer != nil && !q.timerAt.After(next) {
		return
	}
	if q.timer != nil {
		q.timer.Stop()
	}
	q.timerAt = next
	d := next.Sub(q.clock.Now())
	if d <= 0 {
		// The clock passed it while arming (a fake clock stepped meanwhile).
		q.timer = nil
		go q.fire()
		return
	}
	// fire runs on its own goroutine: a fake clock calls a timer's function
	// while it holds its lock, and fire reads the clock.
	q.timer = q.clock.AfterFunc(d, func() { go q.fire() })
}

// fire enqueues every key whose deadline has passed and arms the timer for the
// next one.
func (q *queueSource) fire() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.timer != nil {
		q.timer.Stop()
		q.timer = nil
	}
	now := q.clock.Now()
	for len(q.deadlines) > 0 && !q.deadlines[0].at.After(now) {
		dl := heap.Pop(&q.deadlines).(*deadline)
		delete(q.byKey, dl.key)
		q.enqueueLocked(dl.key, true)
	}
	q.armLocked()
}

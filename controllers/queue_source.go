package controllers

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// queueSource lets code outside a controller (the evaluation engine, timers on the
// injected clock) enqueue objects without blocking: the workqueue deduplicates, and
// keys enqueued before the controller starts are kept until it does.
type queueSource struct {
	clock   clock.WithDelayedExecution
	mu      sync.Mutex
	queue   workqueue.TypedRateLimitingInterface[reconcile.Request]
	pending map[types.NamespacedName]struct{}
	timers  map[types.NamespacedName]clock.Timer
}

func newQueueSource(c clock.WithDelayedExecution) *queueSource {
	return &queueSource{clock: c, pending: map[types.NamespacedName]struct{}{}, timers: map[types.NamespacedName]clock.Timer{}}
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
	if q.queue == nil {
		q.pending[key] = struct{}{}
		return
	}
	q.queue.Add(reconcile.Request{NamespacedName: key})
}

// EnqueueAfter asks for a reconcile once d has passed on the injected clock (so
// that deadlines such as heartbeats and escalations follow a test's fake clock). A
// later call for the same key replaces the earlier deadline.
func (q *queueSource) EnqueueAfter(key types.NamespacedName, d time.Duration) {
	q.mu.Lock()
	if t, ok := q.timers[key]; ok {
		t.Stop()
		delete(q.timers, key)
	}
	if d <= 0 {
		// Already due: at once. A fake clock fires a timer for a past instant
		// only when it is stepped again, which may never happen.
		q.mu.Unlock()
		q.Enqueue(key)
		return
	}
	defer q.mu.Unlock()
	q.timers[key] = q.clock.AfterFunc(d, func() {
		q.mu.Lock()
		delete(q.timers, key)
		q.mu.Unlock()
		q.Enqueue(key)
	})
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
	if t, ok := q.timers[key]; ok {
		t.Stop()
		delete(q.timers, key)
	}
}

package controllers

import (
	"context"
	"slices"
	"sync"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// readyChanged passes creations, deletions, spec changes and changes of the Ready
// condition's status: what the objects that reference a source need to know.
func readyChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			if e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() {
				return true
			}
			return readyStatus(e.ObjectOld) != readyStatus(e.ObjectNew)
		},
	}
}

func readyStatus(o client.Object) string {
	src, ok := o.(*cxv1.SignalSource)
	if !ok {
		return ""
	}
	if c := apimeta.FindStatusCondition(src.Status.Conditions, cxv1.ReadyCondition); c != nil {
		return string(c.Status) + "/" + c.Reason
	}
	return ""
}

// measureThrottle paces the measures an object (a journey) makes of the objects
// it aggregates (its moments). The first change after a quiet time is measured
// after first, gathering a burst into one reconcile. While the aggregated
// objects keep changing en masse (at least burst events gathered by the previous
// measure, or by the objects of its namespace within first or the period before:
// thousands of moments converging, spread over many journeys), measures come at
// most once per every. A change always leads to a measure that starts after it,
// so the final state is always measured. Namespaces are paced apart: one
// tenant's mass change does not slow another's journeys. The workqueue's delays
// are wall-clock time, and so is the throttle's clock.
type measureThrottle struct {
	clock        clock.PassiveClock
	first, every time.Duration
	burst        int

	mu      sync.Mutex
	windows map[types.NamespacedName]measureWindow
	// spaces counts the events of each namespace per period of first; a
	// namespace quiet for two periods is dropped on the next period's roll.
	spaces map[string]namespaceWindow
	rolled time.Time
}

// namespaceWindow counts a namespace's events in the current period (from
// start) and the one before it.
type namespaceWindow struct {
	start          time.Time
	events, before int
}

// measureWindow is the measure scheduled for one object and the events it
// gathers.
type measureWindow struct {
	due    time.Time
	events int
}

func newMeasureThrottle(first, every time.Duration, burst int) *measureThrottle {
	return &measureThrottle{clock: clock.RealClock{}, first: first, every: every, burst: burst,
		windows: map[types.NamespacedName]measureWindow{}, spaces: map[string]namespaceWindow{}}
}

// massChange counts an event of namespace ns at now and reports whether the
// namespace's objects change en masse: burst events in the current period or
// the one before. Called with mu held.
func (t *measureThrottle) massChange(ns string, now time.Time) bool {
	if now.Sub(t.rolled) >= t.first {
		t.rolled = now
		for k, w := range t.spaces {
			if now.Sub(w.start) >= 2*t.first {
				delete(t.spaces, k)
			}
		}
	}
	w := t.spaces[ns]
	switch age := now.Sub(w.start); {
	case age >= 2*t.first:
		w = namespaceWindow{start: now}
	case age >= t.first:
		w = namespaceWindow{start: now, before: w.events}
	}
	w.events++
	t.spaces[ns] = w
	return w.events >= t.burst || w.before >= t.burst
}

// schedule returns when to measure key after a change, and false when a
// measure that starts after now is already scheduled.
func (t *measureThrottle) schedule(key types.NamespacedName) (time.Duration, bool) {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	mass := t.massChange(key.Namespace, now)
	w, ok := t.windows[key]
	if ok && w.due.After(now) {
		w.events++
		t.windows[key] = w
		return 0, false
	}
	due := now.Add(t.first)
	if ok && (w.events >= t.burst || mass) && w.due.Add(t.every).After(due) {
		due = w.due.Add(t.every)
	}
	t.windows[key] = measureWindow{due: due, events: 1}
	return due.Sub(now), true
}

// measuring records that key is being measured now, whatever asked for it: the
// window closes, and a change from now on is measured by a later reconcile.
// (A queue may hand out a delayed key early, when the key was also added for
// another reason: the measure scheduled then has run already.)
func (t *measureThrottle) measuring(key types.NamespacedName) {
	if t == nil {
		return
	}
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if w, ok := t.windows[key]; ok && w.due.After(now) {
		w.due = now
		t.windows[key] = w
	}
}

// forget drops what is kept for a deleted object.
func (t *measureThrottle) forget(key types.NamespacedName) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.windows, key)
}

// handler enqueues the objects keys maps an event's object to, paced by the
// throttle.
func (t *measureThrottle) handler(keys func(client.Object) []types.NamespacedName) handler.EventHandler {
	add := func(q workqueue.TypedRateLimitingInterface[reconcile.Request], objs ...client.Object) {
		var seen []types.NamespacedName // an update counts once per key
		for _, o := range objs {
			for _, k := range keys(o) {
				if slices.Contains(seen, k) {
					continue
				}
				seen = append(seen, k)
				if d, ok := t.schedule(k); ok {
					q.AddAfter(reconcile.Request{NamespacedName: k}, d)
				}
			}
		}
	}
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(q, e.Object)
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(q, e.ObjectOld, e.ObjectNew)
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(q, e.Object)
		},
	}
}

// createdOrDeleted passes only creations and deletions: what a reference needs.
func createdOrDeleted() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// specOrRequestChanged passes creations, deletions, spec changes (a new
// generation) and a new value of the reconcile request annotation: what the
// object's own reconciler needs to see, and not its own status writes.
func specOrRequestChanged() predicate.Predicate {
	return predicate.Or(predicate.GenerationChangedPredicate{}, predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			return e.ObjectOld.GetAnnotations()[cxv1.ReconcileRequestAnnotation] != e.ObjectNew.GetAnnotations()[cxv1.ReconcileRequestAnnotation]
		},
	})
}

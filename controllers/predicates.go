package controllers

import (
	"context"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
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

// batched enqueues the objects keys maps an event's object to after delay; the
// workqueue keeps one pending entry per key, so a burst of events makes one
// reconcile.
func batched(delay time.Duration, keys func(client.Object) []types.NamespacedName) handler.EventHandler {
	add := func(q workqueue.TypedRateLimitingInterface[reconcile.Request], objs ...client.Object) {
		for _, o := range objs {
			for _, k := range keys(o) {
				q.AddAfter(reconcile.Request{NamespacedName: k}, delay)
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

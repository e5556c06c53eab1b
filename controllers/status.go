package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/textutil"
)

// patchStatus sends a merge patch of the status subresource from before to obj, and
// nothing at all when the status did not change: a reconcile that changes nothing
// writes nothing. The optimistic lock refuses a patch computed from a stale cached
// copy (a merge patch from a stale base would leave fields behind); see done.
func patchStatus(ctx context.Context, c client.Client, before, obj client.Object, statusOf func(client.Object) any) (bool, error) {
	if equality.Semantic.DeepEqual(statusOf(before), statusOf(obj)) {
		return false, nil
	}
	if err := c.Status().Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return false, fmt.Errorf("patching status: %w", err)
	}
	return true, nil
}

// done ends a reconcile: a conflict (the cache had not caught up yet) requeues the
// object quietly, with the controller's backoff; other errors are returned.
func done(res ctrl.Result, err error) (ctrl.Result, error) {
	if apierrors.IsConflict(err) {
		return ctrl.Result{Requeue: true}, nil
	}
	return res, err
}

// maxConditionMessage bounds a condition's message (the API allows 32768; a
// person reads the first lines).
const maxConditionMessage = 1024

// setCondition sets a condition; lastTransitionTime moves only when the status does.
func setCondition(conds *[]metav1.Condition, generation int64, typ string, status metav1.ConditionStatus, reason, message string) {
	message = textutil.Truncate(message, maxConditionMessage)
	apimeta.SetStatusCondition(conds, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: message, ObservedGeneration: generation,
	})
}

// setReadiness writes Ready and the kstatus abnormal-true conditions from one outcome:
// ready, waiting on something that may change by itself (Reconciling) or stalled
// until the spec or a referenced object changes (Stalled).
func setReadiness(conds *[]metav1.Condition, generation int64, r readiness) {
	switch {
	case r.ready:
		setCondition(conds, generation, cxv1.ReadyCondition, metav1.ConditionTrue, r.reason, r.message)
		apimeta.RemoveStatusCondition(conds, cxv1.ReconcilingCondition)
		apimeta.RemoveStatusCondition(conds, cxv1.StalledCondition)
	case r.stalled:
		setCondition(conds, generation, cxv1.ReadyCondition, metav1.ConditionFalse, r.reason, r.message)
		setCondition(conds, generation, cxv1.StalledCondition, metav1.ConditionTrue, r.reason, r.message)
		apimeta.RemoveStatusCondition(conds, cxv1.ReconcilingCondition)
	default:
		setCondition(conds, generation, cxv1.ReadyCondition, metav1.ConditionFalse, r.reason, r.message)
		setCondition(conds, generation, cxv1.ReconcilingCondition, metav1.ConditionTrue, r.reason, r.message)
		apimeta.RemoveStatusCondition(conds, cxv1.StalledCondition)
	}
}

// readiness is the outcome of resolving an object's spec and references.
type readiness struct {
	ready   bool
	stalled bool
	reason  string
	message string
}

func ready(reason, message string) readiness {
	return readiness{ready: true, reason: reason, message: message}
}

func waiting(reason, message string) readiness { return readiness{reason: reason, message: message} }

func stalled(reason, message string) readiness {
	return readiness{stalled: true, reason: reason, message: message}
}

// equalJSON compares two API values semantically.
func equalJSON(a, b any) bool { return equality.Semantic.DeepEqual(a, b) }

func ctrlKey(namespace, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: namespace, Name: name}
}

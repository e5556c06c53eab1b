package controllers

import (
	"context"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/notify"
)

// RemediationTaskReconciler runs a task's lifecycle: open, acknowledged, escalated
// when nobody acknowledges in time, resolved when its objective recovers (or by
// hand), notified to its sinks (by the Delivery dispatcher, off the reconcile
// workers), and deleted when retention says so.
type RemediationTaskReconciler struct {
	client.Client
	// APIReader reads tasks uncached, and the metadata of a sink's header Secret
	// that is not in the cache (see secretReader).
	APIReader client.Reader
	Recorder  events.EventRecorder
	Options   Options
	Sender    *notify.Sender
	Metrics   *taskMetrics
	// Deadlines wakes tasks for escalation and retention on the injected clock.
	Deadlines *queueSource
	// Delivery sends notifications; SetupWithManager creates it when nil.
	Delivery *notify.Dispatcher
}

// +kubebuilder:rbac:groups=cx.cxops.io,resources=remediationtasks,verbs=get;list;watch;create;delete;patch;update
// +kubebuilder:rbac:groups=cx.cxops.io,resources=remediationtasks/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=cx.cxops.io,resources=roadmapstreams,verbs=get;list;watch

// Reconcile advances one task. It never sends: it persists what the task's state
// calls for and hands the deliveries to the dispatcher.
func (r *RemediationTaskReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	t := &cxv1.RemediationTask{}
	if err := r.Get(ctx, req.NamespacedName, t); err != nil {
		if apierrors.IsNotFound(err) {
			r.Deadlines.Forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	deleting := !t.DeletionTimestamp.IsZero()
	if deleting && !controllerutil.ContainsFinalizer(t, taskFinalizer) {
		return ctrl.Result{}, nil
	}
	now := r.Options.Clock.Now()

	m := &cxv1.Moment{}
	if err := r.Get(ctx, ctrlKey(t.Namespace, t.Spec.MomentRef.Name), m); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		m = nil
	}
	sinks := sinksOf(ctx, r.Client, t)
	before := t.DeepCopy()
	r.advance(t, m, now)
	r.recordTransitions(before, t)
	setDeliveryCondition(t, sinks, r.Options.DeliveryMaxBackoff)

	t.Status.ObservedGeneration = t.Generation
	// The optimistic lock refuses a write from a stale copy (a delivery recorded
	// meanwhile): the task is read again.
	if _, err := patchStatus(ctx, r.Client, before, t, func(o client.Object) any { return o.(*cxv1.RemediationTask).Status }); err != nil {
		return done(ctrl.Result{}, err)
	}
	if before.Status.Phase != cxv1.TaskResolved && t.Status.Phase == cxv1.TaskResolved {
		r.Metrics.resolved(t) // once: after the write that resolved it
	}
	// What is sent is persisted by now (openedTime above all): every attempt
	// of a notification sends the same body.
	r.dispatch(t, sinks)
	waiting := pending(t, sinks)
	if deleting {
		if waiting {
			return ctrl.Result{}, nil // the dispatcher wakes the task once delivered
		}
		return done(ctrl.Result{}, r.releaseFinalizer(ctx, t))
	}
	if orphan, err := r.collectOrphan(ctx, t, m); err != nil || orphan {
		return ctrl.Result{}, err
	}
	if t.Status.Phase == cxv1.TaskResolved && !waiting {
		if done, err := r.retain(ctx, t, now); err != nil || done {
			return ctrl.Result{}, err
		}
	}
	r.Deadlines.EnqueueAfter(req.NamespacedName, r.next(t, m, now))
	return ctrl.Result{}, nil
}

// collectOrphan deletes a task whose owning Moment is gone (or was replaced by
// another object of the same name), as the garbage collector would: on a control
// plane without one (the local mode), the tasks of deleted moments would
// otherwise stay forever. The deletion goes through the notifications finalizer,
// so the moment's sinks still get "Resolved". The owner's absence is confirmed
// with an uncached read before anything is deleted.
func (r *RemediationTaskReconciler) collectOrphan(ctx context.Context, t *cxv1.RemediationTask, m *cxv1.Moment) (bool, error) {
	owner := metav1.GetControllerOf(t)
	if owner == nil || owner.Kind != "Moment" || (m != nil && m.UID == owner.UID) {
		return false, nil
	}
	live := &cxv1.Moment{}
	err := r.APIReader.Get(ctx, ctrlKey(t.Namespace, owner.Name), live)
	switch {
	case err == nil && live.UID == owner.UID:
		return false, nil // the cache lags behind
	case err != nil && !apierrors.IsNotFound(err):
		return false, err
	}
	ctrl.LoggerFrom(ctx).Info("deleting the task of a deleted moment", "task", t.Name, "moment", owner.Name)
	if err := r.Delete(ctx, t, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
		return false, err
	}
	return true, nil
}

// releaseFinalizer lets a deleted task go once its notifications are delivered.
func (r *RemediationTaskReconciler) releaseFinalizer(ctx context.Context, t *cxv1.RemediationTask) error {
	patch := client.MergeFromWithOptions(t.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(t, taskFinalizer)
	return client.IgnoreNotFound(r.Patch(ctx, t, patch))
}

// advance moves the task through its phases. A resolved task is never reopened.
func (r *RemediationTaskReconciler) advance(t *cxv1.RemediationTask, m *cxv1.Moment, now time.Time) {
	st := &t.Status
	if st.Phase == "" {
		st.Phase = cxv1.TaskOpen
		st.OpenedTime = timePtr(now)
		st.Severity = t.Spec.Severity
	}
	if st.Phase == cxv1.TaskResolved {
		return
	}
	if resolution, why := r.resolution(t, m); resolution != "" {
		st.Phase = cxv1.TaskResolved
		st.Resolution = resolution
		st.ResolvedTime = timePtr(now)
		if r.Recorder != nil {
			r.Recorder.Eventf(t, nil, corev1.EventTypeNormal, "Resolved", "Resolve", "%s: %s", resolution, why)
		}
		return
	}
	if ptr.Deref(t.Spec.Acknowledged, false) && st.Phase == cxv1.TaskOpen {
		st.Phase = cxv1.TaskAcknowledged
		st.AcknowledgedTime = timePtr(now)
	}
	if st.Phase == cxv1.TaskOpen {
		if after := escalateAfter(m); after > 0 && st.Severity != cxv1.SeverityCritical {
			last := st.OpenedTime
			if st.EscalatedTime != nil {
				last = st.EscalatedTime
			}
			if last != nil && !now.Before(last.Add(after)) {
				st.Severity = raise(st.Severity)
				st.Escalations = ptr.To(ptr.Deref(st.Escalations, 0) + 1)
				st.EscalatedTime = timePtr(now)
				if r.Recorder != nil {
					r.Recorder.Eventf(t, nil, corev1.EventTypeWarning, "Escalated", "Escalate",
						"nobody acknowledged the task within %s: severity raised to %s", after, st.Severity)
				}
			}
		}
	}
}

// resolution says whether and why the task is resolved now.
func (r *RemediationTaskReconciler) resolution(t *cxv1.RemediationTask, m *cxv1.Moment) (cxv1.Resolution, string) {
	if ptr.Deref(t.Spec.Resolved, false) {
		return cxv1.ResolutionManual, "resolved by hand"
	}
	if m == nil {
		return cxv1.ResolutionObjectiveRemoved, "the moment no longer exists"
	}
	if !t.DeletionTimestamp.IsZero() {
		return cxv1.ResolutionManual, "the task was deleted"
	}
	inSpec := false
	for _, o := range m.Spec.Objectives {
		inSpec = inSpec || o.Name == t.Spec.Objective
	}
	if !inSpec {
		return cxv1.ResolutionObjectiveRemoved, "the objective was removed from the moment"
	}
	if m.Spec.Remediation != nil && !ptr.Deref(m.Spec.Remediation.AutoResolve, true) {
		return "", ""
	}
	os := findObjective(m.Status.Objectives, t.Spec.Objective)
	if os == nil || os.LastEvaluated == nil || !os.LastEvaluated.After(ptr.Deref(t.Spec.BreachingSince, metav1.Time{}).Time) {
		// The moment's status predates this episode: nothing to conclude yet.
		return "", ""
	}
	switch {
	case os.BreachingSince == nil && os.DriftingSince == nil && (os.State == cxv1.StateMet || os.State == cxv1.StateWarning):
		return cxv1.ResolutionAutoRecovered, fmt.Sprintf("objective %s recovered (%s)", t.Spec.Objective, os.State)
	case os.BreachingSince != nil && os.BreachingSince.After(ptr.Deref(t.Spec.BreachingSince, metav1.Time{}).Time):
		return cxv1.ResolutionAutoRecovered, fmt.Sprintf("objective %s recovered; a new episode began at %s", t.Spec.Objective, os.BreachingSince.UTC().Format(time.RFC3339))
	}
	return "", ""
}

func escalateAfter(m *cxv1.Moment) time.Duration {
	if m == nil || m.Spec.Remediation == nil || m.Spec.Remediation.EscalateAfter == nil {
		return 0
	}
	return m.Spec.Remediation.EscalateAfter.Duration
}

func raise(s cxv1.Severity) cxv1.Severity {
	switch s {
	case cxv1.SeverityLow:
		return cxv1.SeverityMedium
	case cxv1.SeverityMedium:
		return cxv1.SeverityHigh
	}
	return cxv1.SeverityCritical
}

func (r *RemediationTaskReconciler) recordTransitions(before, t *cxv1.RemediationTask) {
	if r.Recorder == nil || before.Status.Phase != "" || t.Status.Phase == "" {
		return
	}
	r.Recorder.Eventf(t, nil, corev1.EventTypeWarning, "Opened", "Open", "%s (team %s, severity %s)",
		t.Spec.Summary, orDash(t.Spec.Team), t.Status.Severity)
}

// next is when to look at the task again on the injected clock: the escalation
// deadline, the retention deadline, or the resync period, whichever comes first.
// Delivery retries are scheduled apart, in wall-clock time.
func (r *RemediationTaskReconciler) next(t *cxv1.RemediationTask, m *cxv1.Moment, now time.Time) time.Duration {
	d := r.Options.TaskResync
	st := t.Status
	if after := escalateAfter(m); st.Phase == cxv1.TaskOpen && after > 0 {
		last := st.OpenedTime
		if st.EscalatedTime != nil {
			last = st.EscalatedTime
		}
		if until := last.Add(after).Sub(now); until > 0 && until < d {
			d = until
		}
	}
	if st.Phase == cxv1.TaskResolved && st.ResolvedTime != nil {
		if until := st.ResolvedTime.Add(r.Options.TaskRetention).Sub(now); until > 0 && until < d {
			d = until
		}
	}
	return d
}

// retain deletes resolved tasks past the retention time, and the oldest resolved
// tasks of the moment beyond the count kept. It reports whether t was deleted.
func (r *RemediationTaskReconciler) retain(ctx context.Context, t *cxv1.RemediationTask, now time.Time) (bool, error) {
	if t.Status.ResolvedTime != nil && !now.Before(t.Status.ResolvedTime.Add(r.Options.TaskRetention)) {
		return true, client.IgnoreNotFound(r.Delete(ctx, t))
	}
	var list cxv1.RemediationTaskList
	if err := r.List(ctx, &list, client.InNamespace(t.Namespace), client.MatchingFields{indexTaskMoment: t.Spec.MomentRef.Name}); err != nil {
		return false, err
	}
	var resolved []cxv1.RemediationTask
	for _, o := range list.Items {
		if o.Name == t.Name {
			o = *t // the cache may not have this reconcile's write yet
		}
		if o.Status.Phase == cxv1.TaskResolved && o.Status.ResolvedTime != nil && o.DeletionTimestamp.IsZero() {
			resolved = append(resolved, o)
		}
	}
	if len(resolved) <= r.Options.TaskKeep {
		return false, nil
	}
	// A task with undelivered notifications is never deleted; the newest are kept.
	sort.Slice(resolved, func(i, j int) bool {
		a, b := resolved[i].Status.ResolvedTime, resolved[j].Status.ResolvedTime
		if !a.Equal(b) {
			return b.Before(a)
		}
		return resolved[i].Name < resolved[j].Name
	})
	deleted := false
	for _, o := range resolved[r.Options.TaskKeep:] {
		if pending(&o, sinksOf(ctx, r.Client, &o)) {
			continue
		}
		if err := r.Delete(ctx, &o); client.IgnoreNotFound(err) != nil {
			return deleted, err
		}
		deleted = deleted || o.Name == t.Name
	}
	return deleted, nil
}

// SetupWithManager watches tasks (spec changes: acknowledged, resolved) and the
// moments they belong to (status changes decide resolution).
func (r *RemediationTaskReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Delivery == nil {
		r.Delivery = notify.NewDispatcher(notify.DispatcherOptions{
			Workers: r.Options.DeliveryWorkers, PerHost: r.Options.DeliveryPerHost,
		}, r.deliverJob)
	}
	if err := mgr.Add(r.Delivery); err != nil {
		return err
	}
	byMoment, err := referrers(mgr.GetCache(), &cxv1.RemediationTask{}, &cxv1.RemediationTaskList{}, indexTaskMoment)
	if err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&cxv1.RemediationTask{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&cxv1.Moment{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return byMoment(ctx, o.GetNamespace(), o.GetName())
		}), builder.WithPredicates(momentMeasureChanged())).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.Options.Concurrency}).
		WatchesRawSource(r.Deadlines.Source()).
		Named("remediationtask").
		Complete(r)
}

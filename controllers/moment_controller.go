package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/engine"
	"github.com/cxops/cxops/internal/providers"
	"github.com/cxops/cxops/internal/scoring"
)

// MomentReconciler resolves a moment's journey, stage and signal sources, registers
// its objectives with the evaluation engine, opens a RemediationTask when an
// objective drifts, and writes status only when it earns it: on a transition, a
// spec change, a new cause (at most once per evaluation interval) or a heartbeat.
type MomentReconciler struct {
	client.Client
	Engine   *engine.Engine
	Recorder events.EventRecorder
	Options  Options
	// Notifications delivers engine transitions to this controller.
	Notifications *queueSource
	// Sources holds objectives whose source the SignalSource controller has not
	// settled yet (nil holds nothing).
	Sources *sourceSettling

	grace      *graceTracker
	firstSight firstSight
	lag        cacheLag
}

// +kubebuilder:rbac:groups=cx.cxops.io,resources=moments,verbs=get;list;watch
// +kubebuilder:rbac:groups=cx.cxops.io,resources=moments/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=cx.cxops.io,resources=moments/finalizers,verbs=update
// +kubebuilder:rbac:groups=cx.cxops.io,resources=journeys,verbs=get;list;watch
// +kubebuilder:rbac:groups=cx.cxops.io,resources=remediationtasks,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

// Reconcile dispatches the steps for one Moment. Whatever fails after the
// objectives were evaluated (a task that cannot be opened, a reference that
// vanished) still ends in a status that says so.
func (r *MomentReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	owner := engine.Owner{Kind: "Moment", Namespace: req.Namespace, Name: req.Name}
	m := &cxv1.Moment{}
	if err := r.Get(ctx, req.NamespacedName, m); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(owner, req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !m.DeletionTimestamp.IsZero() {
		// Tasks are owned by the moment: garbage collection removes them.
		r.Engine.Remove(owner)
		return ctrl.Result{}, nil
	}
	if r.lag.behind(req.String(), m.ResourceVersion) {
		return ctrl.Result{RequeueAfter: cacheLagRetry}, nil
	}
	before := m.DeepCopy()
	now := r.Options.Clock.Now()
	requested, newRequest := reconcileRequested(m, m.Status.LastHandledReconcileAt)
	if newRequest {
		m.Status.LastHandledReconcileAt = requested
	}
	if ptr.Deref(m.Spec.Suspend, false) {
		return r.suspend(ctx, owner, before, m)
	}
	apimeta.RemoveStatusCondition(&m.Status.Conditions, cxv1.SuspendedCondition)

	// Objectives are evaluated only against a journey and stage that exist.
	outcome := r.resolveJourney(ctx, m)
	var resolved resolvedObjectives
	var held []string
	var holdFor time.Duration
	if outcome.ready {
		resolved = resolveObjectives(ctx, r.Client, m.Namespace, m.Spec.Objectives, providers.QueryData{
			Name: m.Name, Namespace: m.Namespace, Labels: m.Labels,
		}, m.Status.Objectives)
		var regs []engine.Registration
		regs, held, holdFor = r.Sources.hold(owner, resolved.regs)
		r.Engine.Set(owner, regs)
	} else {
		r.Engine.Remove(owner)
		resolved = notEvaluated(m.Spec.Objectives, outcome.message)
	}
	if newRequest {
		r.Engine.TriggerOwner(owner)
	}
	snap, _ := r.Engine.Snapshot(owner)
	snap = withHeld(snap, held)
	if objectives := resolved.outcomeWith(snap); outcome.ready || (objectives.stalled && !outcome.stalled) {
		outcome = objectives
	}
	if outcome.ready {
		outcome = r.resolveStream(ctx, m, outcome)
	}
	if rem := m.Spec.Remediation; rem != nil && rem.EscalateAfter != nil && rem.EscalateAfter.Err() != nil {
		outcome = stalled(cxv1.ReasonInvalidSpec, "spec.remediation.escalateAfter: "+rem.EscalateAfter.Err().Error())
	}

	m.Status.Objectives = objectiveStatuses(m.Spec.Objectives, snap, resolved.problems, before.Status.Objectives)
	taskErr := r.ensureTasks(ctx, m)
	if taskErr != nil {
		log.Error(taskErr, "opening a remediation task failed; retrying with backoff")
		outcome = waiting(cxv1.ReasonTaskCreationFailed, taskErr.Error())
	}
	outcome, stallIn := r.grace.apply("moment/"+req.String(), outcome, before.Status.Conditions, now)
	evaluating := r.firstSight.evaluating("moment/"+req.String(), m.Generation, before.Status.ObservedGeneration, before.Status.Conditions, snap)
	if evaluating && (outcome.ready || outcome.reason == cxv1.ReasonSourceNotReady) && before.Status.ObservedGeneration != m.Generation {
		// The first evaluation is on its way: the fetch of a network source, or
		// the registration of its sources (the manager has just started) or their
		// first probe. It usually lands within a second, and the engine's
		// notification brings the moment back: it is then written once,
		// evaluated. The Evaluating status waits for it at most firstSightDefer
		// of wall-clock time: what it waits for (a request, a probe, the
		// SignalSource controller's queue) runs on the wall clock, not on the
		// injected one; the reconcile after it arms any other deadline (holdFor).
		// (taskErr is nil here: it makes the outcome not ready.)
		if wait := r.firstSight.deferFor("moment/"+req.String(), m.Generation, time.Now()); wait > 0 {
			return ctrl.Result{RequeueAfter: wait}, nil
		}
	}
	if evaluating && outcome.ready {
		outcome = waiting(cxv1.ReasonEvaluating, fmt.Sprintf("waiting for the first evaluation of generation %d", m.Generation))
	}
	r.summarize(m, outcome, evaluating)
	r.recordTransitions(ctx, before, m)

	wake := minPositive(minPositive(stallIn, holdFor), r.untilHeartbeat(before, now))
	switch c := classify(before.Status.Objectives, m.Status.Objectives, before.Status.Conditions, m.Status.Conditions); {
	case c == changeTransition || before.Status.ObservedGeneration != m.Status.ObservedGeneration ||
		before.Status.Health != m.Status.Health || before.Status.Drifting != m.Status.Drifting ||
		before.Status.LastHandledReconcileAt != m.Status.LastHandledReconcileAt:
	case c == changeCause:
		// A new cause is worth a write, at most once per evaluation interval.
		if until := r.untilCauseWrite(before, resolved, now); until > 0 {
			r.Notifications.EnqueueAt(req.NamespacedName, now.Add(minPositive(wake, until)))
			return ctrl.Result{}, taskErr
		}
	case r.untilHeartbeat(before, now) > 0 || len(held) > 0:
		// A held objective has no new value to refresh: its heartbeat waits.
		r.Notifications.EnqueueAt(req.NamespacedName, now.Add(wake))
		return ctrl.Result{}, taskErr
	}
	m.Status.LastHeartbeatTime = timePtr(now)
	if wrote, err := patchStatus(ctx, r.Client, before, m, func(o client.Object) any { return o.(*cxv1.Moment).Status }); err != nil {
		return done(ctrl.Result{}, err)
	} else if wrote {
		r.lag.wrote(req.String(), m.ResourceVersion)
	}
	// Heartbeats follow the injected clock; each moment's phase spreads them out.
	r.Notifications.EnqueueAt(req.NamespacedName, now.Add(minPositive(stallIn, r.untilHeartbeat(m, now))))
	return ctrl.Result{}, taskErr
}

// suspend stops evaluating a suspended moment and says so in its status; its
// open tasks stay as they are, no new one opens.
func (r *MomentReconciler) suspend(ctx context.Context, owner engine.Owner, before, m *cxv1.Moment) (ctrl.Result, error) {
	r.Engine.Remove(owner)
	r.Notifications.Forget(types.NamespacedName{Namespace: m.Namespace, Name: m.Name})
	markSuspended(&m.Status.Conditions, m.Generation, true)
	m.Status.Health = cxv1.HealthUnknown
	m.Status.ObservedGeneration = m.Generation
	if !apimeta.IsStatusConditionTrue(before.Status.Conditions, cxv1.SuspendedCondition) {
		ctrl.LoggerFrom(ctx).Info("suspended: not evaluated until spec.suspend is false")
	}
	_, err := patchStatus(ctx, r.Client, before, m, func(o client.Object) any { return o.(*cxv1.Moment).Status })
	return done(ctrl.Result{}, err)
}

// forget drops what the reconciler keeps about a deleted moment.
func (r *MomentReconciler) forget(owner engine.Owner, key types.NamespacedName) {
	r.Engine.Remove(owner)
	r.Notifications.Forget(key)
	r.grace.forget("moment/" + key.String())
	r.firstSight.forget("moment/" + key.String())
	r.lag.forget(key.String())
}

// untilCauseWrite is how long a change of cause alone waits for its write: one
// evaluation interval (the shortest of the moment's objectives) after the last.
func (r *MomentReconciler) untilCauseWrite(before *cxv1.Moment, resolved resolvedObjectives, now time.Time) time.Duration {
	if before.Status.LastHeartbeatTime == nil {
		return 0
	}
	var interval time.Duration
	for _, reg := range resolved.regs {
		if interval == 0 || reg.Spec.Interval < interval {
			interval = reg.Spec.Interval
		}
	}
	return before.Status.LastHeartbeatTime.Add(interval).Sub(now)
}

// resolveJourney checks the journey and the stage.
func (r *MomentReconciler) resolveJourney(ctx context.Context, m *cxv1.Moment) readiness {
	j := &cxv1.Journey{}
	err := r.Get(ctx, types.NamespacedName{Namespace: m.Namespace, Name: m.Spec.JourneyRef.Name}, j)
	if apierrors.IsNotFound(err) {
		return waiting(cxv1.ReasonJourneyNotFound,
			fmt.Sprintf("journey %q of spec.journeyRef does not exist in namespace %s (%s)", m.Spec.JourneyRef.Name, m.Namespace,
				existingNames(ctx, r.Client, &cxv1.JourneyList{}, m.Namespace)))
	}
	if err != nil {
		return waiting(cxv1.ReasonJourneyNotFound, err.Error())
	}
	names := make([]string, 0, len(j.Spec.Stages))
	for _, s := range j.Spec.Stages {
		if s.Name == m.Spec.Stage {
			return resolveProcess(m, j.Name, &s)
		}
		names = append(names, s.Name)
	}
	return waiting(cxv1.ReasonStageNotFound,
		fmt.Sprintf("stage %q is not a stage of journey %q (stages: %s)", m.Spec.Stage, j.Name, strings.Join(names, ", ")))
}

// resolveProcess checks spec.process against the backstage processes of the
// moment's stage. A process that does not exist is handled like a stage that
// does not exist: the moment is not evaluated (its objectives would be control
// points of nothing), Reconciling names the process and those that exist, and
// it stalls after the reference grace; the Journey watch brings it back when
// the blueprint gains the process.
func resolveProcess(m *cxv1.Moment, journey string, s *cxv1.Stage) readiness {
	if m.Spec.Process == "" {
		return ready(cxv1.ReasonSucceeded, "")
	}
	var names []string
	for _, p := range s.Blueprint.Backstage {
		if p.Name == m.Spec.Process {
			return ready(cxv1.ReasonSucceeded, "")
		}
		names = append(names, p.Name)
	}
	existing := "the stage has no backstage processes: add spec.stages[].blueprint.backstage to the journey"
	if len(names) > 0 {
		existing = "processes: " + strings.Join(names, ", ")
	}
	return waiting(cxv1.ReasonProcessNotFound,
		fmt.Sprintf("process %q is not a backstage process of stage %q of journey %q (%s)", m.Spec.Process, s.Name, journey, existing))
}

// resolveStream checks the roadmap stream remediation tasks are routed to.
func (r *MomentReconciler) resolveStream(ctx context.Context, m *cxv1.Moment, outcome readiness) readiness {
	rem := m.Spec.Remediation
	if rem == nil || rem.StreamRef.Name == "" {
		return outcome
	}
	err := r.Get(ctx, types.NamespacedName{Namespace: m.Namespace, Name: rem.StreamRef.Name}, &cxv1.RoadmapStream{})
	switch {
	case apierrors.IsNotFound(err):
		return waiting(cxv1.ReasonStreamNotFound,
			fmt.Sprintf("roadmap stream %q of spec.remediation.streamRef does not exist in namespace %s (%s)", rem.StreamRef.Name, m.Namespace,
				existingNames(ctx, r.Client, &cxv1.RoadmapStreamList{}, m.Namespace)))
	case err != nil:
		return waiting(cxv1.ReasonStreamNotFound, err.Error())
	}
	return outcome
}

// summarize sets health, the drifting objective and the conditions. The health
// never says more than cxops knows: a moment that is not Ready, or whose
// objectives wait for their first evaluation, is Healthy=Unknown unless what is
// known already makes it unhealthy.
func (r *MomentReconciler) summarize(m *cxv1.Moment, outcome readiness, evaluating bool) {
	states := make([]cxv1.ObjectiveState, 0, len(m.Status.Objectives))
	m.Status.Drifting = ""
	for _, o := range m.Status.Objectives {
		states = append(states, o.State)
		// An episode stays open while its data is missing: its task is still open.
		if o.DriftingSince != nil && m.Status.Drifting == "" {
			m.Status.Drifting = o.Name
		}
	}
	m.Status.Health = scoring.ObjectivesHealth(states)
	status, reason, message := healthCondition(m.Status.Objectives)
	switch {
	case status == metav1.ConditionFalse:
	case evaluating:
		m.Status.Health = cxv1.HealthUnknown
		status, reason, message = metav1.ConditionUnknown, cxv1.ReasonAwaitingEvaluation, outcome.message
	case !outcome.ready:
		m.Status.Health = cxv1.HealthUnknown
		status, reason, message = metav1.ConditionUnknown, outcome.reason, "the moment is not ready: "+outcome.message
	}
	setCondition(&m.Status.Conditions, m.Generation, cxv1.HealthyCondition, status, reason, message)
	setReadiness(&m.Status.Conditions, m.Generation, outcome)
	m.Status.ObservedGeneration = m.Generation
}

// untilHeartbeat is how long until the moment's next heartbeat is due (see
// nextHeartbeat), 0 or less when it is due.
func (r *MomentReconciler) untilHeartbeat(m *cxv1.Moment, now time.Time) time.Duration {
	if m.Status.LastHeartbeatTime == nil {
		return 0
	}
	phase := heartbeatPhase(m.Namespace, m.Name, m.UID, r.Options.Heartbeat)
	return nextHeartbeat(m.Status.LastHeartbeatTime.Time, phase, r.Options.Heartbeat).Sub(now)
}

// recordTransitions logs every change of an objective's state and of the
// moment's health and readiness, and raises events for what a person wants to
// know: a new drift and a recovery.
func (r *MomentReconciler) recordTransitions(ctx context.Context, before, after *cxv1.Moment) {
	log := ctrl.LoggerFrom(ctx)
	for _, a := range after.Status.Objectives {
		b := findObjective(before.Status.Objectives, a.Name)
		if b == nil || b.State != a.State {
			from := cxv1.ObjectiveState("")
			if b != nil {
				from = b.State
			}
			log.Info("objective state changed", "objective", a.Name, "from", from, "to", a.State, "message", a.Message)
		} else if b.Message != a.Message && a.Message != "" {
			log.V(1).Info("objective cause changed", "objective", a.Name, "state", a.State, "message", a.Message)
		}
		wasDrifting := b != nil && b.DriftingSince != nil
		switch {
		case a.DriftingSince != nil && !wasDrifting:
			log.Info("objective is drifting", "objective", a.Name, "message", a.Message)
			if r.Recorder != nil {
				r.Recorder.Eventf(after, nil, corev1.EventTypeWarning, "ObjectiveDrifting", "Evaluate",
					"objective %s is drifting: %s", a.Name, a.Message)
			}
		case wasDrifting && a.DriftingSince == nil && a.BreachingSince == nil && scoring.Attained(a.State):
			log.Info("objective recovered", "objective", a.Name, "state", a.State)
			if r.Recorder != nil {
				r.Recorder.Eventf(after, nil, corev1.EventTypeNormal, "ObjectiveRecovered", "Evaluate",
					"objective %s has recovered (%s)", a.Name, a.State)
			}
		}
	}
	if before.Status.Health != after.Status.Health {
		log.Info("moment health changed", "from", before.Status.Health, "to", after.Status.Health)
	}
	logReadiness(log, before.Status.Conditions, after.Status.Conditions)
}

// SetupWithManager watches Moments (spec changes), the engine's transitions, and the
// Journeys and SignalSources they reference.
func (r *MomentReconciler) SetupWithManager(mgr ctrl.Manager) error {
	byJourney, err := referrers(mgr.GetCache(), &cxv1.Moment{}, &cxv1.MomentList{}, indexMomentJourney)
	if err != nil {
		return err
	}
	bySource, err := referrers(mgr.GetCache(), &cxv1.Moment{}, &cxv1.MomentList{}, indexMomentSources)
	if err != nil {
		return err
	}
	byStream, err := referrers(mgr.GetCache(), &cxv1.Moment{}, &cxv1.MomentList{}, indexMomentStream)
	if err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		// The cacheLag sees every update first (specOrRequestChanged drops status writes).
		For(&cxv1.Moment{}, builder.WithPredicates(r.lag.observe(), specOrRequestChanged())).
		Watches(&cxv1.Journey{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return byJourney(ctx, o.GetNamespace(), o.GetName())
		}), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&cxv1.SignalSource{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return bySource(ctx, o.GetNamespace(), o.GetName())
		}), builder.WithPredicates(readyChanged())).
		Watches(&cxv1.RoadmapStream{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return byStream(ctx, o.GetNamespace(), o.GetName())
		}), builder.WithPredicates(createdOrDeleted())).
		WatchesRawSource(r.Notifications.Source()).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.Options.Concurrency}).
		Named("moment").
		Complete(r)
}

package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/events"
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
// spec change, or a heartbeat.
type MomentReconciler struct {
	client.Client
	Engine   *engine.Engine
	Recorder events.EventRecorder
	Options  Options
	// Notifications delivers engine transitions to this controller.
	Notifications *queueSource

	mu       sync.Mutex
	awaiting map[types.NamespacedName]time.Time
}

// +kubebuilder:rbac:groups=cx.cxops.io,resources=moments,verbs=get;list;watch
// +kubebuilder:rbac:groups=cx.cxops.io,resources=moments/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=cx.cxops.io,resources=journeys,verbs=get;list;watch
// +kubebuilder:rbac:groups=cx.cxops.io,resources=remediationtasks,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

// Reconcile dispatches the steps for one Moment.
func (r *MomentReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	owner := engine.Owner{Kind: "Moment", Namespace: req.Namespace, Name: req.Name}
	m := &cxv1.Moment{}
	if err := r.Get(ctx, req.NamespacedName, m); err != nil {
		if apierrors.IsNotFound(err) {
			r.Engine.Remove(owner)
			r.doneAwaiting(req.NamespacedName)
			r.Notifications.Forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !m.DeletionTimestamp.IsZero() {
		// Tasks are owned by the moment: garbage collection removes them.
		r.Engine.Remove(owner)
		return ctrl.Result{}, nil
	}
	before := m.DeepCopy()
	now := r.Options.Clock.Now()

	resolved := resolveObjectives(ctx, r.Client, m.Namespace, m.Spec.Objectives, providers.QueryData{
		Name: m.Name, Namespace: m.Namespace, Labels: m.Labels,
	}, m.Status.Objectives)
	r.Engine.Set(owner, resolved.regs)
	snap, _ := r.Engine.Snapshot(owner)

	outcome := r.resolveJourney(ctx, m)
	if objectives := resolved.outcomeWith(snap); outcome.ready || (objectives.stalled && !outcome.stalled) {
		outcome = objectives
	}
	if outcome.ready {
		outcome = r.resolveStream(ctx, m, outcome)
	}

	// Wait briefly for the first evaluation of a new spec, so that its first status
	// write already carries the objectives' states instead of Unknown.
	if wait, ok := r.shouldAwait(m, snap, now); ok {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	r.doneAwaiting(req.NamespacedName)

	m.Status.Objectives = objectiveStatuses(m.Spec.Objectives, snap, resolved.problems, before.Status.Objectives)
	if err := r.ensureTasks(ctx, m); err != nil {
		return ctrl.Result{}, err
	}
	r.summarize(m, outcome)
	r.recordTransitions(before, m)

	if !r.earnsWrite(before, m, now) {
		r.Notifications.EnqueueAfter(req.NamespacedName, r.untilHeartbeat(before, now))
		return ctrl.Result{}, nil
	}
	m.Status.LastHeartbeatTime = timePtr(now)
	if _, err := patchStatus(ctx, r.Client, before, m, func(o client.Object) any { return o.(*cxv1.Moment).Status }); err != nil {
		return done(ctrl.Result{}, err)
	}
	// Heartbeats follow the injected clock; jitter spreads them out.
	r.Notifications.EnqueueAfter(req.NamespacedName, wait.Jitter(r.Options.Heartbeat, 0.05))
	return ctrl.Result{}, nil
}

// resolveJourney checks the journey and the stage.
func (r *MomentReconciler) resolveJourney(ctx context.Context, m *cxv1.Moment) readiness {
	j := &cxv1.Journey{}
	err := r.Get(ctx, types.NamespacedName{Namespace: m.Namespace, Name: m.Spec.JourneyRef.Name}, j)
	if apierrors.IsNotFound(err) {
		return waiting(cxv1.ReasonJourneyNotFound,
			fmt.Sprintf("journey %q does not exist in namespace %s", m.Spec.JourneyRef.Name, m.Namespace))
	}
	if err != nil {
		return waiting(cxv1.ReasonJourneyNotFound, err.Error())
	}
	names := make([]string, 0, len(j.Spec.Stages))
	for _, s := range j.Spec.Stages {
		if s.Name == m.Spec.Stage {
			return ready(cxv1.ReasonSucceeded, "")
		}
		names = append(names, s.Name)
	}
	return waiting(cxv1.ReasonStageNotFound,
		fmt.Sprintf("stage %q is not a stage of journey %q (stages: %s)", m.Spec.Stage, j.Name, strings.Join(names, ", ")))
}

// resolveStream checks the roadmap stream remediation tasks are routed to.
func (r *MomentReconciler) resolveStream(ctx context.Context, m *cxv1.Moment, outcome readiness) readiness {
	rem := m.Spec.Remediation
	if rem == nil || rem.StreamRef == nil {
		return outcome
	}
	err := r.Get(ctx, types.NamespacedName{Namespace: m.Namespace, Name: rem.StreamRef.Name}, &cxv1.RoadmapStream{})
	switch {
	case apierrors.IsNotFound(err):
		return waiting(cxv1.ReasonStreamNotFound,
			fmt.Sprintf("roadmap stream %q of spec.remediation.streamRef does not exist in namespace %s", rem.StreamRef.Name, m.Namespace))
	case err != nil:
		return waiting(cxv1.ReasonStreamNotFound, err.Error())
	}
	return outcome
}

// summarize sets health, the drifting objective and the conditions.
func (r *MomentReconciler) summarize(m *cxv1.Moment, outcome readiness) {
	states := make([]cxv1.ObjectiveState, 0, len(m.Status.Objectives))
	m.Status.Drifting = ""
	for _, o := range m.Status.Objectives {
		states = append(states, o.State)
		if o.State == cxv1.StateDrifting && m.Status.Drifting == "" {
			m.Status.Drifting = o.Name
		}
	}
	m.Status.Health = scoring.ObjectivesHealth(states)
	status, reason, message := healthCondition(m.Status.Objectives)
	setCondition(&m.Status.Conditions, m.Generation, cxv1.HealthyCondition, status, reason, message)
	setReadiness(&m.Status.Conditions, m.Generation, outcome)
	m.Status.ObservedGeneration = m.Generation
}

// earnsWrite: a transition, a spec change or a due heartbeat.
func (r *MomentReconciler) earnsWrite(before, after *cxv1.Moment, now time.Time) bool {
	b, a := before.Status, after.Status
	if b.ObservedGeneration != a.ObservedGeneration || b.Health != a.Health || b.Drifting != a.Drifting ||
		!equality.Semantic.DeepEqual(b.Conditions, a.Conditions) ||
		!equality.Semantic.DeepEqual(withoutValues(b.Objectives), withoutValues(a.Objectives)) {
		return true
	}
	return r.untilHeartbeat(before, now) <= 0
}

func (r *MomentReconciler) untilHeartbeat(m *cxv1.Moment, now time.Time) time.Duration {
	if m.Status.LastHeartbeatTime == nil {
		return 0
	}
	return m.Status.LastHeartbeatTime.Add(r.Options.Heartbeat).Sub(now)
}

// shouldAwait says whether to hold the status write until the engine's first
// evaluation of this generation, and for how long to wait at most.
func (r *MomentReconciler) shouldAwait(m *cxv1.Moment, snap []engine.Result, now time.Time) (time.Duration, bool) {
	pending := false
	for _, res := range snap {
		if !res.Evaluated && res.State.State == "" {
			pending = true
			break
		}
	}
	if !pending {
		return 0, false
	}
	key := types.NamespacedName{Namespace: m.Namespace, Name: m.Name}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.awaiting == nil {
		r.awaiting = map[types.NamespacedName]time.Time{}
	}
	started, ok := r.awaiting[key]
	if !ok {
		started = time.Now()
		r.awaiting[key] = started
	}
	left := r.Options.FirstEvaluationWait - time.Since(started)
	return left, left > 0
}

func (r *MomentReconciler) doneAwaiting(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.awaiting, key)
}

// recordTransitions raises events for what a person wants to know: a new drift and
// a recovery. Nothing else.
func (r *MomentReconciler) recordTransitions(before, after *cxv1.Moment) {
	if r.Recorder == nil {
		return
	}
	for _, a := range after.Status.Objectives {
		b := findObjective(before.Status.Objectives, a.Name)
		wasDrifting := b != nil && b.DriftingSince != nil
		switch {
		case a.DriftingSince != nil && !wasDrifting:
			r.Recorder.Eventf(after, nil, corev1.EventTypeWarning, "ObjectiveDrifting", "Evaluate",
				"objective %s is drifting: %s", a.Name, a.Message)
		case wasDrifting && a.DriftingSince == nil && a.BreachingSince == nil && scoring.Attained(a.State):
			r.Recorder.Eventf(after, nil, corev1.EventTypeNormal, "ObjectiveRecovered", "Evaluate",
				"objective %s has recovered (%s)", a.Name, a.State)
		}
	}
}

// SetupWithManager watches Moments (spec changes), the engine's transitions, and the
// Journeys and SignalSources they reference.
func (r *MomentReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&cxv1.Moment{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&cxv1.Journey{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return requestsFor(ctx, r.Client, &cxv1.MomentList{}, o.GetNamespace(), indexMomentJourney, o.GetName())
		}), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&cxv1.SignalSource{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return requestsFor(ctx, r.Client, &cxv1.MomentList{}, o.GetNamespace(), indexMomentSources, o.GetName())
		}), builder.WithPredicates(readyChanged())).
		Watches(&cxv1.RoadmapStream{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return requestsFor(ctx, r.Client, &cxv1.MomentList{}, o.GetNamespace(), indexMomentStream, o.GetName())
		}), builder.WithPredicates(createdOrDeleted())).
		WatchesRawSource(r.Notifications.Source()).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.Options.Concurrency}).
		Named("moment").
		Complete(r)
}

package controllers

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/engine"
	"github.com/cxops/cxops/internal/providers"
	"github.com/cxops/cxops/internal/scoring"
)

// A journey measures its moments' changes in batches: the first change after a
// quiet time after journeyBatch, gathering a burst into one reconcile; while its
// moments keep changing en masse (at least journeyBurst changes gathered by the
// previous measure, as when thousands of moments converge: no person edits
// moments that fast), at most once per
// journeyMeasureEvery. The last change is always measured.
const (
	journeyBatch        = 5 * time.Second
	journeyMeasureEvery = 30 * time.Second
	journeyBurst        = 100
)

// JourneyReconciler measures the as-is journey against the target: per-stage
// health, the score, the largest gaps, open remediations, and the journey-level
// objectives (evaluated by the engine like a moment's).
type JourneyReconciler struct {
	client.Client
	Engine        *engine.Engine
	Options       Options
	Notifications *queueSource
	Metrics       *taskMetrics
	// Sources holds objectives whose source is not settled yet (see
	// MomentReconciler.Sources).
	Sources *sourceSettling

	grace      *graceTracker
	firstSight firstSight
	measures   *measureThrottle
}

// +kubebuilder:rbac:groups=cx.cxops.io,resources=journeys,verbs=get;list;watch
// +kubebuilder:rbac:groups=cx.cxops.io,resources=journeys/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=cx.cxops.io,resources=moments,verbs=get;list;watch
// +kubebuilder:rbac:groups=cx.cxops.io,resources=remediationtasks,verbs=get;list;watch

// Reconcile computes one Journey's status.
func (r *JourneyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	owner := engine.Owner{Kind: "Journey", Namespace: req.Namespace, Name: req.Name}
	j := &cxv1.Journey{}
	if err := r.Get(ctx, req.NamespacedName, j); err != nil {
		if apierrors.IsNotFound(err) {
			r.Engine.Remove(owner)
			r.Metrics.forgetJourney(req.Namespace, req.Name)
			r.grace.forget("journey/" + req.String())
			r.firstSight.forget("journey/" + req.String())
			r.measures.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	r.measures.measuring(req.NamespacedName)
	before := j.DeepCopy()
	now := r.Options.Clock.Now()
	requested, newRequest := reconcileRequested(j, j.Status.LastHandledReconcileAt)
	if newRequest {
		j.Status.LastHandledReconcileAt = requested
	}
	if ptr.Deref(j.Spec.Suspend, false) {
		r.Engine.Remove(owner)
		markSuspended(&j.Status.Conditions, j.Generation, true)
		j.Status.Health = cxv1.HealthUnknown
		j.Status.ObservedGeneration = j.Generation
		_, err := patchStatus(ctx, r.Client, before, j, func(o client.Object) any { return o.(*cxv1.Journey).Status })
		return done(ctrl.Result{}, err)
	}
	apimeta.RemoveStatusCondition(&j.Status.Conditions, cxv1.SuspendedCondition)

	resolved := resolveObjectives(ctx, r.Client, j.Namespace, j.Spec.Objectives,
		providers.QueryData{Name: j.Name, Namespace: j.Namespace, Labels: j.Labels}, j.Status.Objectives)
	regs, held, holdFor := r.Sources.hold(owner, resolved.regs)
	r.Engine.Set(owner, regs)
	if newRequest {
		r.Engine.TriggerOwner(owner)
	}
	snap, _ := r.Engine.Snapshot(owner)
	snap = withHeld(snap, held)
	j.Status.Objectives = objectiveStatuses(j.Spec.Objectives, snap, resolved.problems, before.Status.Objectives)

	// measure only reads the moments: the cache's own objects, not copies (10,000
	// moments would be 30 MB of garbage per measure).
	var moments cxv1.MomentList
	if err := r.List(ctx, &moments, client.InNamespace(j.Namespace), client.MatchingFields{indexMomentJourney: j.Name},
		client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, err
	}
	var tasks cxv1.RemediationTaskList
	if err := r.List(ctx, &tasks, client.InNamespace(j.Namespace), client.MatchingLabels{LabelJourney: labelValue(j.Name)},
		client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, err
	}
	measure(j, moments.Items, tasks.Items)
	outcome, stallIn := r.grace.apply("journey/"+req.String(), resolved.outcomeWith(snap), before.Status.Conditions, now)
	if r.firstSight.evaluating("journey/"+req.String(), j.Generation, before.Status.ObservedGeneration, before.Status.Conditions, snap) {
		if outcome.ready {
			outcome = waiting(cxv1.ReasonEvaluating, fmt.Sprintf("waiting for the first evaluation of generation %d", j.Generation))
		}
		if c := apimeta.FindStatusCondition(j.Status.Conditions, cxv1.HealthyCondition); c != nil && c.Status != metav1.ConditionFalse {
			j.Status.Health = cxv1.HealthUnknown
			setCondition(&j.Status.Conditions, j.Generation, cxv1.HealthyCondition, metav1.ConditionUnknown, cxv1.ReasonAwaitingEvaluation, outcome.message)
		}
	}
	setReadiness(&j.Status.Conditions, j.Generation, outcome)
	j.Status.ObservedGeneration = j.Generation
	r.Metrics.journey(j)
	r.logTransitions(ctx, before, j)

	if wake := minPositive(stallIn, holdFor); wake > 0 {
		// Deadlines follow the injected clock.
		r.Notifications.EnqueueAt(req.NamespacedName, now.Add(wake))
	}
	// Only values changed: not worth a write (live values are metrics).
	if !statusChanged(before, j) {
		return ctrl.Result{}, nil
	}
	_, err := patchStatus(ctx, r.Client, before, j, func(o client.Object) any { return o.(*cxv1.Journey).Status })
	return done(ctrl.Result{}, err)
}

// logTransitions logs changes of the journey's health and readiness.
func (r *JourneyReconciler) logTransitions(ctx context.Context, before, after *cxv1.Journey) {
	log := ctrl.LoggerFrom(ctx)
	if before.Status.Health != after.Status.Health {
		c := apimeta.FindStatusCondition(after.Status.Conditions, cxv1.HealthyCondition)
		reason, message := "", ""
		if c != nil {
			reason, message = c.Reason, c.Message
		}
		log.Info("journey health changed", "from", before.Status.Health, "to", after.Status.Health, "reason", reason, "message", message)
	}
	logReadiness(log, before.Status.Conditions, after.Status.Conditions)
}

func statusChanged(before, after *cxv1.Journey) bool {
	b, a := before.Status.DeepCopy(), after.Status.DeepCopy()
	b.Objectives, a.Objectives = withoutValues(b.Objectives), withoutValues(a.Objectives)
	return !equalJSON(b, a)
}

// measure fills the journey's status from its moments and tasks.
func measure(j *cxv1.Journey, moments []cxv1.Moment, tasks []cxv1.RemediationTask) {
	st := &j.Status
	stageIdx := map[string]int{}
	st.Stages = make([]cxv1.StageStatus, len(j.Spec.Stages))
	stageHealth := make([][]cxv1.HealthState, len(j.Spec.Stages))
	for i, s := range j.Spec.Stages {
		stageIdx[s.Name] = i
		st.Stages[i] = cxv1.StageStatus{Name: s.Name, Moments: scoring.ZeroCounts()}
	}
	st.Moments = scoring.ZeroCounts()
	var drifting int32

	var objs []scoring.Objective
	var momentHealth []cxv1.HealthState
	for i := range moments {
		m := &moments[i]
		h := m.Status.Health
		if h == "" {
			h = cxv1.HealthUnknown
		}
		momentHealth = append(momentHealth, h)
		scoring.Count(&st.Moments, h)
		if m.Status.Drifting != "" {
			drifting++
		}
		if idx, ok := stageIdx[m.Spec.Stage]; ok {
			scoring.Count(&st.Stages[idx].Moments, h)
			stageHealth[idx] = append(stageHealth[idx], h)
		}
		mw := float64(cmp.Or(impactWeight(m), 1)) // 0 is unset
		for _, o := range m.Spec.Objectives {
			objs = append(objs, scoredObjective(o, findObjective(m.Status.Objectives, o.Name), m.Name, m.Spec.Stage, mw))
		}
	}
	for _, o := range j.Spec.Objectives {
		objs = append(objs, scoredObjective(o, findObjective(st.Objectives, o.Name), "", "", 1))
	}
	stageMoments := make([][]*cxv1.Moment, len(j.Spec.Stages))
	for i := range moments {
		if idx, ok := stageIdx[moments[i].Spec.Stage]; ok && moments[i].Spec.Process != "" {
			stageMoments[idx] = append(stageMoments[idx], &moments[i])
		}
	}
	for i := range st.Stages {
		st.Stages[i].Health = scoring.Worst(stageHealth[i]...)
		st.Stages[i].Processes = scoring.ProcessStatuses(&j.Spec.Stages[i], stageMoments[i])
	}

	if score, ok := scoring.Score(objs); ok {
		st.Score = &score
	} else {
		st.Score = nil
	}
	if coverage, ok := scoring.Coverage(objs); ok {
		st.Coverage = &coverage
	} else {
		st.Coverage = nil
	}
	st.Health = scoring.JourneyHealth(objs, momentHealth, minCoverage(j))
	st.TopGaps = scoring.TopGaps(objs, 5)

	st.DriftingMoments = &drifting
	var open int32
	for _, t := range tasks {
		if t.Status.Phase != cxv1.TaskResolved {
			open++
		}
	}
	st.OpenRemediations = &open

	status, reason, message := journeyHealthCondition(st, objs, len(moments), minCoverage(j))
	setCondition(&st.Conditions, j.Generation, cxv1.HealthyCondition, status, reason, message)
}

// minCoverage is the journey's spec.minCoverage or its default.
func minCoverage(j *cxv1.Journey) int32 {
	return ptr.Deref(j.Spec.MinCoverage, scoring.DefaultMinCoverage)
}

func impactWeight(m *cxv1.Moment) int32 {
	if m.Spec.Impact == nil {
		return 0
	}
	return m.Spec.Impact.Weight
}

func scoredObjective(o cxv1.Objective, s *cxv1.ObjectiveStatus, moment, stage string, momentWeight float64) scoring.Objective {
	so := scoring.Objective{
		Moment: moment, Stage: stage, Name: o.Name, State: cxv1.StateUnknown,
		Weight: float64(cmp.Or(o.Weight, 1)) * momentWeight, MomentW: momentWeight,
		Key: ptr.Deref(o.Key, false),
	}
	if s == nil {
		return so
	}
	so.State, so.Target, so.Episode = s.State, s.Target, s.DriftingSince != nil
	if s.Value != nil {
		so.Value = *s.Value
		if v, err := strconv.ParseFloat(*s.Value, 64); err == nil {
			so.NormGap, so.HasNorm = normalizedGap(o.Target, v)
		}
	}
	return so
}

func normalizedGap(t cxv1.Target, v float64) (float64, bool) {
	num := func(p *string) float64 {
		if p == nil {
			return 0
		}
		f, _ := strconv.ParseFloat(*p, 64)
		return f
	}
	return scoring.NormalizedGap(t.Operator, v, num(t.Value), num(t.Min), num(t.Max)), true
}

func journeyHealthCondition(st *cxv1.JourneyStatus, objs []scoring.Objective, moments int, minCoverage int32) (metav1.ConditionStatus, string, string) {
	if key, missed := scoring.KeyMissed(objs); missed {
		where := key.Name
		if key.Moment != "" {
			where = key.Moment + "/" + key.Name
		}
		return metav1.ConditionFalse, cxv1.ReasonKeyObjectiveBreached,
			fmt.Sprintf("key objective %s is %s (value %s, target %s)", where, key.State, orDash(key.Value), key.Target)
	}
	if moments == 0 && len(objs) == 0 {
		return metav1.ConditionUnknown, cxv1.ReasonNoMoments, "the journey has no moments yet"
	}
	gaps := make([]string, 0, len(st.TopGaps))
	for _, g := range st.TopGaps {
		gaps = append(gaps, fmt.Sprintf("%s/%s %s", g.Moment, g.Objective, g.State))
	}
	score := "no score"
	if st.Score != nil {
		score = fmt.Sprintf("score %d", *st.Score)
	}
	switch st.Health {
	case cxv1.HealthDegraded:
		reason := cxv1.ReasonObjectiveBreached
		if ptr.Deref(st.DriftingMoments, 0) > 0 {
			reason = cxv1.ReasonObjectiveDrifting
		}
		return metav1.ConditionFalse, reason, fmt.Sprintf("%s, below %d; largest gaps: %s", score, scoring.DegradedBelow, strings.Join(gaps, ", "))
	case cxv1.HealthUnknown:
		return metav1.ConditionUnknown, cxv1.ReasonNoData, noDataMessage(st, objs, minCoverage)
	case cxv1.HealthAtRisk:
		msg := fmt.Sprintf("%s; %d of %d moments healthy", score, ptr.Deref(st.Moments.Healthy, 0), ptr.Deref(st.Moments.Total, 0))
		if len(gaps) > 0 {
			msg += "; largest gaps: " + strings.Join(gaps, ", ")
		}
		return metav1.ConditionTrue, cxv1.ReasonObjectiveAtRisk, msg
	}
	return metav1.ConditionTrue, cxv1.ReasonObjectivesMet, fmt.Sprintf("%s; all %d moments healthy", score, ptr.Deref(st.Moments.Total, 0))
}

// noDataMessage says why a journey's health is Unknown: which objectives that
// matter are blind, and the coverage against the minimum.
func noDataMessage(st *cxv1.JourneyStatus, objs []scoring.Objective, minCoverage int32) string {
	var parts []string
	if st.Coverage == nil {
		parts = append(parts, "no objective has data yet")
	} else if *st.Coverage < minCoverage {
		parts = append(parts, fmt.Sprintf("coverage %d%% is below minCoverage %d%%: too few objectives have data", *st.Coverage, minCoverage))
	} else {
		parts = append(parts, fmt.Sprintf("coverage %d%%", *st.Coverage))
	}
	var blind []string
	for _, o := range scoring.Blind(objs) {
		where := o.Name
		if o.Moment != "" {
			where = o.Moment + "/" + o.Name
		}
		why := "key objective"
		if o.Episode {
			why = "drifting, task open"
		}
		blind = append(blind, fmt.Sprintf("%s (%s)", where, why))
	}
	if len(blind) > 0 {
		parts = append(parts, "no data for "+joinLimited(blind, 5))
	}
	return strings.Join(parts, "; ")
}

// SetupWithManager watches Journeys (spec), the engine's transitions for
// journey-level objectives, Moments whose health changes, and tasks.
func (r *JourneyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.measures == nil {
		r.measures = newMeasureThrottle(journeyBatch, journeyMeasureEvery, journeyBurst)
	}
	toJourney := r.measures.handler(func(o client.Object) []types.NamespacedName {
		m := o.(*cxv1.Moment)
		return []types.NamespacedName{ctrlKey(m.Namespace, m.Spec.JourneyRef.Name)}
	})
	taskToJourney := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		t := o.(*cxv1.RemediationTask)
		if t.Spec.JourneyRef.Name == "" {
			return nil
		}
		return []reconcile.Request{{NamespacedName: ctrlKey(t.Namespace, t.Spec.JourneyRef.Name)}}
	})
	bySource, err := referrers(mgr.GetCache(), &cxv1.Journey{}, &cxv1.JourneyList{}, indexJourneySources)
	if err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&cxv1.Journey{}, builder.WithPredicates(specOrRequestChanged())).
		Watches(&cxv1.Moment{}, toJourney, builder.WithPredicates(momentMeasureChanged())).
		Watches(&cxv1.RemediationTask{}, taskToJourney, builder.WithPredicates(taskPhaseChanged())).
		Watches(&cxv1.SignalSource{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return bySource(ctx, o.GetNamespace(), o.GetName())
		}), builder.WithPredicates(readyChanged())).
		WatchesRawSource(r.Notifications.Source()).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.Options.Concurrency}).
		Named("journey").
		Complete(r)
}

// momentMeasureChanged passes moment events that change what a journey or stream
// measures: creation, deletion, a new spec, or new objective states. A heartbeat
// that refreshes only values does not pass.
func momentMeasureChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, n := e.ObjectOld.(*cxv1.Moment), e.ObjectNew.(*cxv1.Moment)
			if o.Generation != n.Generation || o.Status.Health != n.Status.Health || o.Status.Drifting != n.Status.Drifting {
				return true
			}
			return !equalJSON(withoutValues(o.Status.Objectives), withoutValues(n.Status.Objectives))
		},
	}
}

// taskPhaseChanged passes task creations, deletions and phase changes.
func taskPhaseChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			return e.ObjectOld.(*cxv1.RemediationTask).Status.Phase != e.ObjectNew.(*cxv1.RemediationTask).Status.Phase
		},
	}
}

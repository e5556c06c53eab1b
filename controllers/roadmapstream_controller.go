package controllers

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/scoring"
	"github.com/cxops/cxops/internal/textutil"
)

// indexStreamMoments indexes streams by the moments their initiatives address.
const indexStreamMoments = "cx.cxops.io/addressed-moments"

// RoadmapStreamReconciler measures a stream's initiatives against the objectives
// they address, finds initiatives at risk, and counts the tasks routed to it.
type RoadmapStreamReconciler struct {
	client.Client
	Options Options

	grace *graceTracker
}

// +kubebuilder:rbac:groups=cx.cxops.io,resources=roadmapstreams,verbs=get;list;watch
// +kubebuilder:rbac:groups=cx.cxops.io,resources=roadmapstreams/status,verbs=get;patch;update

// Reconcile computes one RoadmapStream's status.
func (r *RoadmapStreamReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	s := &cxv1.RoadmapStream{}
	if err := r.Get(ctx, req.NamespacedName, s); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := s.DeepCopy()
	now := r.Options.Clock.Now()
	if requested, ok := reconcileRequested(s, s.Status.LastHandledReconcileAt); ok {
		s.Status.LastHandledReconcileAt = requested
	}
	if ptr.Deref(s.Spec.Suspend, false) {
		markSuspended(&s.Status.Conditions, s.Generation, false)
		s.Status.ObservedGeneration = s.Generation
		_, err := patchStatus(ctx, r.Client, before, s, func(o client.Object) any { return o.(*cxv1.RoadmapStream).Status })
		return done(ctrl.Result{}, err)
	}
	apimeta.RemoveStatusCondition(&s.Status.Conditions, cxv1.SuspendedCondition)

	var lookupErr error
	missing := map[string]bool{}
	moments := map[string]map[string]cxv1.ObjectiveState{}
	lookup := func(name string) (map[string]cxv1.ObjectiveState, bool) {
		if states, ok := moments[name]; ok {
			return states, true
		}
		if missing[name] {
			return nil, false
		}
		m := &cxv1.Moment{}
		if err := r.Get(ctx, ctrlKey(s.Namespace, name), m); err != nil {
			if !apierrors.IsNotFound(err) {
				lookupErr = err
			}
			missing[name] = true
			return nil, false
		}
		states := make(map[string]cxv1.ObjectiveState, len(m.Spec.Objectives))
		for _, o := range m.Spec.Objectives {
			states[o.Name] = cxv1.StateUnknown
			if st := findObjective(m.Status.Objectives, o.Name); st != nil {
				states[o.Name] = st.State
			}
		}
		moments[name] = states
		return states, true
	}

	st := &s.Status
	st.Initiatives = make([]cxv1.InitiativeStatus, 0, len(s.Spec.Initiatives))
	var addressed, attained, atRiskCount int32
	var atRisk, objectiveNotFound []string
	noData := map[string]bool{}
	for _, in := range s.Spec.Initiatives {
		is := scoring.Initiative(in, lookup, now)
		is.Message = textutil.Truncate(is.Message, maxInitiativeMessage)
		st.Initiatives = append(st.Initiatives, is)
		addressed += ptr.Deref(is.ObjectivesAddressed, 0)
		attained += ptr.Deref(is.ObjectivesAttained, 0)
		if ptr.Deref(is.AtRisk, false) {
			atRiskCount++
			atRisk = append(atRisk, in.Name+": "+is.Message)
		}
		for _, ref := range in.Addresses {
			states, ok := lookup(ref.Moment)
			if !ok {
				continue
			}
			if _, ok := states[ref.Objective]; ref.Objective != "" && !ok {
				objectiveNotFound = append(objectiveNotFound, fmt.Sprintf("initiative %s addresses objective %q of moment %s, which has: %s",
					in.Name, ref.Objective, ref.Moment, strings.Join(sortedKeys(states), ", ")))
				continue
			}
			for name, state := range states {
				if (ref.Objective == "" || name == ref.Objective) && !scoring.Attained(state) && !scoring.Missed(state) {
					noData[ref.Moment+"/"+name] = true
				}
			}
		}
	}
	if lookupErr != nil {
		return ctrl.Result{}, lookupErr
	}
	progress := scoring.Progress(s.Spec.Initiatives)
	st.Progress, st.ObjectivesAddressed, st.ObjectivesAttained, st.AtRisk = &progress, &addressed, &attained, &atRiskCount

	var tasks cxv1.RemediationTaskList
	if err := r.List(ctx, &tasks, client.InNamespace(s.Namespace), client.MatchingFields{indexTaskStream: s.Name},
		client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, err
	}
	var open int32
	for _, t := range tasks.Items {
		if t.Status.Phase != cxv1.TaskResolved {
			open++
		}
	}
	st.OpenRemediations = &open

	if len(atRisk) > 0 {
		setCondition(&st.Conditions, s.Generation, cxv1.OnTrackCondition, metav1.ConditionFalse, cxv1.ReasonInitiativesAtRisk,
			fmt.Sprintf("%d of %d initiatives at risk: %s", len(atRisk), len(s.Spec.Initiatives), strings.Join(atRisk, "; ")))
	} else {
		msg := fmt.Sprintf("%d initiatives, progress %d%%, %d of %d addressed objectives attained",
			len(s.Spec.Initiatives), progress, attained, addressed)
		if len(noData) > 0 {
			// Not at risk (nothing is due soon), but no data is not good news: say so.
			msg += fmt.Sprintf("; %d addressed objectives have no data: %s", len(noData), strings.Join(sortedKeys(noData), ", "))
		}
		setCondition(&st.Conditions, s.Generation, cxv1.OnTrackCondition, metav1.ConditionTrue, cxv1.ReasonInitiativesOnTrack, msg)
	}
	var outcome readiness
	switch {
	case len(missing) > 0:
		msg := fmt.Sprintf("initiatives address moments that do not exist in namespace %s: %s (%s)",
			s.Namespace, strings.Join(sortedKeys(missing), ", "), existingNames(ctx, r.Client, &cxv1.MomentList{}, s.Namespace))
		if len(objectiveNotFound) > 0 {
			msg += "; " + strings.Join(objectiveNotFound, "; ")
		}
		outcome = waiting(cxv1.ReasonMomentNotFound, msg)
	case len(objectiveNotFound) > 0:
		// A misspelt objective needs a change to the stream or to the moment.
		outcome = stalled(cxv1.ReasonObjectiveNotFound, strings.Join(objectiveNotFound, "; "))
	default:
		outcome = ready(cxv1.ReasonSucceeded, "initiatives measured")
	}
	outcome, stallIn := r.grace.apply("stream/"+req.String(), outcome, before.Status.Conditions, now)
	setReadiness(&st.Conditions, s.Generation, outcome)
	st.ObservedGeneration = s.Generation
	logReadiness(ctrl.LoggerFrom(ctx), before.Status.Conditions, st.Conditions)

	if _, err := patchStatus(ctx, r.Client, before, s, func(o client.Object) any { return o.(*cxv1.RoadmapStream).Status }); err != nil {
		return done(ctrl.Result{}, err)
	}
	// Risk depends on the date: look again as days pass, or when a missing
	// moment's grace period ends.
	return ctrl.Result{RequeueAfter: minPositive(stallIn, wait.Jitter(time.Hour, 0.1))}, nil
}

// maxInitiativeMessage is the schema limit of status.initiatives[].message.
const maxInitiativeMessage = 512

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// SetupWithManager watches streams, the moments their initiatives address, and the
// tasks routed to them.
func (r *RoadmapStreamReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := (namespacedIndexer{mgr.GetCache()}).IndexField(context.Background(), &cxv1.RoadmapStream{}, indexStreamMoments,
		func(o client.Object) []string {
			var names []string
			for _, in := range o.(*cxv1.RoadmapStream).Spec.Initiatives {
				for _, a := range in.Addresses {
					names = append(names, a.Moment)
				}
			}
			return names
		}); err != nil {
		return err
	}
	byMoment, err := referrers(mgr.GetCache(), &cxv1.RoadmapStream{}, &cxv1.RoadmapStreamList{}, indexStreamMoments)
	if err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&cxv1.RoadmapStream{}, builder.WithPredicates(specOrRequestChanged())).
		Watches(&cxv1.Moment{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return byMoment(ctx, o.GetNamespace(), o.GetName())
		}), builder.WithPredicates(momentMeasureChanged())).
		Watches(&cxv1.RemediationTask{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			t := o.(*cxv1.RemediationTask)
			if t.Spec.StreamRef.Name == "" {
				return nil
			}
			return []reconcile.Request{{NamespacedName: ctrlKey(t.Namespace, t.Spec.StreamRef.Name)}}
		}), builder.WithPredicates(taskPhaseChanged())).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.Options.Concurrency}).
		Named("roadmapstream").
		Complete(r)
}

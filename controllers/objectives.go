package controllers

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/engine"
	"github.com/cxops/cxops/internal/providers"
)

// resolvedObjectives is what the engine is given for one owner's objectives, and
// what could not be given to it.
type resolvedObjectives struct {
	regs []engine.Registration
	// problems explains, per objective, why it is not evaluated.
	problems map[string]string
	// unready holds, per objective, why its source is not Ready; see outcomeWith.
	unready map[string]string
	outcome readiness
}

// outcomeWith is the readiness once the engine's snapshot is known: a source whose
// Ready condition is not True only makes the owner wait while one of its
// objectives has no value from it. A source that just answered is obtainable,
// whatever its status says yet.
func (res resolvedObjectives) outcomeWith(snap []engine.Result) readiness {
	if !res.outcome.ready {
		return res.outcome
	}
	for _, r := range snap {
		if msg, bad := res.unready[r.Name]; bad && !r.State.HasValue {
			return waiting(cxv1.ReasonSourceNotReady, msg)
		}
	}
	return res.outcome
}

// resolveObjectives compiles an owner's objectives against their signal sources.
// The worst problem decides the outcome: an invalid spec stalls; a missing or
// unready source waits (the source's own events requeue the owner).
func resolveObjectives(ctx context.Context, c client.Reader, ns string, objs []cxv1.Objective,
	data providers.QueryData, prev []cxv1.ObjectiveStatus) resolvedObjectives {
	res := resolvedObjectives{problems: map[string]string{}, unready: map[string]string{}, outcome: ready(cxv1.ReasonSucceeded, "")}
	worse := func(r readiness) {
		if res.outcome.ready || (r.stalled && !res.outcome.stalled) {
			res.outcome = r
		}
	}
	sources := map[string]*cxv1.SignalSource{}
	for _, o := range objs {
		src, seen := sources[o.Signal.SourceRef.Name]
		if !seen {
			s := &cxv1.SignalSource{}
			err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: o.Signal.SourceRef.Name}, s)
			switch {
			case apierrors.IsNotFound(err):
				s = nil
			case err != nil:
				res.problems[o.Name] = err.Error()
				worse(waiting(cxv1.ReasonSourceNotFound, err.Error()))
				continue
			}
			sources[o.Signal.SourceRef.Name] = s
			src = s
		}
		if src == nil {
			msg := fmt.Sprintf("signal source %q of objective %q does not exist in namespace %s", o.Signal.SourceRef.Name, o.Name, ns)
			res.problems[o.Name] = msg
			worse(waiting(cxv1.ReasonSourceNotFound, msg))
			continue
		}
		var minInterval time.Duration
		if src.Spec.MinInterval != nil {
			minInterval = src.Spec.MinInterval.Duration
		}
		spec, err := engine.Compile(o, minInterval)
		if err != nil {
			msg := fmt.Sprintf("objective %q: %v", o.Name, err)
			res.problems[o.Name] = msg
			worse(stalled(cxv1.ReasonInvalidSpec, msg))
			continue
		}
		d := data
		d.Objective = o.Name
		query, err := providers.RenderQuery(o.Signal.Query, d)
		if err != nil {
			msg := fmt.Sprintf("objective %q: query: %v", o.Name, err)
			res.problems[o.Name] = msg
			worse(stalled(cxv1.ReasonInvalidSpec, msg))
			continue
		}
		// The engine keeps these for as long as the objective lives: one copy of
		// each text that many objectives share.
		spec.Source = cacheStrings.String(ns + "/" + src.Name)
		spec.Query = cacheStrings.String(query)
		spec.Target = cacheStrings.String(spec.Target)
		res.regs = append(res.regs, engine.Registration{Name: o.Name, Spec: spec, Initial: restoreState(prev, o.Name)})
		if cond := apimeta.FindStatusCondition(src.Status.Conditions, cxv1.ReadyCondition); cond == nil || cond.Status != metav1.ConditionTrue {
			msg := fmt.Sprintf("signal source %q is not ready", src.Name)
			if cond != nil && cond.Message != "" {
				msg += ": " + cond.Message
			}
			res.unready[o.Name] = msg
		}
	}
	if res.outcome.ready {
		res.outcome.message = fmt.Sprintf("%d objectives evaluated", len(res.regs))
	}
	return res
}

// notEvaluated is the resolution of objectives that are not evaluated at all
// (their moment's journey or stage does not exist): each one says why.
func notEvaluated(objs []cxv1.Objective, why string) resolvedObjectives {
	res := resolvedObjectives{problems: map[string]string{}, unready: map[string]string{}}
	for _, o := range objs {
		res.problems[o.Name] = "not evaluated: " + why
	}
	return res
}

// restoreState is where the engine continues after a restart: the hysteresis
// clocks as the last leader wrote them.
func restoreState(prev []cxv1.ObjectiveStatus, name string) engine.State {
	for _, p := range prev {
		if p.Name != name {
			continue
		}
		st := engine.State{
			State:          p.State,
			Since:          timeOf(p.Since),
			BreachingSince: timeOf(p.BreachingSince),
			DriftingSince:  timeOf(p.DriftingSince),
			MetSince:       timeOf(p.MetSince),
			LastEvaluated:  timeOf(p.LastEvaluated),
			Message:        p.Message,
		}
		if p.Value != nil {
			if v, err := strconv.ParseFloat(*p.Value, 64); err == nil {
				st.Value, st.HasValue = v, true
			}
		}
		return st
	}
	return engine.State{}
}

// objectiveStatuses builds the status of each objective, in spec order, from the
// engine's snapshot and the resolution problems.
func objectiveStatuses(objs []cxv1.Objective, snap []engine.Result, problems map[string]string, prev []cxv1.ObjectiveStatus) []cxv1.ObjectiveStatus {
	byName := make(map[string]engine.Result, len(snap))
	for _, r := range snap {
		byName[r.Name] = r
	}
	out := make([]cxv1.ObjectiveStatus, 0, len(objs))
	for _, o := range objs {
		os := cxv1.ObjectiveStatus{Name: o.Name, State: cxv1.StateUnknown}
		if msg, bad := problems[o.Name]; bad {
			os.Message = msg
			// Keep the episode's clocks: a source that disappears for a while does not
			// end a breach.
			if p := findObjective(prev, o.Name); p != nil {
				os.BreachingSince, os.DriftingSince, os.TaskRef = p.BreachingSince, p.DriftingSince, p.TaskRef
				os.Since = p.Since
				if p.State != cxv1.StateUnknown {
					os.Since = nil
				}
			}
			out = append(out, os)
			continue
		}
		r, ok := byName[o.Name]
		if !ok || r.State.State == "" {
			os.Message = "not evaluated yet"
			if p := findObjective(prev, o.Name); p != nil {
				os = *p.DeepCopy()
			}
			out = append(out, os)
			continue
		}
		st := r.State
		os.State = st.State
		os.Target = r.Target
		os.Since = timePtr(st.Since)
		os.BreachingSince = timePtr(st.BreachingSince)
		os.DriftingSince = timePtr(st.DriftingSince)
		os.MetSince = timePtr(st.MetSince)
		os.LastEvaluated = timePtr(st.LastEvaluated)
		os.Message = st.Message
		if st.HasValue {
			v := strconv.FormatFloat(st.Value, 'f', -1, 64)
			if len(v) > 64 {
				v = strconv.FormatFloat(st.Value, 'g', 12, 64)
			}
			os.Value = &v
		}
		if p := findObjective(prev, o.Name); p != nil && os.DriftingSince != nil {
			os.TaskRef = p.TaskRef
		}
		out = append(out, os)
	}
	return out
}

func findObjective(list []cxv1.ObjectiveStatus, name string) *cxv1.ObjectiveStatus {
	for i := range list {
		if list[i].Name == name {
			return &list[i]
		}
	}
	return nil
}

// healthCondition summarizes objective states as the Healthy condition.
func healthCondition(statuses []cxv1.ObjectiveStatus) (metav1.ConditionStatus, string, string) {
	var drifting, breached, unknown, warning []string
	for _, s := range statuses {
		switch s.State {
		case cxv1.StateDrifting:
			drifting = append(drifting, describe(s))
		case cxv1.StateBreached:
			breached = append(breached, describe(s))
		case cxv1.StateWarning:
			warning = append(warning, describe(s))
		case cxv1.StateMet:
		default:
			unknown = append(unknown, describe(s))
		}
	}
	switch {
	case len(drifting) > 0:
		return metav1.ConditionFalse, cxv1.ReasonObjectiveDrifting, strings.Join(append(drifting, breached...), "; ")
	case len(breached) > 0:
		return metav1.ConditionFalse, cxv1.ReasonObjectiveBreached, strings.Join(breached, "; ")
	case len(unknown) > 0:
		return metav1.ConditionUnknown, cxv1.ReasonNoData, strings.Join(unknown, "; ")
	case len(warning) > 0:
		return metav1.ConditionTrue, cxv1.ReasonObjectiveAtRisk, strings.Join(warning, "; ")
	case len(statuses) == 0:
		return metav1.ConditionUnknown, cxv1.ReasonAwaitingEvaluation, "no objectives"
	}
	return metav1.ConditionTrue, cxv1.ReasonObjectivesMet, fmt.Sprintf("all %d objectives are met", len(statuses))
}

func describe(s cxv1.ObjectiveStatus) string {
	if s.Message != "" {
		return s.Name + ": " + s.Message
	}
	return s.Name + " is " + string(s.State)
}

// withoutValues returns statuses without the fields that change on every
// evaluation, for deciding whether a write is earned.
func withoutValues(list []cxv1.ObjectiveStatus) []cxv1.ObjectiveStatus {
	out := make([]cxv1.ObjectiveStatus, len(list))
	for i := range list {
		out[i] = list[i]
		out[i].Value = nil
		out[i].LastEvaluated = nil
	}
	return out
}

func timeOf(t *metav1.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}

// timePtr converts to the precision the API stores (seconds), so that a status read
// back compares equal to the one written.
func timePtr(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t).Rfc3339Copy()
	return &mt
}

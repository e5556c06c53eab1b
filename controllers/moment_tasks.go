package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/textutil"
)

// Labels on every RemediationTask, so that `kubectl get rtask -l ...` works.
const (
	LabelMoment    = "cx.cxops.io/moment"
	LabelJourney   = "cx.cxops.io/journey"
	LabelObjective = "cx.cxops.io/objective"
	LabelStream    = "cx.cxops.io/stream"
	LabelTeam      = "cx.cxops.io/team"
)

// ensureTasks makes sure every drifting objective has its task, and records its name
// in the objective's status. Names are deterministic from the drift episode (moment,
// objective, start of the breach), so a retry, a restart or a racing reconcile finds
// the task instead of creating a second one; an open task of the same objective is
// adopted in case the episode's start was not persisted before a crash.
func (r *MomentReconciler) ensureTasks(ctx context.Context, m *cxv1.Moment) error {
	for i := range m.Status.Objectives {
		os := &m.Status.Objectives[i]
		if os.DriftingSince == nil || os.BreachingSince == nil {
			os.TaskRef = ""
			continue
		}
		if os.TaskRef != "" {
			continue
		}
		if open, err := r.openTaskOf(ctx, m, os.Name); err != nil {
			return err
		} else if open != "" {
			os.TaskRef = open
			continue
		}
		name := taskName(m.Name, os.Name, os.BreachingSince.Time)
		t := r.newTask(m, os, name)
		if err := r.Create(ctx, t); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("opening remediation task %s: %w", name, err)
		}
		os.TaskRef = name
	}
	return nil
}

// openTaskOf returns an unresolved task of the objective, if any.
func (r *MomentReconciler) openTaskOf(ctx context.Context, m *cxv1.Moment, objective string) (string, error) {
	var list cxv1.RemediationTaskList
	if err := r.List(ctx, &list, client.InNamespace(m.Namespace), client.MatchingFields{indexTaskMoment: m.Name},
		client.UnsafeDisableDeepCopy); err != nil {
		return "", err
	}
	for _, t := range list.Items {
		if t.Spec.Objective == objective && t.Status.Phase != cxv1.TaskResolved && t.Spec.Resolved == nil &&
			metav1.IsControlledBy(&t, m) {
			return t.Name, nil
		}
	}
	return "", nil
}

func (r *MomentReconciler) newTask(m *cxv1.Moment, os *cxv1.ObjectiveStatus, name string) *cxv1.RemediationTask {
	rem := m.Spec.Remediation
	if rem == nil {
		rem = &cxv1.Remediation{}
	}
	team := rem.Team
	if team == "" {
		team = m.Spec.Owner
	}
	severity := rem.Severity
	if severity == "" {
		severity = cxv1.SeverityMedium
		for _, o := range m.Spec.Objectives {
			if o.Name == os.Name && o.Key != nil && *o.Key {
				severity = cxv1.SeverityHigh
			}
		}
	}
	observed := ""
	if os.Value != nil {
		observed = *os.Value
	}
	unit := ""
	for _, o := range m.Spec.Objectives {
		if o.Name == os.Name {
			unit = o.KPI.Unit
		}
	}
	t := &cxv1.RemediationTask{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: m.Namespace,
			Labels: map[string]string{
				LabelMoment:    labelValue(m.Name),
				LabelJourney:   labelValue(m.Spec.JourneyRef.Name),
				LabelObjective: labelValue(os.Name),
				LabelTeam:      labelValue(team),
			},
		},
		Spec: cxv1.RemediationTaskSpec{
			MomentRef:      cxv1.LocalObjectReference{Name: m.Name},
			JourneyRef:     cxv1.LocalObjectReference{Name: m.Spec.JourneyRef.Name},
			Objective:      os.Name,
			StreamRef:      rem.StreamRef,
			Team:           team,
			Severity:       severity,
			Observed:       observed,
			Target:         os.Target,
			BreachingSince: os.BreachingSince.DeepCopy(),
			Summary: textutil.Truncate(fmt.Sprintf("%s of %s is %s%s, target %s, missed since %s",
				os.Name, m.Name, orDash(observed), unitSuffix(unit), os.Target,
				os.BreachingSince.UTC().Format("2006-01-02 15:04 MST")), 512),
		},
	}
	if len(rem.Sinks) > 0 {
		// What delivery needs outlives the moment: its sinks as they are now,
		// and a finalizer that holds the task until they heard how it ended.
		t.Spec.Sinks = make([]cxv1.WebhookSink, len(rem.Sinks))
		for i := range rem.Sinks {
			rem.Sinks[i].DeepCopyInto(&t.Spec.Sinks[i])
		}
		t.Finalizers = []string{taskFinalizer}
	}
	if rem.StreamRef.Name != "" {
		t.Labels[LabelStream] = labelValue(rem.StreamRef.Name)
	}
	for k, v := range t.Labels {
		if v == "" {
			delete(t.Labels, k)
		}
	}
	_ = controllerutil.SetControllerReference(m, t, r.Scheme())
	return t
}

// taskName is deterministic from the drift episode.
func taskName(moment, objective string, breachingSince time.Time) string {
	sum := sha256.Sum256([]byte(moment + "\x00" + objective + "\x00" + strconv.FormatInt(breachingSince.Unix(), 10)))
	suffix := hex.EncodeToString(sum[:])[:10]
	prefix := strings.TrimRight(textutil.TruncateNoMark(moment+"-"+objective, 253-len(suffix)-1), "-.")
	return prefix + "-" + suffix
}

// labelValue makes a name usable as a label value (at most 63 characters).
func labelValue(s string) string {
	if len(s) > validation.LabelValueMaxLength {
		s = strings.TrimRight(s[:validation.LabelValueMaxLength], "-._")
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func unitSuffix(unit string) string {
	switch unit {
	case "":
		return ""
	case "%":
		return " %"
	}
	return " " + unit
}

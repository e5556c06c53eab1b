package controllers

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// Observation 6: the manager logged nothing from the controllers. Every state
// change of an objective, a drift, a change of health and of Ready is logged with
// stable keys (the reconcile's logger adds namespace and name).
func TestTransitionsAreLogged(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	log := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, prefix+" "+args)
	}, funcr.Options{Verbosity: 1})
	ctx := logr.NewContext(context.Background(), log)

	before := &cxv1.Moment{Status: cxv1.MomentStatus{
		Health:     cxv1.HealthHealthy,
		Objectives: []cxv1.ObjectiveStatus{{Name: "accuracy", State: cxv1.StateMet}},
		Conditions: []metav1.Condition{{Type: cxv1.ReadyCondition, Status: metav1.ConditionTrue, Reason: cxv1.ReasonSucceeded}},
	}}
	now := metav1.Now()
	after := before.DeepCopy()
	after.Status.Health = cxv1.HealthDegraded
	after.Status.Objectives[0] = cxv1.ObjectiveStatus{Name: "accuracy", State: cxv1.StateDrifting, DriftingSince: &now,
		BreachingSince: &now, Message: "value 98.1 misses target >= 99.5"}
	after.Status.Conditions[0] = metav1.Condition{Type: cxv1.ReadyCondition, Status: metav1.ConditionFalse,
		Reason: cxv1.ReasonTaskCreationFailed, Message: "forbidden"}
	(&MomentReconciler{}).recordTransitions(ctx, before, after)

	all := strings.Join(lines, "\n")
	for _, want := range []string{
		`"msg"="objective state changed" "objective"="accuracy" "from"="Met" "to"="Drifting"`,
		`"msg"="objective is drifting" "objective"="accuracy"`,
		`"msg"="moment health changed" "from"="Healthy" "to"="Degraded"`,
		`"msg"="not ready" "reason"="TaskCreationFailed" "message"="forbidden"`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no log line with %s in:\n%s", want, all)
		}
	}
}

// The reconcile request annotation is the tenant's text of any length; what is
// handled, and written to status.lastHandledReconcileAt, fits its 128 characters,
// and is not new again on the next reconcile.
func TestALongReconcileRequestIsCutToTheStatusLimit(t *testing.T) {
	m := &cxv1.Moment{}
	m.SetAnnotations(map[string]string{cxv1.ReconcileRequestAnnotation: strings.Repeat("x", 1<<16)})
	v, ok := reconcileRequested(m, "")
	if !ok || len(v) != maxRequestValue {
		t.Fatalf("got %d characters (new: %v), want %d", len(v), ok, maxRequestValue)
	}
	if _, again := reconcileRequested(m, v); again {
		t.Fatal("the same long annotation counts as a new request once handled")
	}
}

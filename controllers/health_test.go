package controllers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/engine"
)

// Observation 5 of "health you can trust": a new object had no status for 5-11 s,
// and kstatus computes Current for a custom resource without status. The first
// reconcile of a generation now says Reconciling at once.
func TestNewMomentIsInProgressUntilEvaluated(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		_, _ = fmt.Fprint(w, `{"nps": 42}`)
	}))
	defer srv.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	src := &cxv1.SignalSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "survey"},
		Spec:       cxv1.SignalSourceSpec{HTTP: cxv1.HTTPSource{URL: srv.URL}},
	}
	o := objective("nps", "survey", "{.nps}", "30")
	m := moment(ns, "recommend", "parts", "order", o)
	create(g, src, journey(ns, "parts", "order"), m)

	// While the signal is being fetched, the moment's current generation is seen
	// and InProgress: never Current before cxops has looked at it.
	g.Eventually(func(g Gomega) {
		m := get(g, m)
		g.Expect(m.Status.ObservedGeneration).To(Equal(m.Generation))
		g.Expect(kstatusOf(g, m)).To(Equal(kstatus.InProgressStatus))
		g.Expect(cond(m.Status.Conditions, cxv1.ReconcilingCondition).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(cond(m.Status.Conditions, cxv1.HealthyCondition).Status).To(Equal(metav1.ConditionUnknown))
	}, timeout, poll).Should(Succeed())
	g.Consistently(func(g Gomega) {
		g.Expect(kstatusOf(g, get(g, m))).To(Equal(kstatus.InProgressStatus))
	}, time.Second, poll).Should(Succeed())

	close(release)
	g.Eventually(func(g Gomega) {
		m := get(g, m)
		g.Expect(kstatusOf(g, m)).To(Equal(kstatus.CurrentStatus), "%+v", m.Status.Conditions)
		g.Expect(objState(m, "nps").State).To(Equal(cxv1.StateMet))
		g.Expect(cond(m.Status.Conditions, cxv1.HealthyCondition).Status).To(Equal(metav1.ConditionTrue))
	}, timeout, poll).Should(Succeed())
}

// Issue 12: a new moment on a network source was written twice, Evaluating and
// then evaluated a moment later, because its first reconcile ran before the
// fetch came back: about 4% of the status writes while 10,000 moments converged.
// The first status of a new generation now waits (at most firstSightDefer) for
// the first evaluation; a source slower than that still shows Evaluating first
// (TestNewMomentIsInProgressUntilEvaluated).
func TestNewMomentOnAFastNetworkSourceIsWrittenOnce(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprint(w, `{"nps": 42}`)
	}))
	defer srv.Close()
	src := &cxv1.SignalSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "survey"},
		Spec:       cxv1.SignalSourceSpec{HTTP: cxv1.HTTPSource{URL: srv.URL}},
	}
	j := journey(ns, "parts", "order")
	create(g, src, j)
	g.Eventually(func(g Gomega) {
		g.Expect(get(g, j).Status.ObservedGeneration).To(Equal(int64(1)))
		g.Expect(kstatusOf(g, get(g, src))).To(Equal(kstatus.CurrentStatus))
	}, timeout, poll).Should(Succeed())
	m := moment(ns, "recommend", "parts", "order", objective("nps", "survey", "{.nps}", "30"))
	create(g, m)

	g.Eventually(func(g Gomega) {
		m := get(g, m)
		g.Expect(kstatusOf(g, m)).To(Equal(kstatus.CurrentStatus), "%+v", m.Status.Conditions)
		g.Expect(objState(m, "nps").State).To(Equal(cxv1.StateMet))
	}, timeout, poll).Should(Succeed())
	g.Expect(writes.of("moments", ns, "recommend")).To(Equal(1), "one write: the evaluated status, no Evaluating before it")
}

// Observation 2: a moment whose journey does not exist was Healthy=True, evaluated
// anyway, and Reconciling forever. It is now Healthy=Unknown, not evaluated, and
// Stalled (kstatus Failed) once the grace period has passed; it recovers by
// itself when the journey appears.
func TestMissingJourneyStallsAfterGraceAndRecovers(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	src := staticSource(ns, "figures", map[string]string{"stock": "99.8"})
	m := moment(ns, "stock", "partz", "order", objective("accuracy", "figures", "stock", "99.5"))
	create(g, src, journey(ns, "parts", "order"), m)

	g.Eventually(func(g Gomega) {
		m := get(g, m)
		g.Expect(m.Status.ObservedGeneration).To(Equal(m.Generation))
		g.Expect(cond(m.Status.Conditions, cxv1.ReadyCondition).Reason).To(Equal(cxv1.ReasonJourneyNotFound))
		g.Expect(cond(m.Status.Conditions, cxv1.HealthyCondition).Status).To(Equal(metav1.ConditionUnknown))
		g.Expect(m.Status.Health).To(Equal(cxv1.HealthUnknown))
		g.Expect(kstatusOf(g, m)).To(Equal(kstatus.InProgressStatus))
		g.Expect(objState(m, "accuracy").State).To(Equal(cxv1.StateUnknown))
	}, timeout, poll).Should(Succeed())
	_, registered := system.Engine.Snapshot(engine.Owner{Kind: "Moment", Namespace: ns, Name: "stock"})
	g.Expect(registered).To(BeFalse(), "objectives are not evaluated against a journey that does not exist")

	testClock.Step(2*time.Minute + time.Second)
	g.Eventually(func(g Gomega) {
		m := get(g, m)
		g.Expect(kstatusOf(g, m)).To(Equal(kstatus.FailedStatus), "%+v", m.Status.Conditions)
		stalled := cond(m.Status.Conditions, cxv1.StalledCondition)
		g.Expect(stalled.Reason).To(Equal(cxv1.ReasonJourneyNotFound))
		g.Expect(stalled.Message).To(ContainSubstring(`journey "partz"`))
		g.Expect(stalled.Message).To(ContainSubstring("existing: parts"))
		g.Expect(cond(m.Status.Conditions, cxv1.HealthyCondition).Status).To(Equal(metav1.ConditionUnknown))
	}, timeout, poll).Should(Succeed())

	create(g, journey(ns, "partz", "order"))
	g.Eventually(func(g Gomega) {
		m := get(g, m)
		g.Expect(kstatusOf(g, m)).To(Equal(kstatus.CurrentStatus), "%+v", m.Status.Conditions)
		g.Expect(objState(m, "accuracy").State).To(Equal(cxv1.StateMet))
	}, timeout, poll).Should(Succeed())
}

// Observation 1: both drifting objectives of a journey went Unknown with two tasks
// open, and the journey said Healthy=True with a score of 100. Coverage now
// decides: a journey whose open drift episodes went dark is Unknown, and so is one
// whose coverage is below minCoverage.
func TestJourneyIsUnknownWhenItsDataGoesDark(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	src := staticSource(ns, "figures", map[string]string{"stock": "99.8", "delivery": "97", "chat": "95"})
	create(g, src, journey(ns, "parts", "order", "deliver"),
		moment(ns, "stock", "parts", "order", objective("accuracy", "figures", "stock", "99.5")),
		moment(ns, "delivery", "parts", "deliver", objective("on-time", "figures", "delivery", "95")),
		moment(ns, "chat", "parts", "deliver", objective("answered", "figures", "chat", "90")))
	j := &cxv1.Journey{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "parts"}}
	g.Eventually(func(g Gomega) {
		j := get(g, j)
		g.Expect(j.Status.Health).To(Equal(cxv1.HealthHealthy))
		g.Expect(j.Status.Coverage).To(HaveValue(Equal(int32(100))))
	}, timeout, poll).Should(Succeed())

	// Two objectives drift (for is 0s): tasks open.
	setStatic(g, src, "stock", "90")
	setStatic(g, src, "delivery", "80")
	g.Eventually(func(g Gomega) {
		g.Expect(get(g, j).Status.DriftingMoments).To(HaveValue(Equal(int32(2))))
	}, timeout, poll).Should(Succeed())

	// Their data goes dark: the episodes stay open, and the journey does not know
	// whether it is healthy.
	patch := client.MergeFrom(src.DeepCopy())
	delete(src.Spec.Static.Values, "stock")
	delete(src.Spec.Static.Values, "delivery")
	g.Expect(k8sClient.Patch(context.Background(), src, patch)).To(Succeed())
	g.Eventually(func(g Gomega) {
		j := get(g, j)
		healthy := cond(j.Status.Conditions, cxv1.HealthyCondition)
		g.Expect(healthy.Status).To(Equal(metav1.ConditionUnknown), "%+v", healthy)
		g.Expect(healthy.Reason).To(Equal(cxv1.ReasonNoData))
		g.Expect(healthy.Message).To(ContainSubstring("stock/accuracy (drifting, task open)"))
		g.Expect(j.Status.Health).To(Equal(cxv1.HealthUnknown))
		g.Expect(j.Status.Coverage).To(HaveValue(Equal(int32(33))))
		g.Expect(j.Status.DriftingMoments).To(HaveValue(Equal(int32(2))), "a dark episode is still an open episode")
		m := get(g, &cxv1.Moment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "stock"}})
		g.Expect(m.Status.Drifting).To(Equal("accuracy"))
		g.Expect(cond(m.Status.Conditions, cxv1.HealthyCondition).Status).NotTo(Equal(metav1.ConditionTrue))
	}, timeout, poll).Should(Succeed())

	// Data returns, met: healthy again.
	patch = client.MergeFrom(src.DeepCopy())
	src.Spec.Static.Values["stock"] = "99.9"
	src.Spec.Static.Values["delivery"] = "99"
	g.Expect(k8sClient.Patch(context.Background(), src, patch)).To(Succeed())
	g.Eventually(func(g Gomega) {
		j := get(g, j)
		g.Expect(cond(j.Status.Conditions, cxv1.HealthyCondition).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(j.Status.Coverage).To(HaveValue(Equal(int32(100))))
	}, timeout, poll).Should(Succeed())
}

// Issue 11, observation 5: a task the API server refuses to create left the
// moment Healthy/Met for minutes, with no condition saying why. The objectives'
// states and the failure are now written whatever happens after evaluation.
func TestRefusedTaskCreationShowsInStatus(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	ctx := context.Background()
	policy := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "freeze-tasks-" + ns},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionv1.Fail),
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Create},
					Rule: admissionv1.Rule{APIGroups: []string{"cx.cxops.io"}, APIVersions: []string{"*"},
						Resources: []string{"remediationtasks"}},
				},
			}}},
			Validations: []admissionv1.Validation{{Expression: "false", Message: "remediation tasks are frozen in this namespace"}},
		},
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "freeze-tasks-" + ns},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        policy.Name,
			ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
			MatchResources: &admissionv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{corev1.LabelMetadataName: ns},
			}},
		},
	}
	create(g, policy, binding)
	t.Cleanup(func() {
		_ = k8sClient.Delete(ctx, binding)
		_ = k8sClient.Delete(ctx, policy)
	})
	// The policy is in force once a probe task is refused.
	g.Eventually(func() bool {
		err := k8sClient.Create(ctx, task(ns, "probe"))
		if err == nil {
			_ = k8sClient.Delete(ctx, task(ns, "probe"))
		}
		return apierrors.IsInvalid(err) || apierrors.IsForbidden(err)
	}, timeout, poll).Should(BeTrue())

	src := staticSource(ns, "figures", map[string]string{"stock": "99.8"})
	m := moment(ns, "stock", "parts", "order", objective("accuracy", "figures", "stock", "99.5"))
	create(g, src, journey(ns, "parts", "order"), m)
	g.Eventually(func(g Gomega) {
		g.Expect(objState(get(g, m), "accuracy").State).To(Equal(cxv1.StateMet))
	}, timeout, poll).Should(Succeed())

	setStatic(g, src, "stock", "10")
	g.Eventually(func(g Gomega) {
		m := get(g, m)
		g.Expect(objState(m, "accuracy").State).To(Equal(cxv1.StateDrifting))
		g.Expect(m.Status.Health).To(Equal(cxv1.HealthDegraded))
		g.Expect(cond(m.Status.Conditions, cxv1.HealthyCondition).Status).To(Equal(metav1.ConditionFalse))
		ready := cond(m.Status.Conditions, cxv1.ReadyCondition)
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(ready.Reason).To(Equal(cxv1.ReasonTaskCreationFailed))
		g.Expect(ready.Message).To(ContainSubstring("frozen"))
	}, timeout, poll).Should(Succeed())

	// The policy goes away: the task opens and the moment is Ready again.
	g.Expect(k8sClient.Delete(ctx, binding)).To(Succeed())
	g.Eventually(func(g Gomega) {
		m := get(g, m)
		g.Expect(objState(m, "accuracy").TaskRef).NotTo(BeEmpty())
		g.Expect(cond(m.Status.Conditions, cxv1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(tasksOf(g, ns, "stock")).To(HaveLen(1))
	}, 2*timeout, poll).Should(Succeed())
}

// Observation 3: a new cause (the reason data is missing) waited for the
// heartbeat, five minutes. It is now written within one evaluation interval, and
// a cause that keeps changing is written at most once per interval.
func TestCauseChangesAreWrittenAtMostOncePerInterval(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	src := staticSource(ns, "figures", map[string]string{"a": "1"})
	o := objective("accuracy", "figures", "stock", "99.5")
	o.Interval = &cxv1.Duration{Duration: 10 * time.Second}
	m := moment(ns, "stock", "parts", "order", o)
	create(g, src, journey(ns, "parts", "order"), m)
	message := func(g Gomega) string {
		os := objState(get(g, m), "accuracy")
		g.Expect(os.State).To(Equal(cxv1.StateUnknown))
		return os.Message
	}
	g.Eventually(message, timeout, poll).Should(ContainSubstring("known: a)"))
	g.Eventually(func(g Gomega) {
		g.Expect(kstatusOf(g, get(g, m))).To(Equal(kstatus.CurrentStatus))
	}, timeout, poll).Should(Succeed())
	before := writes.of("moments", ns, "stock")

	// The cause changes twice within the interval: nothing is written yet...
	setStatic(g, src, "b", "2")
	setStatic(g, src, "c", "3")
	g.Consistently(message, 2*time.Second, poll).Should(ContainSubstring("known: a)"))
	g.Expect(writes.of("moments", ns, "stock")).To(Equal(before))

	// ...and once the interval since the last write has passed, the latest cause
	// is written, once.
	testClock.Step(10 * time.Second)
	g.Eventually(message, timeout, poll).Should(ContainSubstring("known: a, b, c)"))
	g.Consistently(func() int { return writes.of("moments", ns, "stock") }, 2*time.Second, poll).Should(Equal(before + 1))

	// Stable again: the next interval writes nothing.
	testClock.Step(10 * time.Second)
	g.Consistently(func() int { return writes.of("moments", ns, "stock") }, 2*time.Second, poll).Should(Equal(before + 1))
}

// Issue 9: spec.suspend stops evaluation and task creation, and the status says
// so; the reconcile request annotation asks for an immediate evaluation and is
// acknowledged in status.lastHandledReconcileAt (as Flux's requestedAt).
func TestSuspendAndReconcileRequest(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	ctx := context.Background()
	src := staticSource(ns, "figures", map[string]string{"stock": "99.8"})
	o := objective("accuracy", "figures", "stock", "99.5")
	o.Interval = &cxv1.Duration{Duration: 10 * time.Minute}
	m := moment(ns, "stock", "parts", "order", o)
	create(g, src, journey(ns, "parts", "order"), m)
	owner := engine.Owner{Kind: "Moment", Namespace: ns, Name: "stock"}
	g.Eventually(func(g Gomega) {
		g.Expect(objState(get(g, m), "accuracy").State).To(Equal(cxv1.StateMet))
	}, timeout, poll).Should(Succeed())

	// A reconcile request evaluates at once, without waiting for the 10m tick.
	snap, _ := system.Engine.Snapshot(owner)
	last := snap[0].State.LastEvaluated
	testClock.Step(time.Second)
	p := client.MergeFrom(get(g, m).DeepCopy())
	m.Annotations = map[string]string{cxv1.ReconcileRequestAnnotation: "2026-12-02T08:00:00Z"}
	g.Expect(k8sClient.Patch(ctx, m, p)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(get(g, m).Status.LastHandledReconcileAt).To(Equal("2026-12-02T08:00:00Z"))
		snap, _ := system.Engine.Snapshot(owner)
		g.Expect(snap[0].State.LastEvaluated).To(BeTemporally(">", last))
	}, timeout, poll).Should(Succeed())

	// Suspended: not evaluated, no task opens for a breach, the status says so.
	p = client.MergeFrom(get(g, m).DeepCopy())
	m.Spec.Suspend = ptr.To(true)
	g.Expect(k8sClient.Patch(ctx, m, p)).To(Succeed())
	g.Eventually(func(g Gomega) {
		m := get(g, m)
		g.Expect(cond(m.Status.Conditions, cxv1.SuspendedCondition).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(cond(m.Status.Conditions, cxv1.HealthyCondition).Status).To(Equal(metav1.ConditionUnknown))
		g.Expect(m.Status.ObservedGeneration).To(Equal(m.Generation))
	}, timeout, poll).Should(Succeed())
	_, registered := system.Engine.Snapshot(owner)
	g.Expect(registered).To(BeFalse())
	setStatic(g, src, "stock", "10")
	testClock.Step(11 * time.Minute)
	g.Consistently(func(g Gomega) {
		g.Expect(tasksOf(g, ns, "stock")).To(BeEmpty())
	}, 2*time.Second, poll).Should(Succeed())

	// Resumed: evaluated again, the breach is seen.
	p = client.MergeFrom(get(g, m).DeepCopy())
	m.Spec.Suspend = nil
	g.Expect(k8sClient.Patch(ctx, m, p)).To(Succeed())
	g.Eventually(func(g Gomega) {
		m := get(g, m)
		g.Expect(cond(m.Status.Conditions, cxv1.SuspendedCondition).Type).To(BeEmpty())
		g.Expect(objState(m, "accuracy").State).To(Equal(cxv1.StateDrifting))
		g.Expect(tasksOf(g, ns, "stock")).To(HaveLen(1))
	}, timeout, poll).Should(Succeed())
}

package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/engine"
)

const (
	timeout = 20 * time.Second
	poll    = 50 * time.Millisecond
)

func get[T client.Object](g Gomega, obj T) T {
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)).To(Succeed())
	return obj
}

func cond(conds []metav1.Condition, typ string) metav1.Condition {
	if c := apimeta.FindStatusCondition(conds, typ); c != nil {
		return *c
	}
	return metav1.Condition{}
}

func objState(m *cxv1.Moment, name string) cxv1.ObjectiveStatus {
	if o := findObjective(m.Status.Objectives, name); o != nil {
		return *o
	}
	return cxv1.ObjectiveStatus{}
}

// kstatusOf computes an object's status the way Flux, kpt and cli-utils do.
func kstatusOf(g Gomega, obj client.Object) kstatus.Status {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	g.Expect(err).NotTo(HaveOccurred())
	res, err := kstatus.Compute(&unstructured.Unstructured{Object: u})
	g.Expect(err).NotTo(HaveOccurred())
	return res.Status
}

func setStatic(g Gomega, src *cxv1.SignalSource, key, value string) {
	patch := client.MergeFrom(src.DeepCopy())
	src.Spec.Static.Values[key] = cxv1.StaticValue(value)
	g.Expect(k8sClient.Patch(context.Background(), src, patch)).To(Succeed())
}

func create(g Gomega, objs ...client.Object) {
	for _, o := range objs {
		g.Expect(k8sClient.Create(context.Background(), o)).To(Succeed())
	}
}

func TestMomentWithStaticSourceGoesHealthy(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	src := staticSource(ns, "figures", map[string]string{"stock": "99.8"})
	m := moment(ns, "stock", "parts", "order", objective("accuracy", "figures", "stock", "99.5"))
	j := journey(ns, "parts", "discover", "order")
	create(g, src, j)
	// The manager has seen the journey and the source (their status is written):
	// the moment's writes below do not depend on how fast its caches are.
	g.Eventually(func(g Gomega) {
		g.Expect(get(g, j).Status.ObservedGeneration).To(Equal(int64(1)))
		g.Expect(get(g, src).Status.ObservedGeneration).To(Equal(int64(1)))
	}, timeout, poll).Should(Succeed())
	create(g, m)

	g.Eventually(func(g Gomega) {
		m := get(g, m)
		g.Expect(kstatusOf(g, m)).To(Equal(kstatus.CurrentStatus), "kstatus Current: %+v", m.Status.Conditions)
		g.Expect(cond(m.Status.Conditions, cxv1.HealthyCondition).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(m.Status.Health).To(Equal(cxv1.HealthHealthy))
		o := objState(m, "accuracy")
		g.Expect(o.State).To(Equal(cxv1.StateMet))
		g.Expect(o.Value).To(HaveValue(Equal("99.8")))
		g.Expect(o.Target).To(Equal(">= 99.5"))
	}, timeout, poll).Should(Succeed())

	g.Eventually(func(g Gomega) {
		s := get(g, src)
		g.Expect(kstatusOf(g, s)).To(Equal(kstatus.CurrentStatus))
		g.Expect(s.Status.Provider).To(Equal("static"))
	}, timeout, poll).Should(Succeed())
	// A static source answers from memory: the moment is evaluated when it is
	// registered, so its first write is already the evaluated status (one write,
	// no Evaluating write before it). A network source still shows Evaluating
	// first: TestNewMomentIsInProgressUntilEvaluated.
	g.Expect(writes.of("moments", ns, "stock")).To(Equal(1))
}

func TestMomentDriftsAndRecovers(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	src := staticSource(ns, "figures", map[string]string{"stock": "99.8"})
	o := objective("accuracy", "figures", "stock", "99.5")
	o.For = &cxv1.Duration{Duration: time.Minute}
	o.RecoverFor = &cxv1.Duration{Duration: 2 * time.Minute}
	m := moment(ns, "stock", "parts", "order", o)
	create(g, src, journey(ns, "parts", "order"), m)
	g.Eventually(func(g Gomega) {
		g.Expect(objState(get(g, m), "accuracy").State).To(Equal(cxv1.StateMet))
	}, timeout, poll).Should(Succeed())

	// The value drops below target: breached at once, not yet drifting.
	setStatic(g, src, "stock", "98.1")
	g.Eventually(func(g Gomega) {
		m := get(g, m)
		os := objState(m, "accuracy")
		g.Expect(os.State).To(Equal(cxv1.StateBreached))
		g.Expect(os.BreachingSince).NotTo(BeNil())
		g.Expect(os.Value).To(HaveValue(Equal("98.1")))
		g.Expect(cond(m.Status.Conditions, cxv1.HealthyCondition).Reason).To(Equal(cxv1.ReasonObjectiveBreached))
	}, timeout, poll).Should(Succeed())
	g.Expect(tasksOf(g, ns, "stock")).To(BeEmpty(), "no task before `for` has elapsed")

	// `for` elapses: drifting, and a task opens.
	testClock.Step(61 * time.Second)
	g.Eventually(func(g Gomega) {
		m := get(g, m)
		g.Expect(objState(m, "accuracy").State).To(Equal(cxv1.StateDrifting))
		g.Expect(m.Status.Drifting).To(Equal("accuracy"))
		g.Expect(cond(m.Status.Conditions, cxv1.HealthyCondition).Status).To(Equal(metav1.ConditionFalse))
		g.Expect(tasksOf(g, ns, "stock")).To(HaveLen(1))
	}, timeout, poll).Should(Succeed())

	// Met again, but not yet for recoverFor: still drifting.
	setStatic(g, src, "stock", "99.9")
	g.Eventually(func(g Gomega) {
		os := objState(get(g, m), "accuracy")
		g.Expect(os.MetSince).NotTo(BeNil())
		g.Expect(os.State).To(Equal(cxv1.StateDrifting))
	}, timeout, poll).Should(Succeed())

	testClock.Step(121 * time.Second)
	g.Eventually(func(g Gomega) {
		m := get(g, m)
		os := objState(m, "accuracy")
		g.Expect(os.State).To(Equal(cxv1.StateMet))
		g.Expect(os.BreachingSince).To(BeNil())
		g.Expect(os.DriftingSince).To(BeNil())
		g.Expect(cond(m.Status.Conditions, cxv1.HealthyCondition).Status).To(Equal(metav1.ConditionTrue))
	}, timeout, poll).Should(Succeed())
}

func TestMomentReportsMissingReferences(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	create(g, staticSource(ns, "figures", map[string]string{"stock": "99.8"}), journey(ns, "parts", "order"))

	cases := []struct {
		name   string
		m      *cxv1.Moment
		reason string
		msg    string
	}{
		{"no-journey", moment(ns, "no-journey", "missing", "order", objective("a", "figures", "stock", "99")),
			cxv1.ReasonJourneyNotFound, `journey "missing" of spec.journeyRef does not exist`},
		{"no-stage", moment(ns, "no-stage", "parts", "deliver", objective("a", "figures", "stock", "99")),
			cxv1.ReasonStageNotFound, `stage "deliver" is not a stage of journey "parts" (stages: order)`},
		{"no-source", moment(ns, "no-source", "parts", "order", objective("a", "nowhere", "stock", "99")),
			cxv1.ReasonSourceNotFound, `signal source "nowhere" of objective "a" does not exist`},
		{"no-stream", withStream(moment(ns, "no-stream", "parts", "order", objective("a", "figures", "stock", "99")), "roadmap"),
			cxv1.ReasonStreamNotFound, `roadmap stream "roadmap" of spec.remediation.streamRef does not exist`},
	}
	for _, tc := range cases {
		create(g, tc.m)
	}
	for _, tc := range cases {
		g.Eventually(func(g Gomega) {
			m := get(g, tc.m)
			ready := cond(m.Status.Conditions, cxv1.ReadyCondition)
			g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(ready.Reason).To(Equal(tc.reason))
			g.Expect(ready.Message).To(ContainSubstring(tc.msg))
			g.Expect(m.Status.ObservedGeneration).To(Equal(m.Generation))
			g.Expect(cond(m.Status.Conditions, cxv1.ReconcilingCondition).Status).To(Equal(metav1.ConditionTrue))
		}, timeout, poll).Should(Succeed(), tc.name)
	}

	// Creating what was missing makes the moment ready without touching it.
	create(g, journey(ns, "missing", "order"))
	g.Eventually(func(g Gomega) {
		m := get(g, cases[0].m)
		g.Expect(cond(m.Status.Conditions, cxv1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
	}, timeout, poll).Should(Succeed())
}

func withStream(m *cxv1.Moment, stream string) *cxv1.Moment {
	m.Spec.Remediation = &cxv1.Remediation{StreamRef: cxv1.LocalObjectReference{Name: stream}}
	return m
}

func TestSourceWithMissingSecret(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	src := staticSource(ns, "prom", nil)
	src.Spec.Static = cxv1.StaticSource{}
	src.Spec.Prometheus = cxv1.PrometheusSource{
		Address: "http://127.0.0.1:1",
		Auth:    cxv1.Auth{Type: cxv1.AuthBearer, SecretRef: cxv1.LocalObjectReference{Name: "prom-token"}},
	}
	m := moment(ns, "stock", "parts", "order", objective("a", "prom", "stock_accuracy", "99"))
	create(g, src, journey(ns, "parts", "order"), m)

	g.Eventually(func(g Gomega) {
		s := get(g, src)
		ready := cond(s.Status.Conditions, cxv1.ReadyCondition)
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(ready.Reason).To(Equal(cxv1.ReasonSecretNotFound))
		g.Expect(ready.Message).To(ContainSubstring("prom-token"))
	}, timeout, poll).Should(Succeed())
	g.Eventually(func(g Gomega) {
		m := get(g, m)
		g.Expect(cond(m.Status.Conditions, cxv1.ReadyCondition).Reason).To(Equal(cxv1.ReasonSourceNotReady))
		g.Expect(objState(m, "a").State).To(Equal(cxv1.StateUnknown))
		g.Expect(cond(m.Status.Conditions, cxv1.HealthyCondition).Status).To(Equal(metav1.ConditionUnknown))
	}, timeout, poll).Should(Succeed())

	// The Secret appears: the source is built, and the probe reports the address
	// unreachable (nothing listens on port 1).
	create(g, secret(ns, "prom-token", map[string]string{"token": "s3cret"}))
	g.Eventually(func(g Gomega) {
		s := get(g, src)
		ready := cond(s.Status.Conditions, cxv1.ReadyCondition)
		g.Expect(ready.Reason).To(Equal(cxv1.ReasonUnreachable))
		g.Expect(ready.Message).NotTo(ContainSubstring("s3cret"))
	}, timeout, poll).Should(Succeed())
}

func TestStableSignalsWriteNothingBetweenHeartbeats(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	o := objective("accuracy", "figures", "stock", "99.5")
	o.Interval = &cxv1.Duration{Duration: 10 * time.Second}
	m := moment(ns, "stock", "parts", "order", o)
	create(g, staticSource(ns, "figures", map[string]string{"stock": "99.8"}), journey(ns, "parts", "order"), m)
	var firstEval *metav1.Time
	g.Eventually(func(g Gomega) {
		m := get(g, m)
		g.Expect(kstatusOf(g, m)).To(Equal(kstatus.CurrentStatus))
		os := objState(m, "accuracy")
		g.Expect(os.State).To(Equal(cxv1.StateMet))
		firstEval = os.LastEvaluated
	}, timeout, poll).Should(Succeed())
	base := writes.of("moments", ns, "stock")

	// step moves the clock one interval and waits for this moment's evaluation
	// (other tests' objects are evaluated too: a global count would not do).
	owner := engine.Owner{Kind: "Moment", Namespace: ns, Name: "stock"}
	step := func() {
		testClock.Step(10 * time.Second)
		now := testClock.Now()
		g.Eventually(func(g Gomega) {
			snap, _ := system.Engine.Snapshot(owner)
			g.Expect(snap).To(HaveLen(1))
			g.Expect(snap[0].State.LastEvaluated).To(BeTemporally(">=", now.Add(-time.Second)))
		}, timeout, poll).Should(Succeed())
	}
	// Evaluations every 10s with a stable value until the moment's heartbeat
	// (between 2.5 and 7.5 minutes after the last write, at the moment's phase):
	// no writes.
	cur := get(g, m)
	due := nextHeartbeat(cur.Status.LastHeartbeatTime.Time, heartbeatPhase(ns, "stock", cur.UID, system.Options.Heartbeat), system.Options.Heartbeat)
	for testClock.Now().Add(10 * time.Second).Before(due) {
		step()
	}
	g.Consistently(func() int { return writes.of("moments", ns, "stock") }, time.Second, poll).Should(Equal(base))
	g.Expect(get(g, m).Status.Objectives[0].LastEvaluated).To(Equal(firstEval))

	// The heartbeat is due: exactly one write refreshes the values.
	step()
	g.Eventually(func() int { return writes.of("moments", ns, "stock") }, timeout, poll).Should(Equal(base + 1))
	// The counter counts requests as they are sent: read the result once applied.
	g.Eventually(func(g Gomega) {
		g.Expect(get(g, m).Status.Objectives[0].LastEvaluated.After(firstEval.Time)).To(BeTrue())
	}, timeout, poll).Should(Succeed())
	g.Consistently(func() int { return writes.of("moments", ns, "stock") }, time.Second, poll).Should(Equal(base + 1))
}

package controllers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// receiver is a webhook that refuses the first failFirst requests with 500 and
// records every accepted notification by idempotency key.
type receiver struct {
	mu        sync.Mutex
	failFirst int
	requests  int
	accepted  map[string][]string // event -> idempotency keys accepted
}

func newReceiver(t *testing.T, failFirst int) (*receiver, string) {
	rc := &receiver{failFirst: failFirst, accepted: map[string][]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.requests++
		if rc.requests <= rc.failFirst {
			http.Error(w, "receiver is warming up", http.StatusInternalServerError)
			return
		}
		var body struct {
			Event string `json:"event"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.Header.Get("Authorization") != "Bearer hook-token" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		rc.accepted[body.Event] = append(rc.accepted[body.Event], r.Header.Get("Idempotency-Key"))
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	return rc, srv.URL
}

func (rc *receiver) count(event string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.accepted[event])
}

func TestRemediationLifecycle(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	rc, url := newReceiver(t, 2)

	src := staticSource(ns, "figures", map[string]string{"stock": "99.8"})
	o := objective("accuracy", "figures", "stock", "99.5")
	o.For = &cxv1.Duration{Duration: time.Minute}
	o.RecoverFor = &cxv1.Duration{Duration: time.Minute}
	o.Key = ptr.To(true)
	m := moment(ns, "stock", "parts", "order", o)
	m.Spec.Remediation = &cxv1.Remediation{
		Team:          "logistics",
		StreamRef:     cxv1.LocalObjectReference{Name: "systems"},
		EscalateAfter: &cxv1.Duration{Duration: 30 * time.Minute},
		Sinks: []cxv1.WebhookSink{{Name: "ops", URL: url,
			HeadersSecretRef: cxv1.LocalObjectReference{Name: "hook-headers"}}},
	}
	create(g, src, journey(ns, "parts", "order"), stream(ns, "systems"), m,
		secret(ns, "hook-headers", map[string]string{"Authorization": "Bearer hook-token"}))
	g.Eventually(func(g Gomega) {
		g.Expect(objState(get(g, m), "accuracy").State).To(Equal(cxv1.StateMet))
	}, timeout, poll).Should(Succeed())

	// Drift opens exactly one task, labelled and summarized.
	drift := func() {
		setStatic(g, src, "stock", "98.1")
		g.Eventually(func(g Gomega) {
			g.Expect(objState(get(g, m), "accuracy").State).To(Equal(cxv1.StateBreached))
		}, timeout, poll).Should(Succeed())
		testClock.Step(61 * time.Second)
	}
	drift()
	var first cxv1.RemediationTask
	g.Eventually(func(g Gomega) {
		tasks := tasksOf(g, ns, "stock")
		g.Expect(tasks).To(HaveLen(1))
		first = tasks[0]
		g.Expect(first.Status.Phase).To(Equal(cxv1.TaskOpen))
	}, timeout, poll).Should(Succeed())
	g.Expect(first.Labels).To(HaveKeyWithValue(LabelJourney, "parts"))
	g.Expect(first.Labels).To(HaveKeyWithValue(LabelObjective, "accuracy"))
	g.Expect(first.Labels).To(HaveKeyWithValue(LabelStream, "systems"))
	g.Expect(first.Labels).To(HaveKeyWithValue(LabelTeam, "logistics"))
	g.Expect(first.Spec.Severity).To(Equal(cxv1.SeverityHigh), "a key objective opens High")
	g.Expect(first.Spec.Observed).To(Equal("98.1"))
	g.Expect(first.Spec.Target).To(Equal(">= 99.5"))
	g.Expect(first.Spec.Summary).To(ContainSubstring("accuracy of stock is 98.1 %, target >= 99.5"))
	g.Expect(objState(get(g, m), "accuracy").TaskRef).To(Equal(first.Name))

	// The receiver refused the first two attempts; the third delivers Opened once.
	g.Eventually(func() int { return rc.count("Opened") }, timeout, poll).Should(Equal(1))
	g.Eventually(func(g Gomega) {
		tk := get(g, &first)
		g.Expect(tk.Status.Deliveries).To(ContainElement(And(
			HaveField("Event", cxv1.NotifyOpened), HaveField("Delivered", HaveValue(BeTrue())), HaveField("Attempts", BeNumerically("==", 3)))))
		g.Expect(cond(tk.Status.Conditions, cxv1.DeliveredCondition).Status).To(Equal(metav1.ConditionTrue))
	}, timeout, poll).Should(Succeed())

	// A restart mid-episode continues the episode from status: no second task.
	g.Expect(restartManager()).To(Succeed())
	testClock.Step(20 * time.Second)
	g.Eventually(func(g Gomega) {
		g.Expect(objState(get(g, m), "accuracy").State).To(Equal(cxv1.StateDrifting))
	}, timeout, poll).Should(Succeed())
	g.Consistently(func(g Gomega) { g.Expect(tasksOf(g, ns, "stock")).To(HaveLen(1)) }, 2*time.Second, poll).Should(Succeed())

	// Nobody acknowledged within escalateAfter: escalated once, High -> Critical.
	testClock.Step(30 * time.Minute)
	g.Eventually(func(g Gomega) {
		tk := get(g, &first)
		g.Expect(tk.Status.Escalations).To(HaveValue(Equal(int32(1))))
		g.Expect(tk.Status.Severity).To(Equal(cxv1.SeverityCritical))
	}, timeout, poll).Should(Succeed())
	g.Eventually(func() int { return rc.count("Escalated") }, timeout, poll).Should(Equal(1))

	// Recovery resolves it.
	setStatic(g, src, "stock", "99.9")
	g.Eventually(func(g Gomega) {
		g.Expect(objState(get(g, m), "accuracy").MetSince).NotTo(BeNil())
	}, timeout, poll).Should(Succeed())
	testClock.Step(61 * time.Second)
	g.Eventually(func(g Gomega) {
		tk := get(g, &first)
		g.Expect(tk.Status.Phase).To(Equal(cxv1.TaskResolved))
		g.Expect(tk.Status.Resolution).To(Equal(cxv1.ResolutionAutoRecovered))
	}, timeout, poll).Should(Succeed())
	g.Eventually(func() int { return rc.count("Resolved") }, timeout, poll).Should(Equal(1))

	// A new drift opens a new task; the resolved one is never reopened.
	drift()
	var second cxv1.RemediationTask
	g.Eventually(func(g Gomega) {
		tasks := tasksOf(g, ns, "stock")
		g.Expect(tasks).To(HaveLen(2))
		for _, tk := range tasks {
			if tk.Name != first.Name {
				second = tk
			}
		}
		g.Expect(second.Status.Phase).To(Equal(cxv1.TaskOpen))
	}, timeout, poll).Should(Succeed())
	g.Expect(get(g, &first).Status.Phase).To(Equal(cxv1.TaskResolved))

	// Acknowledgement stops escalation.
	patch := client.MergeFrom(second.DeepCopy())
	second.Spec.Acknowledged = ptr.To(true)
	g.Expect(k8sClient.Patch(context.Background(), &second, patch)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(get(g, &second).Status.Phase).To(Equal(cxv1.TaskAcknowledged))
	}, timeout, poll).Should(Succeed())
	testClock.Step(31 * time.Minute)
	g.Consistently(func(g Gomega) {
		tk := get(g, &second)
		g.Expect(tk.Status.Escalations).To(BeZero())
		g.Expect(tk.Status.Severity).To(Equal(cxv1.SeverityHigh))
	}, 2*time.Second, poll).Should(Succeed())

	// Each event reached the receiver exactly once per task.
	g.Expect(rc.count("Opened")).To(Equal(2))
	g.Expect(rc.count("Escalated")).To(Equal(1))
	g.Expect(rc.count("Resolved")).To(Equal(1))

	// Retention: the resolved task is deleted after 24h; the open one stays.
	testClock.Step(25 * time.Hour)
	g.Eventually(func(g Gomega) {
		tasks := tasksOf(g, ns, "stock")
		g.Expect(tasks).To(HaveLen(1))
		g.Expect(tasks[0].Name).To(Equal(second.Name))
	}, timeout, poll).Should(Succeed())
}

func TestManualResolutionAndRetentionByCount(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	create(g, moment(ns, "stock", "parts", "order", objective("accuracy", "figures", "stock", "99.5")))
	// Four tasks of earlier episodes, resolved by hand; only three are kept.
	for i := range 4 {
		tk := task(ns, "stock-accuracy-old"+string(rune('a'+i)))
		tk.Labels = map[string]string{LabelMoment: "stock"}
		tk.Spec.Resolved = ptr.To(true)
		create(g, tk)
		g.Eventually(func(g Gomega) {
			g.Expect(get(g, tk).Status.Resolution).To(Equal(cxv1.ResolutionManual))
		}, timeout, poll).Should(Succeed())
		testClock.Step(time.Second)
	}
	g.Eventually(func(g Gomega) {
		tasks := tasksOf(g, ns, "stock")
		g.Expect(tasks).To(HaveLen(3))
		for _, tk := range tasks {
			g.Expect(tk.Name).NotTo(Equal("stock-accuracy-olda"), "the oldest resolved task goes first")
		}
	}, timeout, poll).Should(Succeed())
}

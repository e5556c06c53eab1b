package controllers

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// sinkServer is a webhook whose answer the test decides; it records every body
// it was sent, by idempotency key.
type sinkServer struct {
	mu     sync.Mutex
	url    string
	answer func(event string) int // status code; nil: 202
	hang   chan struct{}          // when set, requests block until it is closed
	bodies map[string][][]byte    // idempotency key -> bodies
	events map[string]int         // event -> requests answered 2xx
}

func newSinkServer(t *testing.T) *sinkServer {
	s := &sinkServer{bodies: map[string][][]byte{}, events: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		hang, answer := s.hang, s.answer
		s.mu.Unlock()
		if hang != nil {
			select {
			case <-hang:
			case <-r.Context().Done():
			}
			return
		}
		var n struct {
			Event string `json:"event"`
		}
		_ = json.Unmarshal(body, &n)
		code := http.StatusAccepted
		if answer != nil {
			code = answer(n.Event)
		}
		s.mu.Lock()
		key := r.Header.Get("Idempotency-Key")
		s.bodies[key] = append(s.bodies[key], body)
		if code < 300 {
			s.events[n.Event]++
		}
		s.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

func (s *sinkServer) setAnswer(f func(event string) int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answer = f
}

func (s *sinkServer) delivered(event string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.events[event]
}

// distinctBodies returns, per idempotency key, how many different bodies were sent.
func (s *sinkServer) distinctBodies() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, bs := range s.bodies {
		var seen [][]byte
		for _, b := range bs {
			dup := false
			for _, x := range seen {
				dup = dup || bytes.Equal(x, b)
			}
			if !dup {
				seen = append(seen, b)
			}
		}
		out[k] = len(seen)
	}
	return out
}

// sinkMoment is a moment with one objective and the given sinks, and no signal
// source: it never resolves its tasks by itself.
func sinkMoment(ns, name string, sinks ...cxv1.WebhookSink) *cxv1.Moment {
	m := moment(ns, name, "parts", "order", objective("accuracy", "figures", "stock", "99.5"))
	m.Spec.Remediation = &cxv1.Remediation{Sinks: sinks}
	return m
}

// openTask creates a task of the moment as the moment controller would.
func openTask(g Gomega, m *cxv1.Moment, name string) *cxv1.RemediationTask {
	m = get(g, m)
	os := &cxv1.ObjectiveStatus{Name: "accuracy", Target: ">= 99.5", BreachingSince: ptr.To(metav1.Now())}
	tk := (&MomentReconciler{Client: k8sClient}).newTask(m, os, name)
	create(g, tk)
	return tk
}

// abandonAtEnd stops the retries of the namespace's tasks when the test ends
// (envtest deletes no namespace content).
func abandonAtEnd(t *testing.T, ns string) {
	t.Cleanup(func() {
		var list cxv1.RemediationTaskList
		_ = k8sClient.List(context.Background(), &list, client.InNamespace(ns))
		for _, tk := range list.Items {
			p := client.MergeFrom(tk.DeepCopy())
			tk.Spec.AbandonNotifications = ptr.To(true)
			_ = k8sClient.Patch(context.Background(), &tk, p)
		}
	})
}

// Defect 1: a sink that hangs held a reconcile worker for its whole timeout, so
// four hanging tasks stopped every other task's notifications.
func TestDeliveryHangingSinkDoesNotStallOthers(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	abandonAtEnd(t, ns)
	slow := newSinkServer(t)
	slow.hang = make(chan struct{})
	t.Cleanup(func() { close(slow.hang) })
	fast := newSinkServer(t)

	for _, name := range []string{"a", "b", "c", "d", "e"} {
		m := sinkMoment(ns, "hangs-"+name, cxv1.WebhookSink{Name: "slow", URL: slow.url})
		create(g, m)
		openTask(g, m, "hangs-"+name+"-task")
	}
	m := sinkMoment(ns, "other", cxv1.WebhookSink{Name: "fast", URL: fast.url})
	create(g, m)
	// Let the hanging sink take what it can first.
	time.Sleep(500 * time.Millisecond)
	tk := openTask(g, m, "other-task")

	start := time.Now()
	g.Eventually(func() int { return fast.delivered("Opened") }, 5*time.Second, poll).Should(Equal(1))
	t.Logf("Opened reached the healthy sink %s after the task was created", time.Since(start))
	// Its reconciles are not delayed either: an acknowledgement shows at once.
	p := client.MergeFrom(get(g, tk).DeepCopy())
	tk.Spec.Acknowledged = ptr.To(true)
	g.Expect(k8sClient.Patch(context.Background(), tk, p)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(get(g, tk).Status.Phase).To(Equal(cxv1.TaskAcknowledged))
	}, 3*time.Second, poll).Should(Succeed())
}

// Defect 2: after 12 attempts a notification was dropped for ever, and nothing
// said so but the condition. Now it is retried until delivered, with a Warning
// event once per failure streak and a Normal one at recovery.
func TestDeliveryNeverGivesUp(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	abandonAtEnd(t, ns)
	sk := newSinkServer(t)
	sk.setAnswer(func(string) int { return http.StatusServiceUnavailable })
	m := sinkMoment(ns, "stock", cxv1.WebhookSink{Name: "ops", URL: sk.url})
	create(g, m)
	tk := openTask(g, m, "stock-task")

	g.Eventually(func(g Gomega) {
		tk := get(g, tk)
		g.Expect(tk.Status.Deliveries).To(ContainElement(HaveField("Attempts", BeNumerically(">", 15))))
		c := cond(tk.Status.Conditions, cxv1.DeliveredCondition)
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal(cxv1.ReasonDeliveryFailed))
		g.Expect(c.Message).To(ContainSubstring("moment/ops Opened: could not get a valid answer from"))
	}, timeout, poll).Should(Succeed())
	g.Eventually(func(g Gomega) int { return eventsOf(g, tk, "DeliveryFailed") }, timeout, poll).Should(Equal(1), "one Warning per failure streak")

	sk.setAnswer(nil)
	g.Eventually(func() int { return sk.delivered("Opened") }, timeout, poll).Should(Equal(1))
	g.Eventually(func(g Gomega) {
		g.Expect(cond(get(g, tk).Status.Conditions, cxv1.DeliveredCondition).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(eventsOf(g, tk, "DeliveryRecovered")).To(Equal(1))
	}, timeout, poll).Should(Succeed())
}

// Defect 2: a deleted moment's sinks never heard that its task was resolved; and
// garbage collection of the task (simulated: envtest runs none) lost it too.
func TestDeletedMomentSinksGetResolved(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	abandonAtEnd(t, ns)
	sk := newSinkServer(t)
	m := sinkMoment(ns, "stock", cxv1.WebhookSink{Name: "ops", URL: sk.url})
	create(g, m)
	tk := openTask(g, m, "stock-task")
	g.Expect(tk.Spec.Sinks).To(HaveLen(1))
	g.Eventually(func() int { return sk.delivered("Opened") }, timeout, poll).Should(Equal(1))

	// The sink is down when the moment and then the task are deleted.
	sk.setAnswer(func(string) int { return http.StatusBadGateway })
	g.Expect(k8sClient.Delete(context.Background(), get(g, m))).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(get(g, tk).Status.Resolution).To(Equal(cxv1.ResolutionObjectiveRemoved))
	}, timeout, poll).Should(Succeed())
	g.Expect(k8sClient.Delete(context.Background(), get(g, tk))).To(Succeed())
	g.Consistently(func(g Gomega) {
		g.Expect(get(g, tk).Finalizers).To(ContainElement(taskFinalizer))
	}, time.Second, poll).Should(Succeed())

	sk.setAnswer(nil)
	g.Eventually(func() int { return sk.delivered("Resolved") }, timeout, poll).Should(Equal(1))
	g.Eventually(func(g Gomega) {
		err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(tk), &cxv1.RemediationTask{})
		g.Expect(client.IgnoreNotFound(err)).To(Succeed())
		g.Expect(err).To(HaveOccurred(), "the task goes once Resolved was delivered")
	}, timeout, poll).Should(Succeed())
}

// Defect 2: retention deleted tasks whose notifications were still undelivered.
func TestRetentionKeepsUndeliveredTasks(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	sk := newSinkServer(t)
	sk.setAnswer(func(ev string) int {
		if ev == "Resolved" {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	m := sinkMoment(ns, "stock", cxv1.WebhookSink{Name: "ops", URL: sk.url})
	create(g, m)
	tk := openTask(g, m, "stock-task")
	g.Eventually(func() int { return sk.delivered("Opened") }, timeout, poll).Should(Equal(1))
	p := client.MergeFrom(get(g, tk).DeepCopy())
	tk.Spec.Resolved = ptr.To(true)
	g.Expect(k8sClient.Patch(context.Background(), tk, p)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(get(g, tk).Status.Phase).To(Equal(cxv1.TaskResolved))
	}, timeout, poll).Should(Succeed())

	testClock.Step(25 * time.Hour) // past the retention time
	g.Consistently(func(g Gomega) { get(g, tk) }, 2*time.Second, poll).Should(Succeed())

	// Abandoning is a person's explicit choice: then retention applies.
	p = client.MergeFrom(get(g, tk).DeepCopy())
	tk.Spec.AbandonNotifications = ptr.To(true)
	g.Expect(k8sClient.Patch(context.Background(), tk, p)).To(Succeed())
	g.Eventually(func(g Gomega) {
		err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(tk), &cxv1.RemediationTask{})
		g.Expect(err).To(HaveOccurred())
	}, timeout, poll).Should(Succeed())
	g.Expect(sk.delivered("Resolved")).To(BeZero())
}

// Defect 2: every attempt of one notification sends the same bytes: openedTime
// is persisted before the first send, even when the write after a send fails,
// and an Opened retried after an escalation still describes the opening.
func TestDeliveryResendIsByteIdentical(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	abandonAtEnd(t, ns)
	sk := newSinkServer(t)
	var once sync.Once
	key := client.ObjectKey{Namespace: ns, Name: "stock-task"}
	bumped := make(chan struct{})
	sk.setAnswer(func(ev string) int {
		// The first Opened is accepted, but the write that records it fails (the
		// task changed meanwhile), and time moves on before the retry.
		once.Do(func() {
			testClock.Step(time.Minute)
			cur := &cxv1.RemediationTask{}
			if err := k8sClient.Get(context.Background(), key, cur); err == nil {
				p := client.MergeFrom(cur.DeepCopy())
				cur.Labels["bump"] = "1"
				_ = k8sClient.Patch(context.Background(), cur, p)
			}
			close(bumped)
		})
		if ev == "Opened" {
			return http.StatusServiceUnavailable // until escalated
		}
		return http.StatusOK
	})
	m := sinkMoment(ns, "stock", cxv1.WebhookSink{Name: "ops", URL: sk.url})
	m.Spec.Remediation.EscalateAfter = &cxv1.Duration{Duration: 10 * time.Minute}
	create(g, m)
	tk := openTask(g, m, "stock-task")
	<-bumped
	g.Eventually(func(g Gomega) {
		g.Expect(get(g, tk).Status.Deliveries).To(ContainElement(HaveField("Attempts", BeNumerically(">=", 3))))
	}, timeout, poll).Should(Succeed())

	testClock.Step(11 * time.Minute)
	g.Eventually(func(g Gomega) {
		g.Expect(get(g, tk).Status.Escalations).To(HaveValue(Equal(int32(1))))
	}, timeout, poll).Should(Succeed())
	// Still failing after the escalation, then accepted.
	g.Eventually(func(g Gomega) {
		g.Expect(get(g, tk).Status.Deliveries).To(ContainElement(And(HaveField("Event", cxv1.NotifyOpened), HaveField("Attempts", BeNumerically(">=", 6)))))
	}, timeout, poll).Should(Succeed())
	sk.setAnswer(nil)
	g.Eventually(func() int { return sk.delivered("Escalated") }, timeout, poll).Should(Equal(1))
	g.Expect(sk.delivered("Opened")).To(Equal(1))

	for key, n := range sk.distinctBodies() {
		g.Expect(n).To(Equal(1), "idempotency key %s was sent with %d different bodies", key, n)
	}
	var opened struct {
		Severity    string `json:"severity"`
		Escalations int    `json:"escalations"`
	}
	for _, bs := range sk.bodies {
		if bytes.Contains(bs[0], []byte(`"event":"Opened"`)) {
			g.Expect(json.Unmarshal(bs[0], &opened)).To(Succeed())
		}
	}
	g.Expect(opened.Severity).To(Equal(string(cxv1.SeverityMedium)), "Opened shows the severity at opening")
	g.Expect(opened.Escalations).To(BeZero())
}

// eventsOf counts the events of reason about obj (series count included).
func eventsOf(g Gomega, obj client.Object, reason string) int {
	var list corev1.EventList
	g.Expect(k8sClient.List(context.Background(), &list, client.InNamespace(obj.GetNamespace()))).To(Succeed())
	n := 0
	for _, e := range list.Items {
		if e.Reason == reason && e.InvolvedObject.Name == obj.GetName() {
			n++
		}
	}
	return n
}

// Issue 11, observation 11: a control plane without a garbage collector (the
// local mode, envtest) kept the tasks of deleted moments forever. cxops collects
// them itself, through the notifications finalizer.
func TestTasksOfDeletedMomentsAreCollected(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	abandonAtEnd(t, ns)
	sk := newSinkServer(t)
	m := sinkMoment(ns, "stock", cxv1.WebhookSink{Name: "ops", URL: sk.url})
	plain := moment(ns, "plain", "parts", "order", objective("accuracy", "figures", "stock", "99.5"))
	create(g, m, plain)
	withSinks := openTask(g, m, "stock-task")
	without := openTask(g, plain, "plain-task")
	g.Eventually(func() int { return sk.delivered("Opened") }, timeout, poll).Should(Equal(1))

	g.Expect(k8sClient.Delete(context.Background(), get(g, m))).To(Succeed())
	g.Expect(k8sClient.Delete(context.Background(), get(g, plain))).To(Succeed())
	for _, tk := range []*cxv1.RemediationTask{withSinks, without} {
		g.Eventually(func(g Gomega) {
			err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(tk), &cxv1.RemediationTask{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "task %s of a deleted moment: %v", tk.Name, err)
		}, timeout, poll).Should(Succeed())
	}
	g.Expect(sk.delivered("Resolved")).To(Equal(1), "the deleted moment's sink got Resolved before its task went")
}

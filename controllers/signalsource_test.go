package controllers

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// scoreServer is a JSON endpoint that answers {"score": 99.9}, or HTTP 500 while
// failing is set, and counts the requests.
type scoreServer struct {
	failing  atomic.Bool
	requests atomic.Int64
	url      string
}

// serve answers a score, or an error with a body that must never show while
// the server is failing.
func (s *scoreServer) serve(w http.ResponseWriter, _ *http.Request) {
	s.requests.Add(1)
	if s.failing.Load() {
		http.Error(w, "internal error with a body that must never show", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"score": 99.9}`))
}

func newScoreServer(t *testing.T) *scoreServer {
	s := &scoreServer{}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// Defect: a failing source stayed Ready=True/Succeeded for up to five minutes
// (until its next probe) while every fetch of its objectives failed. Now its
// Ready condition follows the fetches: False at the first failed fetch, True at
// the first success, one status write per change and none while it is stable.
func TestSignalSourceReadyFollowsFetches(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	srv := newScoreServer(t)
	src := &cxv1.SignalSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "survey"},
		Spec:       cxv1.SignalSourceSpec{HTTP: cxv1.HTTPSource{URL: srv.url + "/nps"}},
	}
	o := objective("score", "survey", "{.score}", "50")
	o.Interval = &cxv1.Duration{Duration: 10 * time.Second}
	m := moment(ns, "feedback", "parts", "order", o)
	create(g, src, journey(ns, "parts", "order"), m)

	readyOf := func(g Gomega) metav1.Condition {
		return cond(get(g, src).Status.Conditions, cxv1.ReadyCondition)
	}
	g.Eventually(func(g Gomega) {
		g.Expect(readyOf(g).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(objState(get(g, m), "score").State).To(Equal(cxv1.StateMet))
	}, timeout, poll).Should(Succeed())

	// tick moves the clock one evaluation interval and waits for the fetch.
	tick := func() {
		t.Helper()
		before := srv.requests.Load()
		testClock.Step(10 * time.Second)
		g.Eventually(srv.requests.Load, timeout, poll).Should(BeNumerically(">", before))
	}

	// Stable and healthy: fetches write nothing to the source.
	stable := writes.of("signalsources", ns, "survey")
	for range 3 {
		tick()
	}
	g.Consistently(func() int { return writes.of("signalsources", ns, "survey") }, time.Second, poll).Should(Equal(stable))

	// The endpoint fails: Ready=False at the next fetch, within one interval (the
	// clock does not move on: no probe is due for five minutes).
	srv.failing.Store(true)
	tick()
	g.Eventually(func(g Gomega) {
		c := readyOf(g)
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		// An error status reads like every other failure to answer: it must not
		// tell what listens there (the detail is in the debug log).
		g.Expect(c.Reason).To(Equal(cxv1.ReasonUnreachable))
		g.Expect(c.Message).To(ContainSubstring("could not get a valid answer"))
		g.Expect(c.Message).NotTo(ContainSubstring("must never show"))
	}, timeout, poll).Should(Succeed())
	g.Expect(writes.of("signalsources", ns, "survey")).To(Equal(stable + 1))

	// Stable and failing: nothing more is written.
	for range 2 {
		tick()
	}
	g.Consistently(func() int { return writes.of("signalsources", ns, "survey") }, time.Second, poll).Should(Equal(stable + 1))

	// Recovery: Ready=True at the first successful fetch.
	srv.failing.Store(false)
	tick()
	g.Eventually(func(g Gomega) {
		c := readyOf(g)
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(c.Reason).To(Equal(cxv1.ReasonSucceeded))
	}, timeout, poll).Should(Succeed())
	g.Expect(writes.of("signalsources", ns, "survey")).To(Equal(stable + 2))

	// Flapping: at most one write per change.
	for i := range 4 {
		srv.failing.Store(i%2 == 0)
		tick()
		want := metav1.ConditionTrue
		if i%2 == 0 {
			want = metav1.ConditionFalse
		}
		g.Eventually(func(g Gomega) { g.Expect(readyOf(g).Status).To(Equal(want)) }, timeout, poll).Should(Succeed())
	}
	g.Expect(writes.of("signalsources", ns, "survey")).To(BeNumerically("<=", stable+6))
}

// Defect (issue 12): every reconcile of a signal source (each probe, and each
// change of its fetches' outcome) built a new provider and closed the old one's
// connections: a new TCP (and TLS) connection per probe, and the document an
// HTTP JSON source shares among the queries of a tick was dropped, so a swap in
// the middle of a tick cost a second GET. A source whose spec and Secrets are
// unchanged keeps its provider; a spec change builds a new one.
func TestSignalSourceKeepsItsProviderWhileUnchanged(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	var conns atomic.Int64
	srv := &scoreServer{}
	hs := httptest.NewUnstartedServer(http.HandlerFunc(srv.serve))
	hs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	hs.Start()
	t.Cleanup(hs.Close)

	src := &cxv1.SignalSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "survey"},
		Spec:       cxv1.SignalSourceSpec{HTTP: cxv1.HTTPSource{URL: hs.URL + "/nps"}},
	}
	o := objective("score", "survey", "{.score}", "50")
	o.Interval = &cxv1.Duration{Duration: 10 * time.Second}
	m := moment(ns, "feedback", "parts", "order", o)
	create(g, src, journey(ns, "parts", "order"), m)
	readyIs := func(want metav1.ConditionStatus) {
		t.Helper()
		g.Eventually(func(g Gomega) {
			g.Expect(cond(get(g, src).Status.Conditions, cxv1.ReadyCondition).Status).To(Equal(want))
		}, timeout, poll).Should(Succeed())
	}
	readyIs(metav1.ConditionTrue)
	g.Eventually(func(g Gomega) {
		g.Expect(objState(get(g, m), "score").State).To(Equal(cxv1.StateMet))
	}, timeout, poll).Should(Succeed())
	key := ns + "/survey"
	first, ok := system.Registry.Get(key)
	g.Expect(ok).To(BeTrue())

	// Each change of the fetches' outcome reconciles the source (and probes it).
	tick := func() {
		t.Helper()
		before := srv.requests.Load()
		testClock.Step(10 * time.Second)
		g.Eventually(srv.requests.Load, timeout, poll).Should(BeNumerically(">", before))
	}
	for i := range 4 {
		srv.failing.Store(i%2 == 0)
		tick()
		if i%2 == 0 {
			readyIs(metav1.ConditionFalse)
		} else {
			readyIs(metav1.ConditionTrue)
		}
	}
	now, _ := system.Registry.Get(key)
	g.Expect(now == first).To(BeTrue(), "four reconciles of an unchanged source kept its provider")
	g.Expect(conns.Load()).To(BeNumerically("<=", 2), "the provider's connections were kept (probe and fetch may each open one)")

	// A spec change builds a new provider.
	g.Eventually(func(g Gomega) {
		cur := get(g, src)
		cur.Spec.HTTP.Timeout = &cxv1.Duration{Duration: 7 * time.Second}
		g.Expect(k8sClient.Update(context.Background(), cur)).To(Succeed())
	}, timeout, poll).Should(Succeed())
	g.Eventually(func() bool {
		p, _ := system.Registry.Get(key)
		return p != first
	}, timeout, poll).Should(BeTrue(), "a new spec, a new provider")
}

package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// delayingQueue models the controller's workqueue for AddAfter: an item waiting
// keeps its earliest due time, and is handed out (measured) once due.
type delayingQueue struct {
	workqueue.TypedRateLimitingInterface[reconcile.Request]
	clock    *clocktesting.FakeClock
	waiting  map[reconcile.Request]time.Time
	measured []time.Time
}

func (q *delayingQueue) AddAfter(r reconcile.Request, d time.Duration) {
	at := q.clock.Now().Add(d)
	if w, ok := q.waiting[r]; !ok || at.Before(w) {
		q.waiting[r] = at
	}
}

func (q *delayingQueue) run() {
	for r, at := range q.waiting {
		if !at.After(q.clock.Now()) {
			q.measured = append(q.measured, at)
			delete(q.waiting, r)
		}
	}
}

// simulateMeasures sends moment updates of one journey every 20 ms for the
// given time, then runs on for a minute, and returns when the journey was
// measured, relative to the first event.
func simulateMeasures(clk *clocktesting.FakeClock, h handler.EventHandler, changing time.Duration) []time.Duration {
	q := &delayingQueue{clock: clk, waiting: map[reconcile.Request]time.Time{}}
	start := clk.Now()
	for i := 0; clk.Now().Sub(start) < changing+time.Minute; i++ {
		if clk.Now().Sub(start) < changing {
			m := moment("ns", fmt.Sprintf("m%d", i), "parts", "order")
			h.Update(context.Background(), event.UpdateEvent{ObjectOld: m, ObjectNew: m}, q)
		}
		clk.Step(20 * time.Millisecond)
		q.run()
	}
	out := make([]time.Duration, 0, len(q.measured))
	for _, at := range q.measured {
		out = append(out, at.Sub(start))
	}
	return out
}

func journeyOf(o client.Object) []types.NamespacedName {
	m := o.(*cxv1.Moment)
	return []types.NamespacedName{ctrlKey(m.Namespace, m.Spec.JourneyRef.Name)}
}

// Issue 12: while thousands of moments converge, their journey was measured
// (and written) every 5 s. It is now measured at most once per 30 s while its
// moments change en masse, and once after the last change.
func TestJourneyMeasuresConvergingMomentsAtMostEvery30s(t *testing.T) {
	g := NewWithT(t)
	clk := clocktesting.NewFakeClock(time.Now())
	th := newMeasureThrottle(journeyBatch, journeyMeasureEvery, journeyBurst)
	th.clock = clk
	measured := simulateMeasures(clk, th.handler(journeyOf), 2*time.Minute)
	g.Expect(measured).NotTo(BeEmpty())
	g.Expect(measured[0]).To(Equal(journeyBatch), "the first change is measured after the batch delay")
	for i := 1; i < len(measured); i++ {
		g.Expect(measured[i]-measured[i-1]).To(BeNumerically(">=", journeyMeasureEvery), "measures %v", measured)
	}
	g.Expect(measured[len(measured)-1]).To(BeNumerically(">=", 2*time.Minute), "the last change is measured: %v", measured)
	g.Expect(len(measured)).To(BeNumerically("<=", 6))

	// A person's single change after a quiet time is measured after the batch
	// delay, not after the convergence pace.
	clk.Step(time.Minute)
	measured = simulateMeasures(clk, th.handler(journeyOf), 50*time.Millisecond)
	g.Expect(measured).To(Equal([]time.Duration{journeyBatch}))
	// And a few changes in a row are measured at the batch pace.
	measured = simulateMeasures(clk, th.handler(journeyOf), 50*time.Millisecond)
	g.Expect(measured).To(Equal([]time.Duration{journeyBatch}))
}

// A queue may hand out a delayed key early (the key was added at once for
// another reason, and the priority queue merges the two): a change after that
// measure started is measured again, not lost in a window that already ran.
func TestJourneyMeasuredEarlyStillMeasuresLaterChanges(t *testing.T) {
	g := NewWithT(t)
	clk := clocktesting.NewFakeClock(time.Now())
	th := newMeasureThrottle(journeyBatch, journeyMeasureEvery, journeyBurst)
	th.clock = clk
	key := ctrlKey("ns", "parts")
	d, ok := th.schedule(key)
	g.Expect(ok).To(BeTrue())
	g.Expect(d).To(Equal(journeyBatch))
	clk.Step(time.Second)
	th.measuring(key) // handed out early
	clk.Step(time.Second)
	d, ok = th.schedule(key)
	g.Expect(ok).To(BeTrue(), "the change after the measure is scheduled")
	g.Expect(d).To(Equal(journeyBatch))
}

// Issue 12: at the default client limits, 1,000 moments of 100 journeys (ten
// each) converge over about 24 s; no journey gathered the 100 changes that mark
// a burst, so each was measured (and written) every 5 s, some five times while
// its moments converged. A namespace whose moments change en masse paces all
// its journeys: a first measure after the batch delay, then at most once per
// 30 s, and once after the last change. Another namespace keeps the batch pace.
func TestJourneysOfANamespaceConvergingEnMasseAreMeasuredAtTheConvergencePace(t *testing.T) {
	g := NewWithT(t)
	clk := clocktesting.NewFakeClock(time.Now())
	th := newMeasureThrottle(journeyBatch, journeyMeasureEvery, journeyBurst)
	th.clock = clk
	h := th.handler(journeyOf)
	q := &delayingQueue{clock: clk, waiting: map[reconcile.Request]time.Time{}}
	perJourney := map[string]int{}
	run := func() {
		before := map[reconcile.Request]bool{}
		for r := range q.waiting {
			before[r] = true
		}
		q.run()
		for r := range before {
			if _, still := q.waiting[r]; !still {
				perJourney[r.String()]++
				th.measuring(r.NamespacedName)
			}
		}
	}
	const moments, journeys = 1000, 100
	converge := 24 * time.Second
	step := converge / moments
	start := clk.Now()
	for i := 0; clk.Now().Sub(start) < converge+time.Minute; i++ {
		if i < moments {
			m := moment("team-a", fmt.Sprintf("m%d", i), fmt.Sprintf("j%d", (i*37)%journeys), "order")
			h.Update(context.Background(), event.UpdateEvent{ObjectOld: m, ObjectNew: m}, q)
		}
		if i == moments/2 { // another tenant's single change meanwhile
			m := moment("team-b", "m0", "j0", "order")
			h.Update(context.Background(), event.UpdateEvent{ObjectOld: m, ObjectNew: m}, q)
		}
		clk.Step(step)
		run()
	}
	total := 0
	for k, n := range perJourney {
		if k == "team-b/j0" {
			continue
		}
		g.Expect(n).To(BeNumerically("<=", 2), "journey %s measured %d times while its moments converged", k, n)
		total += n
	}
	g.Expect(perJourney).To(HaveLen(journeys + 1))
	g.Expect(total).To(BeNumerically("<=", 2*journeys))
	g.Expect(perJourney["team-b/j0"]).To(Equal(1))
}

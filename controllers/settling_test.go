package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/cxops/cxops/internal/engine"
)

// An objective waits for its source to settle, at most the grace; the owners
// waiting are notified once when it settles.
func TestSourceSettlingHoldsUntilSettledOrGrace(t *testing.T) {
	g := NewWithT(t)
	clk := clocktesting.NewFakeClock(time.Now())
	var notified []engine.Owner
	s := newSourceSettling(clk, time.Minute, func(o engine.Owner) { notified = append(notified, o) })
	a, b := engine.Owner{Kind: "Moment", Namespace: "ns", Name: "a"}, engine.Owner{Kind: "Journey", Namespace: "ns", Name: "b"}
	regs := []engine.Registration{
		{Name: "x", Spec: engine.Spec{Source: "ns/one"}},
		{Name: "y", Spec: engine.Spec{Source: "ns/two"}},
	}
	s.settle("ns/two")
	ready, held, until := s.hold(a, regs)
	g.Expect(ready).To(HaveLen(1))
	g.Expect(ready[0].Name).To(Equal("y"))
	g.Expect(held).To(Equal([]string{"x"}))
	g.Expect(until).To(Equal(time.Minute))

	clk.Step(20 * time.Second)
	_, held, until = s.hold(b, regs)
	g.Expect(held).To(Equal([]string{"x"}))
	g.Expect(until).To(Equal(40*time.Second), "the grace runs from the first question about the source")

	s.settle("ns/one")
	g.Expect(notified).To(ConsistOf(a, b))
	ready, held, until = s.hold(a, regs)
	g.Expect(ready).To(HaveLen(2))
	g.Expect(held).To(BeEmpty())
	g.Expect(until).To(BeZero())
	s.settle("ns/one")
	g.Expect(notified).To(HaveLen(2), "waiters are notified once")

	// A source that never settles is evaluated after the grace (and shows as not
	// ready): nothing waits for ever.
	s.forget("ns/one")
	_, held, _ = s.hold(a, regs)
	g.Expect(held).To(Equal([]string{"x"}))
	clk.Step(time.Minute)
	ready, held, until = s.hold(a, regs)
	g.Expect(ready).To(HaveLen(2))
	g.Expect(held).To(BeEmpty())
	g.Expect(until).To(BeZero())
}

package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/cxops/cxops/internal/engine"
)

// TestFirstSightDeferIsBounded: the first status of a generation whose sources
// are not registered yet waits at most firstSightDefer from the first time it
// was deferred; a new generation starts its own wait; an evaluated key forgets.
func TestFirstSightDeferIsBounded(t *testing.T) {
	g := NewWithT(t)
	var f firstSight
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	g.Expect(f.deferFor("m", 1, t0)).To(Equal(firstSightDefer))
	g.Expect(f.deferFor("m", 1, t0.Add(1500*time.Millisecond))).To(Equal(500 * time.Millisecond))
	g.Expect(f.deferFor("m", 1, t0.Add(firstSightDefer))).To(BeNumerically("<=", 0), "the wait is over: write Evaluating")
	g.Expect(f.deferFor("m", 2, t0.Add(3*time.Second))).To(Equal(firstSightDefer), "a new generation waits again")
	// Evaluated: nothing is kept for the key.
	g.Expect(f.evaluating("m", 2, 1, nil, []engine.Result{{Evaluated: true}})).To(BeFalse())
	g.Expect(f.deferred).NotTo(HaveKey("m"))
}

package engine

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/providers"
)

// memProvider is a testProvider that says it answers from memory, as the static
// provider does.
type memProvider struct{ *testProvider }

func (memProvider) Traits() providers.Traits { return providers.Traits{InMemory: true} }

// TestJoiningObjectiveIsEvaluatedAtOnce: a new objective on an in-memory source,
// or joining a group whose latest observation is fresh, has its state in the
// Snapshot taken right after Set, so its owner is written once (evaluated)
// instead of twice (Evaluating, then evaluated). A network source's first
// evaluation still waits for its fetch; and a join never pulls a fresh group's
// next fetch forward.
func TestJoiningObjectiveIsEvaluatedAtOnce(t *testing.T) {
	h := newHarness(t, Options{})
	static := memProvider{newTestProvider(map[string]float64{"stock": 99.8})}
	h.reg.Set("shop/static", static)
	prom := newTestProvider(map[string]float64{"latency": 40})
	h.reg.Set("shop/prom", prom)
	h.start()
	s := spec(v1alpha1.OpGreaterOrEqual, 99.5)
	s.Interval = 30 * time.Second

	// In memory: evaluated in Set, no fetch scheduled for it to be evaluated.
	h.e.Set(moment("a"), []Registration{reg("accuracy", "shop/static", "stock", s)})
	r := h.snapshot(moment("a"))
	h.g.Expect(r[0].Evaluated).To(BeTrue(), "an in-memory source answers at once")
	h.g.Expect(r[0].State.State).To(Equal(met))
	h.g.Expect(r[0].State.Value).To(Equal(99.8))

	// Network: not evaluated before its first fetch.
	l := spec(v1alpha1.OpLessOrEqual, 60)
	l.Interval = 30 * time.Second
	h.e.Set(moment("b"), []Registration{reg("latency", "shop/prom", "latency", l)})
	h.g.Expect(h.snapshot(moment("b"))[0].Evaluated).To(BeFalse(), "a network fetch is never made inside Set")
	h.tick()
	h.g.Expect(h.snapshot(moment("b"))[0].Evaluated).To(BeTrue())
	calls := prom.calls.Load()

	// Joining the fresh group: evaluated with its latest observation, no new
	// fetch, and the group's next tick stays where it was.
	h.clk.Step(5 * time.Second)
	h.e.Set(moment("c"), []Registration{reg("latency", "shop/prom", "latency", l)})
	rc := h.snapshot(moment("c"))
	h.g.Expect(rc[0].Evaluated).To(BeTrue(), "a fresh observation of the group is used at once")
	h.g.Expect(rc[0].State.Value).To(Equal(40.0))
	h.g.Expect(prom.calls.Load()).To(Equal(calls), "joining makes no request")
	next, _ := h.e.idle()
	h.g.Expect(next.Sub(h.clk.Now())).To(BeNumerically(">", 20*time.Second), "the group's next fetch is not pulled forward")
}

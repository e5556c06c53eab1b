package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/egress"
	"github.com/cxops/cxops/internal/providers"
)

// Defect (issue 12): an HTTP JSON source with 100 queries on one document was
// GET 100 times per interval. The source's queries of one interval share their
// ticks and each tick one GET, also when they were registered at different
// times.
func TestHTTPJSONSourceOneGETPerInterval(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		doc := `{"v": {`
		for i := range 101 {
			if i > 0 {
				doc += ","
			}
			doc += fmt.Sprintf(`"q%d": %d`, i, i)
		}
		_, _ = w.Write([]byte(doc + "}}"))
	}))
	p := scoresProvider(t, srv)

	h := newHarness(t, Options{}) // jitter 0.1, every draw 0.5
	h.reg.Set("shop/scores", p)
	register := scoreQueries(h)
	// 100 queries, registered 200ms apart: the prompt evaluations share a tick.
	register("a", 0, 50)
	h.start()
	h.clk.Step(200 * time.Millisecond)
	register("b", 50, 100)
	h.tick()
	h.g.Expect(hits.Load()).To(Equal(int64(1)), "one GET for the first evaluation of 100 queries")
	h.g.Expect(h.e.Evaluations()).To(Equal(uint64(100)))
	for n := int64(2); n <= 4; n++ {
		h.tick()
		h.g.Expect(hits.Load()).To(Equal(n), "one GET per interval")
	}
	h.g.Expect(h.e.Evaluations()).To(Equal(uint64(400)))

	// One more query, registered 10s off the source's tick: its own GET at
	// first, then it moves toward the source's tick (by at most the jitter
	// window, 3s, per interval) and shares it.
	h.clk.Step(10 * time.Second)
	register("c", 100, 101)
	until := h.clk.Now().Add(5 * 30 * time.Second)
	for h.clk.Now().Before(until) {
		h.tick()
	}
	h.g.Expect(h.snapshot(moment("c"))[0].State.State).To(Equal(v1alpha1.StateMet))
	before := hits.Load()
	start := h.clk.Now()
	for h.clk.Now().Before(start.Add(5 * 30 * time.Second)) {
		h.tick()
	}
	h.g.Expect(hits.Load()-before).To(Equal(int64(5)), "aligned again: one GET per interval for the 101 queries")
}

// loadProvider is a network provider on a rate-limited host.
type loadProvider struct {
	host string
	rate float64
}

func (p loadProvider) Query(context.Context, string) (float64, error) { return 1, nil }
func (loadProvider) Probe(context.Context) error                      { return nil }
func (p loadProvider) Traits() providers.Traits {
	return providers.Traits{Host: p.host, Rate: p.rate}
}

// Defect (issue 12): 1,000 queries on one host at 10s with an egress rate of
// 10/s made 1,201 calls in 120s instead of 12,000, and nothing said so. The
// engine computes the stretch, reports its changes and exports it.
func TestEgressLoadStretch(t *testing.T) {
	metrics := prometheus.NewRegistry()
	var changes []string
	h := newHarness(t, Options{Registerer: metrics, LoadChanged: func(s string) { changes = append(changes, s) }})
	h.reg.Set("shop/busy", loadProvider{host: "prom:9090", rate: 10})
	h.reg.Set("shop/calm", loadProvider{host: "other:9090", rate: 10})
	h.reg.Set("team/neighbour", loadProvider{host: "prom:9090", rate: 10})
	s := spec(v1alpha1.OpGreaterOrEqual, 0)
	s.Interval = 10 * time.Second
	queries := func(source string, n int) []Registration {
		var regs []Registration
		for i := range n {
			regs = append(regs, reg(fmt.Sprintf("o%d", i), source, fmt.Sprintf("q%d", i), s))
		}
		return regs
	}
	stretch := func() string {
		h.t.Helper()
		mfs, err := metrics.Gather()
		h.g.Expect(err).NotTo(HaveOccurred())
		out := ""
		for _, mf := range mfs {
			if mf.GetName() != MetricSourceIntervalStretch {
				continue
			}
			for _, m := range mf.GetMetric() {
				out += fmt.Sprintf("%s=%g ", m.GetLabel()[0].GetValue(), m.GetGauge().GetValue())
			}
		}
		return out
	}

	// 1,000 queries every 10s: 100 calls/s where 10/s are allowed.
	h.e.Set(moment("busy"), queries("shop/busy", 1000))
	h.e.Set(moment("calm"), queries("shop/calm", 50)) // 5 calls/s: fits
	l := h.e.Load("shop/busy")
	h.g.Expect(l.Stretched()).To(BeTrue())
	h.g.Expect(l).To(Equal(SourceLoad{Host: "prom:9090", Queries: 1000, Interval: 10 * time.Second,
		Calls: 100, HostCalls: 100, Rate: 10, Stretch: 10}))
	h.g.Expect(l.Message()).To(Equal("1000 queries (every 10s or more) need 100 calls/s to prom:9090, 100 calls/s with the other " +
		"sources on that host; the egress rate allows 10/s to it, so intervals are stretched about 10× (10s to ~1m40s): " +
		"use fewer distinct queries or longer intervals, or raise the operator's per-host rate"))
	h.g.Expect(h.e.Load("shop/calm").Stretched()).To(BeFalse())
	h.g.Expect(h.e.Load("shop/calm").Message()).To(BeEmpty())
	h.g.Expect(changes).To(Equal([]string{"shop/busy"}), "only the stretched source is reported")
	h.g.Expect(stretch()).To(Equal("shop/busy=10 shop/calm=1 "))

	// A neighbour on the same host in another namespace shares the rate: a small
	// change of the stretch (10 → 10.5) is not reported, the neighbour is.
	h.e.Set(Owner{Kind: "Moment", Namespace: "team", Name: "n"}, queries("team/neighbour", 50))
	h.g.Expect(h.e.Load("team/neighbour").Stretch).To(Equal(10.5))
	h.g.Expect(changes).To(Equal([]string{"shop/busy", "team/neighbour"}))

	// Down to 40 queries: 4 + 5 calls/s fit. Both are reported, once.
	h.e.Set(moment("busy"), queries("shop/busy", 40))
	h.g.Expect(h.e.Load("shop/busy").Stretched()).To(BeFalse())
	h.g.Expect(changes).To(ConsistOf("shop/busy", "team/neighbour", "shop/busy", "team/neighbour"))
	h.g.Expect(stretch()).To(Equal("shop/busy=1 shop/calm=1 team/neighbour=1 "))

	// Stretched again, then nothing uses the source: withdrawn.
	h.e.Set(moment("busy"), queries("shop/busy", 1000))
	h.g.Expect(h.e.Load("shop/busy").Stretched()).To(BeTrue())
	changes = nil
	h.e.Remove(moment("busy"))
	h.g.Expect(h.e.Load("shop/busy")).To(Equal(SourceLoad{Stretch: 1}))
	h.g.Expect(changes).To(ConsistOf("shop/busy", "team/neighbour"))
}

// The test above draws no jitter. With real draws, queries of one document
// registered at ten different moments (or before the source's provider, while
// their ticks are not aligned) still come to share one tick: a phase moves by
// at most the jitter window per interval toward the source's tick, which keeps
// moving with its own draws. Whatever the draws, after 20 intervals each
// interval has one GET (11 in a 10-interval window whose edges both hold one).
func TestHTTPJSONSourcePhasesMergeWithJitter(t *testing.T) {
	for _, late := range []bool{false, true} {
		for seed := uint64(1); seed <= 20; seed++ {
			t.Run(fmt.Sprint("late", late, "seed", seed), func(t *testing.T) {
				var hits atomic.Int64
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					hits.Add(1)
					_, _ = w.Write([]byte(`{"v": {"q0": 0, "q1": 1, "q2": 2, "q3": 3, "q4": 4, "q5": 5, "q6": 6, "q7": 7, "q8": 8, "q9": 9}}`))
				}))
				p := scoresProvider(t, srv)

				h := newHarness(t, Options{Rand: rand.NewPCG(seed, seed)}) // jitter 0.1: ±3s at 30s
				if !late {
					h.reg.Set("shop/scores", p)
				}
				register := scoreQueries(h)
				register("a", 0, 1)
				h.start()
				h.tick()
				// Nine more queries, each registered at its own moment, 3-15s apart.
				offsets := rand.New(rand.NewPCG(seed, 7))
				for i := 1; i < 10; i++ {
					h.settle()
					h.clk.Step(3*time.Second + time.Duration(offsets.IntN(12000))*time.Millisecond)
					register(fmt.Sprint("m", i), i, i+1)
				}
				if late {
					for range 20 {
						h.tick()
					}
					h.reg.Set("shop/scores", p)
				}
				// At most the jitter window (3s) per interval toward each other, with
				// the draws moving the target: 20 intervals is ample.
				until := h.clk.Now().Add(20 * 30 * time.Second)
				for h.clk.Now().Before(until) {
					h.tick()
				}
				before, start, ticks := hits.Load(), h.clk.Now(), 0
				for h.clk.Now().Before(start.Add(10 * 30 * time.Second)) {
					h.tick()
					ticks++
				}
				if got := hits.Load() - before; got > 11 || ticks > 11 {
					t.Fatalf("%d GETs on %d ticks in 10 intervals, want one tick and one GET per interval", got, ticks)
				}
			})
		}
	}
}

// scoreQueries returns a function that registers, for owner, the objectives
// o{from}..o{to-1} on the document of shop/scores, each with its own query
// {.v.q<i>} and an interval of 30s.
func scoreQueries(h *harness) func(owner string, from, to int) {
	s := spec(v1alpha1.OpGreaterOrEqual, 0)
	s.Interval = 30 * time.Second
	return func(owner string, from, to int) {
		var regs []Registration
		for i := from; i < to; i++ {
			regs = append(regs, reg(fmt.Sprintf("o%d", i), "shop/scores", fmt.Sprintf("{.v.q%d}", i), s))
		}
		h.e.Set(moment(owner), regs)
	}
}

// scoresProvider is an HTTP JSON provider of srv's /scores, both closed when
// the test ends.
func scoresProvider(t *testing.T, srv *httptest.Server) providers.Provider {
	t.Helper()
	t.Cleanup(srv.Close)
	p, err := providers.New(v1alpha1.SignalSourceSpec{HTTP: v1alpha1.HTTPSource{URL: srv.URL + "/scores"}}, nil,
		providers.Options{Policy: egress.Policy{Allow: egress.Loopback()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { providers.CloseIdleConnections(p) })
	return p
}

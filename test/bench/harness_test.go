//go:build linux

package bench

// Fast tests of the harness itself: they run in `go test ./...` (no control plane),
// so that a broken parser or counter cannot make `make bench` report numbers it did
// not measure.

import (
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

func TestParseEngineBench(t *testing.T) {
	g := NewWithT(t)
	out := `goos: linux
BenchmarkThroughputDistinctQueries/metrics=false         	     200	   6123456 ns/op	   1633000 evals/s	         0.0100 allocs/eval	         1.5 B/eval
BenchmarkThroughputDistinctQueries/metrics=true-2        	     200	   9123456 ns/op	    987654 evals/s	         0.0200 allocs/eval	         3.0 B/eval
BenchmarkStep/met 	 1000 	 12 ns/op 	 80000000 evals/s
PASS`
	res := parseEngineBench(out, engineBench)
	g.Expect(res).To(HaveLen(2))
	g.Expect(res[0].EvalsPerS).To(Equal(1633000.0))
	g.Expect(res[1].AllocsEval).To(Equal(0.02))
	// The goal is judged on the slowest variant.
	r := engineRow(res, "")
	g.Expect(r.Verdict).To(Equal(fail))
	g.Expect(r.Ratio).To(Equal("0.99x"))

	// Per CPU second when reported.
	res = parseEngineBench("BenchmarkThroughputDistinctQueries/metrics=true 20 87312500 ns/op 317.7 B/eval 6.001 allocs/eval 1330099 evals/cpu-s 114531 evals/s", engineBench)
	g.Expect(res).To(HaveLen(1))
	r = engineRow(res, "")
	g.Expect(r.Measured).To(Equal("metrics=true 1330099 evals/cpu-s"))
	g.Expect(r.Verdict).To(Equal(pass))

	g.Expect(parseEngineBench("PASS\nok  \tgithub.com/cxops/cxops/internal/engine\t0.1s\n", engineBench)).To(BeEmpty())
	r = engineRow(nil, "benchmark missing")
	g.Expect(r.Measured).To(Equal("n/a (benchmark missing)"))
	g.Expect(r.Verdict).To(Equal(na))
}

func TestAPICountsFromScrape(t *testing.T) {
	g := NewWithT(t)
	text := `# HELP apiserver_request_total Counter of apiserver requests.
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",component="apiserver",dry_run="",group="cx.cxops.io",resource="moments",scope="resource",subresource="status",verb="PATCH",version="v1alpha1"} 10
apiserver_request_total{code="409",component="apiserver",dry_run="",group="cx.cxops.io",resource="moments",scope="resource",subresource="status",verb="PATCH",version="v1alpha1"} 2
apiserver_request_total{code="200",component="apiserver",dry_run="",group="cx.cxops.io",resource="journeys",scope="resource",subresource="status",verb="PATCH",version="v1alpha1"} 3
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="events",scope="resource",subresource="",verb="CREATE",version="v1"} 4
apiserver_request_total{code="200",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="UPDATE",version="v1"} 5
apiserver_request_total{code="200",component="apiserver",dry_run="",group="cx.cxops.io",resource="moments",scope="cluster",subresource="",verb="LIST",version="v1alpha1"} 6
apiserver_request_total{code="200",component="apiserver",dry_run="",group="cx.cxops.io",resource="moments",scope="cluster",subresource="",verb="WATCH",version="v1alpha1"} 7
apiserver_request_total{code="200",component="",dry_run="",group="",resource="",scope="",subresource="/metrics",verb="GET",version=""} 8
`
	s, err := parseMetrics(strings.NewReader(text))
	g.Expect(err).NotTo(HaveOccurred())
	c := apiCountsFrom(s)
	// Failed writes (409) count: the manager sent them.
	g.Expect(c.total(isMomentStatusWrite)).To(Equal(12.0))
	g.Expect(c.total(isCXStatusWrite)).To(Equal(15.0))
	g.Expect(c.total(isCXWrite)).To(Equal(15.0))
	g.Expect(c.total(isEventWrite)).To(Equal(4.0))
	g.Expect(c.total(isLeaseWrite)).To(Equal(5.0))
	// Watches and the bench's own scrapes are not API requests of the manager.
	g.Expect(c.total(isResourceRequest)).To(Equal(12.0 + 3 + 4 + 5 + 6))

	before := apiCounts{{Verb: "PATCH", Group: cxGroup, Resource: "moments", Subresource: "status"}: 7}
	d := c.sub(before)
	g.Expect(d.total(isMomentStatusWrite)).To(Equal(5.0))
	g.Expect(d.breakdown(isCXWrite)).To(Equal("PATCH moments.cx.cxops.io/status=5, PATCH journeys.cx.cxops.io/status=3"))
	g.Expect(apiCounts{}.breakdown(isCXWrite)).To(Equal("none"))
}

func TestCountingSources(t *testing.T) {
	g := NewWithT(t)
	s, err := startCountingSources(3)
	g.Expect(err).NotTo(HaveOccurred())
	defer s.Close()
	before := s.snapshot()

	get := func(u string) string {
		resp, err := http.Get(u)
		g.Expect(err).NotTo(HaveOccurred())
		defer func() { _ = resp.Body.Close() }()
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	// The Prometheus client POSTs a form; GET works too. The probe is apart.
	resp, err := http.PostForm(s.prom.URL+"/api/v1/query", url.Values{"query": {`up{q="1"}`}})
	g.Expect(err).NotTo(HaveOccurred())
	_ = resp.Body.Close()
	g.Expect(get(s.prom.URL + "/api/v1/query?query=" + url.QueryEscape(`up{q="1"}`))).To(ContainSubstring(`"99.9"`))
	get(s.prom.URL + "/api/v1/query?query=" + url.QueryEscape(probeQuery))
	g.Expect(get(s.docs.URL + "/doc/a.json")).To(MatchJSON(`{"v0": 99.9, "v1": 99.9, "v2": 99.9}`))
	get(s.docs.URL + "/doc/a.json")
	get(s.docs.URL + "/doc/b.json")

	d := s.snapshot().sub(before)
	g.Expect(d.PromCalls).To(Equal(map[string]int{`up{q="1"}`: 2}))
	g.Expect(d.ProbeCalls).To(Equal(1))
	g.Expect(d.DocGets).To(Equal(map[string]int{"/doc/a.json": 2, "/doc/b.json": 1}))
}

func TestWorkloadGroups(t *testing.T) {
	g := NewWithT(t)
	w := workload{ns: "x", n: 1000, interval: 30 * time.Second, promQueries: 20, docFields: 10}
	prom, doc, urls := w.groups()
	g.Expect([]int{prom, doc, urls}).To(Equal([]int{20, 20, 2}))
	m := w.moment(6)
	g.Expect(m.Spec.Objectives[0].Signal.SourceRef.Name).To(Equal(docSourceA))
	g.Expect(m.Labels[batchLabel]).To(Equal("0"))
	g.Expect(w.moment(1234).Labels[batchLabel]).To(Equal("2"))
}

func TestConvergedAndChangedFields(t *testing.T) {
	g := NewWithT(t)
	w := workload{ns: "x", n: 4, interval: 30 * time.Second, promQueries: 1, docFields: 1}
	m := w.moment(0)
	m.Generation = 2
	g.Expect(converged(m)).To(BeFalse())
	m.Status = cxv1.MomentStatus{ObservedGeneration: 2,
		Objectives: []cxv1.ObjectiveStatus{{Name: "accuracy", State: cxv1.StateMet}}}
	g.Expect(converged(m)).To(BeFalse(), "not Ready")
	m.Status.Conditions = append(m.Status.Conditions, readyTrue())
	g.Expect(converged(m)).To(BeTrue())
	m.Status.Objectives[0].State = cxv1.StateUnknown
	g.Expect(converged(m)).To(BeFalse(), "Unknown is never converged")

	a := flattenStatus(&cxv1.MomentStatus{Health: "Healthy", Objectives: []cxv1.ObjectiveStatus{{Name: "accuracy", State: cxv1.StateMet}}})
	b := flattenStatus(&cxv1.MomentStatus{Health: "Healthy", Objectives: []cxv1.ObjectiveStatus{{Name: "accuracy", State: cxv1.StateMet, Message: "m"}}})
	g.Expect(changedFields(a, b)).To(Equal([]string{"objectives[accuracy].message"}))
	g.Expect(topChanges(map[string]int{"a": 1, "b": 3, "c": 2}, 2)).To(Equal("b=3, c=2, (1 more)"))
}

func TestStatsAndVerdicts(t *testing.T) {
	g := NewWithT(t)
	g.Expect(median([]time.Duration{3, 1, 2})).To(Equal(time.Duration(2)))
	g.Expect(median([]time.Duration{4, 1, 2, 3})).To(Equal(time.Duration(2)))
	g.Expect(minimum([]time.Duration{3, 1, 2})).To(Equal(time.Duration(1)))
	mx, avg := minuteStats([]float64{10, 30, 20})
	g.Expect([]float64{mx, avg}).To(Equal([]float64{30, 20}))
	mx, _ = minuteStats(nil)
	g.Expect(math.IsNaN(mx)).To(BeTrue())
	g.Expect(atMost(1.25, 1.25)).To(Equal(pass))
	g.Expect(atMost(1.26, 1.25)).To(Equal(fail))
	g.Expect(atMost(math.NaN(), 1)).To(Equal(na))
	g.Expect(within(0.84, 0.85, 1.15)).To(Equal(fail))
	g.Expect(fmtRatio(ratio(1, 0))).To(Equal("inf"))
	g.Expect(ratio(0, 0)).To(Equal(1.0))
	out := table([]string{"a", "bb"}, [][]string{{"xyz", "1"}})
	g.Expect(out).To(Equal("| a   | bb |\n| --- | -- |\n| xyz | 1  |\n"))
}

func TestLoadConfig(t *testing.T) {
	g := NewWithT(t)
	c, err := loadConfig()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.sizes).To(Equal([]int{1000, 10000}))
	g.Expect(c.runs).To(Equal(3))
	g.Expect(c.restartHeartbeat).To(BeNumerically(">", c.heartbeat+c.restartWindow))
	g.Expect(c.defaultQPSSizes).To(Equal(map[int]bool{10000: true}), "the goal's size")
	g.Expect(c.steadySizes).To(Equal(map[int]bool{10000: true}))
	t.Setenv("BENCH_SIZES", "30000 1000 20000")
	c, err = loadConfig()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.defaultQPSSizes).To(Equal(map[int]bool{20000: true}), "the smallest size the goal is judged at")
	g.Expect(c.steadySizes).To(Equal(map[int]bool{30000: true}))
	t.Setenv("BENCH_SIZES", "500 1000")
	c, err = loadConfig()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.defaultQPSSizes).To(Equal(map[int]bool{1000: true}), "below the goal's size, the largest")

	t.Setenv("BENCH_SIZES", "1000 30k")
	t.Setenv("BENCH_INTERVAL", "5s")
	_, err = loadConfig()
	g.Expect(err).To(MatchError(And(ContainSubstring(`"30k"`), ContainSubstring("BENCH_INTERVAL"))))
}

func readyTrue() metav1.Condition {
	return metav1.Condition{Type: cxv1.ReadyCondition, Status: metav1.ConditionTrue, Reason: "Succeeded"}
}

func TestMachineShare(t *testing.T) {
	g := NewWithT(t)
	t0 := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	a := cpuSample{at: t0, apiServer: 10, etcd: 1, bench: 2, manager: 0.5}
	b := cpuSample{at: t0.Add(10 * time.Second), apiServer: 24.8, etcd: 2.6, bench: 3.1, manager: 3.3}
	s := a.share(b)
	g.Expect(s.apiServer).To(BeNumerically("~", 1.48, 1e-9))
	g.Expect(s.etcd).To(BeNumerically("~", 0.16, 1e-9))
	g.Expect(s.String()).To(Equal("API server 1.48, etcd 0.16, bench 0.11, manager 0.28 cores"))
	g.Expect(a.share(a)).To(Equal(machineShare{-1, -1, -1, -1}), "no time, no share")
	// A process not found, or gone: not measured, not zero.
	floor := cpuSample{at: t0, apiServer: 10, etcd: -1, bench: 2, manager: -1}.share(cpuSample{at: t0.Add(10 * time.Second), apiServer: 20, etcd: -1, bench: 4, manager: -1})
	g.Expect(floor.String()).To(Equal("API server 1.00, etcd n/a, bench 0.20 cores"))

	// The meter reads real processes: this one, and a child found by its ancestry.
	g.Expect(cpuSecondsOf(os.Getpid())).To(BeNumerically(">=", 0))
	g.Expect(cpuSecondsOf(-1)).To(Equal(-1.0))
	child := exec.Command("sleep", "30")
	g.Expect(child.Start()).To(Succeed())
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	g.Expect(descendsFrom(child.Process.Pid, os.Getpid())).To(BeTrue())
	g.Expect(descendsFrom(os.Getpid(), child.Process.Pid)).To(BeFalse())
}

// TestConvergeRowJudgesPairedRuns: the goal is the median of each run's ratio,
// not the ratio of the median times, which pairs a manager and a floor of
// different runs (the bench's set of 2026-12-03: 1.23 against 1.31).
func TestConvergeRowJudgesPairedRuns(t *testing.T) {
	g := NewWithT(t)
	s := func(v float64) time.Duration { return time.Duration(v * float64(time.Second)) }
	floor := []time.Duration{s(29.1), s(28.7), s(34.2)}
	mgr := []time.Duration{s(38.0), s(35.4), s(41.9)}
	r := convergeRow(10000, 3, 5000, floor, mgr)
	g.Expect(r.Ratio).To(Equal("1.23x"))
	g.Expect(r.Verdict).To(Equal(pass))
	g.Expect(r.Measured).To(Equal("runs 1.31, 1.23, 1.23 (min 1.23); manager 38.0s (min 35.4s), floor 29.1s (min 28.7s): ratio of medians 1.31"))
	r = convergeRow(10000, 3, 5000, floor, []time.Duration{s(38.0), s(36.0), s(43.0)})
	g.Expect(r.Verdict).To(Equal(fail), "1.31, 1.25, 1.26")
	// Below the goal's size the ratio is shown, not judged.
	r = convergeRow(1000, 3, 5000, floor, mgr)
	g.Expect(r.Ratio).To(Equal("1.23x"))
	g.Expect(r.Verdict).To(Equal(info))
	g.Expect(r.Goal).To(ContainSubstring("the goal is at 10000"))
}

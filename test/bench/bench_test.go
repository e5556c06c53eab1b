//go:build linux

// Package bench measures cxops against the numbers of the design (docs/operations.md,
// "Sizing and benchmarks"): convergence of N Moments against a floor of plain status
// patches, the manager's memory and CPU with its metrics scraped, the API requests it
// makes (counted by the API server), its writes in steady state, through a heartbeat
// period and after a restart, its provider calls (counted by the signal servers), and
// the engine's throughput on one core. Run it with `make bench`; `go test ./...`
// skips it (it runs only with CXOPS_BENCH=1).
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/testenv"
)

// The manager's own defaults for its API client (--kube-api-qps, --kube-api-burst in
// internal/managerapp), used by the default-limits variant on both sides.
const (
	managerDefaultQPS   = 50
	managerDefaultBurst = 100
	// probeInterval is the manager's probe period of a ready source (5m, jittered by
	// 10%): an HTTP source's probe GETs its document too.
	probeInterval = 5 * time.Minute
	engineBench   = "BenchmarkThroughputDistinctQueries"
)

// config is read from the environment (see docs/operations.md).
type config struct {
	sizes            []int
	runs             int
	heartbeat        time.Duration
	steadyPeriods    int
	restartWindow    time.Duration
	restartHeartbeat time.Duration
	interval         time.Duration
	scrape           time.Duration
	convergeTimeout  time.Duration
	qps              float64
	burst            int
	concurrency      int
	createWorkers    int
	defaultQPSSizes  map[int]bool
	steadySizes      map[int]bool
	manager          string
	engineBenchtime  string
	out              string
	logDir           string
	promQueries      int
	docFields        int
}

func loadConfig() (config, error) {
	var errs []string
	c := config{
		runs:            envInt("BENCH_RUNS", 3, &errs),
		heartbeat:       envDur("BENCH_HEARTBEAT", 2*time.Minute, &errs),
		steadyPeriods:   envInt("BENCH_STEADY_PERIODS", 2, &errs),
		restartWindow:   envDur("BENCH_RESTART_WINDOW", 2*time.Minute, &errs),
		interval:        envDur("BENCH_INTERVAL", 30*time.Second, &errs),
		scrape:          envDur("BENCH_SCRAPE", 15*time.Second, &errs),
		convergeTimeout: envDur("BENCH_CONVERGE_TIMEOUT", 30*time.Minute, &errs),
		qps:             float64(envInt("BENCH_QPS", 5000, &errs)),
		burst:           envInt("BENCH_BURST", 10000, &errs),
		concurrency:     envInt("BENCH_CONCURRENCY", 4, &errs),
		createWorkers:   envInt("BENCH_CREATE_WORKERS", 8, &errs),
		manager:         os.Getenv("BENCH_MANAGER"),
		engineBenchtime: envStr("BENCH_ENGINE_BENCHTIME", "200x"),
		out:             os.Getenv("BENCH_OUT"),
		logDir:          os.Getenv("BENCH_LOG_DIR"),
		promQueries:     envInt("BENCH_PROM_QUERIES", 20, &errs),
		docFields:       envInt("BENCH_DOC_QUERIES", 10, &errs),
	}
	for _, f := range strings.Fields(envStr("BENCH_SIZES", "1000 10000")) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 4 {
			errs = append(errs, fmt.Sprintf("BENCH_SIZES: %q is not a number of moments >= 4", f))
			continue
		}
		c.sizes = append(c.sizes, n)
	}
	// The run at the default limits takes 7 minutes at 10,000 (10,000 writes at
	// 50 per second on each side): by default it runs at the smallest size the
	// convergence goal is judged at (convergeTarget), or the largest size below.
	// The steady window and the restart (7 minutes or more) run at the largest size
	// only, by default.
	dq, largest := "", ""
	if len(c.sizes) > 0 {
		largest = strconv.Itoa(slices.Max(c.sizes))
		dq = largest
		for _, n := range slices.Sorted(slices.Values(c.sizes)) {
			if n >= convergeTarget {
				dq = strconv.Itoa(n)
				break
			}
		}
	}
	c.defaultQPSSizes = envSizes("BENCH_DEFAULT_QPS_SIZES", dq, &errs)
	c.steadySizes = envSizes("BENCH_STEADY_SIZES", largest, &errs)
	// The restarted manager's heartbeat is longer than any moment's time to its
	// next heartbeat, so that no heartbeat is due in the window after the restart:
	// every write there is churn.
	c.restartHeartbeat = envDur("BENCH_RESTART_HEARTBEAT", max(10*time.Minute, c.heartbeat+c.restartWindow+2*time.Minute), &errs)
	if c.interval < 10*time.Second {
		errs = append(errs, "BENCH_INTERVAL: objectives are evaluated at most every 10s")
	}
	if c.restartHeartbeat <= c.heartbeat+c.restartWindow {
		errs = append(errs, "BENCH_RESTART_HEARTBEAT must exceed BENCH_HEARTBEAT + BENCH_RESTART_WINDOW")
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return c, nil
}

// envSizes reads a list of sizes ("0" for none).
func envSizes(name, def string, errs *[]string) map[int]bool {
	out := map[int]bool{}
	for _, f := range strings.Fields(envStr(name, def)) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			*errs = append(*errs, fmt.Sprintf("%s: %q is not a number", name, f))
			continue
		}
		out[n] = true
	}
	return out
}

func envStr(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}

func envInt(name string, def int, errs *[]string) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		*errs = append(*errs, fmt.Sprintf("%s: %q is not a non-negative integer", name, v))
		return def
	}
	return n
}

func envDur(name string, def time.Duration, errs *[]string) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		*errs = append(*errs, fmt.Sprintf("%s: %q is not a positive duration", name, v))
		return def
	}
	return d
}

// bench is one `make bench`.
type bench struct {
	t     *testing.T
	cfg   config
	start time.Time
	ctx   context.Context

	env        *testenv.Env
	rest       *rest.Config
	setup      client.WithWatch // creates, deletes and watches (raised limits)
	api        *apiServerMetrics
	cpu        cpuMeter
	src        *countingSources
	bin        string
	kubeconfig string
	logDir     string

	templates   [4]cxv1.MomentStatus // the manager's first status, by kind(i)
	statusBytes [4]int

	engine        []engineResult
	engineMissing string
	sizes         []*sizeResult
}

type sizeResult struct {
	n            int
	floor, mgr   []time.Duration
	floorShare   []machineShare
	order        []string
	runs         []*managerResult
	dqFloor      time.Duration
	dqMgr        *managerResult
	steady       *steadyResult
	restart      *restartResult
	promQ, docQ  int
	urls         int
	floorBytes   int
	managerBytes int
}

type managerResult struct {
	converge      time.Duration
	ready         time.Duration
	rssMax        int64 // sampled every second, whole life of the first process
	peak          int64 // VmHWM
	cpuConverge   float64
	apiConverge   apiCounts
	scrapes       int
	scrapeErrors  int
	scrapeMaxSize int
	lastScrapeErr error
	share         machineShare // while converging
}

type steadyResult struct {
	window        time.Duration
	perMinute     []float64 // cxops writes per minute
	api           apiCounts
	cpu           float64
	rssMax        int64
	evals         float64
	calls         sourceCounts
	ticks         float64
	notConverged  int
	providerCalls float64        // from the manager's cxops_provider_requests_total
	changes       map[string]int // status fields changed, seen by the watch
}

type restartResult struct {
	ready        time.Duration
	shutdown     apiCounts // between the stop and the new process' readiness
	window       apiCounts
	rssMax       int64
	notConverged int
	changes      map[string]int
}

// TestBench is `make bench`. It needs CXOPS_BENCH=1 and a test control plane
// (KUBEBUILDER_ASSETS, or hack/setup-envtest.sh).
func TestBench(t *testing.T) {
	if os.Getenv("CXOPS_BENCH") != "1" {
		t.Skip("the benchmark runs with `make bench` (CXOPS_BENCH=1); see docs/operations.md")
	}
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	// The bench's clients log nothing: their errors are returned.
	ctrllog.SetLogger(logr.Discard())
	b := &bench{t: t, cfg: cfg, start: time.Now(), ctx: context.Background()}
	if err := b.run(); err != nil {
		t.Fatal(err)
	}
}

func (b *bench) logf(format string, args ...any) {
	el := time.Since(b.start).Round(time.Second)
	fmt.Fprintf(os.Stderr, "[bench %02d:%02d] %s\n", int(el.Minutes()), int(el.Seconds())%60, fmt.Sprintf(format, args...))
}

func (b *bench) run() error {
	c := b.cfg
	b.logf("sizes %v, %d runs, heartbeat %s (window %d periods), restart window %s (restart heartbeat %s), interval %s, scrape every %s, QPS %.0f/burst %d, concurrency %d; steady at %v, default limits at %v",
		c.sizes, c.runs, c.heartbeat, c.steadyPeriods, c.restartWindow, c.restartHeartbeat, c.interval, c.scrape, c.qps, c.burst, c.concurrency,
		slices.Sorted(maps.Keys(c.steadySizes)), slices.Sorted(maps.Keys(c.defaultQPSSizes)))

	b.runEngine()

	var err error
	b.logDir = c.logDir
	if b.logDir == "" {
		if b.logDir, err = os.MkdirTemp("", "cxops-bench-"); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(b.logDir, 0o755); err != nil {
		return err
	}
	if b.bin, err = buildManager(testenv.RepoRoot(), c.manager, b.logDir); err != nil {
		return err
	}
	b.logf("manager %s; its logs in %s", b.bin, b.logDir)

	if b.env, err = testenv.Start(); err != nil {
		return err
	}
	b.t.Cleanup(func() { _ = b.env.Stop() })
	b.cpu = newCPUMeter()
	b.rest = b.env.Config
	if b.setup, err = newClient(b.rest, 5000, 10000); err != nil {
		return err
	}
	if b.api, err = newAPIServerMetrics(b.rest); err != nil {
		return err
	}
	if _, err := b.api.counts(b.ctx); err != nil {
		return err
	}
	b.kubeconfig = filepath.Join(b.logDir, "kubeconfig")
	if err := b.env.WriteKubeconfig(b.kubeconfig); err != nil {
		return err
	}
	if err := ensureNamespace(b.ctx, b.setup, "cxops-system"); err != nil {
		return err
	}
	if b.src, err = startCountingSources(c.docFields); err != nil {
		return err
	}
	b.t.Cleanup(b.src.Close)
	if err := b.calibrate(); err != nil {
		return fmt.Errorf("calibration (one manager run on 4 moments): %w", err)
	}
	for _, n := range c.sizes {
		r, err := b.runSize(n)
		if err != nil {
			return fmt.Errorf("N=%d: %w", n, err)
		}
		b.sizes = append(b.sizes, r)
	}
	report := b.report()
	fmt.Println(report)
	if c.out != "" {
		if err := os.WriteFile(c.out, []byte(report), 0o644); err != nil {
			return err
		}
		b.logf("report written to %s", c.out)
	}
	return nil
}

// runEngine runs the engine's throughput benchmark on one core.
func (b *bench) runEngine() {
	b.logf("engine: go test ./internal/engine -bench %s -cpu 1 -benchtime %s", engineBench, b.cfg.engineBenchtime)
	cmd := exec.Command("go", "test", "./internal/engine", "-run", "^$", "-bench", "^"+engineBench+"$",
		"-cpu", "1", "-benchtime", b.cfg.engineBenchtime, "-count", "1")
	cmd.Dir = testenv.RepoRoot()
	out, err := cmd.CombinedOutput()
	b.engine = parseEngineBench(string(out), engineBench)
	switch {
	case err != nil:
		b.engineMissing = "engine benchmark failed: " + strings.TrimSpace(tail2(string(out), 3))
	case len(b.engine) == 0:
		b.engineMissing = "benchmark missing"
	}
	for _, r := range b.engine {
		b.logf("engine: %s %.0f evals/s, %.0f evals/cpu-s, %.3g allocs/eval", r.Name, r.EvalsPerS, r.EvalsPerCPU, r.AllocsEval)
	}
	if b.engineMissing != "" {
		b.logf("engine: n/a (%s)", b.engineMissing)
	}
}

func tail2(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}

// managerArgs are the flags of a bench manager: the production Deployment's
// (leader election, metrics on) plus the test cluster's addresses.
func (b *bench) managerArgs(heartbeat time.Duration, defaultLimits bool) []string {
	args := []string{
		"--kubeconfig=" + b.kubeconfig,
		"--leader-elect", "--leader-election-namespace=cxops-system",
		"--status-heartbeat=" + heartbeat.String(),
		"--egress-allow=127.0.0.2/32,127.0.0.3/32",
		fmt.Sprintf("--concurrency=%d", b.cfg.concurrency),
		// Nanosecond timestamps: the log is the run's timeline (start, sync, first write).
		"--zap-time-encoding=rfc3339nano",
	}
	if !defaultLimits {
		args = append(args, fmt.Sprintf("--kube-api-qps=%.0f", b.cfg.qps), fmt.Sprintf("--kube-api-burst=%d", b.cfg.burst))
	}
	return args
}

func (b *bench) workload(ns string, n int) workload {
	return workload{ns: ns, n: n, interval: b.cfg.interval, promQueries: b.cfg.promQueries, docFields: b.cfg.docFields}
}

// calibrate runs the manager on one moment of each kind and keeps the status it
// writes: the floor writes exactly that status (times refreshed), so both write the
// same bytes.
func (b *bench) calibrate() error {
	w := b.workload("calibrate", 4)
	if err := ensureNamespace(b.ctx, b.setup, w.ns); err != nil {
		return err
	}
	if err := w.createSupport(b.ctx, b.setup, b.src); err != nil {
		return err
	}
	if _, err := w.createMoments(b.ctx, b.setup, 4); err != nil {
		return err
	}
	cw, err := startConvergeWatch(b.ctx, b.setup, w.ns, w.n)
	if err != nil {
		return err
	}
	defer cw.stop()
	p, err := startManager(b.bin, filepath.Join(b.logDir, "manager-calibrate.log"), b.cfg.scrape, b.managerArgs(b.cfg.heartbeat, false)...)
	if err != nil {
		return err
	}
	defer func() { _ = p.stop() }()
	if err := cw.wait(5*time.Minute, p.alive); err != nil {
		return fmt.Errorf("%w; statuses: %s", err, b.describe(w))
	}
	var list cxv1.MomentList
	if err := b.setup.List(b.ctx, &list, client.InNamespace(w.ns)); err != nil {
		return err
	}
	for _, m := range list.Items {
		i, _ := strconv.Atoi(strings.TrimPrefix(m.Name, "moment-"))
		b.templates[kind(i)] = m.Status
		data, _ := json.Marshal(m.Status)
		b.statusBytes[kind(i)] = len(data)
	}
	for k := range 4 {
		m := w.moment(k)
		m.Generation = 1
		m.Status = *b.floorStatus(k, 1)
		if !converged(m) {
			return fmt.Errorf("the floor's status of kind %d does not count as converged: %+v", k, m.Status)
		}
	}
	if err := p.stop(); err != nil {
		return err
	}
	b.logf("calibrated: the manager's first status is %v bytes (by source kind)", b.statusBytes)
	return w.deleteAll(b.ctx, b.setup)
}

// describe lists the conditions of a few moments, for an error message.
func (b *bench) describe(w workload) string {
	var list cxv1.MomentList
	if err := b.setup.List(b.ctx, &list, client.InNamespace(w.ns), client.Limit(4)); err != nil {
		return err.Error()
	}
	var parts []string
	for _, m := range list.Items {
		parts = append(parts, fmt.Sprintf("%s: %+v %+v", m.Name, m.Status.Conditions, m.Status.Objectives))
	}
	return strings.Join(parts, "; ")
}

// floorStatus is the manager's status of the moment's kind, for generation, at now.
func (b *bench) floorStatus(i int, generation int64) *cxv1.MomentStatus {
	st := b.templates[kind(i)].DeepCopy()
	now := metav1.Now().Rfc3339Copy()
	st.ObservedGeneration = generation
	if st.LastHeartbeatTime != nil {
		st.LastHeartbeatTime = &now
	}
	for j := range st.Conditions {
		st.Conditions[j].LastTransitionTime = now
		st.Conditions[j].ObservedGeneration = generation
	}
	for j := range st.Objectives {
		o := &st.Objectives[j]
		for _, t := range []**metav1.Time{&o.Since, &o.LastEvaluated, &o.BreachingSince, &o.DriftingSince, &o.MetSince} {
			if *t != nil {
				*t = &now
			}
		}
	}
	return st
}

func (b *bench) runSize(n int) (*sizeResult, error) {
	r := &sizeResult{n: n}
	r.promQ, r.docQ, r.urls = b.workload("", n).groups()
	for run := 1; run <= b.cfg.runs; run++ {
		label := fmt.Sprintf("r%d", run)
		steady := run == b.cfg.runs && b.cfg.steadySizes[n]
		floorFirst := run%2 == 1
		var fd time.Duration
		var fs machineShare
		var mr *managerResult
		var err error
		if floorFirst {
			r.order = append(r.order, "floor, manager")
			if fd, fs, err = b.floorPhase(n, label, float32(b.cfg.qps), b.cfg.burst); err != nil {
				return nil, err
			}
			if mr, err = b.managerPhase(r, n, label, false, steady); err != nil {
				return nil, err
			}
		} else {
			r.order = append(r.order, "manager, floor")
			if mr, err = b.managerPhase(r, n, label, false, steady); err != nil {
				return nil, err
			}
			if fd, fs, err = b.floorPhase(n, label, float32(b.cfg.qps), b.cfg.burst); err != nil {
				return nil, err
			}
		}
		r.floor = append(r.floor, fd)
		r.floorShare = append(r.floorShare, fs)
		r.mgr = append(r.mgr, mr.converge)
		r.runs = append(r.runs, mr)
		b.logf("N=%d run %d/%d: floor %s, manager %s (ratio %.2f)", n, run, b.cfg.runs, secs(fd), secs(mr.converge), mr.converge.Seconds()/fd.Seconds())
	}
	if b.cfg.defaultQPSSizes[n] {
		fd, _, err := b.floorPhase(n, "dq", managerDefaultQPS, managerDefaultBurst)
		if err != nil {
			return nil, err
		}
		mr, err := b.managerPhase(r, n, "dq", true, false)
		if err != nil {
			return nil, err
		}
		r.dqFloor, r.dqMgr = fd, mr
		b.logf("N=%d default limits: floor %s, manager %s", n, secs(fd), secs(mr.converge))
	}
	r.floorBytes = b.statusBytes[0]
	return r, nil
}

// floorPhase creates n moments, then patches their status (the manager's first
// status, no read before the patch, optimistic lock as the manager does) with the
// manager's concurrency, and returns the time until the watch has seen all of them
// converged, and where the machine's CPU went meanwhile.
func (b *bench) floorPhase(n int, label string, qps float32, burst int) (time.Duration, machineShare, error) {
	w := b.workload(fmt.Sprintf("n%d-%s-floor", n, label), n)
	if err := ensureNamespace(b.ctx, b.setup, w.ns); err != nil {
		return 0, machineShare{}, err
	}
	t := time.Now()
	objs, err := w.createMoments(b.ctx, b.setup, b.cfg.createWorkers)
	if err != nil {
		return 0, machineShare{}, fmt.Errorf("creating the floor's moments: %w", err)
	}
	b.logf("floor N=%d %s: %d moments created in %s", n, label, n, secs(time.Since(t)))
	cw, err := startConvergeWatch(b.ctx, b.setup, w.ns, n)
	if err != nil {
		return 0, machineShare{}, err
	}
	defer cw.stop()
	pc, err := newClient(b.rest, qps, burst)
	if err != nil {
		return 0, machineShare{}, err
	}
	start := time.Now()
	cpu0 := b.cpu.sample(0)
	err = parallel(b.ctx, n, b.cfg.concurrency, func(i int) error {
		m := &cxv1.Moment{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: momentName(i), ResourceVersion: objs[i].rv}}
		before := m.DeepCopy()
		m.Status = *b.floorStatus(i, objs[i].generation)
		err := pc.Status().Patch(b.ctx, m, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
		if apierrors.IsConflict(err) {
			// A retry of a patch that was applied although its answer was lost:
			// read the object (only then) and retry from its version.
			cur := &cxv1.Moment{}
			if gerr := pc.Get(b.ctx, client.ObjectKeyFromObject(m), cur); gerr != nil {
				return gerr
			}
			if converged(cur) {
				return nil
			}
			objs[i].rv = cur.ResourceVersion
		}
		return err
	})
	if err != nil {
		return 0, machineShare{}, fmt.Errorf("floor patches: %w", err)
	}
	if err := cw.wait(b.cfg.convergeTimeout, nil); err != nil {
		return 0, machineShare{}, fmt.Errorf("floor: %w (watch: %v)", err, cw.watchErrors())
	}
	share := cpu0.share(b.cpu.sample(0))
	d := cw.at.Sub(start)
	b.logf("floor N=%d %s: converged in %s; %s; %s", n, label, secs(d), share, cw.progress(start))
	cw.stop()
	return d, share, w.deleteAll(b.ctx, b.setup)
}

// managerPhase creates the sources, journeys and n moments, starts the manager and
// returns the time from its start until the watch has seen every moment converged.
// With steady, it then measures the heartbeat window and a restart.
func (b *bench) managerPhase(r *sizeResult, n int, label string, defaultLimits, steady bool) (*managerResult, error) {
	w := b.workload(fmt.Sprintf("n%d-%s-mgr", n, label), n)
	if err := ensureNamespace(b.ctx, b.setup, w.ns); err != nil {
		return nil, err
	}
	t := time.Now()
	if err := w.createSupport(b.ctx, b.setup, b.src); err != nil {
		return nil, err
	}
	if _, err := w.createMoments(b.ctx, b.setup, b.cfg.createWorkers); err != nil {
		return nil, fmt.Errorf("creating the manager's moments: %w", err)
	}
	b.logf("manager N=%d %s: sources, journeys and %d moments created in %s", n, label, n, secs(time.Since(t)))
	cw, err := startConvergeWatch(b.ctx, b.setup, w.ns, n)
	if err != nil {
		return nil, err
	}
	defer cw.stop()
	api0, err := b.api.counts(b.ctx)
	if err != nil {
		return nil, err
	}
	p, err := startManager(b.bin, filepath.Join(b.logDir, fmt.Sprintf("manager-n%d-%s.log", n, label)), b.cfg.scrape,
		b.managerArgs(b.cfg.heartbeat, defaultLimits)...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = p.stop() }()
	cpu0 := b.cpu.sample(p.cmd.Process.Pid)
	res := &managerResult{}
	readyc := make(chan time.Time, 1)
	go func() {
		at, _ := p.waitReady(b.cfg.convergeTimeout)
		readyc <- at
	}()
	if err := cw.wait(b.cfg.convergeTimeout, p.alive); err != nil {
		return nil, fmt.Errorf("manager: %w (watch: %v); some statuses: %s", err, cw.watchErrors(), b.describe(w))
	}
	res.converge = cw.at.Sub(p.started)
	res.cpuConverge = p.cpuSeconds()
	res.share = cpu0.share(b.cpu.sample(p.cmd.Process.Pid))
	api1, err := b.api.counts(b.ctx)
	if err != nil {
		return nil, err
	}
	res.apiConverge = api1.sub(api0)
	if at := <-readyc; !at.IsZero() {
		res.ready = at.Sub(p.started)
	}
	b.logf("manager N=%d %s: ready after %s, converged in %s; %.2f Moment status writes per Moment; RSS max so far %.0f MiB; %s; %s",
		n, label, secs(res.ready), secs(res.converge), res.apiConverge.total(isMomentStatusWrite)/float64(n), mib(p.maxRSS(time.Time{}, time.Time{})), res.share,
		cw.progress(p.started))
	if r.managerBytes == 0 {
		var m cxv1.Moment
		if err := b.setup.Get(b.ctx, client.ObjectKey{Namespace: w.ns, Name: momentName(0)}, &m); err == nil {
			data, _ := json.Marshal(m.Status)
			r.managerBytes = len(data)
		}
	}
	if err := p.saveHeap(b.ctx, "-converged.heap"); err != nil {
		b.logf("heap profile: %v", err)
	}
	if steady {
		if r.steady, err = b.steadyWindow(p, cw, w); err != nil {
			return nil, err
		}
		if err := p.saveHeap(b.ctx, "-steady.heap"); err != nil {
			b.logf("heap profile: %v", err)
		}
	}
	res.rssMax = p.maxRSS(time.Time{}, time.Time{})
	res.peak = p.peakRSS()
	res.scrapes, res.scrapeErrors, res.scrapeMaxSize, res.lastScrapeErr = p.scrapeStats()
	if steady {
		if r.restart, err = b.restartWindow(p, cw); err != nil {
			return nil, err
		}
	} else if err := p.stop(); err != nil {
		return nil, err
	}
	cw.stop()
	return res, w.deleteAll(b.ctx, b.setup)
}

// sleepAlive waits d, failing early when the manager exits.
func sleepAlive(d time.Duration, p *managerProcess) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if err := p.alive(); err != nil {
			return err
		}
		time.Sleep(min(time.Second, time.Until(deadline)))
	}
	return p.alive()
}

// minutes samples the API server's counters every minute for d (rounded up to whole
// minutes) and returns the counts at each minute.
func (b *bench) minutes(d time.Duration, p *managerProcess, what string) ([]apiCounts, error) {
	a, err := b.api.counts(b.ctx)
	if err != nil {
		return nil, err
	}
	out := []apiCounts{a}
	m := int(math.Ceil(d.Minutes()))
	for i := range m {
		if err := sleepAlive(time.Minute, p); err != nil {
			return nil, err
		}
		if a, err = b.api.counts(b.ctx); err != nil {
			return nil, err
		}
		out = append(out, a)
		b.logf("%s: minute %d/%d: %.0f cxops writes", what, i+1, m, a.sub(out[i]).total(isCXWrite))
	}
	return out, nil
}

// steadyWindow measures steadyPeriods heartbeat periods from convergence: writes
// per minute, provider calls, CPU, memory and evaluations.
func (b *bench) steadyWindow(p *managerProcess, cw *convergeWatch, w workload) (*steadyResult, error) {
	d := time.Duration(b.cfg.steadyPeriods) * b.cfg.heartbeat
	b.logf("steady: %s (%d heartbeat periods of %s) from convergence", d, b.cfg.steadyPeriods, b.cfg.heartbeat)
	s := &steadyResult{}
	src0 := b.src.snapshot()
	cpu0 := p.cpuSeconds()
	m0, err0 := p.scrapeNow(b.ctx)
	t0 := time.Now()
	cw.takeChanges()
	samples, err := b.minutes(d, p, "steady")
	if err != nil {
		return nil, err
	}
	s.window = time.Since(t0)
	s.calls = b.src.snapshot().sub(src0)
	s.cpu = p.cpuSeconds() - cpu0
	s.rssMax = p.maxRSS(t0, time.Time{})
	m1, err1 := p.scrapeNow(b.ctx)
	if err0 == nil && err1 == nil {
		s.evals = m1.sum("cxops_evaluations_total", nil) - m0.sum("cxops_evaluations_total", nil)
		s.providerCalls = m1.sum("cxops_provider_requests_total", nil) - m0.sum("cxops_provider_requests_total", nil)
	} else {
		s.evals, s.providerCalls = math.NaN(), math.NaN()
	}
	for i := 1; i < len(samples); i++ {
		s.perMinute = append(s.perMinute, samples[i].sub(samples[i-1]).total(isCXWrite))
	}
	s.api = samples[len(samples)-1].sub(samples[0])
	s.ticks = s.window.Seconds() / w.interval.Seconds()
	s.notConverged = cw.notConverged()
	s.changes = cw.takeChanges()
	return s, nil
}

// restartWindow stops the manager, starts it again (with a heartbeat longer than the
// window, so no heartbeat is due) and counts the writes in restartWindow after it is
// ready.
func (b *bench) restartWindow(p *managerProcess, cw *convergeWatch) (*restartResult, error) {
	r := &restartResult{}
	a0, err := b.api.counts(b.ctx)
	if err != nil {
		return nil, err
	}
	b.logf("restart: stopping the manager")
	if err := p.stop(); err != nil {
		return nil, err
	}
	p2, err := startManager(b.bin, strings.TrimSuffix(p.logPath, ".log")+"-restart.log", b.cfg.scrape,
		b.managerArgs(b.cfg.restartHeartbeat, false)...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = p2.stop() }()
	at, err := p2.waitReady(5 * time.Minute)
	if err != nil {
		return nil, err
	}
	r.ready = at.Sub(p2.started)
	b.logf("restart: ready after %s; counting writes for %s", secs(r.ready), b.cfg.restartWindow)
	cw.takeChanges()
	samples, err := b.minutes(b.cfg.restartWindow, p2, "restart")
	if err != nil {
		return nil, err
	}
	r.shutdown = samples[0].sub(a0)
	r.window = samples[len(samples)-1].sub(samples[0])
	r.rssMax = p2.maxRSS(time.Time{}, time.Time{})
	if err := p2.saveHeap(b.ctx, ".heap"); err != nil {
		b.logf("heap profile: %v", err)
	}
	r.notConverged = cw.notConverged()
	r.changes = cw.takeChanges()
	return r, p2.stop()
}

//go:build linux

package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTicks is the unit of utime and stime in /proc/PID/stat (USER_HZ, 100 on
// every Linux the bench runs on).
const clockTicks = 100

// managerProcess is the manager binary running against the test API server, with
// its resident memory sampled every second from /proc/PID/status and its /metrics
// scraped by the bench every scrape interval for its whole life.
type managerProcess struct {
	cmd        *exec.Cmd
	started    time.Time
	logPath    string
	metricsURL string
	readyURL   string
	exited     chan struct{}
	exitErr    error

	mu            sync.Mutex
	rss           []memSample
	scrapes       int
	scrapeErrors  int
	lastScrapeErr error
	maxScrapeSize int
	cancel        context.CancelFunc
	pprofURL      string
}

// saveHeap writes the manager's heap profile (after a GC) to the manager's log
// path with suffix; nothing without BENCH_PPROF.
func (p *managerProcess) saveHeap(ctx context.Context, suffix string) error {
	return p.saveProfile(ctx, "heap?gc=1", suffix)
}

// saveProfile writes the profile at the profiler's path to the manager's log path
// with suffix; nothing without BENCH_PPROF.
func (p *managerProcess) saveProfile(ctx context.Context, path, suffix string) error {
	if p.pprofURL == "" {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.pprofURL+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	f, err := os.Create(strings.TrimSuffix(p.logPath, ".log") + suffix)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

type memSample struct {
	at time.Time
	kb int64
}

// startManager starts bin at args plus the addresses it picks for metrics and
// probes; the manager's output goes to logPath.
func startManager(bin, logPath string, scrapeEvery time.Duration, args ...string) (*managerProcess, error) {
	metricsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	probePort, err := freePort()
	if err != nil {
		return nil, err
	}
	args = append(args,
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metricsPort), "--metrics-secure=false",
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probePort))
	// BENCH_PPROF=1 serves the manager's profiler; the bench saves heap profiles
	// next to the manager's log (saveHeap).
	pprofURL := ""
	if os.Getenv("BENCH_PPROF") != "" {
		pprofPort, err := freePort()
		if err != nil {
			return nil, err
		}
		args = append(args, fmt.Sprintf("--pprof-bind-address=127.0.0.1:%d", pprofPort))
		pprofURL = fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/", pprofPort)
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	_, _ = fmt.Fprintf(logf, "# %s %s %s\n", time.Now().Format(time.RFC3339), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// CXOPS_BENCH_MANAGER_ENV adds to the manager's environment (GOGC=..., say).
	cmd.Env = append(os.Environ(), strings.Fields(os.Getenv("CXOPS_BENCH_MANAGER_ENV"))...)
	// The manager dies with the bench, whatever kills it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &managerProcess{
		cmd: cmd, logPath: logPath, exited: make(chan struct{}),
		metricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort),
		readyURL:   fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort),
		pprofURL:   pprofURL,
	}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, err
	}
	go func() {
		p.exitErr = cmd.Wait()
		_ = logf.Close()
		close(p.exited)
	}()
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.sampleMemory(ctx)
	go p.scrapeLoop(ctx, scrapeEvery)
	if pprofURL != "" {
		// The CPU profile of the first 60 seconds: the convergence.
		// The profiler listens once the manager has started: retry for 10s.
		go func() {
			for range 100 {
				if p.saveProfile(ctx, "profile?seconds=60", "-start.cpu") == nil || ctx.Err() != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}
	return p, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// alive returns an error when the process has exited.
func (p *managerProcess) alive() error {
	select {
	case <-p.exited:
		return fmt.Errorf("the manager exited (%v); last lines of %s:\n%s", p.exitErr, p.logPath, tail(p.logPath, 20))
	default:
		return nil
	}
}

// waitReady polls /readyz until it answers 200.
func (p *managerProcess) waitReady(timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if err := p.alive(); err != nil {
			return time.Time{}, err
		}
		resp, err := http.Get(p.readyURL)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Now(), nil
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("the manager was not ready within %s; last lines of %s:\n%s", timeout, p.logPath, tail(p.logPath, 20))
}

func (p *managerProcess) sampleMemory(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if kb := procStatusKB(p.cmd.Process.Pid, "VmRSS:"); kb > 0 {
			p.mu.Lock()
			p.rss = append(p.rss, memSample{at: time.Now(), kb: kb})
			p.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-p.exited:
			return
		case <-t.C:
		}
	}
}

func (p *managerProcess) scrapeLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.exited:
			return
		case <-t.C:
		}
		// A scrape parses the whole exposition, as Prometheus would; the manager
		// pays for rendering it.
		_, size, err := scrapeHTTP(ctx, p.metricsURL)
		p.mu.Lock()
		p.scrapes++
		if err != nil {
			p.scrapeErrors++
			p.lastScrapeErr = err
		} else {
			p.maxScrapeSize = max(p.maxScrapeSize, size)
		}
		p.mu.Unlock()
	}
}

// scrapeNow scrapes /metrics at once (for the counters at a phase boundary).
func (p *managerProcess) scrapeNow(ctx context.Context) (scrape, error) {
	s, _, err := scrapeHTTP(ctx, p.metricsURL)
	return s, err
}

// maxRSS is the largest resident memory sampled in [from, to] (zero times: the
// whole life), in bytes.
func (p *managerProcess) maxRSS(from, to time.Time) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var m int64
	for _, s := range p.rss {
		if (!from.IsZero() && s.at.Before(from)) || (!to.IsZero() && s.at.After(to)) {
			continue
		}
		m = max(m, s.kb)
	}
	return m << 10
}

// peakRSS is the kernel's high-water mark of the process' resident memory.
func (p *managerProcess) peakRSS() int64 { return procStatusKB(p.cmd.Process.Pid, "VmHWM:") << 10 }

// cpuSeconds is the process' user and system CPU time so far.
func (p *managerProcess) cpuSeconds() float64 { return cpuSecondsOf(p.cmd.Process.Pid) }

// cpuSecondsOf is a process' user and system CPU time so far, -1 if it is gone.
func cpuSecondsOf(pid int) float64 {
	f := procStatFields(pid)
	if len(f) < 13 {
		return -1
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / clockTicks
}

// procStatFields are the fields of /proc/PID/stat after the command name (which
// may hold spaces): field 3 (state) is the first.
func procStatFields(pid int) []string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(data)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
}

// machineShare is where the machine's CPU went during a phase, in cores: the
// API server, etcd, this process (the bench: its watch, and the floor's
// patches) and the manager. The goal's ratio follows the API server's share. A
// negative share is one not measured (no such process, or it exited).
type machineShare struct {
	apiServer, etcd, bench, manager float64
}

func (m machineShare) String() string {
	core := func(v float64) string {
		if v < 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f", v)
	}
	s := fmt.Sprintf("API server %s, etcd %s, bench %s", core(m.apiServer), core(m.etcd), core(m.bench))
	if m.manager >= 0 {
		s += ", manager " + core(m.manager)
	}
	return s + " cores"
}

// cpuMeter reads the CPU time of the test control plane's processes, found
// among this process' descendants by name, of the bench and of a manager.
type cpuMeter struct {
	apiServer, etcd int
}

func newCPUMeter() cpuMeter {
	var m cpuMeter
	self := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil {
			continue
		}
		name := strings.TrimSpace(string(comm))
		if (name != "kube-apiserver" && name != "etcd") || !descendsFrom(pid, self) {
			continue
		}
		if name == "etcd" {
			m.etcd = pid
		} else {
			m.apiServer = pid
		}
	}
	return m
}

func descendsFrom(pid, ancestor int) bool {
	for range 16 {
		f := procStatFields(pid)
		if len(f) < 2 {
			return false
		}
		ppid, _ := strconv.Atoi(f[1])
		if ppid == ancestor {
			return true
		}
		if ppid <= 1 {
			return false
		}
		pid = ppid
	}
	return false
}

// cpuSample is the CPU time of each process at one instant.
type cpuSample struct {
	at                              time.Time
	apiServer, etcd, bench, manager float64
}

// sample reads the CPU times now (-1: not measured); manager is 0 for none.
func (m cpuMeter) sample(manager int) cpuSample {
	read := func(pid int) float64 {
		if pid <= 0 {
			return -1
		}
		return cpuSecondsOf(pid)
	}
	return cpuSample{at: time.Now(), apiServer: read(m.apiServer), etcd: read(m.etcd), bench: read(os.Getpid()), manager: read(manager)}
}

// share is the cores each process used from a to b; -1 where either sample is
// missing.
func (a cpuSample) share(b cpuSample) machineShare {
	d := b.at.Sub(a.at).Seconds()
	rate := func(x, y float64) float64 {
		if x < 0 || y < 0 || d <= 0 {
			return -1
		}
		return (y - x) / d
	}
	return machineShare{
		apiServer: rate(a.apiServer, b.apiServer), etcd: rate(a.etcd, b.etcd),
		bench: rate(a.bench, b.bench), manager: rate(a.manager, b.manager),
	}
}

// scrapeStats returns how many scrapes were made and failed, the last error and
// the largest exposition seen.
func (p *managerProcess) scrapeStats() (n, failed, maxSize int, lastErr error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.scrapes, p.scrapeErrors, p.maxScrapeSize, p.lastScrapeErr
}

// stop interrupts the manager (a graceful shutdown, releasing its lease) and kills
// it if it has not exited after a minute.
func (p *managerProcess) stop() error {
	defer p.cancel()
	select {
	case <-p.exited:
		return p.alive()
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
		var exit *exec.ExitError
		if p.exitErr != nil && !errors.As(p.exitErr, &exit) {
			return p.exitErr
		}
		return nil
	case <-time.After(time.Minute):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("the manager did not stop within a minute of SIGINT and was killed; see %s", p.logPath)
	}
}

// procStatusKB reads a "Name:  123 kB" line of /proc/PID/status.
func procStatusKB(pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer func() { _ = f.Close() }()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb
		}
	}
	return -1
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// buildManager builds cmd/manager into dir unless bin is given.
func buildManager(root, bin, dir string) (string, error) {
	if bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("BENCH_MANAGER: %w", err)
		}
		return bin, nil
	}
	bin = filepath.Join(dir, "manager")
	// As the image builds it (Dockerfile): static, trimmed, stripped.
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./cmd/manager")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the manager: %v\n%s", err, out)
	}
	return bin, nil
}

package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/cxops/cxops/internal/testenv"
)

// buildManager builds the production manager once for the tests that run it.
var buildManager = sync.OnceValues(func() (string, error) { return build("./cmd/manager", "manager") })

// buildLocal builds the development entry point of `make run` and `make demo` once.
var buildLocal = sync.OnceValues(func() (string, error) { return build("./cmd/cxops-local", "cxops-local") })

func build(pkg, name string) (string, error) {
	dir, err := os.MkdirTemp("", "cxops-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = testenv.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", &buildError{out: string(out), err: err}
	}
	return bin, nil
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// syncBuffer collects a process' output safely.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// processesUsing lists the processes whose command line mentions dir.
func processesUsing(dir string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if c := strings.ReplaceAll(string(cmdline), "\x00", " "); strings.Contains(c, dir) {
			out = append(out, e.Name()+": "+c)
		}
	}
	return out
}

// TestRunWithoutCluster runs the manager as `make run` does with no cluster: it
// starts its own control plane, a sample applied with kubectl is reconciled, Ctrl-C
// stops everything, and a second start finds the data again.
func TestRunWithoutCluster(t *testing.T) {
	g := NewWithT(t)
	requireTool(t, "kubectl", "the test applies a sample with kubectl")
	bin, err := buildLocal()
	g.Expect(err).NotTo(HaveOccurred())
	dir := t.TempDir()
	kcfg := filepath.Join(dir, "kubeconfig")

	start := func() (*exec.Cmd, *syncBuffer) {
		cmd := exec.Command(bin, "--local-dir", dir)
		// No kubeconfig at all: the manager must notice there is no cluster.
		cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(dir, "no-such-kubeconfig"), "HOME="+dir)
		cmd.Dir = testenv.RepoRoot()
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		g.Expect(cmd.Start()).To(Succeed())
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		g.Eventually(func() error { _, err := os.Stat(kcfg); return err }, 3*time.Minute, 100*time.Millisecond).
			Should(Succeed(), func() string { return out.String() })
		return cmd, out
	}
	kubectlLocal := func(args ...string) (string, error) {
		out, err := exec.Command("kubectl", append([]string{"--kubeconfig", kcfg}, args...)...).CombinedOutput()
		return string(out), err
	}
	stop := func(cmd *exec.Cmd, out *syncBuffer) {
		g.Expect(cmd.Process.Signal(os.Interrupt)).To(Succeed())
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		g.Eventually(exited, time.Minute).Should(Receive(BeNil()), func() string { return out.String() })
		g.Eventually(func() []string { return processesUsing(dir) }, 30*time.Second, 100*time.Millisecond).Should(BeEmpty(),
			"etcd and kube-apiserver must be gone")
	}

	cmd, out := start()
	g.Expect(out.String()).To(ContainSubstring("export KUBECONFIG=" + kcfg))
	samples := filepath.Join(testenv.RepoRoot(), "config", "samples")
	// The moments route their tasks to the roadmap streams: a missing stream would
	// leave them not Ready, and so Healthy=Unknown.
	for _, f := range []string{"cx_v1alpha1_signalsource_static.yaml", "cx_v1alpha1_journey.yaml", "cx_v1alpha1_roadmapstreams.yaml", "cx_v1alpha1_moments.yaml"} {
		o, err := kubectlLocal("apply", "-f", filepath.Join(samples, f))
		g.Expect(err).NotTo(HaveOccurred(), o)
	}
	g.Eventually(func() string {
		o, _ := kubectlLocal("get", "moment", "stock-shown-is-real", "-o", "jsonpath={.status.health}")
		return o
	}, 2*time.Minute, 250*time.Millisecond).Should(Equal("Healthy"), func() string { return out.String() })
	stop(cmd, out)

	// A second start reuses the data directory: the moment is still there.
	cmd, out = start()
	g.Eventually(func() string {
		o, _ := kubectlLocal("get", "moment", "stock-shown-is-real", "-o", "jsonpath={.spec.owner}")
		return o
	}, time.Minute, 250*time.Millisecond).Should(Equal("logistics"))
	stop(cmd, out)
}

// demoCommand is hack/demo.sh with the development binary and a data directory
// of its own, with extra environment variables.
func demoCommand(t *testing.T, g Gomega, env ...string) (*exec.Cmd, string) {
	t.Helper()
	requireTool(t, "kubectl", "the demo drives kubectl")
	bin, err := buildLocal()
	g.Expect(err).NotTo(HaveOccurred())
	dir := t.TempDir()
	cmd := exec.Command(filepath.Join(testenv.RepoRoot(), "hack", "demo.sh"))
	cmd.Dir = testenv.RepoRoot()
	cmd.Env = append(append(os.Environ(), "CXOPS_DEMO_DIR="+dir, "CXOPS_DEMO_BIN="+bin), env...)
	return cmd, dir
}

// TestDemoRunsToTheEnd runs `make demo`'s script with short intervals.
func TestDemoRunsToTheEnd(t *testing.T) {
	g := NewWithT(t)
	cmd, dir := demoCommand(t, g, "CXOPS_DEMO_FAST=1")
	out, err := cmd.CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), string(out))
	for _, want := range []string{
		"1. Every moment is healthy",
		"3. The breach lasts: the moment drifts and a remediation task opens for logistics",
		"5. Recovered: the task resolved itself",
		"Resolved",
	} {
		g.Expect(string(out)).To(ContainSubstring(want))
	}
	g.Eventually(func() []string { return processesUsing(dir) }, 30*time.Second, 100*time.Millisecond).Should(BeEmpty())
}

// Issue "Ship it like a mature operator", observation 2: a `make demo` that timed
// out left its manager running. Every exit of the script (here Ctrl-C in the
// middle of a step, and SIGTERM as timeout(1) and CI send it) stops the manager,
// etcd and kube-apiserver.
func TestDemoCleansUpWhenInterrupted(t *testing.T) {
	g := NewWithT(t)
	cmd, dir := demoCommand(t, g)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	g.Expect(cmd.Start()).To(Succeed())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	g.Eventually(out.String, 3*time.Minute, 100*time.Millisecond).Should(ContainSubstring("1. Every moment is healthy"))
	g.Expect(processesUsing(dir)).NotTo(BeEmpty())

	g.Expect(cmd.Process.Signal(syscall.SIGTERM)).To(Succeed())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	g.Eventually(exited, 30*time.Second).Should(Receive(HaveOccurred()), out.String)
	g.Eventually(func() []string { return processesUsing(dir) }, 10*time.Second, 100*time.Millisecond).Should(BeEmpty(),
		"the manager, etcd and kube-apiserver are gone")
}

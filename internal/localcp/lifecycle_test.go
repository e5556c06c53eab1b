package localcp

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/go-logr/logr"
)

// A second instance on the same directory fails at once and names the first; the
// lock is released when its holder closes it (or dies).
func TestLockRefusesASecondInstance(t *testing.T) {
	dir := t.TempDir()
	first, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Lock(dir)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Lock = %v, want ErrLocked", err)
	}
	if want := "(pid " + strconv.Itoa(os.Getpid()) + ")"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name the holder %s", err, want)
	}
	_ = first.Close()
	again, err := Lock(dir)
	if err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	_ = again.Close()
}

// A process left behind by a killed run (its pid file names it, and it runs with
// the directory) is killed; a pid file naming an unrelated process is only removed.
func TestKillLeftovers(t *testing.T) {
	dir := t.TempDir()
	leftover := exec.Command("sh", "-c", `sleep 600; : "$0"`, filepath.Join(dir, "etcd")+"/")
	if err := leftover.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = leftover.Wait(); close(exited) }()
	t.Cleanup(func() { _ = leftover.Process.Kill() })
	unrelated := exec.Command("sleep", "600")
	if err := unrelated.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unrelated.Process.Kill(); _ = unrelated.Wait() })
	write := func(name string, pid int) {
		if err := os.WriteFile(pidFile(dir, name), []byte(strconv.Itoa(pid)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("etcd", leftover.Process.Pid)
	write("kube-apiserver", unrelated.Process.Pid)

	if err := KillLeftovers(dir, logr.Discard()); err != nil {
		t.Fatal(err)
	}
	<-exited // killed, or the test times out
	if err := unrelated.Process.Signal(syscall.Signal(0)); err != nil {
		t.Error("a process that does not run with the directory was killed")
	}
	for _, b := range binaries {
		if _, err := os.Stat(pidFile(dir, b)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s's pid file stays: %v", b, err)
		}
	}
}

package localcp

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"
)

// What Start tells the shims (inherited through the environment).
const (
	envAssets = "CXOPS_LOCALCP_ASSETS"
	envDir    = "CXOPS_LOCALCP_DIR"
	envParent = "CXOPS_LOCALCP_PARENT"
)

// binaries are the processes of the control plane, by name.
var binaries = []string{"etcd", "kube-apiserver"}

// Shim must be the first call in the main of a program that calls Start. Start
// runs etcd and kube-apiserver through links to that program's own executable
// named after them; invoked so, Shim asks the kernel to kill the process when its
// parent dies (PR_SET_PDEATHSIG, SIGKILL), writes its pid file into the directory
// and execs the real binary with the same arguments, so that the process is the
// real one with a pid file and a parent-death signal. envtest starts processes
// without a way to set that. Otherwise Shim returns at once.
func Shim() {
	name := filepath.Base(os.Args[0])
	assets, dir := os.Getenv(envAssets), os.Getenv(envDir)
	if assets == "" || dir == "" || !isBinary(name) {
		return
	}
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "%s: setting the parent-death signal: %v\n", name, err)
		os.Exit(1)
	}
	// The parent may have died before the signal was asked for.
	if strconv.Itoa(os.Getppid()) != os.Getenv(envParent) {
		os.Exit(1)
	}
	if err := os.WriteFile(pidFile(dir, name), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
	env := slicesDeleteEnv(os.Environ(), envAssets, envDir, envParent)
	bin := filepath.Join(assets, name)
	err := syscall.Exec(bin, append([]string{bin}, os.Args[1:]...), env)
	fmt.Fprintf(os.Stderr, "%s: exec %s: %v\n", name, bin, err)
	os.Exit(1)
}

func isBinary(name string) bool {
	for _, b := range binaries {
		if name == b {
			return true
		}
	}
	return false
}

func slicesDeleteEnv(env []string, keys ...string) []string {
	out := env[:0:0]
next:
	for _, kv := range env {
		for _, k := range keys {
			if strings.HasPrefix(kv, k+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

func pidFile(dir, name string) string { return filepath.Join(dir, name+".pid") }

// writeShims links etcd and kube-apiserver in dir/bin to this program (see Shim).
func writeShims(dir string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	shims := filepath.Join(dir, "bin")
	if err := os.MkdirAll(shims, 0o700); err != nil {
		return "", err
	}
	for _, b := range binaries {
		p := filepath.Join(shims, b)
		_ = os.Remove(p)
		if err := os.Symlink(self, p); err != nil {
			return "", err
		}
	}
	return shims, nil
}

// ErrLocked is returned by Lock when another program uses the directory.
var ErrLocked = errors.New("the directory is in use")

// Lock takes dir's lock file (dir/lock, flock: a crash releases it) and writes
// this process' pid into it. When another process holds it, Lock fails at once
// with an error that wraps ErrLocked and names that process' pid. Closing the
// file releases the lock.
func Lock(dir string) (*os.File, error) {
	p := filepath.Join(dir, "lock")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		data, _ := os.ReadFile(p)
		_ = f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is used by another cxops-local (pid %s); stop it first, or use another --local-dir",
				ErrLocked, dir, strings.TrimSpace(string(data)))
		}
		return nil, fmt.Errorf("locking %s: %w", p, err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		if err != nil {
			_ = f.Close()
			return nil, err
		}
	}
	return f, nil
}

// KillLeftovers kills the control plane's processes that a run on dir left behind
// (a pid file whose process still runs with dir on its command line), waits until
// they are gone (at most 10 s) and removes the pid files. Call it holding dir's
// lock.
func KillLeftovers(dir string, log logr.Logger) error {
	for _, b := range binaries {
		pf := pidFile(dir, b)
		data, err := os.ReadFile(pf)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err == nil && pid > 1 && runsWith(pid, dir) {
			log.Info("killing a process a previous run left behind", "process", b, "pid", pid, "dir", dir)
			_ = syscall.Kill(pid, syscall.SIGKILL)
			deadline := time.Now().Add(10 * time.Second)
			for runsWith(pid, dir) {
				if time.Now().After(deadline) {
					return fmt.Errorf("%s (pid %d), left behind by a previous run on %s, does not die", b, pid, dir)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		if err := os.Remove(pf); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// runsWith reports whether process pid is alive (not a zombie) with dir on its
// command line.
func runsWith(pid int, dir string) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	return strings.Contains(string(cmdline), dir+string(os.PathSeparator))
}

// Package localcp runs a local Kubernetes control plane (kube-apiserver and etcd,
// built from Go modules by hack/setup-envtest.sh) for the development entry point
// cmd/cxops-local (`make run`, `make demo`): it installs the cxops CRDs, keeps etcd's
// data between starts, and writes a kubeconfig a person can point kubectl at.
//
// Its processes die with the program that started them (Pdeathsig through Shim),
// one program at a time uses a directory (Lock), and what a killed run left behind
// is killed at the next start (KillLeftovers). The production manager must not
// import this package (it links envtest).
package localcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// Options configure the local control plane.
type Options struct {
	// Dir keeps etcd's data, the lock, the processes' pid files and the kubeconfig
	// between starts.
	Dir string
	// Assets is the directory holding kube-apiserver and etcd; empty means
	// KUBEBUILDER_ASSETS, or building them with hack/setup-envtest.sh.
	Assets string
	// CRDs to install.
	CRDs []*apiextensionsv1.CustomResourceDefinition
	// Progress receives what is happening, for a person to read.
	Progress io.Writer
	// Log receives what the control plane's lifecycle does (leftovers killed).
	Log logr.Logger
}

// ControlPlane is a running local control plane.
type ControlPlane struct {
	env  *envtest.Environment
	lock *os.File
	// release ends the goroutine whose OS thread started the processes (their
	// parent for Pdeathsig).
	release chan struct{}
	dir     string
	// Config connects as cluster admin.
	Config *rest.Config
	// Kubeconfig is the path of the kubeconfig written for kubectl.
	Kubeconfig string
}

// Start starts etcd and kube-apiserver, installs the CRDs and writes the
// kubeconfig. The calling program's main must call Shim first: the processes are
// started through it, so that they die with this process even when it is killed
// with SIGKILL. Start takes Dir's lock (a second instance fails at once, naming
// the first), kills the processes a killed run left behind, and returns soon after
// ctx is done, also while the control plane's binaries are being built.
func Start(ctx context.Context, opts Options) (_ *ControlPlane, err error) {
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "etcd"), 0o700); err != nil {
		return nil, err
	}
	lock, err := Lock(dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = lock.Close()
		}
	}()
	if err := KillLeftovers(dir, opts.Log); err != nil {
		return nil, err
	}
	assets, err := findAssets(ctx, opts.Assets, progress)
	if err != nil {
		return nil, err
	}
	shims, err := writeShims(dir)
	if err != nil {
		return nil, err
	}
	// The processes get a fresh serving certificate each time: envtest's client
	// trusts only the CA of this start.
	certDir := filepath.Join(dir, "apiserver")
	if err := os.RemoveAll(certDir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, err
	}
	_, _ = fmt.Fprintf(progress, "starting etcd and kube-apiserver from %s (data in %s)\n", assets, dir)
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		CRDInstallOptions:        envtest.CRDInstallOptions{CRDs: opts.CRDs},
		ErrorIfCRDPathMissing:    false,
		ControlPlaneStartTimeout: time.Minute,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	env.ControlPlane.Etcd = &envtest.Etcd{DataDir: filepath.Join(dir, "etcd"), Path: filepath.Join(shims, "etcd")}
	env.ControlPlane.APIServer = &envtest.APIServer{CertDir: certDir, Path: filepath.Join(shims, "kube-apiserver")}
	// What the shims exec, and where they write their pid files.
	for k, v := range map[string]string{envAssets: assets, envDir: dir, envParent: strconv.Itoa(os.Getpid())} {
		if err := os.Setenv(k, v); err != nil {
			return nil, fmt.Errorf("setting %s for the control plane's processes: %w", k, err)
		}
	}

	cp := &ControlPlane{env: env, lock: lock, release: make(chan struct{}), dir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig")}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that started a process ends, not the
		// process: this goroutine keeps that thread until the control plane stops.
		runtime.LockOSThread()
		cfg, err := env.Start()
		cp.Config = cfg
		started <- err
		if err != nil {
			return // the locked thread ends, and with it what it started
		}
		<-cp.release
		runtime.UnlockOSThread()
	}()
	select {
	case err = <-started:
	case <-ctx.Done():
		_ = KillLeftovers(dir, opts.Log)
		return nil, fmt.Errorf("stopped while the local control plane was starting: %w", ctx.Err())
	}
	if err != nil {
		_ = env.Stop()
		_ = KillLeftovers(dir, opts.Log)
		return nil, fmt.Errorf("starting the local control plane (logs: run with KUBEBUILDER_ATTACH_CONTROL_PLANE_OUTPUT=true): %w", err)
	}
	if err := cp.writeKubeconfig(); err != nil {
		_ = cp.Stop()
		return nil, err
	}
	return cp, nil
}

func (cp *ControlPlane) writeKubeconfig() error {
	user, err := cp.env.AddUser(envtest.User{Name: "cxops-local-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("creating the local admin user: %w", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return err
	}
	tmp := cp.Kubeconfig + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, cp.Kubeconfig)
}

// Stop stops kube-apiserver and etcd and removes the kubeconfig (its credentials
// die with this API server); etcd's data stays for the next start.
func (cp *ControlPlane) Stop() error {
	_ = os.Remove(cp.Kubeconfig)
	err := cp.env.Stop()
	close(cp.release)
	if kerr := KillLeftovers(cp.dir, logr.Discard()); err == nil {
		err = kerr
	}
	_ = cp.lock.Close()
	return err
}

// findAssets returns the directory of the control plane binaries, building them
// when needed (the first time takes about ten minutes; progress is shown).
func findAssets(ctx context.Context, dir string, progress io.Writer) (string, error) {
	if dir == "" {
		dir = os.Getenv("KUBEBUILDER_ASSETS")
	}
	if dir != "" {
		if hasBinaries(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("%s does not hold kube-apiserver and etcd", dir)
	}
	script, err := findScript()
	if err != nil {
		return "", err
	}
	_, _ = fmt.Fprintf(progress, "preparing the local control plane with %s (the first time builds kube-apiserver and etcd from source: about 10 minutes)\n", script)
	cmd := exec.CommandContext(ctx, script)
	cmd.Stderr = progress
	// The script and its builds are one process group, stopped together on
	// Ctrl-C and killed when this process dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.Output()
	if ctx.Err() != nil {
		if cmd.Process != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		return "", fmt.Errorf("stopped while preparing the local control plane: %w", ctx.Err())
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", script, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1], nil
}

func hasBinaries(dir string) bool {
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return false
		}
	}
	return true
}

// findScript looks for hack/setup-envtest.sh from the working directory upwards.
func findScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "hack", "setup-envtest.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no KUBEBUILDER_ASSETS and no hack/setup-envtest.sh above the working directory: run from the cxops repository or set KUBEBUILDER_ASSETS")
		}
		dir = parent
	}
}

// CRDs decodes the CustomResourceDefinitions in fsys (YAML files under dir).
func CRDs(fsys fs.FS, dir string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		data, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(data, crd); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		out = append(out, crd)
	}
	return out, nil
}

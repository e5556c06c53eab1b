// Package localcp runs a local Kubernetes control plane (kube-apiserver and etcd,
// built from Go modules by hack/setup-envtest.sh) for `make run` when no cluster is
// reachable: it installs the cxops CRDs, keeps etcd's data between starts, and
// writes a kubeconfig a person can point kubectl at.
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
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// Options configure the local control plane.
type Options struct {
	// Dir keeps etcd's data and the kubeconfig between starts.
	Dir string
	// Assets is the directory holding kube-apiserver and etcd; empty means
	// KUBEBUILDER_ASSETS, or building them with hack/setup-envtest.sh.
	Assets string
	// CRDs to install.
	CRDs []*apiextensionsv1.CustomResourceDefinition
	// Progress receives what is happening, for a person to read.
	Progress io.Writer
}

// ControlPlane is a running local control plane.
type ControlPlane struct {
	env *envtest.Environment
	// Config connects as cluster admin.
	Config *rest.Config
	// Kubeconfig is the path of the kubeconfig written for kubectl.
	Kubeconfig string
}

// Start starts etcd and kube-apiserver, installs the CRDs and writes the kubeconfig.
func Start(opts Options) (*ControlPlane, error) {
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	if err := os.MkdirAll(filepath.Join(opts.Dir, "etcd"), 0o700); err != nil {
		return nil, err
	}
	assets, err := findAssets(opts.Assets, progress)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "starting etcd and kube-apiserver from %s (data in %s)\n", assets, opts.Dir)
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		CRDInstallOptions:        envtest.CRDInstallOptions{CRDs: opts.CRDs},
		ErrorIfCRDPathMissing:    false,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	env.ControlPlane.Etcd = &envtest.Etcd{DataDir: filepath.Join(opts.Dir, "etcd")}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("starting the local control plane: %w", err)
	}
	cp := &ControlPlane{env: env, Config: cfg, Kubeconfig: filepath.Join(opts.Dir, "kubeconfig")}
	if err := cp.writeKubeconfig(); err != nil {
		_ = env.Stop()
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
	return cp.env.Stop()
}

// findAssets returns the directory of the control plane binaries, building them
// when needed (the first time takes about ten minutes; progress is shown).
func findAssets(dir string, progress io.Writer) (string, error) {
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
	fmt.Fprintf(progress, "preparing the local control plane with %s (the first time builds kube-apiserver and etcd from source: about 10 minutes)\n", script)
	cmd := exec.Command(script)
	cmd.Stderr = progress
	out, err := cmd.Output()
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

// Reachable reports whether the cluster of cfg answers within the timeout.
func Reachable(ctx context.Context, cfg *rest.Config, timeout time.Duration) error {
	c := rest.CopyConfig(cfg)
	c.Timeout = timeout
	dc, err := discovery.NewDiscoveryClientForConfig(c)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { _, err := dc.ServerVersion(); done <- err }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
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

// Package testenv starts the real test control plane (kube-apiserver and etcd built
// by hack/setup-envtest.sh) with the cxops CRDs installed, for envtest suites and
// end-to-end tests.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// RepoRoot is the root of the cxops repository (found from this file's location).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Assets returns the directory holding kube-apiserver and etcd: KUBEBUILDER_ASSETS
// when set, otherwise what hack/setup-envtest.sh builds (or finds cached), so that a
// plain `go test ./...` works too.
func Assets() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	cmd := exec.Command(filepath.Join(RepoRoot(), "hack", "setup-envtest.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("building the test control plane with hack/setup-envtest.sh: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	dir := lines[len(lines)-1]
	if err := os.Setenv("KUBEBUILDER_ASSETS", dir); err != nil {
		return "", err
	}
	return dir, nil
}

// Env is a running control plane with the cxops CRDs installed.
type Env struct {
	*envtest.Environment
	// Config connects as cluster admin.
	Config *rest.Config
}

// Start starts kube-apiserver and etcd and installs the CRDs from config/crd/bases.
func Start() (*Env, error) {
	assets, err := Assets()
	if err != nil {
		return nil, err
	}
	te := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := te.Start()
	if err != nil {
		// Start may fail after the processes started (installing the CRDs): stop them.
		_ = te.Stop()
		return nil, fmt.Errorf("starting the test control plane from %s: %w", assets, err)
	}
	return &Env{Environment: te, Config: cfg}, nil
}

// WriteKubeconfig writes a kubeconfig for the admin user to path, for kubectl.
func (e *Env) WriteKubeconfig(path string) error {
	user, err := e.AddUser(envtest.User{Name: "cxops-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	data, err := user.KubeConfig()
	if err != nil {
		return err
	}
	if _, err := clientcmd.Load(data); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

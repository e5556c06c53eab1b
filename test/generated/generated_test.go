// Package generated checks that the committed generated files (CRDs, RBAC,
// deepcopy) are what `make manifests generate` makes from the current types.
package generated

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/cxops/cxops/internal/testenv"
)

func TestGeneratedFilesAreInSync(t *testing.T) {
	root := testenv.RepoRoot()
	work := t.TempDir()
	for _, dir := range []string{"api", "cmd", "config", "controllers", "hack", "internal"} {
		if err := os.CopyFS(filepath.Join(work, dir), os.DirFS(filepath.Join(root, dir))); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"go.mod", "go.sum", "Makefile"} {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// `make manifests` also copies into the chart and the bundle, which
	// test/packaging checks; here only what the types generate.
	cmd := exec.Command("make", "crds", "generate")
	cmd.Dir = work
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make crds generate: %v\n%s", err, out)
	}

	var files []string
	crds, _ := filepath.Glob(filepath.Join(work, "config", "crd", "bases", "*.yaml"))
	for _, f := range crds {
		files = append(files, filepath.Join("config", "crd", "bases", filepath.Base(f)))
	}
	files = append(files, filepath.Join("config", "rbac", "role.yaml"), filepath.Join("api", "v1alpha1", "zz_generated.deepcopy.go"))
	committed, _ := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	if len(committed) != len(crds) {
		t.Errorf("config/crd/bases has %d CRDs, the types make %d: run `make manifests generate`", len(committed), len(crds))
	}
	for _, f := range files {
		want, err := os.ReadFile(filepath.Join(work, f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(root, f))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s is out of sync with the types: run `make manifests generate` and commit the result", f)
		}
	}
}

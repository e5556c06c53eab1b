package packaging

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

type krewPlugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		Homepage         string `json:"homepage"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			SHA256 string `json:"sha256"`
			Bin    string `json:"bin"`
		} `json:"platforms"`
	} `json:"spec"`
}

// checkKrew validates a krew manifest's structure. sha256 and the version must match
// the given patterns (placeholders in the template, real values once filled).
func checkKrew(t *testing.T, data []byte, version string, sha *regexp.Regexp) {
	t.Helper()
	var p krewPlugin
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		t.Fatalf("krew manifest: %v", err)
	}
	if p.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || p.Kind != "Plugin" {
		t.Errorf("apiVersion/kind %s/%s", p.APIVersion, p.Kind)
	}
	if p.Metadata.Name != "cx" {
		t.Errorf("name %q: kubectl cx needs the plugin name cx", p.Metadata.Name)
	}
	if p.Spec.Version != version {
		t.Errorf("version %q, want %q", p.Spec.Version, version)
	}
	if p.Spec.ShortDescription == "" || p.Spec.Homepage == "" || p.Spec.Description == "" {
		t.Error("shortDescription, homepage and description are required by krew-index")
	}
	seen := map[string]bool{}
	for _, pl := range p.Spec.Platforms {
		goos, arch := pl.Selector.MatchLabels["os"], pl.Selector.MatchLabels["arch"]
		key := goos + "_" + arch
		seen[key] = true
		if want := fmt.Sprintf("/kubectl-cx_%s_%s.tar.gz", version, key); !strings.HasPrefix(pl.URI, "https://") || !strings.HasSuffix(pl.URI, want) {
			t.Errorf("%s: uri %q, want https://.../%s", key, pl.URI, want)
		}
		if !sha.MatchString(pl.SHA256) {
			t.Errorf("%s: sha256 %q does not match %s", key, pl.SHA256, sha)
		}
		if pl.Bin != "kubectl-cx" {
			t.Errorf("%s: bin %q", key, pl.Bin)
		}
	}
	for _, want := range []string{"linux_amd64", "linux_arm64", "darwin_amd64", "darwin_arm64"} {
		if !seen[want] {
			t.Errorf("no platform %s", want)
		}
	}
	if len(p.Spec.Platforms) != 4 {
		t.Errorf("%d platforms, want 4", len(p.Spec.Platforms))
	}
}

func TestKrewManifestTemplate(t *testing.T) {
	checkKrew(t, readFile(t, "plugins/krew/cx.yaml"), "@VERSION@", regexp.MustCompile(`^@SHA256_[a-z]+_[a-z0-9]+@$`))
}

// TestKrewManifestFilled fills the template the way make release does, from a
// checksums file, and validates the result.
func TestKrewManifestFilled(t *testing.T) {
	dir := t.TempDir()
	var sums strings.Builder
	for i, p := range []string{"linux_amd64", "linux_arm64", "darwin_amd64", "darwin_arm64"} {
		fmt.Fprintf(&sums, "%064x  kubectl-cx_v1.2.3_%s.tar.gz\n", i+1, p)
		fmt.Fprintf(&sums, "%064x  cxops-manager_v1.2.3_%s.tar.gz\n", i+10, p)
	}
	path := filepath.Join(dir, "checksums.txt")
	if err := os.WriteFile(path, []byte(sums.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out := run(t, filepath.Join(root, "hack/krew-manifest.sh"), "v1.2.3", path)
	checkKrew(t, []byte(out), "v1.2.3", regexp.MustCompile(`^[0-9a-f]{64}$`))
	if !strings.Contains(out, fmt.Sprintf("%064x", 4)) {
		t.Error("darwin_arm64's checksum is not in the manifest")
	}
	// A missing checksum fails instead of shipping a placeholder.
	if err := os.WriteFile(path, []byte(strings.SplitN(sums.String(), "\n", 2)[1]), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runErr(filepath.Join(root, "hack/krew-manifest.sh"), "v1.2.3", path); err == nil {
		t.Error("a manifest without linux_amd64's checksum was written")
	}
}

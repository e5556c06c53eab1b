package version

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestStringNamesVersionAndCommit(t *testing.T) {
	oldV, oldC := Version, Commit
	t.Cleanup(func() { Version, Commit = oldV, oldC })
	Version, Commit = "v1.2.3", "abc123"
	if got := String(); !strings.HasPrefix(got, "cxops v1.2.3 (commit abc123, go") {
		t.Fatalf("String() = %q", got)
	}
	Commit = ""
	if got := GitCommit(); got == "" {
		t.Fatal("GitCommit() is empty without -X; want the build's vcs.revision or \"unknown\"")
	}
}

// TestLdflagsStampTheBinaries builds each binary the way the Makefile and the
// Dockerfile do (-ldflags -X) and checks that it reports the stamped version:
// a renamed variable or package would otherwise leave every release saying "dev".
func TestLdflagsStampTheBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	ldflags := "-X " + Package + ".Version=v9.8.7-test -X " + Package + ".Commit=feedc0de"
	for _, tc := range []struct{ cmd, arg string }{
		{"manager", "--version"},
		{"kubectl-cx", "version"},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), tc.cmd)
			build := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, "./cmd/"+tc.cmd)
			build.Dir = root // same settings as the test's own build: only the link step is new
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build ./cmd/%s: %v\n%s", tc.cmd, err, out)
			}
			out, err := exec.Command(bin, tc.arg).CombinedOutput()
			if err != nil {
				t.Fatalf("%s %s: %v\n%s", tc.cmd, tc.arg, err, out)
			}
			if want := "cxops v9.8.7-test (commit feedc0de, "; !strings.HasPrefix(string(out), want) {
				t.Fatalf("%s %s printed %q, want it to start with %q", tc.cmd, tc.arg, out, want)
			}
		})
	}
}

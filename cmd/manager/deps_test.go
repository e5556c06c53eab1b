package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The production manager links neither envtest nor the local control plane
// (issue "Ship it like a mature operator", observation 1).
func TestManagerLinksNoControlPlane(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "envtest") || strings.HasSuffix(dep, "/internal/localcp") {
			t.Errorf("cmd/manager depends on %s", dep)
		}
	}
}

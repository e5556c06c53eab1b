package managerapp

import (
	"os"
	"testing"

	"github.com/cxops/cxops/internal/testenv"
)

// startTestEnv starts a test control plane for t, stopped when t ends; it skips t
// without one (KUBEBUILDER_ASSETS, which make test sets).
func startTestEnv(t *testing.T) *testenv.Env {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("needs the test control plane (KUBEBUILDER_ASSETS); make test sets it")
	}
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	return env
}

// Command manager runs the cxops controllers: it reconciles signal sources,
// journeys, moments, roadmap streams and remediation tasks, and (on the leader)
// evaluates the objectives' live signals.
//
// It runs against the cluster of its kubeconfig (or its service account) and never
// starts a control plane of its own: an API server that does not answer at start is
// retried for --api-server-wait, then the manager exits with an error. The local
// control plane of `make run` and `make demo` is cmd/cxops-local's.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/cxops/cxops/internal/lazylog"
	"github.com/cxops/cxops/internal/managerapp"
	"github.com/cxops/cxops/internal/version"
)

// defaultGCPercent is the garbage collector's target (GOGC) when the environment
// does not set one. The manager's heap is mostly long-lived (the informer caches
// and the engine's state, about 4 KiB per Moment), so Go's default of 100 lets
// the heap, and the resident memory, grow to twice that between collections.
// At 50 the manager stays under 100 MiB at 10,000 Moments for a few percent more
// CPU (make bench; docs/operations.md, "Sizing and benchmarks"). GOGC, and
// GOMEMLIMIT, still apply when set.
const defaultGCPercent = 50

func main() {
	gcPercent := os.Getenv("GOGC")
	if gcPercent == "" {
		debug.SetGCPercent(defaultGCPercent)
		gcPercent = fmt.Sprint(defaultGCPercent)
	}
	fs := flag.CommandLine
	f := managerapp.BindFlags(fs)
	apiServerWait := fs.Duration("api-server-wait", 2*time.Minute,
		"How long to wait at start for the Kubernetes API server to answer (retried with backoff) before exiting with an error.")
	local := fs.Bool("local", false, "Removed: the local control plane is started by the development entry point (make run, go run ./cmd/cxops-local).")
	localDir := fs.String("local-dir", "", "Removed with --local: see make run and cmd/cxops-local.")
	printVersion := fs.Bool("version", false, "Print the version and exit.")
	flag.Parse()
	if *printVersion {
		fmt.Println(version.String())
		return
	}
	// Values given to a logger reach zap only when it writes a line: most reconciles write none.
	ctrl.SetLogger(lazylog.New(zap.New(zap.UseFlagOptions(&f.Zap))))
	log := ctrl.Log.WithName("setup")
	log.Info("starting cxops manager", "version", version.Version, "commit", version.GitCommit(),
		"gogc", gcPercent, "gomemlimit", os.Getenv("GOMEMLIMIT"))
	if err := run(f, *apiServerWait, *local || *localDir != ""); err != nil {
		log.Error(err, "manager stopped with an error")
		os.Exit(1)
	}
}

func run(f *managerapp.Flags, apiServerWait time.Duration, local bool) error {
	if local {
		return errors.New("--local and --local-dir are no longer flags of the manager: the local control plane is started by " +
			"the development entry point, `make run` or `go run ./cmd/cxops-local --local-dir DIR`")
	}
	log := ctrl.Log.WithName("setup")
	ctx := ctrl.SetupSignalHandler()
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("no Kubernetes configuration (kubeconfig, KUBECONFIG or in-cluster service account): %w", err)
	}
	if err := managerapp.WaitForAPIServer(ctx, log, cfg, apiServerWait); err != nil {
		return err
	}
	return managerapp.Run(ctx, cfg, f)
}

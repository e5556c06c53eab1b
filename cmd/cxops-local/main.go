// Command cxops-local is the development entry point of `make run` and `make demo`:
// it runs the cxops manager against the cluster of the current kubeconfig when one
// answers, and otherwise (or with --local, or CXOPS_LOCAL=1) on a local control
// plane (etcd and kube-apiserver) it starts, with the CRDs installed and a
// kubeconfig written for kubectl. The production binary is cmd/manager, which never
// starts a control plane.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/cxops/cxops/config/crd"
	"github.com/cxops/cxops/internal/lazylog"
	"github.com/cxops/cxops/internal/localcp"
	"github.com/cxops/cxops/internal/managerapp"
)

func main() {
	// The control plane's processes are started through this binary, which makes
	// them die with it (see localcp.Shim); in that role it never returns.
	localcp.Shim()

	fs := flag.CommandLine
	f := managerapp.BindFlags(fs)
	local := fs.Bool("local", os.Getenv("CXOPS_LOCAL") == "1",
		"Run on a local control plane even when the current kubeconfig's cluster answers. Also CXOPS_LOCAL=1.")
	localDir := fs.String("local-dir", ".cxops-local", "Where the local control plane keeps its data, lock and kubeconfig.")
	flag.Parse()
	// Values given to a logger reach zap only when it writes a line: most reconciles write none.
	ctrl.SetLogger(lazylog.New(zap.New(zap.UseFlagOptions(&f.Zap))))
	log := ctrl.Log.WithName("setup")
	if err := run(fs, f, *local, *localDir); err != nil {
		log.Error(err, "cxops-local stopped with an error")
		os.Exit(1)
	}
}

func run(fs *flag.FlagSet, f *managerapp.Flags, local bool, dir string) error {
	log := ctrl.Log.WithName("setup")
	// One handler for the whole run: Ctrl-C while the control plane is built or
	// starts stops that too; a second Ctrl-C exits at once (the control plane's
	// processes die with this one).
	ctx := ctrl.SetupSignalHandler()
	if !local {
		cfg, err := ctrl.GetConfig()
		if err == nil {
			if err = managerapp.Reachable(ctx, cfg, 5*time.Second); err == nil {
				log.Info("running against the cluster of the current kubeconfig", "host", cfg.Host)
				return managerapp.Run(ctx, cfg, f)
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log.Info("no reachable cluster: starting a local control plane", "reason", err.Error())
	}
	cfg, stop, err := startLocal(ctx, dir)
	if err != nil {
		return err
	}
	defer stop()
	f.LocalDefaults(fs)
	return managerapp.Run(ctx, cfg, f)
}

func startLocal(ctx context.Context, dir string) (*rest.Config, func(), error) {
	log := ctrl.Log.WithName("setup")
	crds, err := localcp.CRDs(crd.Bases, "bases")
	if err != nil {
		return nil, nil, err
	}
	cp, err := localcp.Start(ctx, localcp.Options{Dir: dir, CRDs: crds, Progress: os.Stderr, Log: log})
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(os.Stderr, `
cxops is running on a local control plane.
Point kubectl at it:

    export KUBECONFIG=%s
    kubectl apply -k config/samples
    kubectl get cx

Press Ctrl-C to stop; the data stays in %s for the next start.

`, cp.Kubeconfig, dir)
	return cp.Config, func() {
		if err := cp.Stop(); err != nil {
			log.Error(err, "stopping the local control plane")
		}
	}, nil
}

package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/cxops/cxops/config/crd"
	"github.com/cxops/cxops/internal/localcp"
)

// loopbackCIDRs is what a local run adds to --egress-allow.
const loopbackCIDRs = "127.0.0.0/8,::1/128"

// clusterConfig connects to the cluster of the current kubeconfig, or, when asked
// to or when none is reachable, starts a local control plane and returns its
// config and a function that stops it.
func clusterConfig(f *flags) (*rest.Config, func(), error) {
	log := ctrl.Log.WithName("setup")
	noop := func() {}
	if !f.local {
		cfg, err := ctrl.GetConfig()
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err = localcp.Reachable(ctx, cfg, 5*time.Second)
			cancel()
			if err == nil {
				return cfg, noop, nil
			}
		}
		log.Info("no reachable cluster: starting a local control plane", "reason", err.Error())
	}
	crds, err := localcp.CRDs(crd.Bases, "bases")
	if err != nil {
		return nil, noop, err
	}
	cp, err := localcp.Start(localcp.Options{Dir: f.localDir, CRDs: crds, Progress: os.Stderr})
	if err != nil {
		return nil, noop, err
	}
	localDefaults(f)
	fmt.Fprintf(os.Stderr, `
cxops is running on a local control plane.
Point kubectl at it:

    export KUBECONFIG=%s
    kubectl apply -k config/samples
    kubectl get cx

Press Ctrl-C to stop; the data stays in %s for the next start.

`, cp.Kubeconfig, f.localDir)
	return cp.Config, func() {
		if err := cp.Stop(); err != nil {
			log.Error(err, "stopping the local control plane")
		}
	}, nil
}

// localDefaults turns off the metrics and probe listeners on a local run unless they
// were asked for (nothing scrapes them, and fixed ports would collide), and allows
// loopback in the egress policy: the demo's Prometheus and webhooks run on this
// machine.
func localDefaults(f *flags) {
	f.local = true
	f.egressAllow = strings.Join(slices.DeleteFunc([]string{loopbackCIDRs, f.egressAllow}, func(s string) bool { return s == "" }), ",")
	set := map[string]bool{}
	flag.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if !set["metrics-bind-address"] {
		f.metricsAddr = "0"
	}
	if !set["health-probe-bind-address"] {
		f.probeAddr = "0"
	}
}

package managerapp

import (
	"flag"
	"slices"
	"strings"
)

// loopbackCIDRs is what a local run adds to --egress-allow.
const loopbackCIDRs = "127.0.0.0/8,::1/128"

// LocalDefaults prepares f for a run on the local control plane: it allows loopback
// in the egress policy (the demo's Prometheus and webhooks run on this machine, and
// the API server's loopback address is not protected), and turns off the metrics
// and probe listeners unless they were set on fs (nothing scrapes them, and fixed
// ports would collide with a second run).
func (f *Flags) LocalDefaults(fs *flag.FlagSet) {
	f.local = true
	f.egressAllow = strings.Join(slices.DeleteFunc([]string{loopbackCIDRs, f.egressAllow}, func(s string) bool { return s == "" }), ",")
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if !set["metrics-bind-address"] {
		f.metricsAddr = "0"
	}
	if !set["health-probe-bind-address"] {
		f.probeAddr = "0"
	}
}

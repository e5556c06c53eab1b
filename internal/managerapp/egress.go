package managerapp

import (
	"context"
	"net/netip"
	"os"
	"time"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/cxops/cxops/internal/egress"
)

// apiServerAddrs resolves the addresses of the Kubernetes API server, which the
// egress policy refuses unless allowed one by one: the host of the rest config and
// KUBERNETES_SERVICE_HOST (the in-cluster service address). On the local control
// plane there is nothing to protect, and its address is loopback, which the demo
// needs: none are returned.
func apiServerAddrs(cfg *rest.Config, f *Flags) []netip.Addr {
	if f.local {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := egress.ResolveHosts(ctx, nil, cfg.Host, os.Getenv("KUBERNETES_SERVICE_HOST"))
	log := ctrl.Log.WithName("setup")
	if err != nil {
		log.Error(err, "resolving the API server's addresses for the egress policy; those not found stay covered only by the other rules")
	}
	log.V(1).Info("API server addresses refused by the egress policy", "addresses", addrs)
	return addrs
}

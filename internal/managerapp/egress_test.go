package managerapp

import (
	"flag"
	"net/netip"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/cxops/cxops/controllers"
)

func TestAPIServerAddressesAreRefused(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
	f := &Flags{egressAllow: "10.96.0.0/12"}
	addrs := apiServerAddrs(&rest.Config{Host: "https://192.168.49.2:8443"}, f)
	want := []netip.Addr{netip.MustParseAddr("10.96.0.1"), netip.MustParseAddr("192.168.49.2")}
	if len(addrs) != 2 || addrs[0] != want[0] || addrs[1] != want[1] {
		t.Fatalf("API server addresses = %v, want %v", addrs, want)
	}
	opts, err := controllers.NewOptions(controllers.OptionsInput{EgressAllow: f.egressAllow, APIServer: addrs})
	if err != nil {
		t.Fatal(err)
	}
	if err := opts.Egress.Check(netip.MustParseAddr("10.96.0.1")); err == nil {
		t.Error("the API server's service address is allowed although only its range was opened")
	}
	if err := opts.Providers.Policy.Check(netip.MustParseAddr("10.96.0.1")); err == nil {
		t.Error("providers may call the API server")
	}
	if err := opts.Egress.Check(netip.MustParseAddr("10.96.12.34")); err != nil {
		t.Errorf("a Service in the opened range is refused: %v", err)
	}
	if err := opts.Egress.Check(netip.MustParseAddr("127.0.0.1")); err == nil {
		t.Error("loopback is allowed in a cluster")
	}
}

func TestLocalRunAllowsLoopback(t *testing.T) {
	f := &Flags{egressAllow: "203.0.113.0/24"}
	f.LocalDefaults(flag.NewFlagSet("test", flag.ContinueOnError))
	if !f.local {
		t.Error("a local run is not marked local")
	}
	if got := apiServerAddrs(&rest.Config{Host: "https://127.0.0.1:6443"}, f); got != nil {
		t.Errorf("a local run protects API server addresses %v: the demo's loopback services would be refused", got)
	}
	opts, err := controllers.NewOptions(controllers.OptionsInput{EgressAllow: f.egressAllow})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"127.0.0.1", "::1", "203.0.113.9"} {
		if err := opts.Egress.Check(netip.MustParseAddr(a)); err != nil {
			t.Errorf("%s is refused on a local run: %v", a, err)
		}
	}
	if err := opts.Egress.Check(netip.MustParseAddr("10.0.0.1")); err == nil {
		t.Error("a local run opens private ranges")
	}
}

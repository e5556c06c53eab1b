package egress

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	. "github.com/onsi/gomega"
)

type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host " + host)
}

func TestResolveHosts(t *testing.T) {
	g := NewWithT(t)
	r := fakeResolver{"api.example": {netip.MustParseAddr("203.0.113.9"), netip.MustParseAddr("2001:db8::9")}}
	addrs, err := ResolveHosts(context.Background(), r,
		"https://10.96.0.1:443", "10.96.0.1", "", "[fd00::1]:6443", "https://api.example:6443", "::ffff:192.0.2.1", "missing.example")
	g.Expect(err).To(MatchError(ContainSubstring("missing.example")))
	g.Expect(addrs).To(Equal([]netip.Addr{
		netip.MustParseAddr("10.96.0.1"),
		netip.MustParseAddr("192.0.2.1"),
		netip.MustParseAddr("203.0.113.9"),
		netip.MustParseAddr("2001:db8::9"),
		netip.MustParseAddr("fd00::1"),
	}))

	// The addresses found are refused even where a range is opened.
	p := Policy{Allow: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}, APIServer: addrs}
	g.Expect(IsBlocked(p.Check(netip.MustParseAddr("203.0.113.9")))).To(BeTrue())
	g.Expect(p.Check(netip.MustParseAddr("203.0.113.10"))).To(Succeed())
}

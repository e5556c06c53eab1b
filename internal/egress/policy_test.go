package egress

import (
	"net/netip"
	"testing"

	. "github.com/onsi/gomega"
)

func TestPolicyCheck(t *testing.T) {
	mustPrefixes := func(s string) []netip.Prefix {
		ps, err := ParsePrefixes(s)
		if err != nil {
			t.Fatal(err)
		}
		return ps
	}
	mustAddrs := func(s ...string) []netip.Addr {
		var out []netip.Addr
		for _, a := range s {
			out = append(out, netip.MustParseAddr(a))
		}
		return out
	}
	tests := []struct {
		name    string
		policy  Policy
		addr    string
		blocked bool
	}{
		{"default denies loopback", Policy{}, "127.0.0.1", true},
		{"default denies IPv6 loopback", Policy{}, "::1", true},
		{"default denies loopback mapped", Policy{}, "::ffff:127.0.0.1", true},
		{"default denies 10/8", Policy{}, "10.1.2.3", true},
		{"default denies 172.16/12", Policy{}, "172.20.0.5", true},
		{"default denies 192.168/16", Policy{}, "192.168.1.1", true},
		{"default denies 100.64/10", Policy{}, "100.64.0.1", true},
		{"default denies ULA", Policy{}, "fd12:3456::1", true},
		{"default denies private mapped", Policy{}, "::ffff:10.96.0.1", true},
		{"default allows public", Policy{}, "203.0.113.7", false},
		{"default allows 172.32", Policy{}, "172.32.0.1", false},
		{"default allows public IPv6", Policy{}, "2001:db8::1", false},
		{"metadata", Policy{}, "169.254.169.254", true},
		{"link-local", Policy{}, "169.254.1.1", true},
		{"metadata as IPv4-mapped IPv6", Policy{}, "::ffff:169.254.169.254", true},
		{"metadata through NAT64", Policy{}, "64:ff9b::a9fe:a9fe", true},
		{"AWS IPv6 metadata", Policy{}, "fd00:ec2::254", true},
		{"Alibaba metadata", Policy{}, "100.100.100.200", true},
		{"IPv6 link-local with zone", Policy{}, "fe80::1%eth0", true},
		{"IPv4 unspecified", Policy{}, "0.0.0.0", true},
		{"IPv6 unspecified", Policy{}, "::", true},
		{"allow loopback", Policy{Allow: Loopback()}, "127.0.0.1", false},
		{"allow loopback IPv6", Policy{Allow: Loopback()}, "::1", false},
		{"allow loopback keeps private denied", Policy{Allow: Loopback()}, "10.0.0.1", true},
		{"allow one private address", Policy{Allow: mustPrefixes("10.96.5.5")}, "10.96.5.5", false},
		{"allow one private address only", Policy{Allow: mustPrefixes("10.96.5.5")}, "10.96.5.6", true},
		{"allow a whole private range", Policy{Allow: mustPrefixes("10.0.0.0/8")}, "10.9.9.9", false},
		{"allow list mapped in", Policy{Allow: mustPrefixes("10.0.0.0/8")}, "::ffff:10.9.9.9", false},
		{"allow list leaves public open", Policy{Allow: mustPrefixes("10.0.0.0/8")}, "203.0.113.7", false},
		{"allow list leaves loopback denied", Policy{Allow: mustPrefixes("10.0.0.0/8")}, "127.0.0.1", true},
		{"API server denied", Policy{APIServer: mustAddrs("203.0.113.9")}, "203.0.113.9", true},
		{"API server denied inside an allowed range", Policy{Allow: mustPrefixes("10.96.0.0/12"), APIServer: mustAddrs("10.96.0.1")}, "10.96.0.1", true},
		{"service next to the API server allowed", Policy{Allow: mustPrefixes("10.96.0.0/12"), APIServer: mustAddrs("10.96.0.1")}, "10.96.0.10", false},
		{"API server allowed only by its own address", Policy{Allow: mustPrefixes("10.96.0.1"), APIServer: mustAddrs("10.96.0.1")}, "10.96.0.1", false},
		{"API server mapped", Policy{Allow: mustPrefixes("10.0.0.0/8"), APIServer: mustAddrs("10.96.0.1")}, "::ffff:10.96.0.1", true},
		{"deny list", Policy{Deny: mustPrefixes("203.0.113.0/24")}, "203.0.113.9", true},
		{"deny list other", Policy{Deny: mustPrefixes("203.0.113.0/24")}, "198.51.100.1", false},
		{"deny wins over an equal allow", Policy{Allow: mustPrefixes("10.0.0.0/8"), Deny: mustPrefixes("10.0.0.0/8")}, "10.1.2.3", true},
		{"more specific deny wins", Policy{Allow: mustPrefixes("10.0.0.0/8"), Deny: mustPrefixes("10.1.0.0/16")}, "10.1.2.3", true},
		{"more specific allow wins: strict allow list", Policy{Allow: mustPrefixes("203.0.113.5"), Deny: mustPrefixes("0.0.0.0/0,::/0")}, "203.0.113.5", false},
		{"strict allow list refuses the rest", Policy{Allow: mustPrefixes("203.0.113.5"), Deny: mustPrefixes("0.0.0.0/0,::/0")}, "198.51.100.1", true},
		{"built-in deny wins over allow", Policy{Allow: mustPrefixes("169.254.0.0/16")}, "169.254.169.254", true},
		{"built-in deny wins over an exact allow", Policy{Allow: mustPrefixes("169.254.169.254")}, "169.254.169.254", true},
		{"invalid address", Policy{}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			var addr netip.Addr
			if tt.addr != "" {
				addr = netip.MustParseAddr(tt.addr)
			}
			err := tt.policy.Check(addr)
			if tt.blocked {
				g.Expect(err).To(HaveOccurred())
				g.Expect(IsBlocked(err)).To(BeTrue())
			} else {
				g.Expect(err).NotTo(HaveOccurred())
			}
		})
	}
}

func TestPolicyControl(t *testing.T) {
	tests := []struct {
		address string
		blocked bool
	}{
		{"127.0.0.1:8080", true},
		{"[::1]:443", true},
		{"10.0.0.1:9090", true},
		{"203.0.113.7:443", false},
		{"169.254.169.254:80", true},
		{"[fe80::1%eth0]:80", true},
		{"[fd00:ec2::254]:80", true},
		{"not-an-address:80", true},
		{"garbage", true},
	}
	for _, tt := range tests {
		t.Run(tt.address, func(t *testing.T) {
			g := NewWithT(t)
			err := Policy{}.Control("tcp", tt.address, nil)
			if tt.blocked {
				g.Expect(IsBlocked(err)).To(BeTrue(), "error: %v", err)
			} else {
				g.Expect(err).NotTo(HaveOccurred())
			}
		})
	}
}

func TestParsePrefixes(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "", want: nil},
		{in: " , ,", want: nil},
		{in: "10.0.0.0/8", want: []string{"10.0.0.0/8"}},
		{in: "10.0.0.0/8, 192.168.0.0/16 ,fd00::/8", want: []string{"10.0.0.0/8", "192.168.0.0/16", "fd00::/8"}},
		{in: "192.0.2.7", want: []string{"192.0.2.7/32"}},
		{in: "2001:db8::1", want: []string{"2001:db8::1/128"}},
		{in: "10.1.2.3/8", want: []string{"10.0.0.0/8"}},
		{in: "::ffff:10.0.0.0/104", want: []string{"10.0.0.0/8"}},
		{in: "10.0.0.0/33", wantErr: `invalid CIDR prefix "10.0.0.0/33"`},
		{in: "10.0.0.0/8,nope", wantErr: `invalid CIDR prefix "nope"`},
		{in: "example.com/24", wantErr: `invalid CIDR prefix "example.com/24"`},
		{in: "fe80::1%eth0", wantErr: "zones are not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			g := NewWithT(t)
			got, err := ParsePrefixes(tt.in)
			if tt.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			var gotS []string
			for _, p := range got {
				gotS = append(gotS, p.String())
			}
			g.Expect(gotS).To(Equal(tt.want))
		})
	}
}

func TestParsePolicy(t *testing.T) {
	g := NewWithT(t)
	p, err := ParsePolicy("10.0.0.0/8", "10.1.0.0/16")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(p.Allow).To(Equal([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}))
	g.Expect(p.Deny).To(Equal([]netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}))
	p.APIServer = []netip.Addr{netip.MustParseAddr("10.96.0.1")}
	g.Expect(p.String()).To(Equal("always deny unspecified, link-local, metadata; deny loopback, private ranges, API server 10.96.0.1, 10.1.0.0/16; allow 10.0.0.0/8; the most specific entry decides"))
	g.Expect(Policy{}.String()).To(Equal("always deny unspecified, link-local, metadata; deny loopback, private ranges; the most specific entry decides"))

	_, err = ParsePolicy("bad", "")
	g.Expect(err).To(MatchError(ContainSubstring("egress allow list")))
	_, err = ParsePolicy("", "bad")
	g.Expect(err).To(MatchError(ContainSubstring("egress deny list")))
}

func TestBlockedErrorMessage(t *testing.T) {
	g := NewWithT(t)
	err := Policy{}.Check(netip.MustParseAddr("169.254.169.254"))
	g.Expect(err).To(MatchError("address 169.254.169.254 is refused by the egress policy (link-local, cloud metadata)"))
	g.Expect(BuiltinDeny()).To(ContainElement(netip.MustParsePrefix("169.254.0.0/16")))
	err = Policy{}.Check(netip.MustParseAddr("10.96.0.1"))
	g.Expect(err).To(MatchError("address 10.96.0.1 is refused by the egress policy (private range 10.0.0.0/8; allow it with --egress-allow)"))
	err = Policy{APIServer: []netip.Addr{netip.MustParseAddr("10.96.0.1")}}.Check(netip.MustParseAddr("10.96.0.1"))
	g.Expect(err).To(MatchError("address 10.96.0.1 is refused by the egress policy (the Kubernetes API server)"))
	err = Policy{Deny: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}}.Check(netip.MustParseAddr("203.0.113.1"))
	g.Expect(err).To(MatchError("address 203.0.113.1 is refused by the egress policy (denied by policy 203.0.113.0/24)"))
}

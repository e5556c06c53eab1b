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
	tests := []struct {
		name    string
		policy  Policy
		addr    string
		blocked bool
	}{
		{"default allows loopback", Policy{}, "127.0.0.1", false},
		{"default allows IPv6 loopback", Policy{}, "::1", false},
		{"default allows private", Policy{}, "10.1.2.3", false},
		{"default allows public", Policy{}, "203.0.113.7", false},
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
		{"deny loopback", Policy{DenyLoopback: true}, "127.0.0.1", true},
		{"deny loopback IPv6", Policy{DenyLoopback: true}, "::1", true},
		{"deny loopback mapped", Policy{DenyLoopback: true}, "::ffff:127.0.0.1", true},
		{"deny list", Policy{Deny: mustPrefixes("10.0.0.0/8")}, "10.9.9.9", true},
		{"deny list other", Policy{Deny: mustPrefixes("10.0.0.0/8")}, "192.168.1.1", false},
		{"allow list in", Policy{Allow: mustPrefixes("10.0.0.0/8")}, "10.9.9.9", false},
		{"allow list mapped in", Policy{Allow: mustPrefixes("10.0.0.0/8")}, "::ffff:10.9.9.9", false},
		{"allow list out", Policy{Allow: mustPrefixes("10.0.0.0/8")}, "127.0.0.1", true},
		{"deny wins over allow", Policy{Allow: mustPrefixes("10.0.0.0/8"), Deny: mustPrefixes("10.1.0.0/16")}, "10.1.2.3", true},
		{"built-in deny wins over allow", Policy{Allow: mustPrefixes("169.254.0.0/16")}, "169.254.169.254", true},
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
		{"127.0.0.1:8080", false},
		{"[::1]:443", false},
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
	p, err := ParsePolicy("10.0.0.0/8", "10.1.0.0/16", true)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(p.Allow).To(Equal([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}))
	g.Expect(p.Deny).To(Equal([]netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}))
	g.Expect(p.DenyLoopback).To(BeTrue())
	g.Expect(p.String()).To(Equal("deny built-in (unspecified, link-local, metadata), loopback, 10.1.0.0/16; allow only 10.0.0.0/8"))
	g.Expect(Policy{}.String()).To(Equal("deny built-in (unspecified, link-local, metadata); allow everything else"))

	_, err = ParsePolicy("bad", "", false)
	g.Expect(err).To(MatchError(ContainSubstring("egress allow list")))
	_, err = ParsePolicy("", "bad", false)
	g.Expect(err).To(MatchError(ContainSubstring("egress deny list")))
}

func TestBlockedErrorMessage(t *testing.T) {
	g := NewWithT(t)
	err := Policy{}.Check(netip.MustParseAddr("169.254.169.254"))
	g.Expect(err).To(MatchError("address 169.254.169.254 is refused by the egress policy (link-local, cloud metadata)"))
	g.Expect(BuiltinDeny()).To(ContainElement(netip.MustParsePrefix("169.254.0.0/16")))
}

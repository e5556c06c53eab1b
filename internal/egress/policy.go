// Package egress guards the operator's outbound calls (signal providers, webhook
// sinks): which addresses may be dialed, checked on the resolved IP at dial time so
// that DNS cannot be used to reach a refused address, and how often one host may be
// called.
package egress

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
)

// builtinDeny lists the prefixes every Policy refuses: addresses that are never a
// legitimate signal source or webhook but are a classic SSRF target.
var builtinDeny = []namedPrefix{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local, cloud metadata"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "cloud metadata"},
	// 169.254.0.0/16 reached through the NAT64 well-known prefix.
	{netip.MustParsePrefix("64:ff9b::a9fe:0/112"), "link-local, cloud metadata"},
	// Alibaba Cloud's metadata service.
	{netip.MustParsePrefix("100.100.100.200/32"), "cloud metadata"},
}

var loopback = []namedPrefix{
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
}

type namedPrefix struct {
	prefix netip.Prefix
	why    string
}

// BuiltinDeny returns the prefixes every Policy refuses whatever its lists say:
// unspecified addresses (0.0.0.0/8, ::), link-local addresses (169.254.0.0/16,
// fe80::/10) and cloud metadata endpoints (169.254.169.254, fd00:ec2::254,
// 100.100.100.200, and 169.254.0.0/16 through NAT64).
func BuiltinDeny() []netip.Prefix {
	out := make([]netip.Prefix, len(builtinDeny))
	for i, np := range builtinDeny {
		out[i] = np.prefix
	}
	return out
}

// Policy decides which IP addresses outbound calls may connect to. The zero Policy
// is the default: everything is allowed except the built-in denials (see
// BuiltinDeny); loopback is allowed so that local and development setups work.
//
// A Policy is a value; it is safe for concurrent use as long as its slices are not
// modified.
type Policy struct {
	// Allow, when non-empty, lists the only prefixes that may be dialed.
	Allow []netip.Prefix
	// Deny lists prefixes that may never be dialed, in addition to the built-in
	// ones. Deny wins over Allow.
	Deny []netip.Prefix
	// DenyLoopback also refuses loopback addresses (127.0.0.0/8, ::1), for clusters
	// where nothing the operator should call listens on its own loopback.
	DenyLoopback bool
}

// BlockedError is returned (wrapped in a *net.OpError by the dialer) when a Policy
// refuses an address.
type BlockedError struct {
	// Addr is the refused address.
	Addr netip.Addr
	// Why says which rule refused it, such as "link-local, cloud metadata",
	// "denied by policy" or "not in the allow list".
	Why string
}

// Error says which address was refused and why.
func (e *BlockedError) Error() string {
	if !e.Addr.IsValid() {
		return "refused by the egress policy (" + e.Why + ")"
	}
	return fmt.Sprintf("address %s is refused by the egress policy (%s)", e.Addr, e.Why)
}

// IsBlocked reports whether err is, or wraps, a *BlockedError.
func IsBlocked(err error) bool {
	var be *BlockedError
	return errors.As(err, &be)
}

// Check returns nil when addr may be dialed and a *BlockedError otherwise. IPv4
// addresses written as IPv4-mapped IPv6 addresses are checked as IPv4, and IPv6
// zones are ignored.
func (p Policy) Check(addr netip.Addr) error {
	if !addr.IsValid() {
		return &BlockedError{Addr: addr, Why: "invalid address"}
	}
	raw := addr.WithZone("")
	plain := raw.Unmap()
	contains := func(pr netip.Prefix) bool { return pr.Contains(plain) || pr.Contains(raw) }

	for _, np := range builtinDeny {
		if contains(np.prefix) {
			return &BlockedError{Addr: plain, Why: np.why}
		}
	}
	if p.DenyLoopback {
		for _, np := range loopback {
			if contains(np.prefix) {
				return &BlockedError{Addr: plain, Why: np.why}
			}
		}
	}
	for _, pr := range p.Deny {
		if contains(pr) {
			return &BlockedError{Addr: plain, Why: "denied by policy " + pr.String()}
		}
	}
	if len(p.Allow) == 0 {
		return nil
	}
	for _, pr := range p.Allow {
		if contains(pr) {
			return nil
		}
	}
	return &BlockedError{Addr: plain, Why: "not in the allow list"}
}

// Control is a net.Dialer Control function: it runs after the name was resolved and
// before the connection is attempted, and refuses addresses the Policy does not
// allow. An address that cannot be parsed is refused.
func (p Policy) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		host, _, splitErr := net.SplitHostPort(address)
		if splitErr != nil {
			host = address
		}
		addr, perr := netip.ParseAddr(host)
		if perr != nil {
			return &BlockedError{Why: fmt.Sprintf("unparsable dial address %q", address)}
		}
		return p.Check(addr)
	}
	return p.Check(ap.Addr())
}

// String describes the policy for logs.
func (p Policy) String() string {
	var b strings.Builder
	b.WriteString("deny built-in (unspecified, link-local, metadata)")
	if p.DenyLoopback {
		b.WriteString(", loopback")
	}
	if len(p.Deny) > 0 {
		b.WriteString(", ")
		b.WriteString(joinPrefixes(p.Deny))
	}
	if len(p.Allow) > 0 {
		b.WriteString("; allow only ")
		b.WriteString(joinPrefixes(p.Allow))
	} else {
		b.WriteString("; allow everything else")
	}
	return b.String()
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// ParsePrefixes parses a comma-separated list of CIDR prefixes, as given to a
// command-line flag, such as "10.0.0.0/8, 192.168.0.0/16,fd00::/8". A bare address
// is a single-address prefix (/32 or /128). Host bits are cleared ("10.1.2.3/8" is
// 10.0.0.0/8), and IPv4-mapped IPv6 prefixes are turned into IPv4 ones. Empty
// entries are ignored; an empty string gives an empty list.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for field := range strings.SplitSeq(s, ",") {
		field = strings.TrimSpace(field)
		if field == "" {
			continue
		}
		var pr netip.Prefix
		if strings.Contains(field, "/") {
			p, err := netip.ParsePrefix(field)
			if err != nil {
				return nil, fmt.Errorf("invalid CIDR prefix %q: %w", field, err)
			}
			pr = p
		} else {
			a, err := netip.ParseAddr(field)
			if err != nil {
				return nil, fmt.Errorf("invalid CIDR prefix %q: %w", field, err)
			}
			if a.Zone() != "" {
				return nil, fmt.Errorf("invalid CIDR prefix %q: zones are not allowed", field)
			}
			pr = netip.PrefixFrom(a, a.BitLen())
		}
		if pr.Addr().Is4In6() && pr.Bits() >= 96 {
			pr = netip.PrefixFrom(pr.Addr().Unmap(), pr.Bits()-96)
		}
		out = append(out, pr.Masked())
	}
	return out, nil
}

// ParsePolicy builds a Policy from flag values: allow and deny are comma-separated
// CIDR lists (see ParsePrefixes).
func ParsePolicy(allow, deny string, denyLoopback bool) (Policy, error) {
	a, err := ParsePrefixes(allow)
	if err != nil {
		return Policy{}, fmt.Errorf("egress allow list: %w", err)
	}
	d, err := ParsePrefixes(deny)
	if err != nil {
		return Policy{}, fmt.Errorf("egress deny list: %w", err)
	}
	return Policy{Allow: a, Deny: d, DenyLoopback: denyLoopback}, nil
}

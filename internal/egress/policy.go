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

// loopback and private are denied by default, inside a cluster where the operator
// runs next to services it must not be made to call (the API server, kubelets,
// databases); Policy.Allow opens them.
var loopback = []namedPrefix{
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
}

var private = []namedPrefix{
	{netip.MustParsePrefix("10.0.0.0/8"), "private range 10.0.0.0/8"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private range 172.16.0.0/12"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private range 192.168.0.0/16"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space 100.64.0.0/10"},
	{netip.MustParsePrefix("fc00::/7"), "private range fc00::/7"},
}

// Loopback returns the loopback prefixes (127.0.0.0/8 and ::1/128), for a Policy's
// Allow list where the operator must call its own host: local runs and tests.
func Loopback() []netip.Prefix {
	return []netip.Prefix{loopback[0].prefix, loopback[1].prefix}
}

// DefaultDeny returns the prefixes a Policy refuses unless its Allow list opens
// them: loopback (127.0.0.0/8, ::1), the private ranges (10.0.0.0/8,
// 172.16.0.0/12, 192.168.0.0/16, fc00::/7) and the shared address space
// 100.64.0.0/10.
func DefaultDeny() []netip.Prefix {
	var out []netip.Prefix
	for _, np := range append(append([]namedPrefix{}, loopback...), private...) {
		out = append(out, np.prefix)
	}
	return out
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
// is the default, closed inside a cluster: it refuses the built-in denials (see
// BuiltinDeny), loopback and the private ranges (see DefaultDeny), and allows the
// rest.
//
// The decision for an address other than a built-in denial, which nothing opens:
// among the entries that contain it (the default denials, the API server's
// addresses as single-address entries, Deny and Allow), the most specific prefix
// decides; on a tie, an entry of Deny or Allow beats a default one, and Deny beats
// Allow. No entry: allowed. So Allow 10.96.0.0/12 opens the services of that range
// but not the API server's 10.96.0.1 listed in APIServer (more specific), and
// Deny 0.0.0.0/0,::/0 with Allow 203.0.113.5 allows only 203.0.113.5.
//
// A Policy is a value; it is safe for concurrent use as long as its slices are not
// modified.
type Policy struct {
	// Allow lists prefixes that may be dialed although a less specific entry (a
	// default denial, or Deny) refuses them, such as an in-cluster Prometheus's
	// service address.
	Allow []netip.Prefix
	// Deny lists prefixes that may not be dialed, in addition to the default ones.
	Deny []netip.Prefix
	// APIServer lists the addresses of the Kubernetes API server, refused as single
	// addresses: opening a range that contains one does not open it; only Allow
	// listing the address itself does.
	APIServer []netip.Addr
}

// UnreachableMessage is the one status message of an outbound call (signal source
// or webhook) that got no valid answer from host: refused or reset connection,
// TLS failure, unresolved name, no answer in time or an unexpected HTTP status
// all read the same, so that a tenant cannot use cxops to learn what listens
// where. The caller logs the detail at V(1).
func UnreachableMessage(host string) string {
	return fmt.Sprintf("could not get a valid answer from %s (details in the manager's debug log)", host)
}

// BlockedNameMessage is the status message of a call to host (a name, with its
// port) that resolves to a refused address. It names neither the address nor the
// rule, which would let a tenant read the cluster's DNS; the caller logs them at
// V(1).
func BlockedNameMessage(host string) string {
	return fmt.Sprintf("host %s resolves to an address the egress policy refuses (ask whoever runs cxops for an --egress-allow entry)", host)
}

// IsZero reports whether p is the zero Policy (the closed default).
func (p Policy) IsZero() bool {
	return len(p.Allow) == 0 && len(p.Deny) == 0 && len(p.APIServer) == 0
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
	// The entry that decides so far: its prefix length, whether it is explicit
	// (Allow or Deny), and the reason when it denies ("" allows).
	best, found := rule{}, false
	consider := func(r rule, pr netip.Prefix) {
		if !contains(pr) {
			return
		}
		if !found || r.beats(best) {
			best, found = r, true
		}
	}
	for _, np := range loopback {
		consider(rule{bits: np.prefix.Bits(), why: np.why + "; allow it with --egress-allow"}, np.prefix)
	}
	for _, np := range private {
		consider(rule{bits: np.prefix.Bits(), why: np.why + "; allow it with --egress-allow"}, np.prefix)
	}
	for _, a := range p.APIServer {
		a = a.WithZone("").Unmap()
		pr := netip.PrefixFrom(a, a.BitLen())
		consider(rule{bits: pr.Bits(), why: "the Kubernetes API server"}, pr)
	}
	for _, pr := range p.Deny {
		consider(rule{bits: pr.Bits(), explicit: true, why: "denied by policy " + pr.String()}, pr)
	}
	for _, pr := range p.Allow {
		consider(rule{bits: pr.Bits(), explicit: true}, pr)
	}
	if found && best.why != "" {
		return &BlockedError{Addr: plain, Why: best.why}
	}
	return nil
}

// rule is one entry of a Policy matching an address; why is empty for Allow.
type rule struct {
	bits     int
	explicit bool
	why      string
}

// beats reports whether r decides over o: more specific, then explicit, then deny.
func (r rule) beats(o rule) bool {
	if r.bits != o.bits {
		return r.bits > o.bits
	}
	if r.explicit != o.explicit {
		return r.explicit
	}
	return r.why != "" && o.why == ""
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
	b.WriteString("always deny unspecified, link-local, metadata; deny loopback, private ranges")
	if len(p.APIServer) > 0 {
		b.WriteString(", API server ")
		s := make([]string, len(p.APIServer))
		for i, a := range p.APIServer {
			s[i] = a.String()
		}
		b.WriteString(strings.Join(s, ", "))
	}
	if len(p.Deny) > 0 {
		b.WriteString(", ")
		b.WriteString(joinPrefixes(p.Deny))
	}
	if len(p.Allow) > 0 {
		b.WriteString("; allow ")
		b.WriteString(joinPrefixes(p.Allow))
	}
	b.WriteString("; the most specific entry decides")
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
// CIDR lists (see ParsePrefixes). The API server's addresses are set by the caller.
func ParsePolicy(allow, deny string) (Policy, error) {
	a, err := ParsePrefixes(allow)
	if err != nil {
		return Policy{}, fmt.Errorf("egress allow list: %w", err)
	}
	d, err := ParsePrefixes(deny)
	if err != nil {
		return Policy{}, fmt.Errorf("egress deny list: %w", err)
	}
	return Policy{Allow: a, Deny: d}, nil
}

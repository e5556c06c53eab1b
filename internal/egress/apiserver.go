package egress

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
)

// Resolver looks up the addresses of a host name; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// ResolveHosts returns the addresses of hosts, each an IP address, a host name, a
// host:port or a URL (such as a rest.Config's Host, "https://10.96.0.1:443", or
// KUBERNETES_SERVICE_HOST). Empty entries are skipped; names are resolved with r
// (net.DefaultResolver when nil). It returns the addresses found, sorted and
// without duplicates, and the first lookup error, so that the caller can log it:
// a name that does not resolve now is still refused at dial time by whatever
// other rule covers its address.
func ResolveHosts(ctx context.Context, r Resolver, hosts ...string) ([]netip.Addr, error) {
	if r == nil {
		r = net.DefaultResolver
	}
	var out []netip.Addr
	var firstErr error
	for _, h := range hosts {
		name := hostOf(h)
		if name == "" {
			continue
		}
		if a, err := netip.ParseAddr(name); err == nil {
			out = append(out, a.WithZone("").Unmap())
			continue
		}
		addrs, err := r.LookupNetIP(ctx, "ip", name)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		for _, a := range addrs {
			out = append(out, a.WithZone("").Unmap())
		}
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return slices.Compact(out), firstErr
}

// hostOf extracts the host of a URL, host:port, bracketed IPv6 address or bare
// host.
func hostOf(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if strings.Contains(s, "://") {
		if u, err := url.Parse(s); err == nil {
			return u.Hostname()
		}
		return ""
	}
	if h, _, err := net.SplitHostPort(s); err == nil {
		return h
	}
	return strings.Trim(s, "[]")
}

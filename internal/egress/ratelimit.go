package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ErrRateLimited is wrapped by the error HostLimiter.Wait returns when a call may not
// proceed: waiting for the host's limit would outlast the context's deadline, or the
// context ended while waiting.
var ErrRateLimited = errors.New("egress rate limit")

// maxHosts is the number of per-host limiters above which idle ones are forgotten.
const maxHosts = 1024

// HostLimiter limits the rate of outbound calls per host (keyed by "host:port"),
// with a token bucket of the same rate and burst for every host. A nil *HostLimiter
// does not limit. It is safe for concurrent use.
type HostLimiter struct {
	limit rate.Limit
	burst int

	mu    sync.Mutex
	hosts map[string]*rate.Limiter
}

// NewHostLimiter returns a limiter allowing each host limit calls per second on
// average, with bursts of up to burst calls. A burst below 1 is taken as 1;
// rate.Inf disables limiting.
func NewHostLimiter(limit rate.Limit, burst int) *HostLimiter {
	return &HostLimiter{limit: limit, burst: max(burst, 1), hosts: map[string]*rate.Limiter{}}
}

// Limit returns the calls per second the limiter allows each host, 0 when it
// does not limit (nil, or rate.Inf).
func (l *HostLimiter) Limit() float64 {
	if l == nil || l.limit == rate.Inf {
		return 0
	}
	return float64(l.limit)
}

// Wait blocks until host may be called or ctx ends. It returns an error wrapping
// ErrRateLimited (and the cause) when the call may not proceed; it returns at once
// when waiting would outlast ctx's deadline.
func (l *HostLimiter) Wait(ctx context.Context, host string) error {
	if l == nil || l.limit == rate.Inf {
		return nil
	}
	if err := l.limiter(host).Wait(ctx); err != nil {
		return fmt.Errorf("%w for %s: %w", ErrRateLimited, host, err)
	}
	return nil
}

// Allow reports whether host may be called now, taking a token if so. It never
// blocks.
func (l *HostLimiter) Allow(host string) bool {
	if l == nil || l.limit == rate.Inf {
		return true
	}
	return l.limiter(host).Allow()
}

func (l *HostLimiter) limiter(host string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lim, ok := l.hosts[host]; ok {
		return lim
	}
	if len(l.hosts) >= maxHosts {
		// Forget hosts whose bucket is full again: they have been idle long
		// enough that a fresh limiter behaves the same.
		now := time.Now()
		for h, lim := range l.hosts {
			if lim.TokensAt(now) >= float64(l.burst) {
				delete(l.hosts, h)
			}
		}
	}
	lim := rate.NewLimiter(l.limit, l.burst)
	l.hosts[host] = lim
	return lim
}

// RoundTripper returns next wrapped so that every request (redirects included)
// first waits for its host's limit, keyed by HostKey. A nil HostLimiter returns
// next unchanged.
func (l *HostLimiter) RoundTripper(next http.RoundTripper) http.RoundTripper {
	if l == nil {
		return next
	}
	return limitedTransport{limiter: l, next: next}
}

type limitedTransport struct {
	limiter *HostLimiter
	next    http.RoundTripper
}

func (t limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.limiter.Wait(req.Context(), HostKey(req.URL)); err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	return t.next.RoundTrip(req)
}

// HostKey returns the rate-limit key of a URL: its lower-case host and port, the
// port defaulting to 443 for https and 80 otherwise.
func HostKey(u *url.URL) string {
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port == "" {
		port = "80"
		if strings.EqualFold(u.Scheme, "https") {
			port = "443"
		}
	}
	return net.JoinHostPort(host, port)
}

package egress

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// Timeouts and pool sizes of the transports NewTransport builds. A call's overall
// deadline comes from its context; these bound the individual phases.
const (
	// DialTimeout bounds establishing a TCP connection.
	DialTimeout = 10 * time.Second
	// TLSHandshakeTimeout bounds the TLS handshake.
	TLSHandshakeTimeout = 10 * time.Second
	// ResponseHeaderTimeout bounds the wait for response headers after the request
	// was written.
	ResponseHeaderTimeout = 5 * time.Minute
	// IdleConnTimeout is how long an idle keep-alive connection is kept.
	IdleConnTimeout = 90 * time.Second
	// MaxIdleConnsPerHost is the number of idle connections kept per host.
	MaxIdleConnsPerHost = 8
	// MaxConnsPerHost bounds the connections, idle or active, to one host.
	MaxConnsPerHost = 32
	// MaxResponseHeaderBytes bounds the size of response headers.
	MaxResponseHeaderBytes = 64 << 10
)

// Dialer returns a net.Dialer that refuses, after name resolution and before
// connecting, every address the policy does not allow.
func (p Policy) Dialer() *net.Dialer {
	return &net.Dialer{
		Timeout:   DialTimeout,
		KeepAlive: 30 * time.Second,
		Control:   p.Control,
	}
}

// NewTransport returns an HTTP transport whose every connection is checked against
// policy at dial time, with tlsConfig (nil for Go's defaults) for HTTPS.
//
// Proxies from the environment (HTTP_PROXY and friends) are deliberately not used:
// through a proxy the policy would only see the proxy's address. Response bodies
// are decompressed transparently, so a size limit applied to the body applies to
// the decompressed size.
func NewTransport(policy Policy, tlsConfig *tls.Config) *http.Transport {
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            policy.Dialer().DialContext,
		TLSClientConfig:        tlsConfig,
		TLSHandshakeTimeout:    TLSHandshakeTimeout,
		ResponseHeaderTimeout:  ResponseHeaderTimeout,
		ExpectContinueTimeout:  time.Second,
		IdleConnTimeout:        IdleConnTimeout,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    MaxIdleConnsPerHost,
		MaxConnsPerHost:        MaxConnsPerHost,
		MaxResponseHeaderBytes: MaxResponseHeaderBytes,
		ForceAttemptHTTP2:      true,
	}
}

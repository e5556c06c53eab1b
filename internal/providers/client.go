package providers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"

	"github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/egress"
	"github.com/cxops/cxops/internal/textutil"
)

// maxRedirects bounds the redirects a call follows.
const maxRedirects = 5

// redirectHint explains a 3xx status in messages.
const redirectHint = "redirects are followed only within the same scheme, host and port"

// sourceClient is the HTTP client of one Prometheus or HTTP source: egress policy
// and TLS at dial time, per-host rate limit, credentials on every request, a
// bounded response body, and redirects only within the same origin (so that
// credentials never reach another host).
type sourceClient struct {
	client *http.Client
	base   http.RoundTripper
}

// newSourceClient builds the client of a source. header is added to every request;
// a "Host" entry sets the request's Host.
func newSourceClient(tlsCfg *tls.Config, header http.Header, maxBody int64, opts Options) *sourceClient {
	base := opts.Transport
	if base == nil {
		base = egress.NewTransport(opts.Policy, tlsCfg)
	}
	sent := base
	if opts.OnRequest != nil {
		sent = countingTransport{next: base, count: opts.OnRequest}
	}
	rt := &sourceTransport{
		next:    opts.Limiter.RoundTripper(sent),
		header:  header,
		maxBody: maxBody,
	}
	return &sourceClient{
		client: &http.Client{Transport: rt, CheckRedirect: sameOriginRedirects},
		base:   base,
	}
}

// CloseIdleConnections closes the idle connections of the client's transport.
func (c *sourceClient) CloseIdleConnections() {
	if ci, ok := c.base.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// sameOriginRedirects follows redirects only to the same scheme, host and port;
// otherwise the redirect response itself is returned (and reported by its status
// code).
func sameOriginRedirects(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return http.ErrUseLastResponse
	}
	first := via[0].URL
	if req.URL.Scheme != first.Scheme || egress.HostKey(req.URL) != egress.HostKey(first) {
		return http.ErrUseLastResponse
	}
	return nil
}

// countingTransport calls count for every request it sends.
type countingTransport struct {
	next  http.RoundTripper
	count func()
}

func (t countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.count()
	return t.next.RoundTrip(req)
}

// sourceTransport adds the source's headers, records the response status in the
// call state and bounds the response body.
type sourceTransport struct {
	next    http.RoundTripper
	header  http.Header
	maxBody int64
}

func (t *sourceTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if len(t.header) > 0 {
		req = req.Clone(req.Context())
		for k, vs := range t.header {
			if http.CanonicalHeaderKey(k) == "Host" {
				req.Host = vs[0]
				continue
			}
			req.Header[k] = vs
		}
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if st := callStateFrom(req.Context()); st != nil {
		st.status.Store(int32(resp.StatusCode))
	}
	if resp.StatusCode/100 == 2 && resp.ContentLength > t.maxBody {
		_ = resp.Body.Close()
		return nil, &bodyTooLargeError{limit: t.maxBody}
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.maxBody, limit: t.maxBody}
	return resp, nil
}

// bodyTooLargeError is returned when a response body exceeds the limit.
type bodyTooLargeError struct{ limit int64 }

func (e *bodyTooLargeError) Error() string {
	return fmt.Sprintf("response body larger than %d bytes", e.limit)
}

// limitedBody reads at most limit bytes and fails with *bodyTooLargeError when
// the body has more.
type limitedBody struct {
	rc    io.ReadCloser
	left  int64
	limit int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.left <= 0 {
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, &bodyTooLargeError{limit: b.limit}
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// callState is what the transport learns about one call that the HTTP client
// library does not return: the status code of the last response.
type callState struct {
	status atomic.Int32
}

type callStateKey struct{}

func withCallState(ctx context.Context) (context.Context, *callState) {
	st := &callState{}
	return context.WithValue(ctx, callStateKey{}, st), st
}

func callStateFrom(ctx context.Context) *callState {
	st, _ := ctx.Value(callStateKey{}).(*callState)
	return st
}

// buildTLSConfig returns the TLS settings of a source, with the certificate
// authorities of the CA Secret trusted in addition to the system ones.
func buildTLSConfig(t *v1alpha1.TLSConfig, secrets SecretGetter) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if t == nil {
		return cfg, nil
	}
	cfg.ServerName = t.ServerName
	cfg.InsecureSkipVerify = t.InsecureSkipVerify != nil && *t.InsecureSkipVerify //nolint:gosec // explicit opt-in, documented as for tests only
	if t.CASecretRef == (v1alpha1.LocalObjectReference{}) {
		return cfg, nil
	}
	name := t.CASecretRef.Name
	data, err := getSecret(secrets, name, "tls.caSecretRef")
	if err != nil {
		return nil, err
	}
	pemBytes, err := secretKey(data, name, "ca.crt", "PEM certificate authorities")
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, Errorf(v1alpha1.ReasonSecretInvalid, "Secret %q key \"ca.crt\" holds no PEM certificate", name)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// hostKey is the egress rate-limit key of a URL (egress.HostKey), empty when it
// does not parse.
func hostKey(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return egress.HostKey(u)
}

// safeURL returns a URL fit for messages: no credentials, query or fragment, and
// bounded in length.
func safeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	s := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
	return textutil.Truncate(s, 200)
}

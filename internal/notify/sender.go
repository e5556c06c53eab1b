// Package notify delivers remediation-task notifications to generic JSON webhooks.
//
// A Sender makes exactly one attempt per Send call; the caller (the RemediationTask
// reconciler) records attempts in status and retries with Backoff. Every attempt of
// one notification carries the same body and the same Idempotency-Key header, so
// receivers can drop duplicates.
//
// Least privilege: outbound connections go through the operator's egress policy
// (checked on the resolved address at dial time) and per-host rate limit; redirects
// are not followed, so the headers from the sink's Secret only ever reach the
// configured host; errors never contain response bodies, header values or the
// URL's path, query or credentials, and are short enough for a status field.
// Failures to get a valid answer (refused connection, TLS, unresolved name,
// timeout, a status other than 2xx) all read egress.UnreachableMessage, so that a
// sink cannot be used to learn what listens where; the detail goes to the
// logger of the caller's context at V(1).
package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"

	"github.com/cxops/cxops/internal/egress"
	"github.com/cxops/cxops/internal/textutil"
)

const (
	// DefaultTimeout bounds one Send (rate-limit wait, connection, request and
	// response) when Options.Timeout is not set.
	DefaultTimeout = 10 * time.Second
	// MaxErrorLength bounds the length in bytes of the messages of errors Send
	// returns, so that they fit Delivery.lastError.
	MaxErrorLength = 512
	// maxDrain is how much of a response body is read (and discarded) so that the
	// connection can be reused.
	maxDrain = 64 << 10
	// maxHostInMessage bounds the host shown in error messages.
	maxHostInMessage = 200

	userAgent = "cxops-notify/v1alpha1"
)

// Headers the sender sets itself.
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderEvent          = "X-Cxops-Event"
)

// reservedHeaders may not be set from the sink's headers Secret: the sender sets
// them itself, or they belong to the HTTP connection rather than the request.
var reservedHeaders = []string{
	"Connection", "Content-Length", "Content-Type", "Host", "Keep-Alive",
	"Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
	HeaderIdempotencyKey, HeaderEvent,
}

// Options configure a Sender.
type Options struct {
	// Policy decides which addresses may be dialed. It is enforced at dial time
	// by the default transport, and on IP-literal URLs before any request.
	Policy egress.Policy
	// Limiter limits calls per host; nil does not limit.
	Limiter *egress.HostLimiter
	// Timeout bounds one Send, including the wait for the rate limit; zero or
	// less means DefaultTimeout.
	Timeout time.Duration
	// Transport replaces the default transport (egress.NewTransport(Policy, nil)),
	// for tests. A replacement must enforce the egress policy itself.
	Transport http.RoundTripper
}

// Sender delivers notifications to webhooks. It is safe for concurrent use and
// keeps connections alive between calls, so one Sender should serve the process.
type Sender struct {
	policy  egress.Policy
	limiter *egress.HostLimiter
	timeout time.Duration
	client  *http.Client
}

// NewSender returns a Sender with opts.
func NewSender(opts Options) *Sender {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	rt := opts.Transport
	if rt == nil {
		rt = egress.NewTransport(opts.Policy, &tls.Config{MinVersion: tls.VersionTLS12})
	}
	return &Sender{
		policy:  opts.Policy,
		limiter: opts.Limiter,
		timeout: timeout,
		client: &http.Client{
			Transport: rt,
			// Never follow redirects: the Secret's headers would travel to
			// wherever the receiver points. A 3xx is reported as a failure.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// StatusError is wrapped by the error Send returns when the webhook answered with
// a status other than 2xx (redirects included: they are not followed); the
// message is egress.UnreachableMessage, and errors.As finds the StatusError.
type StatusError struct {
	// StatusCode is the HTTP status code of the answer.
	StatusCode int
}

func (e *StatusError) Error() string {
	// The reason phrase comes from Go's table, not from the server's status line,
	// which the receiver controls.
	if text := http.StatusText(e.StatusCode); text != "" {
		return fmt.Sprintf("webhook answered %d %s", e.StatusCode, text)
	}
	return fmt.Sprintf("webhook answered %d", e.StatusCode)
}

// sendError is an error whose message was written here (safe for status); cause,
// when set, is what errors.Is and errors.As see (such as *egress.BlockedError,
// egress.ErrRateLimited or context.DeadlineExceeded).
type sendError struct {
	msg   string
	cause error
}

func (e *sendError) Error() string { return e.msg }
func (e *sendError) Unwrap() error { return e.cause }

func newError(cause error, format string, args ...any) error {
	return &sendError{msg: textutil.Truncate(fmt.Sprintf(format, args...), MaxErrorLength), cause: cause}
}

// Send POSTs n as JSON to rawURL, with n.IdempotencyKey in the Idempotency-Key header,
// n.Event in X-Cxops-Event, and headers (read by the caller from the sink's
// Secret; surrounding whitespace and line breaks are trimmed from values). It
// makes one attempt: it returns nil when the webhook answered 2xx, and otherwise
// an error whose message is safe to put in status (at most MaxErrorLength bytes,
// no response body, no header value, no URL path, query or credentials):
//   - egress.UnreachableMessage, wrapping *StatusError, for any other answer; the
//     body is drained up to 64 KiB and discarded;
//   - an error wrapping *egress.BlockedError when the egress policy refuses the
//     address (egress.IsBlocked reports it), before anything is sent;
//   - an error wrapping egress.ErrRateLimited when the host's rate limit does not
//     allow a call within the timeout;
//   - egress.UnreachableMessage, wrapping context.DeadlineExceeded, when the
//     webhook did not answer within the timeout, and for every other network or
//     TLS failure (the detail is logged at V(1) to the context's logger).
func (s *Sender) Send(ctx context.Context, rawURL string, headers map[string]string, n Notification) error {
	u, err := parseURL(rawURL)
	if err != nil {
		return err
	}
	host := messageHost(u)
	if n.IdempotencyKey == "" {
		return newError(nil, "notification has no idempotency key")
	}
	// An IP literal is checked now, whatever the transport; names are checked on
	// the resolved address when dialing.
	if addr, perr := netip.ParseAddr(u.Hostname()); perr == nil {
		if err := s.policy.Check(addr); err != nil {
			return blockedError(ctx, err, host)
		}
	}
	header, err := buildHeader(headers, n)
	if err != nil {
		return err
	}
	body, err := json.Marshal(n)
	if err != nil {
		// Only times outside years 0-9999 can fail; the message holds no secret.
		return newError(err, "encoding the notification: %v", err)
	}

	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()

	if err := s.limiter.Wait(ctx, egress.HostKey(u)); err != nil {
		if perr := parent.Err(); perr != nil {
			return newError(perr, "webhook call to %s interrupted: %v", host, perr)
		}
		return newError(err, "webhook host %s is over the operator's per-host rate limit; not sent within %s", host, s.timeout)
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return newError(nil, "webhook URL is not a valid absolute http or https URL")
	}
	req.Header = header

	resp, err := s.client.Do(req)
	if err != nil {
		return s.describe(parent, err, host)
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	se := &StatusError{StatusCode: resp.StatusCode}
	return unreachable(parent, host, se.Error(), se)
}

// unreachable is the one error of a call that got no valid answer from host; the
// detail goes to the debug log only.
func unreachable(ctx context.Context, host, detail string, cause error) error {
	logr.FromContextOrDiscard(ctx).V(1).Info("webhook gave no valid answer", "host", host, "detail", textutil.Truncate(detail, 300))
	return &sendError{msg: textutil.Truncate(egress.UnreachableMessage(host), MaxErrorLength), cause: cause}
}

// parseURL accepts absolute http and https URLs. Its errors never repeat the URL,
// whose path or query may hold a token.
func parseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" || u.Opaque != "" {
		return nil, newError(nil, "webhook URL is not a valid absolute http or https URL")
	}
	return u, nil
}

// messageHost is the URL's host and port, bounded, for error messages.
func messageHost(u *url.URL) string {
	return textutil.Truncate(u.Host, maxHostInMessage)
}

// buildHeader returns the request's headers: the caller's, validated, then the
// sender's own.
func buildHeader(headers map[string]string, n Notification) (http.Header, error) {
	h := make(http.Header, len(headers)+4)
	h.Set("User-Agent", userAgent)
	// Sorted, so that keys differing only in case resolve the same way every time.
	keys := make([]string, 0, len(headers))
	for k := range headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !validHeaderName(k) {
			return nil, newError(nil, "header %q from the sink's Secret is not a valid HTTP header name", textutil.Truncate(k, 64))
		}
		ck := http.CanonicalHeaderKey(k)
		if slices.Contains(reservedHeaders, ck) {
			return nil, newError(nil, "header %q from the sink's Secret is set by cxops itself and may not be overridden", ck)
		}
		v := strings.Trim(headers[k], " \t\r\n")
		if !validHeaderValue(v) {
			// Never the value: it is likely a credential.
			return nil, newError(nil, "value of header %q from the sink's Secret contains control characters", ck)
		}
		h.Set(ck, v)
	}
	h.Set("Content-Type", "application/json")
	h.Set(HeaderIdempotencyKey, n.IdempotencyKey)
	if n.Event != "" {
		h.Set(HeaderEvent, string(n.Event))
	}
	return h, nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether s holds no control characters other than tab.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// blockedError describes a refusal by the egress policy.
func blockedError(ctx context.Context, err error, host string) error {
	var be *egress.BlockedError
	if errors.As(err, &be) {
		if be.Addr.IsValid() {
			if name, _, _ := net.SplitHostPort(host); name == be.Addr.String() || host == be.Addr.String() {
				return newError(be, "webhook address %s is blocked by the egress policy (%s)", be.Addr, be.Why)
			}
			// A name: neither the address nor the rule, which would let the
			// sink's author read the cluster's DNS.
			logr.FromContextOrDiscard(ctx).V(1).Info("webhook address refused by the egress policy", "host", host, "detail", be.Error())
			return newError(be, "%s", egress.BlockedNameMessage(host))
		}
		return newError(be, "webhook host %s is blocked by the egress policy (%s)", host, be.Why)
	}
	return newError(err, "webhook host %s is blocked by the egress policy", host)
}

// describe turns an error of http.Client.Do into a short message. The client's
// errors repeat the full URL, so their text is never used; only their kind.
func (s *Sender) describe(parent context.Context, err error, host string) error {
	if egress.IsBlocked(err) {
		return blockedError(parent, err, host)
	}
	if perr := parent.Err(); perr != nil {
		return newError(perr, "webhook call to %s interrupted: %v", host, perr)
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return unreachable(parent, host, fmt.Sprintf("did not answer within %s", s.timeout), context.DeadlineExceeded)
	}
	return unreachable(parent, host, detail(err), nil)
}

// detail says briefly why a call failed, for the debug log. The client's errors
// repeat the full URL, so their text is never used; only their kind.
func detail(err error) string {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsNotFound {
			return "host not found (DNS)"
		}
		return "DNS lookup failed"
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return "connection refused"
	}
	var (
		verifyErr    *tls.CertificateVerificationError
		unknownCA    x509.UnknownAuthorityError
		hostnameErr  x509.HostnameError
		invalidCert  x509.CertificateInvalidError
		recordHdrErr tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &verifyErr), errors.As(err, &unknownCA), errors.As(err, &hostnameErr), errors.As(err, &invalidCert):
		return "TLS certificate could not be verified"
	case errors.As(err, &recordHdrErr):
		return "TLS handshake failed: the answer is not TLS"
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
		return "closed the connection before answering"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return "network failure"
}

// Package providers fetches live signal values from the sources a SignalSource
// describes: Prometheus (instant PromQL), HTTP JSON endpoints and static values.
//
// A provider returns exactly one number or an error; it never turns an empty answer
// into a zero. Errors carry a Reason (a condition reason from api/v1alpha1) and a
// message a person can act on. Response bodies and credentials never appear in
// either. A call that got no valid answer (connection, TLS, timeout, HTTP status)
// has one message whatever the cause, egress.UnreachableMessage, so that a source
// cannot be used as a port scanner; the cause goes to the debug log (Options.Logger
// at V(1)).
package providers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"

	"github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/egress"
	"github.com/cxops/cxops/internal/textutil"
)

// Provider fetches values from one signal source.
type Provider interface {
	// Query returns the single number the query selects.
	Query(ctx context.Context, query string) (float64, error)
	// Probe checks that the source answers and accepts the credentials.
	Probe(ctx context.Context) error
}

// Traits say how the engine may schedule a provider's calls. A provider
// declares them with a Traits() Traits method; TraitsOf gives the zero Traits (a
// network provider whose queries are independent) to one that does not.
type Traits struct {
	// InMemory says that Query answers from memory, without I/O and without
	// waiting for anything: the engine calls it without a deadline, many queries
	// in one batch.
	InMemory bool
	// SharedFetch says that every query selects from one document, fetched once
	// for all the queries given the same tick (WithTick): the engine aligns the
	// ticks of the source's queries of one interval so that they share a fetch.
	SharedFetch bool
	// Host is the egress rate-limit key of the provider's calls ("host:port"),
	// empty when it makes none.
	Host string
	// Rate is the calls per second the operator's per-host egress limit allows
	// to Host, 0 when it is unlimited.
	Rate float64
}

// TraitsOf returns the traits p declares, the zero Traits when it declares none.
func TraitsOf(p Provider) Traits {
	if t, ok := p.(interface{ Traits() Traits }); ok {
		return t.Traits()
	}
	return Traits{}
}

// tickKey is the context key of WithTick.
type tickKey struct{}

// WithTick returns ctx carrying the due time of the engine's tick that a call
// belongs to. A provider with SharedFetch serves the calls of one tick (and of
// earlier ticks) from one fetch made for it; a call without a tick, such as a
// probe, always fetches.
func WithTick(ctx context.Context, tick time.Time) context.Context {
	return context.WithValue(ctx, tickKey{}, tick)
}

// tickFrom returns the tick of ctx, zero when it carries none.
func tickFrom(ctx context.Context) time.Time {
	t, _ := ctx.Value(tickKey{}).(time.Time)
	return t
}

// Error is a provider failure with the condition reason that describes it.
type Error struct {
	// Reason is a condition reason such as Unreachable, BadResponse, NoData or
	// BlockedAddress.
	Reason string
	// Message says what went wrong, without response bodies or secrets.
	Message string
	// Err is the underlying error, if any.
	Err error
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given reason.
func Errorf(reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// ReasonOf returns the reason of err if it is (or wraps) an *Error, and fallback
// otherwise.
func ReasonOf(err error, fallback string) string {
	var pe *Error
	if errors.As(err, &pe) && pe.Reason != "" {
		return pe.Reason
	}
	return fallback
}

// Registry holds the provider of every ready SignalSource, keyed by
// "namespace/name". The SignalSource reconciler fills it; the evaluation engine
// reads it. It is safe for concurrent use.
type Registry struct {
	mu        sync.RWMutex
	providers map[string]entry
}

type entry struct {
	provider Provider
	// inputs identifies what the provider was built from (see Keep); empty
	// when Set stored it.
	inputs string
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{providers: map[string]entry{}}
}

// Set stores the provider of a source. The idle connections of the provider it
// replaces, if another one, are closed (calls in flight are not affected).
func (r *Registry) Set(key string, p Provider) {
	r.mu.Lock()
	old, had := r.providers[key]
	r.providers[key] = entry{provider: p}
	r.mu.Unlock()
	if had && !sameProvider(old.provider, p) {
		CloseIdleConnections(old.provider)
	}
}

// Keep stores p as the provider of a source unless the provider stored there
// was built from the same inputs (a digest of everything p was built from,
// such as the source's spec and its Secrets' data), and returns the provider
// in use. An unchanged source thus keeps its provider, with its open
// connections and what it shares between calls; p, unused, has made no call
// and is dropped.
func (r *Registry) Keep(key, inputs string, p Provider) Provider {
	r.mu.Lock()
	old, had := r.providers[key]
	if had && inputs != "" && old.inputs == inputs {
		r.mu.Unlock()
		CloseIdleConnections(p)
		return old.provider
	}
	r.providers[key] = entry{provider: p, inputs: inputs}
	r.mu.Unlock()
	if had && !sameProvider(old.provider, p) {
		CloseIdleConnections(old.provider)
	}
	return p
}

// Get returns the provider of a source, or false when the source is unknown or not
// ready.
func (r *Registry) Get(key string) (Provider, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.providers[key]
	return e.provider, ok
}

// Delete forgets a source and closes its provider's idle connections.
func (r *Registry) Delete(key string) {
	r.mu.Lock()
	old, had := r.providers[key]
	delete(r.providers, key)
	r.mu.Unlock()
	if had {
		CloseIdleConnections(old.provider)
	}
}

// CloseIdleConnections closes the idle connections p keeps, if it keeps any (the
// Prometheus and HTTP providers do). Calls in flight are not affected, and p stays
// usable.
func CloseIdleConnections(p Provider) {
	if ci, ok := p.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// sameProvider reports whether a and b are the same provider, without panicking
// on providers of incomparable types.
func sameProvider(a, b Provider) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	ta := reflect.TypeOf(a)
	if ta != reflect.TypeOf(b) || !ta.Comparable() {
		return false
	}
	return a == b
}

// endpoint names the source of a provider in messages and logs.
type endpoint struct {
	// target names the source in messages about its answer, such as
	// "prometheus at http://prometheus:9090".
	target string
	// host is the host and port, the only thing a message about a call that got
	// no valid answer names.
	host    string
	timeout time.Duration
	// log is Options.Logger; when unset the call context's logger is used.
	log logr.Logger
}

func newEndpoint(target, rawURL string, timeout time.Duration, log logr.Logger) endpoint {
	host := ""
	if u, err := url.Parse(rawURL); err == nil {
		host = textutil.Truncate(u.Host, 200)
	}
	return endpoint{target: target, host: host, timeout: timeout, log: log}
}

func (e endpoint) logger(ctx context.Context) logr.Logger {
	if e.log.GetSink() != nil {
		return e.log
	}
	return logr.FromContextOrDiscard(ctx)
}

// unreachable is the one answer for a call that got no valid answer: a transport
// or TLS failure, a name that does not resolve, no answer in time, or an
// unexpected HTTP status. The message is the same for all (otherwise a source
// would tell its author what listens where, a port scanner); detail, which says
// which, goes to the debug log (V(1)) only.
func (e endpoint) unreachable(ctx context.Context, detail string, cause error) *Error {
	e.logger(ctx).V(1).Info("signal source gave no valid answer", "host", e.host, "detail", textutil.Truncate(detail, 300))
	return &Error{Reason: v1alpha1.ReasonUnreachable, Message: egress.UnreachableMessage(e.host), Err: cause}
}

// callError maps the error of an HTTP call to a source to an *Error. parent is the
// caller's context.
//
// Refusals by the egress policy, bodies over the limit, the operator's own rate
// limit and the caller's cancellation are told as such; every other failure is
// e.unreachable. The message never contains the request URL's path, query or
// credentials, nor anything from a response body.
func callError(parent context.Context, err error, e endpoint) *Error {
	cause := unwrapURLError(err)
	var blocked *egress.BlockedError
	var tooLarge *bodyTooLargeError
	switch {
	case errors.As(err, &blocked):
		return &Error{Reason: v1alpha1.ReasonBlockedAddress, Message: e.blockedMessage(parent, blocked), Err: blocked}
	case errors.As(err, &tooLarge):
		return &Error{Reason: v1alpha1.ReasonBadResponse, Message: fmt.Sprintf("%s: %v", e.target, tooLarge), Err: tooLarge}
	case parent.Err() != nil:
		return &Error{Reason: v1alpha1.ReasonUnreachable, Message: fmt.Sprintf("%s: call canceled: %v", e.target, parent.Err()), Err: parent.Err()}
	case errors.Is(err, egress.ErrRateLimited):
		return &Error{Reason: v1alpha1.ReasonUnreachable, Message: fmt.Sprintf("%s: the per-host rate limit would delay the call beyond its %s timeout", e.target, e.timeout), Err: cause}
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return e.unreachable(parent, fmt.Sprintf("no answer within %s", e.timeout), cause)
	default:
		return e.unreachable(parent, describeNetError(cause), cause)
	}
}

// blockedMessage describes a refusal by the egress policy. For an IP literal it
// repeats the address and the rule; for a name it says neither (the detail goes
// to the debug log), so that a source cannot be used to read the cluster's DNS.
func (e endpoint) blockedMessage(ctx context.Context, blocked *egress.BlockedError) string {
	name, _, err := net.SplitHostPort(e.host)
	if err != nil {
		name = e.host
	}
	if _, perr := netip.ParseAddr(strings.Trim(name, "[]")); perr == nil || e.host == "" {
		return fmt.Sprintf("%s: %v", e.target, blocked)
	}
	e.logger(ctx).V(1).Info("signal source address refused by the egress policy", "host", e.host, "detail", blocked.Error())
	return egress.BlockedNameMessage(e.host)
}

// statusError is e.unreachable for an unexpected HTTP status.
func statusError(ctx context.Context, e endpoint, status int, hint string) *Error {
	detail := fmt.Sprintf("answered HTTP %d", status)
	if hint != "" {
		detail += " (" + hint + ")"
	}
	return e.unreachable(ctx, detail, fmt.Errorf("HTTP status %d", status))
}

// unwrapURLError drops the *url.Error layer, whose text contains the request URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// describeNetError says briefly why a connection failed.
func describeNetError(err error) string {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var hostErr x509.HostnameError
	var authErr x509.UnknownAuthorityError
	var recErr tls.RecordHeaderError
	var opErr *net.OpError
	switch {
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return fmt.Sprintf("cannot resolve host %q (no such host)", dnsErr.Name)
		}
		return fmt.Sprintf("cannot resolve host %q", dnsErr.Name)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by the server"
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		return "no route to host"
	case errors.As(err, &hostErr):
		return "TLS: " + hostErr.Error() + " (set tls.serverName?)"
	case errors.As(err, &authErr):
		return "TLS: certificate signed by an unknown authority (set tls.caSecretRef?)"
	case errors.As(err, &certErr):
		return "TLS: " + certErr.Error()
	case errors.As(err, &recErr):
		return "TLS handshake failed: the server does not speak TLS (use http://?)"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed before a complete response"
	case errors.As(err, &opErr) && opErr.Err != nil:
		return textutil.Truncate(opErr.Op+": "+opErr.Err.Error(), 200)
	default:
		return textutil.Truncate(err.Error(), 200)
	}
}

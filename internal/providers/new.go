package providers

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/egress"
	"github.com/cxops/cxops/internal/textutil"
)

// Defaults applied when neither the spec nor Options say otherwise.
const (
	// DefaultTimeout bounds one query or probe.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxBodyBytes is the largest response body read (1 MiB).
	DefaultMaxBodyBytes int64 = 1 << 20
)

// Provider names, as reported in a SignalSource's status.provider.
const (
	KindPrometheus = "prometheus"
	KindHTTP       = "http"
	KindStatic     = "static"
)

// ErrSecretNotFound may be returned (or wrapped) by a SecretGetter when the Secret
// does not exist. A Kubernetes NotFound API error is recognized as well.
var ErrSecretNotFound = errors.New("secret not found")

// ErrSecretNotUsable may be returned (or wrapped) by a SecretGetter when the Secret
// exists but is not labelled for cxops (v1alpha1.SecretUsableByLabel): its data
// was not read.
var ErrSecretNotUsable = errors.New("secret not labelled for cxops")

// SecretNotUsableMessage says that the Secret name (used for purpose, which may be
// empty) is not opted in, and which label to add. The caller that read the Secret's metadata only
// knows it exists; nothing of its data is involved.
func SecretNotUsableMessage(name, purpose string) string {
	if purpose != "" {
		purpose = " (" + purpose + ")"
	}
	return fmt.Sprintf("Secret %q%s is not labelled for cxops, so cxops does not read it; if cxops may use it "+
		"(its values are sent to whatever references it in this namespace), add the label: kubectl label secret %s %s=%s",
		name, purpose, name, v1alpha1.SecretUsableByLabel, v1alpha1.SecretUsableByValue)
}

// SecretGetter returns the data of the Secret with the given name in the
// SignalSource's namespace. It returns an error matching ErrSecretNotFound, or a
// Kubernetes NotFound error, when the Secret does not exist, and one matching
// ErrSecretNotUsable when it exists without the opt-in label; any other error is
// taken as a failure to read it.
type SecretGetter func(name string) (map[string][]byte, error)

// SecretMap is an in-memory set of Secrets by name; its Get method is a
// SecretGetter. It is convenient in tests and for callers that have already read
// the Secrets.
type SecretMap map[string]map[string][]byte

// Get returns the data of the named Secret, or ErrSecretNotFound.
func (m SecretMap) Get(name string) (map[string][]byte, error) {
	data, ok := m[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrSecretNotFound, name)
	}
	return data, nil
}

// Options are the operator-level settings every provider shares.
type Options struct {
	// Policy restricts the addresses providers may connect to. The zero Policy is
	// the default (no link-local or metadata addresses).
	Policy egress.Policy
	// Limiter limits the rate of calls per host; nil means no limit.
	Limiter *egress.HostLimiter
	// Timeout bounds one call when the spec sets none. Defaults to DefaultTimeout.
	Timeout time.Duration
	// MaxBodyBytes is the largest response body read when the spec sets none.
	// Defaults to DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Logger receives, at V(1), the detail of failures that status reports only
	// as "could not get a valid answer" (connection refused, TLS, HTTP status),
	// with the keys that name the source. When unset, the logger of the call's
	// context is used.
	Logger logr.Logger
	// OnRequest, when set, is called for every HTTP request sent to the source
	// (probes and followed redirects included; not those the egress rate limit
	// or policy refused), such as to count them by source.
	OnRequest func()
	// Transport, when set, replaces the transport built from Policy and the
	// spec's TLS settings (which are then ignored). Auth, headers, rate limits and
	// body limits still apply. For tests.
	Transport http.RoundTripper
}

// WithOnRequest returns o with OnRequest set.
func (o Options) WithOnRequest(f func()) Options {
	o.OnRequest = f
	return o
}

// WithLogger returns o with Logger set, such as the logger of one SignalSource
// with its namespace and name.
func (o Options) WithLogger(l logr.Logger) Options {
	o.Logger = l
	return o
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return o
}

// Kind returns the provider a spec configures (KindPrometheus, KindHTTP or
// KindStatic), or "" unless exactly one is set.
func Kind(spec v1alpha1.SignalSourceSpec) string {
	n, kind := 0, ""
	if spec.Prometheus != (v1alpha1.PrometheusSource{}) {
		n, kind = n+1, KindPrometheus
	}
	if spec.HTTP != (v1alpha1.HTTPSource{}) {
		n, kind = n+1, KindHTTP
	}
	if spec.Static.Values != nil {
		n, kind = n+1, KindStatic
	}
	if n != 1 {
		return ""
	}
	return kind
}

// New builds the provider a SignalSource spec describes, reading the Secrets it
// references through secrets (which may be nil when the spec references none). It
// does not contact the source: call Probe for that.
//
// Every error is an *Error: InvalidSpec for a spec that cannot be used,
// SecretNotFound for a missing Secret, SecretNotUsable for a Secret without the
// opt-in label, SecretInvalid for a Secret lacking a key or holding an unusable
// value. When secrets fails for another reason than a missing
// Secret (a transient API error, RBAC), the reason is SecretNotFound too, with a
// message saying the Secret could not be read and Err wrapping the getter's error;
// the caller should retry.
//
// The returned provider is safe for concurrent use. A static provider is cheap to
// build; the others own a connection pool, released by CloseIdleConnections.
func New(spec v1alpha1.SignalSourceSpec, secrets SecretGetter, opts Options) (Provider, error) {
	if err := checkDurations(spec); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	switch Kind(spec) {
	case KindStatic:
		return newStatic(&spec.Static)
	case KindPrometheus:
		return newPrometheus(&spec.Prometheus, secrets, opts)
	case KindHTTP:
		return newHTTPJSON(&spec.HTTP, secrets, opts)
	default:
		return nil, Errorf(v1alpha1.ReasonInvalidSpec, "exactly one of prometheus, http or static must be set")
	}
}

// SecretNames returns the names of every Secret the spec references, sorted and
// without duplicates, so that the caller can watch them.
func SecretNames(spec v1alpha1.SignalSourceSpec) []string {
	var names []string
	addTLS := func(t *v1alpha1.TLSConfig) {
		if t != nil && t.CASecretRef.Name != "" {
			names = append(names, t.CASecretRef.Name)
		}
	}
	if p := spec.Prometheus; p != (v1alpha1.PrometheusSource{}) {
		if p.Auth.SecretRef.Name != "" {
			names = append(names, p.Auth.SecretRef.Name)
		}
		addTLS(p.TLS)
	}
	if h := spec.HTTP; h != (v1alpha1.HTTPSource{}) {
		if h.HeadersSecretRef.Name != "" {
			names = append(names, h.HeadersSecretRef.Name)
		}
		addTLS(h.TLS)
	}
	names = slices.DeleteFunc(names, func(s string) bool { return s == "" })
	slices.Sort(names)
	return slices.Compact(names)
}

// getSecret reads a Secret through secrets, mapping a missing one to
// ReasonSecretNotFound. purpose says what the Secret is for, for the message.
func getSecret(secrets SecretGetter, name, purpose string) (map[string][]byte, error) {
	notFound := func(err error) error {
		return &Error{
			Reason:  v1alpha1.ReasonSecretNotFound,
			Message: fmt.Sprintf("Secret %q (%s) does not exist in the namespace", name, purpose),
			Err:     err,
		}
	}
	if secrets == nil {
		return nil, notFound(ErrSecretNotFound)
	}
	data, err := secrets(name)
	switch {
	case err == nil:
		return data, nil
	case errors.Is(err, ErrSecretNotFound) || apierrors.IsNotFound(err):
		return nil, notFound(err)
	case errors.Is(err, ErrSecretNotUsable):
		return nil, &Error{Reason: v1alpha1.ReasonSecretNotUsable, Message: SecretNotUsableMessage(name, purpose), Err: err}
	default:
		return nil, &Error{
			Reason:  v1alpha1.ReasonSecretNotFound,
			Message: fmt.Sprintf("Secret %q (%s) cannot be read: %s", name, purpose, textutil.Truncate(err.Error(), 200)),
			Err:     err,
		}
	}
}

// secretKey returns a non-empty key of a Secret, or a ReasonSecretInvalid error.
func secretKey(data map[string][]byte, secret, key, purpose string) ([]byte, error) {
	v, ok := data[key]
	if !ok || len(v) == 0 {
		return nil, Errorf(v1alpha1.ReasonSecretInvalid, "Secret %q has no non-empty key %q (%s)", secret, key, purpose)
	}
	return v, nil
}

// checkDurations refuses a duration that decoded as invalid (an object stored
// before the schema bounded durations): the source is Stalled with a reason,
// instead of running with a timeout of zero.
func checkDurations(spec v1alpha1.SignalSourceSpec) error {
	type field struct {
		name string
		v    *v1alpha1.Duration
	}
	fields := []field{{"spec.minInterval", spec.MinInterval}}
	if spec.Prometheus != (v1alpha1.PrometheusSource{}) {
		fields = append(fields, field{"spec.prometheus.timeout", spec.Prometheus.Timeout})
	}
	if spec.HTTP != (v1alpha1.HTTPSource{}) {
		fields = append(fields, field{"spec.http.timeout", spec.HTTP.Timeout})
	}
	for _, f := range fields {
		if f.v != nil && f.v.Err() != nil {
			return Errorf(v1alpha1.ReasonInvalidSpec, "%s: %v", f.name, f.v.Err())
		}
	}
	return nil
}

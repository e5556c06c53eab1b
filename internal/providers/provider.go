// Package providers fetches live signal values from the sources a SignalSource
// describes: Prometheus (instant PromQL), HTTP JSON endpoints and static values.
//
// A provider returns exactly one number or an error; it never turns an empty answer
// into a zero. Errors carry a Reason (a condition reason from api/v1alpha1) and a
// message a person can act on. Response bodies and credentials never appear in
// either.
package providers

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Provider fetches values from one signal source.
type Provider interface {
	// Query returns the single number the query selects.
	Query(ctx context.Context, query string) (float64, error)
	// Probe checks that the source answers and accepts the credentials.
	Probe(ctx context.Context) error
}

// Error is a provider failure with the condition reason that describes it.
type Error struct {
	// Reason is a condition reason such as Unreachable, Unauthorized, BadResponse,
	// NoData or BlockedAddress.
	Reason string
	// Message says what went wrong, without response bodies or secrets.
	Message string
	// Err is the underlying error, if any.
	Err error
}

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
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{providers: map[string]entry{}}
}

// Set stores the provider of a source.
func (r *Registry) Set(key string, p Provider) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.providers[key] = entry{provider: p}
}

// Get returns the provider of a source, or false when the source is unknown or not
// ready.
func (r *Registry) Get(key string) (Provider, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.providers[key]
	return e.provider, ok
}

// Delete forgets a source.
func (r *Registry) Delete(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.providers, key)
}

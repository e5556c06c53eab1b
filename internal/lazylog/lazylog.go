// Package lazylog defers a logger's WithValues until something is logged.
//
// controller-runtime gives every reconcile a logger with the object's kind,
// namespace, name and reconcile ID (four WithValues), and nearly every reconcile
// logs nothing. zap encodes those values at once, into a new buffer each time:
// about 8 % of the manager's allocations while 10,000 Moments converged. A lazy
// logger keeps the values and hands them to the real logger on the first line it
// writes.
//
// The values are therefore encoded when that line is written, not when they are
// given: give values that do not change (strings, numbers, object keys), as
// controller-runtime and cxops do.
package lazylog

import (
	"slices"
	"sync/atomic"

	"github.com/go-logr/logr"
)

// New returns l's sink with WithValues deferred. Names, levels and the call
// site of each line are the sink's; l's own V level is not kept (New is for a
// root logger).
func New(l logr.Logger) logr.Logger {
	base := l.GetSink()
	if base == nil {
		return l
	}
	// The lazy sink is one more frame between the caller and the real sink.
	if cd, ok := base.(logr.CallDepthLogSink); ok {
		base = cd.WithCallDepth(1)
	}
	// logr.New calls Init, which the lazy sink does not forward: base has had its own.
	return logr.New(&sink{base: base})
}

type sink struct {
	base logr.LogSink
	// calls are the values of each WithValues since base, in order, each handed
	// to base as a call of its own: a malformed one (an odd number, a key that
	// is not a string) spoils only itself, as without the wrapper. Never changed
	// once set, so that sinks derived from this one may share the slice.
	calls [][]any
	// withValues is base with calls, made by the first line logged.
	withValues atomic.Pointer[logr.LogSink]
}

var _ logr.CallDepthLogSink = (*sink)(nil)

func (s *sink) Init(logr.RuntimeInfo) {}

func (s *sink) Enabled(level int) bool { return s.base.Enabled(level) }

func (s *sink) Info(level int, msg string, kvs ...any) { s.resolve().Info(level, msg, kvs...) }

func (s *sink) Error(err error, msg string, kvs ...any) { s.resolve().Error(err, msg, kvs...) }

func (s *sink) WithValues(kvs ...any) logr.LogSink {
	if len(kvs) == 0 {
		return s
	}
	// The caller may reuse its slice.
	kvs = slices.Clone(kvs)
	// A sink that has logged already starts from its resolved values.
	if r := s.withValues.Load(); r != nil {
		return &sink{base: *r, calls: [][]any{kvs}}
	}
	calls := make([][]any, len(s.calls), len(s.calls)+1)
	copy(calls, s.calls)
	return &sink{base: s.base, calls: append(calls, kvs)}
}

func (s *sink) WithName(name string) logr.LogSink {
	return &sink{base: s.base.WithName(name), calls: s.calls}
}

func (s *sink) WithCallDepth(depth int) logr.LogSink {
	cd, ok := s.base.(logr.CallDepthLogSink)
	if !ok {
		return s
	}
	return &sink{base: cd.WithCallDepth(depth), calls: s.calls}
}

// resolve returns base with the deferred values, made once per sink. Two lines
// logged at once may both make it; either result is the same.
func (s *sink) resolve() logr.LogSink {
	if len(s.calls) == 0 {
		return s.base
	}
	if r := s.withValues.Load(); r != nil {
		return *r
	}
	r := s.base
	for _, kvs := range s.calls {
		r = r.WithValues(kvs...)
	}
	s.withValues.Store(&r)
	return r
}

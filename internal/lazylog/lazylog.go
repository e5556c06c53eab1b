// Package lazylog defers a logger's WithValues until something is logged.
//
// controller-runtime gives every reconcile a logger with the object's kind,
// namespace, name and reconcile ID (four WithValues), and nearly every reconcile
// logs nothing. zap encodes those values at once, into a new buffer each time:
// about 8 % of the manager's allocations while 10,000 Moments converged. A lazy
// logger keeps the values and hands them to the real logger on the first line it
// writes.
package lazylog

import (
	"sync/atomic"

	"github.com/go-logr/logr"
)

// New returns l with WithValues deferred. Names, levels, verbosity and the call
// site of each line are l's.
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
	// kvs are the values given since base: never changed once set, so sinks
	// derived from this one may share the slice.
	kvs []any
	// withValues is base with kvs, made by the first line logged.
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
	// A sink that has logged already starts from its resolved values.
	if r := s.withValues.Load(); r != nil {
		return &sink{base: *r, kvs: kvs}
	}
	all := make([]any, 0, len(s.kvs)+len(kvs))
	all = append(append(all, s.kvs...), kvs...)
	return &sink{base: s.base, kvs: all}
}

func (s *sink) WithName(name string) logr.LogSink {
	return &sink{base: s.base.WithName(name), kvs: s.kvs}
}

func (s *sink) WithCallDepth(depth int) logr.LogSink {
	cd, ok := s.base.(logr.CallDepthLogSink)
	if !ok {
		return s
	}
	return &sink{base: cd.WithCallDepth(depth), kvs: s.kvs}
}

// resolve returns base with the deferred values, made once per sink. Two lines
// logged at once may both make it; either result is the same.
func (s *sink) resolve() logr.LogSink {
	if len(s.kvs) == 0 {
		return s.base
	}
	if r := s.withValues.Load(); r != nil {
		return *r
	}
	r := s.base.WithValues(s.kvs...)
	s.withValues.Store(&r)
	return r
}

package lazylog

import (
	"errors"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// counting counts the WithValues calls that reach the real sink.
type counting struct {
	logr.LogSink
	mu   *sync.Mutex
	with *int
}

// Init does not reach the real sink, which zapr.NewLogger has initialized.
func (c counting) Init(logr.RuntimeInfo) {}

func (c counting) WithValues(kvs ...any) logr.LogSink {
	c.mu.Lock()
	*c.with++
	c.mu.Unlock()
	return counting{LogSink: c.LogSink.WithValues(kvs...), mu: c.mu, with: c.with}
}

func (c counting) WithName(n string) logr.LogSink {
	return counting{LogSink: c.LogSink.WithName(n), mu: c.mu, with: c.with}
}

func (c counting) WithCallDepth(d int) logr.LogSink {
	return counting{LogSink: c.LogSink.(logr.CallDepthLogSink).WithCallDepth(d), mu: c.mu, with: c.with}
}

func newObserved(level zapcore.Level) (logr.Logger, *observer.ObservedLogs, *int) {
	core, logs := observer.New(level)
	z := zapr.NewLogger(zap.New(core, zap.AddCaller()))
	with := 0
	return logr.New(counting{LogSink: z.GetSink(), mu: &sync.Mutex{}, with: &with}), logs, &with
}

func TestValuesReachTheRealLoggerOnlyWhenALineIsWritten(t *testing.T) {
	base, logs, with := newObserved(zapcore.InfoLevel)
	log := New(base).WithName("controller").WithValues("kind", "Moment").WithValues("namespace", "shop", "name", "checkout")
	log.V(5).Info("not written: below the level")
	if *with != 0 {
		t.Fatalf("WithValues reached the real logger %d times before any line was written", *with)
	}

	log.Info("evaluated", "health", "Healthy")
	log.Error(errors.New("boom"), "patching status")
	// Resolved once, on the first line: one real WithValues per deferred call.
	if *with != 2 {
		t.Fatalf("WithValues reached the real logger %d times for two lines of a logger given values twice, want 2", *with)
	}
	entries := logs.AllUntimed()
	if len(entries) != 2 {
		t.Fatalf("got %d lines, want 2", len(entries))
	}
	got := entries[0].ContextMap()
	want := map[string]any{"kind": "Moment", "namespace": "shop", "name": "checkout", "health": "Healthy"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("line 1: %s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	if entries[0].LoggerName != "controller" {
		t.Errorf("logger name %q, want controller", entries[0].LoggerName)
	}
	if entries[1].Level != zapcore.ErrorLevel || entries[1].ContextMap()["error"] != "boom" || entries[1].ContextMap()["name"] != "checkout" {
		t.Errorf("line 2: %v %v", entries[1].Level, entries[1].ContextMap())
	}
	// The caller is this file, not the lazy sink.
	for i, e := range entries {
		if filepath.Base(e.Caller.File) != "lazylog_test.go" {
			t.Errorf("line %d: caller %s, want this test", i+1, e.Caller.File)
		}
	}
}

func TestDerivedLoggersKeepTheirOwnValues(t *testing.T) {
	base, logs, _ := newObserved(zapcore.InfoLevel)
	parent := New(base).WithValues("controller", "moment")
	a := parent.WithValues("name", "a")
	b := parent.WithValues("name", "b")
	parent.Info("parent")
	// A logger derived after its parent has logged starts from the parent's values.
	c := parent.WithValues("name", "c").WithName("sub")
	b.Info("b")
	a.Info("a")
	c.Info("c")
	for _, e := range logs.AllUntimed() {
		m := e.ContextMap()
		if m["controller"] != "moment" {
			t.Errorf("%s: controller = %v", e.Message, m["controller"])
		}
		wantName := map[string]any{"parent": nil, "a": "a", "b": "b", "c": "c"}[e.Message]
		if m["name"] != wantName {
			t.Errorf("%s: name = %v, want %v", e.Message, m["name"], wantName)
		}
	}
	if got := logs.FilterMessage("c").All(); len(got) != 1 || got[0].LoggerName != "sub" {
		t.Errorf("c: %v", got)
	}
}

func TestVerbosityAndCallDepthAreTheRealLoggers(t *testing.T) {
	base, logs, _ := newObserved(zapcore.DebugLevel)
	log := New(base).WithValues("k", "v")
	log.V(1).Info("debug")
	log.V(2).Info("dropped")
	helper := func(l logr.Logger) { l.WithCallDepth(1).Info("from a helper") }
	helper(log)
	entries := logs.AllUntimed()
	if len(entries) != 2 || entries[0].Message != "debug" {
		t.Fatalf("lines %v", entries)
	}
	if filepath.Base(entries[1].Caller.File) != "lazylog_test.go" {
		t.Errorf("helper line's caller %s", entries[1].Caller.File)
	}
}

// TestMalformedValuesSpoilOnlyTheirOwnCall: each WithValues reaches the real
// logger as a call of its own, so a line shows what it shows without the wrapper.
func TestMalformedValuesSpoilOnlyTheirOwnCall(t *testing.T) {
	lazyBase, lazyLogs, _ := newObserved(zapcore.InfoLevel)
	plainBase, plainLogs, _ := newObserved(zapcore.InfoLevel)
	build := func(l logr.Logger) logr.Logger {
		return l.WithValues("controller", "moment").WithValues("odd").WithValues(42, "not a key").WithValues("name", "checkout")
	}
	build(New(lazyBase)).Info("line")
	build(plainBase).Info("line")
	want := plainLogs.FilterMessage("line").All()
	got := lazyLogs.FilterMessage("line").All()
	if len(got) != 1 || len(want) != 1 {
		t.Fatalf("lines: lazy %d, plain %d", len(got), len(want))
	}
	if g, w := got[0].ContextMap(), want[0].ContextMap(); !reflect.DeepEqual(g, w) {
		t.Errorf("lazy logger's values %v, the plain logger's %v", g, w)
	}
	if got[0].ContextMap()["name"] != "checkout" {
		t.Errorf("a later well-formed call was spoiled: %v", got[0].ContextMap())
	}

	// A slice the caller reuses after WithValues does not change the values.
	kvs := []any{"name", "a"}
	l := New(lazyBase).WithValues(kvs...)
	kvs[1] = "changed"
	l.Info("reused")
	if v := lazyLogs.FilterMessage("reused").All()[0].ContextMap()["name"]; v != "a" {
		t.Errorf("name = %v, want a", v)
	}
}

func TestNilSink(t *testing.T) {
	l := New(logr.Logger{})
	l.WithValues("a", 1).Info("nothing") // must not panic
	New(logr.Discard()).WithValues("a", 1).Error(nil, "nothing")
}

func BenchmarkReconcileLogger(b *testing.B) {
	core, _ := observer.New(zapcore.InfoLevel)
	z := zapr.NewLogger(zap.New(core))
	for _, lazy := range []bool{false, true} {
		name := "zap"
		l := z
		if lazy {
			name, l = "lazy", New(z)
		}
		l = l.WithValues("controller", "moment", "controllerGroup", "cx.cxops.io", "controllerKind", "Moment")
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := l.WithValues("Moment", "shop/checkout").WithValues("namespace", "shop", "name", "checkout").WithValues("reconcileID", "7b7a3c1e")
				r.V(5).Info("Reconciling")
			}
		})
	}
}

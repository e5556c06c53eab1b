package controllers

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zapcore"
	"golang.org/x/time/rate"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/cxops/cxops/internal/egress"
	"github.com/cxops/cxops/internal/providers"
)

// testHostRate is the per-host egress rate of the test manager, calls per second.
const testHostRate = 100

var (
	// testClock drives the engine and the reconcilers' deadlines: tests step it.
	testClock = clocktesting.NewFakeClock(time.Now())
	// writes counts the manager's writes to status subresources, per object path.
	writes = &writeCounter{counts: map[string]int{}}
	// system is the running cxops system (engine, registry).
	system *System
)

func zapLevel() zapcore.Level {
	if os.Getenv("CXOPS_TEST_LOG") != "" {
		return zapcore.DebugLevel
	}
	return zapcore.ErrorLevel
}

// startManager runs the cxops controllers against the test API server, with the
// fake clock and a transport that counts status writes.
func startManager(ctx context.Context, cfg *rest.Config) (func(time.Duration), error) {
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return writes.wrap(rt) }
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// The production cache of Secrets: only those labelled for cxops.
		Cache: cache.Options{ByObject: CacheByObject()},
		// Tests restart the manager in the same process.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return nil, err
	}
	system, err = Setup(mgr, Options{
		Concurrency:   4,
		Heartbeat:     5 * time.Minute,
		TaskResync:    time.Hour,
		TaskRetention: 24 * time.Hour,
		TaskKeep:      3,
		Clock:         testClock,
		Jitter:        -1,
		Registerer:    prometheus.NewRegistry(),
		// Delivery backoff is wall-clock time: fast for tests.
		DeliveryWorkers:    4,
		DeliveryMinBackoff: 20 * time.Millisecond,
		DeliveryMaxBackoff: 200 * time.Millisecond,
		// The test servers listen on loopback, which the default policy refuses.
		Egress: egress.Policy{Allow: egress.Loopback()},
		// A per-host egress rate, as in production (each test server is its own
		// host:port): generous, so that only TestSignalSourceRateLimited exceeds it.
		Providers: providers.Options{Limiter: egress.NewHostLimiter(rate.Limit(testHostRate), testHostRate)},
	})
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			panic(err)
		}
	}()
	return func(d time.Duration) {
		select {
		case <-done:
		case <-time.After(d):
		}
	}, nil
}

// writeCounter counts PATCH and PUT requests to status subresources.
type writeCounter struct {
	mu     sync.Mutex
	counts map[string]int
	// beats records the status writes that set a lastHeartbeatTime, with it.
	beats []heartbeatWrite
}

type heartbeatWrite struct {
	path string
	at   time.Time
}

// heartbeatIn returns the status.lastHeartbeatTime a status write sets, zero if
// none; the request's body is left readable.
func (w *writeCounter) heartbeatIn(req *http.Request) time.Time {
	if req.Body == nil || req.GetBody == nil {
		return time.Time{}
	}
	body, err := req.GetBody()
	if err != nil {
		return time.Time{}
	}
	defer func() { _ = body.Close() }()
	var patch struct {
		Status struct {
			LastHeartbeatTime *metav1.Time `json:"lastHeartbeatTime"`
		} `json:"status"`
	}
	if err := json.NewDecoder(body).Decode(&patch); err != nil || patch.Status.LastHeartbeatTime == nil {
		return time.Time{}
	}
	return patch.Status.LastHeartbeatTime.Time
}

// firstHeartbeats returns, for each moment of a namespace with a heartbeat
// written after t0, how long after t0 the first one was.
func (w *writeCounter) firstHeartbeats(ns string, t0 time.Time) map[string]time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	prefix := "/apis/cx.cxops.io/v1alpha1/namespaces/" + ns + "/moments/"
	out := map[string]time.Duration{}
	for _, b := range w.beats {
		name, ok := strings.CutPrefix(b.path, prefix)
		if d := b.at.Sub(t0); ok && d > 0 {
			if prev, seen := out[name]; !seen || d < prev {
				out[name] = d
			}
		}
	}
	return out
}

func (w *writeCounter) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		if (req.Method == http.MethodPatch || req.Method == http.MethodPut) && strings.HasSuffix(req.URL.Path, "/status") {
			path := strings.TrimSuffix(req.URL.Path, "/status")
			beat := w.heartbeatIn(req)
			w.mu.Lock()
			w.counts[path]++
			if !beat.IsZero() {
				w.beats = append(w.beats, heartbeatWrite{path: path, at: beat})
			}
			w.mu.Unlock()
		}
		return next.RoundTrip(req)
	})
}

// of returns the number of status writes to one object, e.g. of("moments", ns, name).
func (w *writeCounter) of(resource, ns, name string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.counts["/apis/cx.cxops.io/v1alpha1/namespaces/"+ns+"/"+resource+"/"+name]
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// inNamespace returns the number of status writes to the objects of a namespace.
func (w *writeCounter) inNamespace(ns string) map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	prefix := "/apis/cx.cxops.io/v1alpha1/namespaces/" + ns + "/"
	out := map[string]int{}
	for path, n := range w.counts {
		if strings.HasPrefix(path, prefix) {
			out[strings.TrimPrefix(path, prefix)] = n
		}
	}
	return out
}

// since returns the objects of a namespace written since base (an inNamespace
// result), with their number of new writes.
func (w *writeCounter) since(ns string, base map[string]int) map[string]int {
	out := map[string]int{}
	for k, n := range w.inNamespace(ns) {
		if n > base[k] {
			out[k] = n - base[k]
		}
	}
	return out
}

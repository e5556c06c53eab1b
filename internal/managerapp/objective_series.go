package managerapp

import (
	"cmp"
	"compress/gzip"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/cxops/cxops/internal/engine"
)

// objectiveSeries is the manager's metrics registry with the engine's
// per-objective series added to what it gathers. The engine builds those
// (cxops_objective_value, _target and _state) in bulk per scrape
// (engine.ObjectiveFamilies); through the registry's collector path every one
// of them was checked, hashed and sorted on its own: at 10,000 objectives,
// 40,000 series, a scrape took 240 ms and 19 MB in 80,000 allocations, and
// takes 30 ms and 13 MB in 165 (go test ./internal/engine -bench
// BenchmarkScrape).
type objectiveSeries struct {
	metrics.RegistererGatherer
	engine atomic.Pointer[engine.Engine]
}

// Gather implements prometheus.Gatherer: the registry's families and the
// engine's, in name order.
func (o *objectiveSeries) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := o.RegistererGatherer.Gather()
	if e := o.engine.Load(); e != nil {
		if extra := e.ObjectiveFamilies(); len(extra) > 0 {
			mfs = append(mfs, extra...)
			slices.SortFunc(mfs, func(a, b *dto.MetricFamily) int { return cmp.Compare(a.GetName(), b.GetName()) })
		}
	}
	return mfs, err
}

// serveObjectiveSeries makes controller-runtime's metrics registry, which the
// metrics server serves from its start, serve e's per-objective series. A later
// call (a manager started again in the same process) serves the new engine's.
func serveObjectiveSeries(e *engine.Engine) {
	e.SeriesApart()
	serveObjectiveSeriesRegistry().engine.Store(e)
}

// serveObjectiveSeriesRegistry makes controller-runtime's metrics registry an
// objectiveSeries, once, and returns it.
func serveObjectiveSeriesRegistry() *objectiveSeries {
	registryMu.Lock()
	defer registryMu.Unlock()
	o, ok := metrics.Registry.(*objectiveSeries)
	if !ok {
		o = &objectiveSeries{RegistererGatherer: metrics.Registry}
		metrics.Registry = o
	}
	return o
}

var registryMu sync.Mutex

// metricsHandler serves /metrics in the Prometheus text format: the families of
// registry (controller-runtime's, with the manager's collectors), then the
// engine's per-objective series written as text (Engine.WriteObjectiveSeries)
// rather than built as families: at 10,000 objectives a scrape allocates 1.4 MB
// instead of 13 (go test ./internal/engine -bench BenchmarkScrape), and an idle
// manager's heap no longer grows with the scrapes. The text format is what every
// Prometheus accepts; it is gzipped for a scraper that asks for it. A failed
// gather answers 500, as controller-runtime's handler does.
type metricsHandler struct {
	registry prometheus.Gatherer
	series   *objectiveSeries
}

var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

func (h metricsHandler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	mfs, err := h.registry.Gather()
	if err != nil {
		http.Error(w, "An error has occurred while gathering the metrics:\n\n"+err.Error(), http.StatusInternalServerError)
		return
	}
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	w.Header().Set("Content-Type", string(format))
	var out io.Writer = w
	if acceptsGzip(req) {
		w.Header().Set("Content-Encoding", "gzip")
		gz := gzipWriters.Get().(*gzip.Writer)
		gz.Reset(w)
		defer func() {
			_ = gz.Close()
			gz.Reset(nil)
			gzipWriters.Put(gz)
		}()
		out = gz
	}
	enc := expfmt.NewEncoder(out, format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return // the scraper went away
		}
	}
	if e := h.series.engine.Load(); e != nil {
		_ = e.WriteObjectiveSeries(out)
	}
}

func acceptsGzip(req *http.Request) bool {
	for _, part := range strings.Split(req.Header.Get("Accept-Encoding"), ",") {
		if enc, _, _ := strings.Cut(strings.TrimSpace(part), ";"); enc == "gzip" {
			return true
		}
	}
	return false
}

// metricsFilter is the metrics server's FilterProvider: controller-runtime hands
// it the handler of /metrics to wrap, and it serves metricsHandler there instead
// (any other path keeps its handler); with --metrics-secure, behind the
// authentication and authorization of metricsAuthFilter.
func metricsFilter(secure bool) func(*rest.Config, *http.Client) (metricsserver.Filter, error) {
	return func(c *rest.Config, httpClient *http.Client) (metricsserver.Filter, error) {
		var auth metricsserver.Filter
		if secure {
			var err error
			if auth, err = metricsAuthFilter(c, httpClient); err != nil {
				return nil, err
			}
		}
		return func(log logr.Logger, inner http.Handler) (http.Handler, error) {
			series := serveObjectiveSeriesRegistry()
			ours := metricsHandler{registry: series.RegistererGatherer, series: series}
			h := http.Handler(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				if req.URL.Path == "/metrics" {
					ours.ServeHTTP(w, req)
					return
				}
				inner.ServeHTTP(w, req)
			}))
			if auth == nil {
				return h, nil
			}
			return auth(log, h)
		}, nil
	}
}

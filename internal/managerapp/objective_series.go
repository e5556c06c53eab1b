package managerapp

import (
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/cxops/cxops/internal/engine"
)

// servedEngine is the engine whose per-objective series /metrics serves (the
// latest manager started in this process).
var servedEngine atomic.Pointer[engine.Engine]

// serveObjectiveSeries makes /metrics serve e's per-objective series, written as
// text (metricsHandler) instead of through e's collector.
func serveObjectiveSeries(e *engine.Engine) {
	e.SeriesApart()
	servedEngine.Store(e)
}

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
	engine   *atomic.Pointer[engine.Engine]
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
	if e := h.engine.Load(); e != nil {
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
			ours := metricsHandler{registry: metrics.Registry, engine: &servedEngine}
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

package managerapp

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cxops/cxops/internal/engine"
)

type failingGatherer struct{}

func (failingGatherer) Gather() ([]*dto.MetricFamily, error) {
	return nil, errors.New("collector broke")
}

// A failed gather answers 500 with the error, as controller-runtime's handler
// does, and the encoding follows the scraper's Accept-Encoding.
func TestMetricsHandlerAnswers(t *testing.T) {
	g := NewWithT(t)
	rec := httptest.NewRecorder()
	metricsHandler{registry: failingGatherer{}, engine: &atomic.Pointer[engine.Engine]{}}.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	g.Expect(rec.Code).To(Equal(http.StatusInternalServerError))
	g.Expect(rec.Body.String()).To(ContainSubstring("collector broke"))

	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "cxops_test_total", Help: "A test counter."}))
	rec = httptest.NewRecorder()
	metricsHandler{registry: reg, engine: &atomic.Pointer[engine.Engine]{}}.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	g.Expect(rec.Code).To(Equal(http.StatusOK))
	g.Expect(rec.Header().Get("Content-Type")).To(HavePrefix("text/plain; version=0.0.4"))
	g.Expect(rec.Header().Get("Content-Encoding")).To(BeEmpty())
	g.Expect(rec.Body.String()).To(ContainSubstring("cxops_test_total 0\n"))

	for header, gz := range map[string]bool{"gzip": true, "br, gzip;q=0.5": true, "identity": false, "gzipped": false} {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Accept-Encoding", header)
		g.Expect(acceptsGzip(req)).To(Equal(gz), header)
	}
}

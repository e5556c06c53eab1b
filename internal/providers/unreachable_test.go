package providers

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"

	"github.com/cxops/cxops/api/v1alpha1"
)

// logSink collects log lines.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (s *logSink) logger(verbosity int) logr.Logger {
	return funcr.New(func(prefix, args string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.lines = append(s.lines, prefix+" "+args)
	}, funcr.Options{Verbosity: verbosity})
}

func (s *logSink) all() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}

// TestFailuresDoNotTellWhatListens reproduces the audit's port-scanner finding: a
// refused connection, a TLS failure, an HTTP 404 (or 401, 500), a name that does
// not resolve and a silent port gave distinct messages, so a source told its
// author what listens where. Now they all give one message with reason
// Unreachable; the detail goes to the debug log (V(1)) only.
func TestFailuresDoNotTellWhatListens(t *testing.T) {
	plain := newTestServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/unauthorized", "/api/v1/unauthorized/api/v1/query":
			w.WriteHeader(http.StatusUnauthorized)
		case "/error", "/api/v1/error/api/v1/query":
			w.WriteHeader(http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	})
	tlsSrv := newTestServer(t, true, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{}`)) })
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = silent.Close() })
	closed := newTestServer(t, false, func(http.ResponseWriter, *http.Request) {})
	closedURL := closed.URL
	closed.Close()

	cases := []struct {
		name, url, detail string
	}{
		{"connection refused", closedURL + "/x", "connection refused"},
		{"unknown authority", tlsSrv.URL + "/x", "unknown authority"},
		{"plain HTTP to a TLS port", strings.Replace(tlsSrv.URL, "https:", "http:", 1) + "/x", "400"},
		{"TLS to a plain port", strings.Replace(plain.URL, "http:", "https:", 1) + "/x", "HTTPS client"},
		{"HTTP 404", plain.URL + "/missing", "404"},
		{"HTTP 401", plain.URL + "/unauthorized", "401"},
		{"HTTP 500", plain.URL + "/error", "500"},
		{"silent port", "http://" + silent.Addr().String() + "/x", "no answer"},
		{"unknown name", "http://cxops-no-such-host.invalid/x", "cannot resolve"},
	}
	for _, kind := range []string{KindHTTP, KindPrometheus} {
		for _, tc := range cases {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				g := NewWithT(t)
				logs := &logSink{}
				opts := Options{Policy: local, Logger: logs.logger(1), Timeout: 300 * time.Millisecond}
				spec := v1alpha1.SignalSourceSpec{HTTP: v1alpha1.HTTPSource{URL: tc.url}}
				if kind == KindPrometheus {
					// The Prometheus client appends /api/v1/query to the address.
					spec = v1alpha1.SignalSourceSpec{Prometheus: v1alpha1.PrometheusSource{Address: tc.url}}
					if strings.HasSuffix(tc.url, "/unauthorized") || strings.HasSuffix(tc.url, "/error") {
						u, _ := url.Parse(tc.url)
						spec.Prometheus.Address = u.Scheme + "://" + u.Host + "/api/v1" + u.Path
					}
				}
				p, err := New(spec, nil, opts)
				g.Expect(err).NotTo(HaveOccurred())
				closeProvider(t, p)

				err = p.Probe(testContext(t))
				pe := expectReason(g, err, v1alpha1.ReasonUnreachable)
				u, _ := url.Parse(tc.url)
				g.Expect(pe.Message).To(Equal("could not get a valid answer from " + u.Host + " (details in the manager's debug log)"))
				g.Expect(logs.all()).To(ContainSubstring(tc.detail))
				g.Expect(logs.all()).To(ContainSubstring(`"host"="` + u.Host + `"`))

				// Not at the default verbosity.
				quiet := &logSink{}
				opts.Logger = quiet.logger(0)
				p, err = New(spec, nil, opts)
				g.Expect(err).NotTo(HaveOccurred())
				closeProvider(t, p)
				_ = p.Probe(testContext(t))
				g.Expect(quiet.all()).To(BeEmpty())
			})
		}
	}
}

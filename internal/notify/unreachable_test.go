package notify

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"

	"github.com/cxops/cxops/internal/egress"
)

// TestSendFailuresDoNotTellWhatListens reproduces the audit's port-scanner finding
// for webhook sinks: "refused the connection", "TLS certificate could not be
// verified" and "webhook answered 404" told a sink's author what listens where.
// They now read alike; the detail goes to the debug log (V(1)) of the caller's
// context only.
func TestSendFailuresDoNotTellWhatListens(t *testing.T) {
	status := func(code int) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if code/100 == 3 {
				http.Redirect(w, r, "http://elsewhere.example/", code)
				return
			}
			w.WriteHeader(code)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(tlsSrv.Close)
	hangup := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
		}
	}))
	t.Cleanup(hangup.Close)
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = silent.Close() })
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	_ = closed.Close()

	cases := []struct{ name, url, detail string }{
		{"connection refused", "http://" + closedAddr + "/hook", "refused"},
		{"unknown authority", tlsSrv.URL + "/hook", "certificate"},
		{"HTTP 404", status(http.StatusNotFound).URL + "/hook", "404"},
		{"HTTP 401", status(http.StatusUnauthorized).URL + "/hook", "401"},
		{"HTTP 500", status(http.StatusInternalServerError).URL + "/hook", "500"},
		{"redirect", status(http.StatusTemporaryRedirect).URL + "/hook", "307"},
		{"connection closed", hangup.URL + "/hook", "closed the connection"},
		{"silent port", "http://" + silent.Addr().String() + "/hook", "did not answer within"},
		{"unknown name", "http://cxops-no-such-host.invalid/hook", "DNS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			var mu sync.Mutex
			var lines []string
			log := funcr.New(func(prefix, args string) {
				mu.Lock()
				defer mu.Unlock()
				lines = append(lines, prefix+" "+args)
			}, funcr.Options{Verbosity: 1})
			ctx := logr.NewContext(context.Background(), log)

			err := NewSender(Options{Policy: local, Timeout: 300 * time.Millisecond}).
				Send(ctx, tc.url, map[string]string{"Authorization": secretToken}, sampleNotification())
			expectSafe(g, err)
			u, _ := url.Parse(tc.url)
			g.Expect(err.Error()).To(Equal(egress.UnreachableMessage(u.Host)))
			mu.Lock()
			all := strings.Join(lines, "\n")
			mu.Unlock()
			g.Expect(all).To(ContainSubstring(tc.detail))
			g.Expect(all).To(ContainSubstring(`"host"="` + u.Host + `"`))
			g.Expect(all).NotTo(ContainSubstring(secretToken))
		})
	}
}

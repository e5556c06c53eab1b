package dashboard

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// A page of another site (or of another port of localhost, which is the same
// site) must not hold the dashboard's event streams open with no-cors fetches
// (each takes one of the MaxClients slots, so the user's own pages would get
// 503), nor make it read the cluster as the user with <img src> or <script
// src>. Browsers say where a request comes from (Sec-Fetch-Site); only a
// top-level navigation (a link to the dashboard) is served from elsewhere.
func TestCrossSiteRequestsRefused(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, "crosssite")
	s := newServer(t, admin, ns)

	serve := func(path string, header ...string) int {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:3100"+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	for _, site := range []string{"cross-site", "same-site"} {
		for _, tc := range []struct{ path, mode, dest string }{
			{"/events", "no-cors", "empty"},
			{"/events", "cors", "empty"},
			{"/tasks", "no-cors", "image"},
			{"/", "no-cors", "script"},
			{"/journeys/" + ns + "/parts", "cors", "empty"},
			{"/events", "navigate", "document"},
			{"/tasks", "navigate", "iframe"},
		} {
			code := serve(tc.path, "Sec-Fetch-Site", site, "Sec-Fetch-Mode", tc.mode, "Sec-Fetch-Dest", tc.dest)
			g.Expect(code).To(Equal(http.StatusForbidden), strings.Join([]string{site, tc.path, tc.mode, tc.dest}, " "))
		}
		g.Expect(s.hub.count()).To(Equal(0))
		// A fragment is for the page's own script, never for a navigation.
		g.Expect(serve("/tasks", "Sec-Fetch-Site", site, "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document", "X-CX-Fragment", "1")).
			To(Equal(http.StatusForbidden))
		// A link from elsewhere opens the page.
		g.Expect(serve("/tasks", "Sec-Fetch-Site", site, "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document")).To(Equal(http.StatusOK))
	}
	// The dashboard's own requests, a typed address and clients that send no
	// fetch metadata (curl, older browsers) are served.
	g.Expect(serve("/tasks", "Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "cors", "Sec-Fetch-Dest", "empty", "X-CX-Fragment", "1")).To(Equal(http.StatusOK))
	g.Expect(serve("/", "Sec-Fetch-Site", "none", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document")).To(Equal(http.StatusOK))
	g.Expect(serve("/streams")).To(Equal(http.StatusOK))
}

// The server bounds the connections it keeps: the time to send a request's
// header, and how long an idle keep-alive connection stays open.
func TestHTTPServerTimeouts(t *testing.T) {
	g := NewWithT(t)
	s := newServer(t, admin, "")
	srv := s.httpServer(context.Background())
	g.Expect(srv.ReadHeaderTimeout).To(BeNumerically(">", 0))
	g.Expect(srv.IdleTimeout).To(BeNumerically(">", 0))
	g.Expect(srv.MaxHeaderBytes).To(BeNumerically(">", 0))
	g.Expect(srv.MaxHeaderBytes).To(BeNumerically("<=", 64<<10))
}

// Bidi controls in what a tenant writes would reorder the rest of a line of the
// page (a state, a value); control characters have no business in it either.
func TestPagesNeutraliseBidiControls(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, "bidi")
	j := journey(ns, "parts")
	j.Spec.Vision = "safe \u202edeliver\u202c now \x1b[2J"
	create(t, j, nil)
	s := newServer(t, admin, ns)
	code, body := get(s, "/journeys/"+ns+"/parts")
	g.Expect(code).To(Equal(http.StatusOK), body)
	g.Expect(strings.ContainsAny(body, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\x1b")).To(BeFalse())
	g.Expect(body).To(ContainSubstring("safe \uFFFDdeliver\uFFFD now \uFFFD[2J"))
}

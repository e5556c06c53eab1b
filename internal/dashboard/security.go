package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	authorizationv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// csrfHeader and csrfField carry the per-process token a POST must present.
const (
	csrfHeader = "X-CX-CSRF"
	csrfField  = "csrf"
)

// newToken returns a random token for the process's forms.
func newToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

// validToken compares a presented token with the process's in constant time.
func validToken(got, want string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// isLoopbackHost reports whether host (a Host header or URL host, with or
// without port) names the loopback interface.
func isLoopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hostAllowed reports whether a request's Host may be served: loopback names,
// or the host of a non-loopback --address the user chose. Checking the Host of
// every request defeats DNS rebinding (a web page whose name resolves to
// 127.0.0.1 reading the dashboard).
func (s *Server) hostAllowed(host string) bool {
	if isLoopbackHost(host) {
		return true
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	for _, allowed := range s.extraHosts {
		if strings.EqualFold(host, allowed) {
			return true
		}
	}
	return false
}

// originAllowed reports whether a POST's Origin (or, without one, its Referer)
// is this dashboard. A POST that names neither is refused: browsers send Origin
// with every POST, so only a non-browser client omits both, and it has the
// token requirement to pass as well.
func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		origin = r.Header.Get("Referer")
	}
	if origin == "" || origin == "null" {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return s.hostAllowed(u.Host) && strings.EqualFold(u.Host, r.Host)
}

// crossSite reports whether a browser says the request comes from a page of
// another origin (Sec-Fetch-Site cross-site or same-site: another port of
// localhost is the same site) and it is not a top-level navigation to a page (a
// link to the dashboard). Such a request is refused: CORS already keeps another
// page from reading a response, but a no-cors fetch of /events would hold one of
// the MaxClients streams open, and <img src> or <script src> of a page would
// make the dashboard read the cluster as the user. Requests without fetch
// metadata (curl, older browsers) are served: the Host check, the POST's Origin
// and token checks and CORS still apply to them.
func crossSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return false
	}
	navigation := r.Method == http.MethodGet && r.Header.Get("Sec-Fetch-Mode") == "navigate" &&
		r.Header.Get("Sec-Fetch-Dest") == "document"
	return !navigation || r.Header.Get("X-CX-Fragment") != "" || r.URL.Path == "/events"
}

// securityHeaders are set on every response: nothing from another origin runs,
// is loaded, framed or receives a referrer.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
}

// accessCache answers "may the user patch remediation tasks in this namespace?"
// with a SelfSubjectAccessReview, remembered for a short while so that a page
// with many tasks asks once.
type accessCache struct {
	client client.Client
	log    logr.Logger
	ttl    time.Duration
	now    func() time.Time

	mu      sync.Mutex
	answers map[string]accessAnswer
}

type accessAnswer struct {
	allowed bool
	at      time.Time
}

// canPatchTasks is true only when the API server says the user may patch
// remediationtasks in namespace; an error is a no (the button is hidden; the
// API server would refuse the patch anyway).
func (a *accessCache) canPatchTasks(ctx context.Context, namespace string) bool {
	now := a.now()
	a.mu.Lock()
	if ans, ok := a.answers[namespace]; ok && now.Sub(ans.at) < a.ttl {
		a.mu.Unlock()
		return ans.allowed
	}
	a.mu.Unlock()
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: namespace, Verb: "patch", Group: cxv1.GroupVersion.Group, Resource: "remediationtasks",
		},
	}}
	if err := a.client.Create(ctx, review); err != nil {
		a.log.Info("cannot review access; acknowledging is not offered", "namespace", namespace, "error", err.Error())
		return false
	}
	a.mu.Lock()
	a.answers[namespace] = accessAnswer{allowed: review.Status.Allowed, at: now}
	a.mu.Unlock()
	return review.Status.Allowed
}

package providers

import (
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/egress"
)

const sampleDoc = `{
  "nps": {"score": 42, "asText": "-12.5", "label": "` + secretWord + `", "blank": null, "ok": true},
  "breakdown": {"promoters": 120, "detractors": 30},
  "items": [{"v": 1}, {"v": 2}],
  "single": [{"v": 7}],
  "tags": ["a", "b"]
}`

func TestHTTPJSONQuery(t *testing.T) {
	srv := newTestServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(sampleDoc))
	})
	p := newHTTPProvider(t, v1alpha1.HTTPSource{URL: srv.URL + "/export?apikey=" + secretWord}, nil, Options{Policy: local})

	tests := []struct {
		query   string
		want    float64
		reason  string
		message string
	}{
		{query: "{.nps.score}", want: 42},
		{query: ".nps.score", want: 42},
		{query: "$.nps.score", want: 42},
		{query: "nps.score", want: 42},
		{query: "  {.nps.score}  ", want: 42},
		{query: "{.nps.asText}", want: -12.5},
		{query: "{.single[*].v}", want: 7},
		{query: "{.items[1].v}", want: 2},
		{query: "{.items[?(@.v==2)].v}", want: 2},
		{query: "{.items[?(@.v > 1)].v}", want: 2},
		{query: "{.items[?(@.v==2.0)].v}", want: 2},
		{query: "{.nps.missing}", reason: v1alpha1.ReasonNoData, message: "selected nothing"},
		{query: "{.items[5].v}", reason: v1alpha1.ReasonNoData, message: "selected nothing"},
		{query: "{.items[?(@.v==9)].v}", reason: v1alpha1.ReasonNoData, message: "selected nothing"},
		{query: "{.nps}", reason: v1alpha1.ReasonBadResponse, message: "selected an object, expected a number"},
		{query: "{.tags}", reason: v1alpha1.ReasonBadResponse, message: "selected an array"},
		{query: "{.nps.ok}", reason: v1alpha1.ReasonBadResponse, message: "selected a boolean"},
		{query: "{.nps.blank}", reason: v1alpha1.ReasonBadResponse, message: "selected null"},
		{query: "{.nps.label}", reason: v1alpha1.ReasonBadResponse, message: "selected a string that is not a decimal number"},
		{query: "{.items[*].v}", reason: v1alpha1.ReasonBadResponse, message: "selected 2 values, expected exactly one"},
		{query: "{.nps.score}{.nps.score}", reason: v1alpha1.ReasonBadResponse, message: "selected 2 values"},
		{query: "{.nps.label[0]}", reason: v1alpha1.ReasonBadResponse, message: "does not fit the structure"},
		{query: "{.nps[", reason: v1alpha1.ReasonInvalidSpec, message: "not a valid JSONPath expression"},
		{query: "", reason: v1alpha1.ReasonInvalidSpec, message: "query is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			g := NewWithT(t)
			got, err := p.Query(testContext(t), tt.query)
			if tt.reason == "" {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(got).To(Equal(tt.want))
				return
			}
			pe := expectReason(g, err, tt.reason)
			g.Expect(pe.Message).To(ContainSubstring(tt.message))
		})
	}

	t.Run("an invalid query makes no request", func(t *testing.T) {
		g := NewWithT(t)
		before := srv.hits.Load()
		_, err := p.Query(testContext(t), "{.a[")
		_ = expectReason(g, err, v1alpha1.ReasonInvalidSpec)
		g.Expect(srv.hits.Load()).To(Equal(before))
	})
}

func TestHTTPJSONResponses(t *testing.T) {
	var srv *testServer
	srv = newTestServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte(`{"v": 3}`))
		case "/unauthorized":
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(secretWord))
		case "/forbidden":
			w.WriteHeader(http.StatusForbidden)
		case "/error":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"error":"` + secretWord + `"}`))
		case "/not-json":
			_, _ = w.Write([]byte(`<html>` + secretWord + `</html>`))
		case "/huge":
			_, _ = w.Write([]byte(`{"v": 1, "pad": "` + strings.Repeat("x", 4096) + `"}`))
		case "/huge-streamed":
			for range 64 {
				_, _ = w.Write([]byte(strings.Repeat(" ", 128)))
				w.(http.Flusher).Flush() // no Content-Length: the limit applies while reading
			}
			_, _ = w.Write([]byte(`{"v": 1}`))
		case "/slow":
			srv.block(r)
		case "/redirect-same-host":
			http.Redirect(w, r, "/ok", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	})

	tests := []struct {
		path    string
		reason  string
		message string
	}{
		{path: "/ok"},
		{path: "/redirect-same-host"},
		// Unexpected statuses and silence read alike (see TestFailuresDoNotTellWhatListens).
		{path: "/unauthorized", reason: v1alpha1.ReasonUnreachable},
		{path: "/forbidden", reason: v1alpha1.ReasonUnreachable},
		{path: "/error", reason: v1alpha1.ReasonUnreachable},
		{path: "/missing", reason: v1alpha1.ReasonUnreachable},
		{path: "/not-json", reason: v1alpha1.ReasonBadResponse, message: "not valid JSON (syntax error at byte 1)"},
		{path: "/huge", reason: v1alpha1.ReasonBadResponse, message: "response body larger than 1024 bytes"},
		{path: "/huge-streamed", reason: v1alpha1.ReasonBadResponse, message: "response body larger than 1024 bytes"},
		{path: "/slow", reason: v1alpha1.ReasonUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			g := NewWithT(t)
			p := newHTTPProvider(t, v1alpha1.HTTPSource{
				URL:          srv.URL + tt.path,
				Timeout:      duration(200 * time.Millisecond),
				MaxBodyBytes: 1024,
			}, nil, Options{Policy: local})
			probeErr := p.Probe(testContext(t))
			v, queryErr := p.Query(testContext(t), "{.v}")
			if tt.reason == "" {
				g.Expect(probeErr).NotTo(HaveOccurred())
				g.Expect(queryErr).NotTo(HaveOccurred())
				g.Expect(v).To(Equal(3.0))
				return
			}
			for _, err := range []error{probeErr, queryErr} {
				pe := expectReason(g, err, tt.reason)
				if tt.reason == v1alpha1.ReasonUnreachable {
					g.Expect(pe.Message).To(Equal(egress.UnreachableMessage(srv.Listener.Addr().String())))
					continue
				}
				g.Expect(pe.Message).To(ContainSubstring(tt.message))
				g.Expect(pe.Message).To(HavePrefix(srv.URL + tt.path))
			}
		})
	}
}

func TestHTTPJSONHeadersFromSecret(t *testing.T) {
	srv := newTestServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != secretWord+"-key" || r.Header.Get("Authorization") != "Token "+secretWord {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`{"score": 8.5}`))
	})
	tests := []struct {
		name   string
		secret map[string][]byte
		reason string
		newErr bool
	}{
		{name: "headers sent", secret: map[string][]byte{
			"X-Api-Key":     []byte(secretWord + "-key\n"),
			"Authorization": []byte("Token " + secretWord),
		}},
		{name: "wrong key", secret: map[string][]byte{
			"X-Api-Key":     []byte("nope"),
			"Authorization": []byte("Token " + secretWord),
		}, reason: v1alpha1.ReasonUnreachable},
		{name: "invalid header name", secret: map[string][]byte{"bad header": []byte("x")}, reason: v1alpha1.ReasonSecretInvalid, newErr: true},
		{name: "invalid header value", secret: map[string][]byte{"X-Api-Key": []byte(secretWord + "\n" + secretWord)}, reason: v1alpha1.ReasonSecretInvalid, newErr: true},
		{name: "secret missing", reason: v1alpha1.ReasonSecretNotFound, newErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			secrets := SecretMap{}
			if tt.secret != nil {
				secrets["headers"] = tt.secret
			}
			spec := v1alpha1.SignalSourceSpec{HTTP: v1alpha1.HTTPSource{
				URL:              srv.URL,
				HeadersSecretRef: v1alpha1.LocalObjectReference{Name: "headers"},
			}}
			p, err := New(spec, secrets.Get, Options{Policy: local})
			if tt.newErr {
				_ = expectReason(g, err, tt.reason)
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			closeProvider(t, p)
			v, err := p.Query(testContext(t), "{.score}")
			if tt.reason != "" {
				_ = expectReason(g, err, tt.reason)
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(v).To(Equal(8.5))
		})
	}
}

func TestHTTPJSONRedirectToAnotherHostKeepsHeaders(t *testing.T) {
	g := NewWithT(t)
	other := newTestServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"v": 1}`))
	})
	srv := newTestServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/", http.StatusFound)
	})
	spec := v1alpha1.SignalSourceSpec{HTTP: v1alpha1.HTTPSource{
		URL:              srv.URL,
		HeadersSecretRef: v1alpha1.LocalObjectReference{Name: "headers"},
	}}
	p, err := New(spec, SecretMap{"headers": {"X-Api-Key": []byte(secretWord)}}.Get, Options{Policy: local})
	g.Expect(err).NotTo(HaveOccurred())
	closeProvider(t, p)

	_, err = p.Query(testContext(t), "{.v}")
	_ = expectReason(g, err, v1alpha1.ReasonUnreachable)
	g.Expect(other.hits.Load()).To(BeZero(), "the credentials never reach another host")
}

func TestHTTPJSONTLS(t *testing.T) {
	g := NewWithT(t)
	srv := newTestServer(t, true, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"v": 5}`))
	})
	secrets := SecretMap{"ca": {"ca.crt": certPEM(srv)}}
	spec := v1alpha1.SignalSourceSpec{HTTP: v1alpha1.HTTPSource{
		URL: srv.URL,
		TLS: &v1alpha1.TLSConfig{CASecretRef: v1alpha1.LocalObjectReference{Name: "ca"}},
	}}
	p, err := New(spec, secrets.Get, Options{Policy: local})
	g.Expect(err).NotTo(HaveOccurred())
	closeProvider(t, p)
	g.Expect(p.Query(testContext(t), "{.v}")).To(Equal(5.0))

	untrusted := newHTTPProvider(t, v1alpha1.HTTPSource{URL: srv.URL}, nil, Options{Policy: local})
	pe := expectReason(g, untrusted.Probe(testContext(t)), v1alpha1.ReasonUnreachable)
	g.Expect(pe.Message).To(Equal(egress.UnreachableMessage(srv.Listener.Addr().String())))
}

func TestHTTPJSONInvalidURL(t *testing.T) {
	g := NewWithT(t)
	_, err := New(v1alpha1.SignalSourceSpec{HTTP: v1alpha1.HTTPSource{URL: "ftp://example.com/x"}}, nil, Options{Policy: local})
	_ = expectReason(g, err, v1alpha1.ReasonInvalidSpec)
	_, err = New(v1alpha1.SignalSourceSpec{HTTP: v1alpha1.HTTPSource{URL: "/relative"}}, nil, Options{Policy: local})
	_ = expectReason(g, err, v1alpha1.ReasonInvalidSpec)
}

func newHTTPProvider(t *testing.T, src v1alpha1.HTTPSource, secrets SecretGetter, opts Options) Provider {
	t.Helper()
	p, err := New(v1alpha1.SignalSourceSpec{HTTP: src}, secrets, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	closeProvider(t, p)
	return p
}

// FuzzSelectNumber checks the JSON selection on arbitrary documents and queries:
// it never panics, always returns a finite number or an *Error with a known
// reason, and never copies a string of the document into the message.
func FuzzSelectNumber(f *testing.F) {
	seeds := []struct{ doc, query string }{
		{sampleDoc, "{.nps.score}"},
		{sampleDoc, "{.items[*].v}"},
		{sampleDoc, "{.nps.label}"},
		{sampleDoc, "{.items[?(@.v>1)].v}"},
		{`{"a":"` + secretWord + `"}`, "{.a[0]}"},
		{`[1,2,3]`, "{[1]}"},
		{`"12"`, "$"},
		{`{"a":{"b":[{"c":"1e3"}]}}`, "{..c}"},
		{`{"a":[]}`, "{range .a[*]}{.x}{end}"},
		{`{"a":1}`, "{.a}{"},
	}
	for _, s := range seeds {
		f.Add(s.doc, s.query)
	}
	known := map[string]bool{
		v1alpha1.ReasonNoData: true, v1alpha1.ReasonBadResponse: true, v1alpha1.ReasonInvalidSpec: true,
	}
	f.Fuzz(func(t *testing.T, doc, query string) {
		var v any
		if json.Unmarshal([]byte(doc), &v) != nil {
			return
		}
		got, err := selectNumber(v, query)
		if err == nil {
			if math.IsNaN(got) || math.IsInf(got, 0) {
				t.Fatalf("selected a non-finite number %v", got)
			}
			return
		}
		pe, ok := err.(*Error)
		if !ok || !known[pe.Reason] {
			t.Fatalf("unexpected error %T %v", err, err)
		}
		for _, s := range stringLeaves(v) {
			if len(s) >= 8 && !strings.Contains(query, s) && strings.Contains(pe.Message, s) {
				t.Fatalf("message %q copies the document string %q", pe.Message, s)
			}
		}
	})
}

// stringLeaves returns the string values of a decoded JSON document.
func stringLeaves(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, stringLeaves(e)...)
		}
		return out
	case map[string]any:
		var out []string
		for _, e := range x {
			out = append(out, stringLeaves(e)...)
		}
		return out
	}
	return nil
}

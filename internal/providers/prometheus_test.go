package providers

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/egress"
)

// promResponse is what the fake Prometheus answers to one query.
type promResponse struct {
	status int
	body   string
	slow   bool
}

func promOK(resultType, result string) promResponse {
	return promResponse{status: http.StatusOK, body: fmt.Sprintf(`{"status":"success","data":{"resultType":%q,"result":%s}}`, resultType, result)}
}

// fakePrometheus serves /api/v1/query (GET or POST form, as the official client
// sends) from a table keyed by the query; auth, when set, must match the
// Authorization header exactly.
func fakePrometheus(t *testing.T, useTLS bool, auth string, answers map[string]promResponse) *testServer {
	t.Helper()
	var ts *testServer
	ts = newTestServer(t, useTLS, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" {
			http.NotFound(w, r)
			return
		}
		if auth != "" && r.Header.Get("Authorization") != auth {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte("denied " + secretWord))
			return
		}
		if err := r.ParseForm(); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		a, ok := answers[r.Form.Get("query")]
		if !ok {
			a = promResponse{status: http.StatusBadRequest, body: `{"status":"error","errorType":"bad_data","error":"unknown query in fake"}`}
		}
		if a.slow {
			ts.block(r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(a.body))
	})
	return ts
}

func newPromProvider(t *testing.T, src v1alpha1.PrometheusSource, secrets SecretGetter, opts Options) Provider {
	t.Helper()
	p, err := New(v1alpha1.SignalSourceSpec{Prometheus: src}, secrets, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	closeProvider(t, p)
	return p
}

func TestPrometheusQuery(t *testing.T) {
	srv := fakePrometheus(t, false, "", map[string]promResponse{
		"scalar":        promOK("scalar", `[1700000000,"42.5"]`),
		"one_series":    promOK("vector", `[{"metric":{"job":"api"},"value":[1700000000,"99.9"]}]`),
		"negative":      promOK("vector", `[{"metric":{},"value":[1700000000,"-12"]}]`),
		"empty":         promOK("vector", `[]`),
		"two_series":    promOK("vector", `[{"metric":{"__name__":"up","job":"a"},"value":[1,"1"]},{"metric":{"__name__":"up","job":"b"},"value":[1,"0"]}]`),
		"many_series":   promOK("vector", `[{"metric":{"i":"1"},"value":[1,"1"]},{"metric":{"i":"2"},"value":[1,"1"]},{"metric":{"i":"3"},"value":[1,"1"]},{"metric":{"i":"4"},"value":[1,"1"]},{"metric":{"i":"5"},"value":[1,"1"]}]`),
		"nan":           promOK("vector", `[{"metric":{},"value":[1,"NaN"]}]`),
		"inf":           promOK("scalar", `[1,"+Inf"]`),
		"matrix":        promOK("matrix", `[{"metric":{},"values":[[1,"1"],[2,"2"]]}]`),
		"string":        promOK("string", `[1,"hello"]`),
		"histogram":     promOK("vector", `[{"metric":{},"histogram":[1,{"count":"1","sum":"1","buckets":[[0,"0","1","1"]]}]}]`),
		"malformed":     {status: http.StatusOK, body: `{"status":"success","data":{"resultType":"vector","result":[` + secretWord},
		"not_json":      {status: http.StatusOK, body: `<html>` + secretWord + `</html>`},
		"bad_data":      {status: http.StatusBadRequest, body: `{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected end of input"}`},
		"exec":          {status: http.StatusUnprocessableEntity, body: `{"status":"error","errorType":"execution","error":"many-to-many matching not allowed"}`},
		"query_timeout": {status: http.StatusServiceUnavailable, body: `{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}`},
		"server_error":  {status: http.StatusInternalServerError, body: `{"status":"error","errorType":"internal","error":"` + secretWord + `"}`},
		"bad_gateway":   {status: http.StatusBadGateway, body: `<html>` + secretWord + `</html>`},
		"forbidden":     {status: http.StatusForbidden, body: secretWord},
		"slow":          {slow: true},
	})

	tests := []struct {
		query   string
		want    float64
		reason  string
		message []string
	}{
		{query: "scalar", want: 42.5},
		{query: "one_series", want: 99.9},
		{query: "negative", want: -12},
		{query: "empty", reason: v1alpha1.ReasonNoData, message: []string{"query returned no series"}},
		{query: "two_series", reason: v1alpha1.ReasonBadResponse, message: []string{"2 series", `up{job="a"}`, `up{job="b"}`}},
		{query: "many_series", reason: v1alpha1.ReasonBadResponse, message: []string{"5 series", `{i="1"}`, `{i="3"}`, "and 2 more"}},
		{query: "nan", reason: v1alpha1.ReasonBadResponse, message: []string{"NaN"}},
		{query: "inf", reason: v1alpha1.ReasonBadResponse, message: []string{"+Inf"}},
		{query: "matrix", reason: v1alpha1.ReasonBadResponse, message: []string{"range vector"}},
		{query: "string", reason: v1alpha1.ReasonBadResponse, message: []string{"string"}},
		{query: "histogram", reason: v1alpha1.ReasonBadResponse, message: []string{"native histogram"}},
		{query: "malformed", reason: v1alpha1.ReasonBadResponse, message: []string{"not a Prometheus API response"}},
		{query: "not_json", reason: v1alpha1.ReasonBadResponse, message: []string{"not a Prometheus API response"}},
		{query: "bad_data", reason: v1alpha1.ReasonInvalidSpec, message: []string{"rejected the query", "parse error"}},
		{query: "exec", reason: v1alpha1.ReasonBadResponse, message: []string{"many-to-many"}},
		// Unexpected statuses and silence read alike (see TestFailuresDoNotTellWhatListens).
		{query: "query_timeout", reason: v1alpha1.ReasonUnreachable, message: []string{"could not get a valid answer from", "debug log"}},
		{query: "bad_gateway", reason: v1alpha1.ReasonUnreachable, message: []string{"could not get a valid answer from", "debug log"}},
		{query: "server_error", reason: v1alpha1.ReasonUnreachable, message: []string{"could not get a valid answer from", "debug log"}},
		{query: "forbidden", reason: v1alpha1.ReasonUnreachable, message: []string{"could not get a valid answer from", "debug log"}},
		{query: "slow", reason: v1alpha1.ReasonUnreachable, message: []string{"could not get a valid answer from", "debug log"}},
	}
	p := newPromProvider(t, v1alpha1.PrometheusSource{Address: srv.URL, Timeout: duration(200 * time.Millisecond)}, nil, Options{Policy: local})
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
			for _, m := range tt.message {
				g.Expect(pe.Message).To(ContainSubstring(m))
			}
			g.Expect(len(pe.Message)).To(BeNumerically("<=", 1024))
		})
	}
}

func TestPrometheusBodyLimit(t *testing.T) {
	g := NewWithT(t)
	big := promOK("vector", `[{"metric":{"pad":"`+strings.Repeat("x", 4096)+`"},"value":[1,"1"]}]`)
	srv := fakePrometheus(t, false, "", map[string]promResponse{"big": big})
	p := newPromProvider(t, v1alpha1.PrometheusSource{Address: srv.URL}, nil, Options{Policy: local, MaxBodyBytes: 1024})
	_, err := p.Query(testContext(t), "big")
	pe := expectReason(g, err, v1alpha1.ReasonBadResponse)
	g.Expect(pe.Message).To(ContainSubstring("response body larger than 1024 bytes"))
}

func TestPrometheusUnreachable(t *testing.T) {
	g := NewWithT(t)
	srv := fakePrometheus(t, false, "", nil)
	addr := srv.URL
	srv.Close() // nothing listens there any more

	p := newPromProvider(t, v1alpha1.PrometheusSource{Address: addr}, nil, Options{Policy: local})
	err := p.Probe(testContext(t))
	pe := expectReason(g, err, v1alpha1.ReasonUnreachable)
	g.Expect(pe.Message).To(Equal(egress.UnreachableMessage(strings.TrimPrefix(addr, "http://"))))
}

func TestPrometheusCanceledByCaller(t *testing.T) {
	g := NewWithT(t)
	srv := fakePrometheus(t, false, "", map[string]promResponse{"slow": {slow: true}})
	p := newPromProvider(t, v1alpha1.PrometheusSource{Address: srv.URL}, nil, Options{Policy: local})
	ctx, cancel := context.WithCancel(testContext(t))
	cancel()
	_, err := p.Query(ctx, "slow")
	_ = expectReason(g, err, v1alpha1.ReasonUnreachable)
	g.Expect(errors.Is(err, context.Canceled)).To(BeTrue())
}

func TestPrometheusAuth(t *testing.T) {
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:"+secretWord+"-pw"))
	bearer := "Bearer " + secretWord + "-token"
	answers := map[string]promResponse{
		"vector(1)": promOK("vector", `[{"metric":{},"value":[1,"1"]}]`),
		"up":        promOK("scalar", `[1,"7"]`),
	}
	bearerSrv := fakePrometheus(t, false, bearer, answers)
	basicSrv := fakePrometheus(t, false, basic, answers)

	tests := []struct {
		name    string
		addr    string
		auth    v1alpha1.AuthType
		secret  map[string][]byte
		reason  string
		newFail bool
	}{
		{name: "bearer", addr: bearerSrv.URL, auth: v1alpha1.AuthBearer,
			secret: map[string][]byte{"token": []byte(secretWord + "-token\n")}},
		{name: "bearer wrong token", addr: bearerSrv.URL, auth: v1alpha1.AuthBearer,
			secret: map[string][]byte{"token": []byte(secretWord + "-nope")}, reason: v1alpha1.ReasonUnreachable},
		{name: "basic", addr: basicSrv.URL, auth: v1alpha1.AuthBasic,
			secret: map[string][]byte{"username": []byte("alice"), "password": []byte(secretWord + "-pw")}},
		{name: "basic wrong password", addr: basicSrv.URL, auth: v1alpha1.AuthBasic,
			secret: map[string][]byte{"username": []byte("alice"), "password": []byte("wrong")}, reason: v1alpha1.ReasonUnreachable},
		{name: "basic against bearer server", addr: bearerSrv.URL, auth: v1alpha1.AuthBasic,
			secret: map[string][]byte{"username": []byte("alice"), "password": []byte(secretWord + "-pw")}, reason: v1alpha1.ReasonUnreachable},
		{name: "bearer without token key", addr: bearerSrv.URL, auth: v1alpha1.AuthBearer,
			secret: map[string][]byte{"other": []byte("x")}, reason: v1alpha1.ReasonSecretInvalid, newFail: true},
		{name: "basic without password key", addr: basicSrv.URL, auth: v1alpha1.AuthBasic,
			secret: map[string][]byte{"username": []byte("alice")}, reason: v1alpha1.ReasonSecretInvalid, newFail: true},
		{name: "token with a newline inside", addr: bearerSrv.URL, auth: v1alpha1.AuthBearer,
			secret: map[string][]byte{"token": []byte("a\nb")}, reason: v1alpha1.ReasonSecretInvalid, newFail: true},
		{name: "missing secret", addr: bearerSrv.URL, auth: v1alpha1.AuthBearer,
			secret: nil, reason: v1alpha1.ReasonSecretNotFound, newFail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			secrets := SecretMap{}
			if tt.secret != nil {
				secrets["creds"] = tt.secret
			}
			spec := v1alpha1.SignalSourceSpec{Prometheus: v1alpha1.PrometheusSource{
				Address: tt.addr,
				Auth:    v1alpha1.Auth{Type: tt.auth, SecretRef: v1alpha1.LocalObjectReference{Name: "creds"}},
			}}
			p, err := New(spec, secrets.Get, Options{Policy: local})
			if tt.newFail {
				pe := expectReason(g, err, tt.reason)
				g.Expect(pe.Message).To(ContainSubstring(`"creds"`))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			closeProvider(t, p)

			probeErr := p.Probe(testContext(t))
			v, queryErr := p.Query(testContext(t), "up")
			if tt.reason == "" {
				g.Expect(probeErr).NotTo(HaveOccurred())
				g.Expect(queryErr).NotTo(HaveOccurred())
				g.Expect(v).To(Equal(7.0))
				return
			}
			_ = expectReason(g, probeErr, tt.reason)
			_ = expectReason(g, queryErr, tt.reason)
		})
	}
}

func TestPrometheusTLS(t *testing.T) {
	answers := map[string]promResponse{"vector(1)": promOK("scalar", `[1,"1"]`)}
	srv := fakePrometheus(t, true, "", answers)
	caPEM := certPEM(srv)
	secrets := SecretMap{
		"ca":      {"ca.crt": caPEM},
		"not-pem": {"ca.crt": []byte("not a certificate")},
		"no-key":  {"tls.crt": caPEM},
	}
	ref := func(name string) v1alpha1.LocalObjectReference { return v1alpha1.LocalObjectReference{Name: name} }

	tests := []struct {
		name    string
		tls     *v1alpha1.TLSConfig
		reason  string
		message string
		newFail bool
	}{
		{name: "trusted through the CA secret", tls: &v1alpha1.TLSConfig{CASecretRef: ref("ca")}},
		{name: "server name in the certificate", tls: &v1alpha1.TLSConfig{CASecretRef: ref("ca"), ServerName: "example.com"}},
		{name: "server name not in the certificate", tls: &v1alpha1.TLSConfig{CASecretRef: ref("ca"), ServerName: "wrong.test"},
			reason: v1alpha1.ReasonUnreachable, message: "could not get a valid answer from"},
		{name: "unknown authority", tls: nil, reason: v1alpha1.ReasonUnreachable, message: "could not get a valid answer from"},
		{name: "insecure skip verify", tls: &v1alpha1.TLSConfig{InsecureSkipVerify: ptrTo(true)}},
		{name: "CA secret missing", tls: &v1alpha1.TLSConfig{CASecretRef: ref("absent")}, reason: v1alpha1.ReasonSecretNotFound, newFail: true},
		{name: "CA secret without ca.crt", tls: &v1alpha1.TLSConfig{CASecretRef: ref("no-key")}, reason: v1alpha1.ReasonSecretInvalid, message: "ca.crt", newFail: true},
		{name: "CA secret not PEM", tls: &v1alpha1.TLSConfig{CASecretRef: ref("not-pem")}, reason: v1alpha1.ReasonSecretInvalid, message: "no PEM certificate", newFail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			spec := v1alpha1.SignalSourceSpec{Prometheus: v1alpha1.PrometheusSource{Address: srv.URL, TLS: tt.tls}}
			p, err := New(spec, secrets.Get, Options{Policy: local})
			if tt.newFail {
				pe := expectReason(g, err, tt.reason)
				g.Expect(pe.Message).To(ContainSubstring(tt.message))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			closeProvider(t, p)
			err = p.Probe(testContext(t))
			if tt.reason == "" {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			pe := expectReason(g, err, tt.reason)
			g.Expect(pe.Message).To(ContainSubstring(tt.message))
		})
	}
}

func TestPrometheusNotFoundPath(t *testing.T) {
	g := NewWithT(t)
	srv := fakePrometheus(t, false, "", nil)
	p := newPromProvider(t, v1alpha1.PrometheusSource{Address: srv.URL + "/wrong-prefix"}, nil, Options{Policy: local})
	err := p.Probe(testContext(t))
	pe := expectReason(g, err, v1alpha1.ReasonUnreachable)
	g.Expect(pe.Message).To(Equal(egress.UnreachableMessage(strings.TrimPrefix(srv.URL, "http://"))))
}

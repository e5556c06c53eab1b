package providers

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"golang.org/x/net/http/httpguts"

	"github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/textutil"
)

// probeQuery is the query Probe runs: it exercises the query endpoint and the
// credentials and needs no data.
const probeQuery = "vector(1)"

// maxSeriesShown bounds the series listed when a query returns several.
const maxSeriesShown = 3

// prometheusProvider runs instant PromQL queries.
type prometheusProvider struct {
	endpoint
	api    promv1.API
	client *sourceClient
	traits Traits
}

// Traits names the host the calls go to and its egress rate: every query is its
// own call.
func (p *prometheusProvider) Traits() Traits { return p.traits }

func newPrometheus(spec *v1alpha1.PrometheusSource, secrets SecretGetter, opts Options) (*prometheusProvider, error) {
	header, err := prometheusAuthHeader(spec.Auth, secrets)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := buildTLSConfig(spec.TLS, secrets)
	if err != nil {
		return nil, err
	}
	timeout := opts.Timeout
	if spec.Timeout != nil && spec.Timeout.Duration > 0 {
		timeout = spec.Timeout.Duration
	}
	sc := newSourceClient(tlsCfg, header, opts.MaxBodyBytes, opts)
	c, err := api.NewClient(api.Config{Address: spec.Address, Client: sc.client})
	if err != nil {
		return nil, Errorf(v1alpha1.ReasonInvalidSpec, "prometheus address %q is not a valid URL", safeURL(spec.Address))
	}
	return &prometheusProvider{
		endpoint: newEndpoint("prometheus at "+safeURL(spec.Address), spec.Address, timeout, opts.Logger),
		api:      promv1.NewAPI(c),
		client:   sc,
		traits:   Traits{Host: hostKey(spec.Address), Rate: opts.Limiter.Limit()},
	}, nil
}

// prometheusAuthHeader returns the Authorization header of the spec's auth.
func prometheusAuthHeader(auth v1alpha1.Auth, secrets SecretGetter) (http.Header, error) {
	if auth == (v1alpha1.Auth{}) {
		return nil, nil
	}
	name := auth.SecretRef.Name
	data, err := getSecret(secrets, name, "auth.secretRef")
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	switch auth.Type {
	case v1alpha1.AuthBearer:
		token, err := secretKey(data, name, "token", "Bearer auth")
		if err != nil {
			return nil, err
		}
		value := strings.TrimSpace(string(token))
		if !httpguts.ValidHeaderFieldValue(value) {
			return nil, Errorf(v1alpha1.ReasonSecretInvalid, "Secret %q key %q is not a valid bearer token (control characters)", name, "token")
		}
		h.Set("Authorization", "Bearer "+value)
	case v1alpha1.AuthBasic:
		user, err := secretKey(data, name, "username", "Basic auth")
		if err != nil {
			return nil, err
		}
		pass, ok := data["password"]
		if !ok {
			return nil, Errorf(v1alpha1.ReasonSecretInvalid, "Secret %q has no key %q (Basic auth)", name, "password")
		}
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(string(user)+":"+string(pass))))
	default:
		return nil, Errorf(v1alpha1.ReasonInvalidSpec, "unknown auth type %q (expected Bearer or Basic)", textutil.Truncate(string(auth.Type), 32))
	}
	return h, nil
}

// Query runs query as an instant query and returns its single sample.
func (p *prometheusProvider) Query(ctx context.Context, query string) (float64, error) {
	callCtx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	callCtx, st := withCallState(callCtx)

	value, _, _, err := p.api.Query(callCtx, query, time.Time{}, promv1.WithTimeout(p.timeout))
	if err != nil {
		return 0, p.queryError(ctx, st, err)
	}
	return singleSample(value)
}

// Probe runs vector(1), which needs the credentials but no data.
func (p *prometheusProvider) Probe(ctx context.Context) error {
	_, err := p.Query(ctx, probeQuery)
	return err
}

// CloseIdleConnections closes the provider's idle connections.
func (p *prometheusProvider) CloseIdleConnections() { p.client.CloseIdleConnections() }

// queryError maps an error of the Prometheus client to an *Error.
func (p *prometheusProvider) queryError(parent context.Context, st *callState, err error) *Error {
	status := int(st.status.Load())
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		return statusError(parent, p.endpoint, status, "the credentials were refused")
	}
	var apiErr *promv1.Error
	if !errors.As(err, &apiErr) {
		return callError(parent, err, p.endpoint)
	}
	// Keep the API error without its Detail, which is the response body.
	clean := &promv1.Error{Type: apiErr.Type, Msg: apiErr.Msg}
	msg := textutil.Truncate(apiErr.Msg, 512)
	switch apiErr.Type {
	case promv1.ErrBadData:
		return &Error{Reason: v1alpha1.ReasonInvalidSpec, Message: fmt.Sprintf("%s rejected the query: %s", p.target, msg), Err: clean}
	case promv1.ErrExec:
		return &Error{Reason: v1alpha1.ReasonBadResponse, Message: fmt.Sprintf("%s could not execute the query: %s", p.target, msg), Err: clean}
	case promv1.ErrTimeout, promv1.ErrCanceled:
		return &Error{Reason: v1alpha1.ReasonUnreachable, Message: fmt.Sprintf("%s did not finish the query in time: %s", p.target, msg), Err: clean}
	}
	// An unexpected status reads like any other failure to get an answer (see
	// endpoint.unreachable); the hint goes to the debug log with it.
	switch {
	case status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout:
		return statusError(parent, p.endpoint, status, "unavailable, or the query timed out")
	case status == http.StatusNotFound:
		return statusError(parent, p.endpoint, status, "is the address the root of the Prometheus API?")
	case status/100 == 3:
		return statusError(parent, p.endpoint, status, redirectHint)
	case status != 0 && status/100 != 2:
		return statusError(parent, p.endpoint, status, "")
	case strings.Contains(apiErr.Msg, `unexpected value type "string"`):
		return &Error{Reason: v1alpha1.ReasonBadResponse, Message: "query returned a string, expected an instant vector or a scalar", Err: clean}
	case apiErr.Type == promv1.ErrBadResponse:
		return &Error{Reason: v1alpha1.ReasonBadResponse, Message: fmt.Sprintf("%s answered with something that is not a Prometheus API response", p.target), Err: clean}
	default:
		return &Error{Reason: v1alpha1.ReasonBadResponse, Message: fmt.Sprintf("%s: %s", p.target, msg), Err: clean}
	}
}

// singleSample returns the one finite sample of an instant query result.
func singleSample(v model.Value) (float64, error) {
	var value model.SampleValue
	switch r := v.(type) {
	case *model.Scalar:
		value = r.Value
	case model.Vector:
		switch len(r) {
		case 0:
			return 0, Errorf(v1alpha1.ReasonNoData, "query returned no series")
		case 1:
			if r[0].Histogram != nil {
				return 0, Errorf(v1alpha1.ReasonBadResponse, "query returned a native histogram, expected a number (use histogram_quantile or histogram_sum)")
			}
			value = r[0].Value
		default:
			return 0, Errorf(v1alpha1.ReasonBadResponse, "query returned %d series, expected exactly one (aggregate them, for example with sum or max): %s",
				len(r), seriesList(r))
		}
	case model.Matrix:
		return 0, Errorf(v1alpha1.ReasonBadResponse, "query returned a range vector, expected an instant vector or a scalar (remove the [range] selector or wrap it in a function)")
	case *model.String:
		return 0, Errorf(v1alpha1.ReasonBadResponse, "query returned a string, expected an instant vector or a scalar")
	default:
		return 0, Errorf(v1alpha1.ReasonBadResponse, "query returned an unexpected result type")
	}
	f := float64(value)
	switch {
	case math.IsNaN(f):
		return 0, Errorf(v1alpha1.ReasonBadResponse, "query returned NaN (a division by zero, or no traffic?)")
	case math.IsInf(f, 0):
		return 0, Errorf(v1alpha1.ReasonBadResponse, "query returned %v", f)
	}
	return f, nil
}

// seriesList lists the label sets of the first few series, each bounded.
func seriesList(vec model.Vector) string {
	shown := make([]string, 0, maxSeriesShown)
	for _, s := range vec[:min(len(vec), maxSeriesShown)] {
		shown = append(shown, textutil.Truncate(s.Metric.String(), 120))
	}
	out := strings.Join(shown, ", ")
	if more := len(vec) - len(shown); more > 0 {
		out += fmt.Sprintf(" and %d more", more)
	}
	return out
}

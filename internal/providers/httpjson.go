package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
	"k8s.io/client-go/util/jsonpath"

	"github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/egress"
	"github.com/cxops/cxops/internal/textutil"
)

// httpJSONProvider GETs a JSON document and selects one number from it with a
// JSONPath expression.
type httpJSONProvider struct {
	endpoint
	client *sourceClient
	url    string
	traits Traits

	// The document of the latest tick (see shared): fetched once for every
	// query of the tick, kept for at most keep after it arrived.
	mu       sync.Mutex
	cached   *docCall
	inflight *docCall
	keep     time.Duration
}

// docCall is one GET of the document for a tick, shared by the queries of that
// tick (and of earlier ones).
type docCall struct {
	tick time.Time
	done chan struct{}
	doc  any
	err  error
}

func newHTTPJSON(spec *v1alpha1.HTTPSource, secrets SecretGetter, opts Options) (*httpJSONProvider, error) {
	u, err := url.Parse(spec.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, Errorf(v1alpha1.ReasonInvalidSpec, "url %q is not an absolute http or https URL", safeURL(spec.URL))
	}
	header := http.Header{"Accept": {"application/json"}}
	if ref := spec.HeadersSecretRef; ref != (v1alpha1.LocalObjectReference{}) {
		extra, err := headersFromSecret(ref.Name, secrets)
		if err != nil {
			return nil, err
		}
		maps.Copy(header, extra)
	}
	tlsCfg, err := buildTLSConfig(spec.TLS, secrets)
	if err != nil {
		return nil, err
	}
	timeout := opts.Timeout
	if spec.Timeout != nil && spec.Timeout.Duration > 0 {
		timeout = spec.Timeout.Duration
	}
	maxBody := opts.MaxBodyBytes
	if spec.MaxBodyBytes > 0 {
		maxBody = spec.MaxBodyBytes
	}
	return &httpJSONProvider{
		endpoint: newEndpoint(safeURL(spec.URL), spec.URL, timeout, opts.Logger),
		client:   newSourceClient(tlsCfg, header, maxBody, opts),
		url:      spec.URL,
		traits:   Traits{SharedFetch: true, Host: egress.HostKey(u), Rate: opts.Limiter.Limit()},
		keep:     timeout,
	}, nil
}

// Traits says that every query selects from the one document: the queries of a
// tick share one GET.
func (p *httpJSONProvider) Traits() Traits { return p.traits }

// headersFromSecret turns every key of a Secret into a request header. Values are
// trimmed of surrounding white space (a trailing newline is a common accident).
func headersFromSecret(name string, secrets SecretGetter) (http.Header, error) {
	data, err := getSecret(secrets, name, "headersSecretRef")
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	for _, key := range slices.Sorted(maps.Keys(data)) {
		if !httpguts.ValidHeaderFieldName(key) {
			return nil, Errorf(v1alpha1.ReasonSecretInvalid, "Secret %q key %q is not a valid HTTP header name", name, textutil.Truncate(key, 64))
		}
		value := strings.TrimSpace(string(data[key]))
		if !httpguts.ValidHeaderFieldValue(value) {
			return nil, Errorf(v1alpha1.ReasonSecretInvalid, "Secret %q key %q is not a valid HTTP header value (control characters)", name, textutil.Truncate(key, 64))
		}
		h.Set(key, value)
	}
	return h, nil
}

// Query GETs the document and returns the number query selects. A call with a
// tick (WithTick) shares the GET, and its outcome, with every other call of the
// same tick or an earlier one.
func (p *httpJSONProvider) Query(ctx context.Context, query string) (float64, error) {
	if _, err := compileJSONPath(query); err != nil {
		return 0, err
	}
	var doc any
	var err error
	if tick := tickFrom(ctx); tick.IsZero() {
		doc, err = p.fetch(ctx)
	} else {
		doc, err = p.shared(ctx, tick)
	}
	if err != nil {
		return 0, err
	}
	return selectNumber(doc, query)
}

// shared returns the document for a tick: the one fetched for this tick or a
// later one if there is one (kept for at most p.keep after it arrived), the one
// being fetched for it if a GET is in flight, else a new GET's. Only one
// document is kept per source, never shared with another source (whose URL,
// headers or credentials may differ); its size is bounded by the body limit.
// The decoded document is only read by selectNumber.
func (p *httpJSONProvider) shared(ctx context.Context, tick time.Time) (any, error) {
	p.mu.Lock()
	if c := p.cached; c != nil && !c.tick.Before(tick) {
		p.mu.Unlock()
		return c.doc, c.err
	}
	if c := p.inflight; c != nil && !c.tick.Before(tick) {
		p.mu.Unlock()
		select {
		case <-c.done:
			return c.doc, c.err
		case <-ctx.Done():
			return nil, callError(ctx, ctx.Err(), p.endpoint)
		}
	}
	c := &docCall{tick: tick, done: make(chan struct{})}
	p.inflight = c
	p.mu.Unlock()

	c.doc, c.err = p.fetch(ctx)
	p.mu.Lock()
	if p.inflight == c {
		p.inflight = nil
	}
	// A GET cut short by the caller's end says nothing about the document.
	if ctx.Err() == nil && (p.cached == nil || !p.cached.tick.After(tick)) {
		p.cached = c
		time.AfterFunc(p.keep, func() { p.forget(c) })
	}
	p.mu.Unlock()
	close(c.done)
	return c.doc, c.err
}

// forget drops a kept document unless a later one replaced it.
func (p *httpJSONProvider) forget(c *docCall) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cached == c {
		p.cached = nil
	}
}

// Probe GETs the document and checks that it is JSON.
func (p *httpJSONProvider) Probe(ctx context.Context) error {
	_, err := p.fetch(ctx)
	return err
}

// CloseIdleConnections closes the provider's idle connections.
func (p *httpJSONProvider) CloseIdleConnections() { p.client.CloseIdleConnections() }

// fetch GETs the URL and decodes the JSON body.
func (p *httpJSONProvider) fetch(ctx context.Context) (any, error) {
	callCtx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(callCtx, http.MethodGet, p.url, nil)
	if err != nil {
		return nil, Errorf(v1alpha1.ReasonInvalidSpec, "url %q cannot be requested", p.target)
	}
	resp, err := p.client.client.Do(req)
	if err != nil {
		return nil, callError(ctx, err, p.endpoint)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		_ = resp.Body.Close()
	}()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, statusError(ctx, p.endpoint, resp.StatusCode, "the credentials were refused")
	case resp.StatusCode/100 == 3:
		return nil, statusError(ctx, p.endpoint, resp.StatusCode, redirectHint)
	case resp.StatusCode/100 != 2:
		return nil, statusError(ctx, p.endpoint, resp.StatusCode, "")
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, callError(ctx, err, p.endpoint)
	}
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		msg := fmt.Sprintf("%s answered with a body that is not valid JSON", p.target)
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			msg += fmt.Sprintf(" (syntax error at byte %d)", syn.Offset)
		}
		return nil, Errorf(v1alpha1.ReasonBadResponse, "%s", msg)
	}
	return doc, nil
}

// intFilterLiteral matches an integer literal on the right of a filter comparison,
// such as the 2 in [?(@.v>=2)].
var intFilterLiteral = regexp.MustCompile(`(==|!=|>=|<=|>|<)(\s*)([-+]?[0-9]+)(\s*\))`)

// normalizeJSONPath turns the accepted query forms into a k8s JSONPath template:
// "{.a.b}" is used as is; ".a.b", "[0].a", "$.a.b" and "a.b" are wrapped in braces
// (with a leading "." for the last). JSON numbers decode as floats, which k8s
// JSONPath refuses to compare with integer literals, so integer literals in
// filters are written as floats ([?(@.v==2)] becomes [?(@.v==2.0)]).
func normalizeJSONPath(query string) string {
	q := strings.TrimSpace(query)
	switch {
	case strings.HasPrefix(q, "{"):
	case strings.HasPrefix(q, "$"), strings.HasPrefix(q, "."), strings.HasPrefix(q, "["):
		q = "{" + q + "}"
	default:
		q = "{." + q + "}"
	}
	if strings.Contains(q, "[?(") {
		q = intFilterLiteral.ReplaceAllString(q, "${1}${2}${3}.0${4}")
	}
	return q
}

// compileJSONPath parses a query. A JSONPath value keeps evaluation state, so each
// evaluation needs its own; parsing a short expression is cheap next to an HTTP
// call.
func compileJSONPath(query string) (*jsonpath.JSONPath, error) {
	if strings.TrimSpace(query) == "" {
		return nil, Errorf(v1alpha1.ReasonInvalidSpec, "the query is empty; it must be a JSONPath expression such as {.data.score}")
	}
	jp := jsonpath.New("query")
	if err := jp.Parse(normalizeJSONPath(query)); err != nil {
		return nil, &Error{
			Reason:  v1alpha1.ReasonInvalidSpec,
			Message: fmt.Sprintf("query %q is not a valid JSONPath expression: %s", textutil.Truncate(query, 200), textutil.Truncate(err.Error(), 200)),
			Err:     err,
		}
	}
	return jp, nil
}

// selectNumber evaluates query against a decoded JSON document and returns the one
// number it selects: a JSON number, or a string holding a decimal number. Messages
// name the type found, never the content.
func selectNumber(doc any, query string) (value float64, err error) {
	q := textutil.Truncate(query, 200)
	defer func() {
		if r := recover(); r != nil {
			value, err = 0, Errorf(v1alpha1.ReasonBadResponse, "query %q could not be evaluated against the response", q)
		}
	}()
	jp, err := compileJSONPath(query)
	if err != nil {
		return 0, err
	}
	results, err := jp.FindResults(doc)
	if err != nil {
		return 0, evalError(q, err)
	}
	var found []reflect.Value
	for _, r := range results {
		found = append(found, r...)
	}
	switch len(found) {
	case 0:
		return 0, Errorf(v1alpha1.ReasonNoData, "query %q selected nothing", q)
	case 1:
	default:
		return 0, Errorf(v1alpha1.ReasonBadResponse, "query %q selected %d values, expected exactly one", q, len(found))
	}
	var v any
	if found[0].IsValid() && found[0].CanInterface() {
		v = found[0].Interface()
	}
	switch x := v.(type) {
	case float64:
		return x, nil
	case string:
		if f, ok := parseDecimal(strings.TrimSpace(x)); ok {
			return f, nil
		}
		return 0, Errorf(v1alpha1.ReasonBadResponse, "query %q selected a string that is not a decimal number, expected a number", q)
	default:
		return 0, Errorf(v1alpha1.ReasonBadResponse, "query %q selected %s, expected a number", q, jsonTypeName(v))
	}
}

// evalError maps a JSONPath evaluation error without repeating its text, which may
// quote the document.
func evalError(q string, err error) *Error {
	s := err.Error()
	if strings.HasSuffix(s, " is not found") || strings.HasPrefix(s, "array index out of bounds") {
		return &Error{
			Reason:  v1alpha1.ReasonNoData,
			Message: fmt.Sprintf("query %q selected nothing: a key or index it names is missing from the response", q),
		}
	}
	return &Error{
		Reason:  v1alpha1.ReasonBadResponse,
		Message: fmt.Sprintf("query %q does not fit the structure of the response", q),
	}
}

// jsonTypeName names the JSON type of a decoded value, with an article.
func jsonTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	default:
		return "a value of an unexpected type"
	}
}

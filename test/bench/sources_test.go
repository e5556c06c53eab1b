//go:build linux

package bench

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// probeQuery is the query the Prometheus provider's probe runs (internal/providers);
// the counting server keeps it apart from the objectives' queries.
const probeQuery = "vector(1)"

// signalValue is what every query and every document field answers: a stable
// signal, met by the objectives' target (>= 99.5).
const signalValue = "99.9"

// countingSources serves the bench's live signals and counts every call: a
// Prometheus query API (calls per query) and JSON documents (GETs per URL). The two
// listen on their own loopback addresses (127.0.0.2 and 127.0.0.3), which the
// manager's egress policy is told to allow, so that each has its own per-host rate
// limit and neither is the API server's address (127.0.0.1), which the policy always
// refuses.
type countingSources struct {
	prom, docs *httptest.Server
	// fields is the number of numeric fields of each JSON document (v0..vN-1).
	fields int

	mu         sync.Mutex
	promCalls  map[string]int
	probeCalls int
	docGets    map[string]int
}

// sourceCounts is a snapshot of the counters.
type sourceCounts struct {
	PromCalls  map[string]int // objective queries → calls (probes excluded)
	ProbeCalls int            // Prometheus probe queries
	DocGets    map[string]int // URL path → GETs (probes included: they GET the same URL)
}

func startCountingSources(fields int) (*countingSources, error) {
	s := &countingSources{fields: fields, promCalls: map[string]int{}, docGets: map[string]int{}}
	var err error
	if s.prom, err = serveOn("127.0.0.2", http.HandlerFunc(s.servePrometheus)); err != nil {
		return nil, err
	}
	if s.docs, err = serveOn("127.0.0.3", http.HandlerFunc(s.serveDocument)); err != nil {
		s.prom.Close()
		return nil, err
	}
	return s, nil
}

func serveOn(addr string, h http.Handler) (*httptest.Server, error) {
	l, err := net.Listen("tcp", addr+":0")
	if err != nil {
		return nil, fmt.Errorf("listening on %s (the bench needs the loopback range 127.0.0.0/8): %w", addr, err)
	}
	srv := httptest.NewUnstartedServer(h)
	_ = srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	return srv, nil
}

func (s *countingSources) Close() {
	s.prom.Close()
	s.docs.Close()
}

// servePrometheus answers instant queries (GET or POST form, as the Prometheus
// client sends them) with one sample.
func (s *countingSources) servePrometheus(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/query" {
		http.NotFound(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	q := r.Form.Get("query")
	value := signalValue
	s.mu.Lock()
	if q == probeQuery {
		s.probeCalls++
		value = "1"
	} else {
		s.promCalls[q]++
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[%.3f,%q]}]}}`,
		float64(time.Now().UnixMilli())/1000, value)
}

// serveDocument answers GET /doc/NAME.json with {"v0": 99.9, "v1": 99.9, ...}.
func (s *countingSources) serveDocument(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/doc/") {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	s.docGets[r.URL.Path]++
	s.mu.Unlock()
	doc := make(map[string]json.Number, s.fields)
	for i := range s.fields {
		doc[fmt.Sprintf("v%d", i)] = json.Number(signalValue)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(doc)
}

func (s *countingSources) snapshot() sourceCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := sourceCounts{PromCalls: map[string]int{}, ProbeCalls: s.probeCalls, DocGets: map[string]int{}}
	for k, v := range s.promCalls {
		c.PromCalls[k] = v
	}
	for k, v := range s.docGets {
		c.DocGets[k] = v
	}
	return c
}

// sub returns the calls made between before and c.
func (c sourceCounts) sub(before sourceCounts) sourceCounts {
	d := sourceCounts{PromCalls: map[string]int{}, ProbeCalls: c.ProbeCalls - before.ProbeCalls, DocGets: map[string]int{}}
	for k, v := range c.PromCalls {
		if n := v - before.PromCalls[k]; n != 0 {
			d.PromCalls[k] = n
		}
	}
	for k, v := range c.DocGets {
		if n := v - before.DocGets[k]; n != 0 {
			d.DocGets[k] = n
		}
	}
	return d
}

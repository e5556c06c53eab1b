//go:build linux

package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// sample is one series of a scrape: its labels and value (counters, gauges and
// untyped metrics; the count of a histogram or summary).
type sample struct {
	Labels map[string]string
	Value  float64
}

// scrape is a parsed Prometheus text exposition.
type scrape map[string][]sample

func parseMetrics(r io.Reader) (scrape, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	out := scrape{}
	for name, mf := range fams {
		for _, m := range mf.GetMetric() {
			s := sample{Labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.Labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Counter != nil:
				s.Value = m.GetCounter().GetValue()
			case m.Gauge != nil:
				s.Value = m.GetGauge().GetValue()
			case m.Untyped != nil:
				s.Value = m.GetUntyped().GetValue()
			case m.Histogram != nil:
				s.Value = float64(m.GetHistogram().GetSampleCount())
			case m.Summary != nil:
				s.Value = float64(m.GetSummary().GetSampleCount())
			}
			out[name] = append(out[name], s)
		}
	}
	return out, nil
}

// sum adds the values of name's series whose labels match every key of match.
func (s scrape) sum(name string, match map[string]string) float64 {
	var total float64
	for _, smp := range s[name] {
		if labelsMatch(smp.Labels, match) {
			total += smp.Value
		}
	}
	return total
}

func labelsMatch(labels, match map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// apiKey identifies a kind of API request counted by the API server.
type apiKey struct{ Verb, Group, Resource, Subresource string }

func (k apiKey) String() string {
	r := k.Resource
	if k.Group != "" {
		r += "." + k.Group
	}
	if k.Subresource != "" {
		r += "/" + k.Subresource
	}
	return k.Verb + " " + r
}

// apiCounts are the API server's request counters (apiserver_request_total summed
// over codes, scopes and components) at one instant.
type apiCounts map[apiKey]float64

// writeVerbs are the verbs that change something.
var writeVerbs = map[string]bool{"CREATE": true, "UPDATE": true, "PATCH": true, "APPLY": true, "DELETE": true, "DELETECOLLECTION": true}

// apiCountsFrom reads apiserver_request_total from a scrape of the API server.
func apiCountsFrom(s scrape) apiCounts {
	c := apiCounts{}
	for _, smp := range s["apiserver_request_total"] {
		l := smp.Labels
		c[apiKey{Verb: l["verb"], Group: l["group"], Resource: l["resource"], Subresource: l["subresource"]}] += smp.Value
	}
	return c
}

func (c apiCounts) sub(before apiCounts) apiCounts {
	d := apiCounts{}
	for k, v := range c {
		if n := v - before[k]; n != 0 {
			d[k] = n
		}
	}
	return d
}

// total adds the counts for which keep is true.
func (c apiCounts) total(keep func(apiKey) bool) float64 {
	var n float64
	for k, v := range c {
		if keep(k) {
			n += v
		}
	}
	return n
}

// isCXStatusWrite: a write of the status of a cxops object.
func isCXStatusWrite(k apiKey) bool {
	return writeVerbs[k.Verb] && k.Group == cxGroup && k.Subresource == "status"
}

// isMomentStatusWrite: a write of a Moment's status.
func isMomentStatusWrite(k apiKey) bool { return isCXStatusWrite(k) && k.Resource == "moments" }

// isCXWrite: any write of a cxops object (spec, status, create, delete).
func isCXWrite(k apiKey) bool { return writeVerbs[k.Verb] && k.Group == cxGroup }

// isEventWrite: an Event written (by the manager's recorder).
func isEventWrite(k apiKey) bool {
	return writeVerbs[k.Verb] && k.Resource == "events"
}

// isLeaseWrite: leader election (the manager's) and the API server's own lease.
func isLeaseWrite(k apiKey) bool { return writeVerbs[k.Verb] && k.Resource == "leases" }

// isResourceRequest: any request on a resource except watches (long-running, one
// per informer) and non-resource paths (the bench's own scrapes of /metrics).
func isResourceRequest(k apiKey) bool { return k.Resource != "" && k.Verb != "WATCH" }

// breakdown lists the non-zero counts for which keep is true, largest first.
func (c apiCounts) breakdown(keep func(apiKey) bool) string {
	type kv struct {
		k apiKey
		v float64
	}
	var rows []kv
	for k, v := range c {
		if keep(k) && v != 0 {
			rows = append(rows, kv{k, v})
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].v != rows[j].v {
			return rows[i].v > rows[j].v
		}
		return rows[i].k.String() < rows[j].k.String()
	})
	parts := make([]string, 0, len(rows))
	for _, r := range rows {
		parts = append(parts, fmt.Sprintf("%s=%.0f", r.k, r.v))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// apiServerMetrics scrapes the test API server's /metrics as the admin user
// (envtest's API server serves it to an authenticated client allowed to get the
// non-resource URL /metrics; system:masters is).
type apiServerMetrics struct {
	client rest.Interface
}

func newAPIServerMetrics(cfg *rest.Config) (*apiServerMetrics, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 100, 200
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	// As `kubectl get --raw /metrics` does.
	return &apiServerMetrics{client: cs.Discovery().RESTClient()}, nil
}

func (a *apiServerMetrics) counts(ctx context.Context) (apiCounts, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	body, err := a.client.Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("scraping the API server's /metrics: %w", err)
	}
	s, err := parseMetrics(strings.NewReader(string(body)))
	if err != nil {
		return nil, fmt.Errorf("parsing the API server's /metrics: %w", err)
	}
	c := apiCountsFrom(s)
	if len(c) == 0 {
		return nil, fmt.Errorf("the API server's /metrics has no apiserver_request_total")
	}
	return c, nil
}

// scrapeHTTP GETs a plain HTTP metrics endpoint (the manager's, with
// --metrics-secure=false) and returns the parsed scrape and its size in bytes.
func scrapeHTTP(ctx context.Context, url string) (scrape, int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, err
	}
	s, err := parseMetrics(strings.NewReader(string(body)))
	return s, len(body), err
}

//go:build linux

package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

const (
	cxGroup = "cx.cxops.io"
	// batchLabel groups moments by batchSize, so that they are deleted a batch per
	// request (a single DeleteCollection of 30,000 objects times out).
	batchLabel = "bench.cxops.io/batch"
	batchSize  = 500
	// journeys is the number of journeys the moments are spread over.
	journeys = 100
)

var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = cxv1.AddToScheme(s)
	return s
}()

// newClient is a client with its own rate limits.
func newClient(cfg *rest.Config, qps float32, burst int) (client.WithWatch, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = qps, burst
	return client.NewWithWatch(cfg, client.Options{Scheme: scheme})
}

// workload describes the objects of one phase.
type workload struct {
	ns          string
	n           int
	interval    time.Duration
	promQueries int // distinct PromQL queries
	docFields   int // distinct fields (queries) of each JSON document
}

// The moments use three sources: half the Prometheus source ("prom"), a quarter
// each of two HTTP JSON sources ("survey-a", "survey-b", one document each).
const (
	promSource = "prom"
	docSourceA = "survey-a"
	docSourceB = "survey-b"
)

// moment is the i-th moment: one objective, >= 99.5 on a signal that answers 99.9.
func (w workload) moment(i int) *cxv1.Moment {
	src, query := w.signal(i)
	return &cxv1.Moment{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: momentName(i), Labels: map[string]string{batchLabel: strconv.Itoa(i / batchSize)}},
		Spec: cxv1.MomentSpec{
			JourneyRef: cxv1.LocalObjectReference{Name: fmt.Sprintf("journey-%d", i%journeys)},
			Stage:      "order", Polarity: cxv1.PolarityPain, Owner: "logistics",
			Objectives: []cxv1.Objective{{
				Name:     "accuracy",
				KPI:      cxv1.KPI{Type: cxv1.KPIStockAccuracy, Direction: cxv1.HigherIsBetter},
				Signal:   cxv1.Signal{SourceRef: cxv1.LocalObjectReference{Name: src}, Query: query},
				Target:   cxv1.Target{Operator: cxv1.OpGreaterOrEqual, Value: ptr.To("99.5")},
				Interval: &cxv1.Duration{Duration: w.interval},
			}},
		},
	}
}

func momentName(i int) string { return fmt.Sprintf("moment-%05d", i) }

// kind is the source family of moment i (0 and 1: Prometheus; 2, 3: documents).
func kind(i int) int { return i % 4 }

func (w workload) signal(i int) (source, query string) {
	k := i / 4
	switch kind(i) {
	case 0, 1:
		return promSource, fmt.Sprintf(`sum(rate(cx_bench_requests_total{q="%d",code!~"5.."}[5m]))`, k%w.promQueries)
	case 2:
		return docSourceA, fmt.Sprintf("{.v%d}", k%w.docFields)
	default:
		return docSourceB, fmt.Sprintf("{.v%d}", k%w.docFields)
	}
}

// groups counts the distinct (source, query) pairs of the Prometheus source and of
// the document sources, and the documents (URLs) used.
func (w workload) groups() (prom, doc, urls int) {
	promQ, docQ, docURL := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i := range w.n {
		src, q := w.signal(i)
		if src == promSource {
			promQ[q] = true
		} else {
			docQ[src+" "+q] = true
			docURL[src] = true
		}
	}
	return len(promQ), len(docQ), len(docURL)
}

func ensureNamespace(ctx context.Context, c client.Client, name string) error {
	err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// createSupport creates the sources and the journeys the moments refer to.
func (w workload) createSupport(ctx context.Context, c client.Client, src *countingSources) error {
	sources := []*cxv1.SignalSource{
		{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: promSource},
			Spec: cxv1.SignalSourceSpec{Prometheus: cxv1.PrometheusSource{Address: src.prom.URL}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: docSourceA},
			Spec: cxv1.SignalSourceSpec{HTTP: cxv1.HTTPSource{URL: src.docs.URL + "/doc/a.json"}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: docSourceB},
			Spec: cxv1.SignalSourceSpec{HTTP: cxv1.HTTPSource{URL: src.docs.URL + "/doc/b.json"}}},
	}
	for _, s := range sources {
		if err := c.Create(ctx, s); err != nil {
			return fmt.Errorf("creating source %s: %w", s.Name, err)
		}
	}
	return parallel(ctx, min(journeys, w.n), 8, func(j int) error {
		err := c.Create(ctx, &cxv1.Journey{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: fmt.Sprintf("journey-%d", j)},
			Spec: cxv1.JourneySpec{Persona: cxv1.Persona{Name: "Technician"}, Stages: []cxv1.Stage{{Name: "order", Phase: cxv1.PhasePurchase}}}})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	})
}

// createMoments creates the n moments with bounded concurrency and returns the
// created objects' resource versions and generations (what the manager's cache
// would hold), so that the floor patches without reading first.
func (w workload) createMoments(ctx context.Context, c client.Client, workers int) ([]created, error) {
	out := make([]created, w.n)
	err := parallel(ctx, w.n, workers, func(i int) error {
		m := w.moment(i)
		err := c.Create(ctx, m)
		if apierrors.IsAlreadyExists(err) {
			// A retried create that had succeeded.
			err = c.Get(ctx, client.ObjectKeyFromObject(m), m)
		}
		if err != nil {
			return err
		}
		out[i] = created{rv: m.ResourceVersion, generation: m.Generation}
		return nil
	})
	return out, err
}

type created struct {
	rv         string
	generation int64
}

// deleteAll deletes the phase's moments a batch per request, then its journeys and
// sources, and waits until no moment is left.
func (w workload) deleteAll(ctx context.Context, c client.Client) error {
	batches := (w.n + batchSize - 1) / batchSize
	err := parallel(ctx, batches, 2, func(b int) error {
		return c.DeleteAllOf(ctx, &cxv1.Moment{}, client.InNamespace(w.ns), client.MatchingLabels{batchLabel: strconv.Itoa(b)})
	})
	if err != nil {
		return fmt.Errorf("deleting the moments of %s: %w", w.ns, err)
	}
	for _, o := range []client.Object{&cxv1.Moment{}, &cxv1.Journey{}, &cxv1.SignalSource{}} {
		if err := c.DeleteAllOf(ctx, o, client.InNamespace(w.ns)); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting in %s: %w", w.ns, err)
		}
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var list metav1.PartialObjectMetadataList
		list.SetGroupVersionKind(cxv1.GroupVersion.WithKind("MomentList"))
		if err := c.List(ctx, &list, client.InNamespace(w.ns), client.Limit(1)); err != nil {
			return err
		}
		if len(list.Items) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("moments of %s still exist 5 minutes after their deletion", w.ns)
		}
		time.Sleep(time.Second)
	}
}

// parallel runs f(0..n-1) on workers goroutines; each call is retried up to 5
// times (with a short backoff) before its error stops the run.
func parallel(ctx context.Context, n, workers int, f func(i int) error) error {
	var wg sync.WaitGroup
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var failed atomic.Bool
	for range max(1, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				var err error
				for attempt := range 6 {
					if err = f(i); err == nil || ctx.Err() != nil {
						break
					}
					time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
				}
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("item %d: %w", i, err) })
					failed.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// converged says whether a moment shows its first evaluation for its current
// generation: Ready, every objective Met. The floor's status and the manager's are
// judged by this one rule.
func converged(m *cxv1.Moment) bool {
	if m.Status.ObservedGeneration != m.Generation || len(m.Status.Objectives) != len(m.Spec.Objectives) {
		return false
	}
	if !apimeta.IsStatusConditionTrue(m.Status.Conditions, cxv1.ReadyCondition) {
		return false
	}
	for _, o := range m.Status.Objectives {
		if o.State != cxv1.StateMet {
			return false
		}
	}
	return true
}

// convergeWatch watches the moments of one namespace from a resource version
// (reconnecting as needed) and closes done when n of them have converged.
type convergeWatch struct {
	n        int
	done     chan struct{}
	at       time.Time // when the n-th moment converged
	count    atomic.Int64
	modified atomic.Int64

	mu sync.Mutex
	// marks[i] is when (i+1) tenths of the moments had converged: where a slow
	// run lost its time (a slower pace throughout, a late start or a tail).
	marks   [10]time.Time
	current map[string]bool // the latest converged() of each moment seen
	seen    map[string]bool
	last    map[string]map[string]string // the flattened status of each moment
	changes map[string]int               // status fields changed by MODIFIED events, since takeChanges
	errs    []error
	stop    func()
}

func startConvergeWatch(ctx context.Context, c client.WithWatch, ns string, n int) (*convergeWatch, error) {
	var list metav1.PartialObjectMetadataList
	list.SetGroupVersionKind(cxv1.GroupVersion.WithKind("MomentList"))
	if err := c.List(ctx, &list, client.InNamespace(ns), client.Limit(1)); err != nil {
		return nil, err
	}
	lw := &cache.ListWatch{WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
		return c.Watch(ctx, &cxv1.MomentList{}, client.InNamespace(ns), &client.ListOptions{Raw: &opts})
	}}
	wctx, cancel := context.WithCancel(ctx)
	rw, err := watchtools.NewRetryWatcherWithContext(wctx, list.ResourceVersion, lw)
	if err != nil {
		cancel()
		return nil, err
	}
	w := &convergeWatch{n: n, done: make(chan struct{}), current: map[string]bool{}, seen: map[string]bool{},
		last: map[string]map[string]string{}, changes: map[string]int{}}
	w.stop = func() { cancel(); rw.Stop() }
	go func() {
		for ev := range rw.ResultChan() {
			if ev.Type == watch.Error {
				w.mu.Lock()
				w.errs = append(w.errs, apierrors.FromObject(ev.Object))
				w.mu.Unlock()
				continue
			}
			m, ok := ev.Object.(*cxv1.Moment)
			if !ok {
				continue
			}
			if ev.Type == watch.Modified {
				w.modified.Add(1)
			}
			w.mu.Lock()
			if ev.Type == watch.Deleted {
				delete(w.current, m.Name)
				delete(w.last, m.Name)
				w.mu.Unlock()
				continue
			}
			flat := flattenStatus(&m.Status)
			if prev, ok := w.last[m.Name]; ok && ev.Type == watch.Modified {
				changed := changedFields(prev, flat)
				if len(changed) == 0 {
					changed = []string{"(no status field: metadata or spec)"}
				}
				for _, f := range changed {
					w.changes[f]++
				}
			}
			w.last[m.Name] = flat
			ok = converged(m)
			w.current[m.Name] = ok
			first := ok && !w.seen[m.Name]
			if first {
				w.seen[m.Name] = true
			}
			w.mu.Unlock()
			if !first {
				continue
			}
			c := int(w.count.Add(1))
			if tenth := c * 10 / n; tenth > (c-1)*10/n { // c <= n: tenth <= 10
				w.mu.Lock()
				w.marks[tenth-1] = time.Now()
				w.mu.Unlock()
			}
			if c == n {
				w.at = time.Now()
				close(w.done)
			}
		}
	}()
	return w, nil
}

// progress shows, from start, when each tenth of the moments had converged.
func (w *convergeWatch) progress(start time.Time) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	parts := make([]string, 0, len(w.marks))
	for _, t := range w.marks {
		if t.IsZero() {
			parts = append(parts, "-")
			continue
		}
		parts = append(parts, fmt.Sprintf("%.1f", t.Sub(start).Seconds()))
	}
	return "tenths converged at " + strings.Join(parts, " ") + " s"
}

// notConverged counts the moments whose latest status is not converged (a moment
// that lost its Met state during a steady window).
func (w *convergeWatch) notConverged() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	bad := 0
	for _, ok := range w.current {
		if !ok {
			bad++
		}
	}
	return bad + (w.n - len(w.current))
}

// wait returns when n moments have converged, or an error when check fails (the
// manager exited) or the timeout passes.
func (w *convergeWatch) wait(timeout time.Duration, check func() error) error {
	deadline := time.After(timeout)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-w.done:
			return nil
		case <-deadline:
			return fmt.Errorf("only %d of %d moments converged within %s", w.count.Load(), w.n, timeout)
		case <-tick.C:
			if check != nil {
				if err := check(); err != nil {
					return err
				}
			}
		}
	}
}

// takeChanges returns the status fields changed since the last call (by how many
// MODIFIED events) and starts counting again.
func (w *convergeWatch) takeChanges() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.changes
	w.changes = map[string]int{}
	return c
}

// flattenStatus turns a status into path → value, lists of conditions and
// objectives keyed by their type or name: "conditions[Ready].reason".
func flattenStatus(st *cxv1.MomentStatus) map[string]string {
	data, _ := json.Marshal(st)
	var v any
	_ = json.Unmarshal(data, &v)
	out := map[string]string{}
	flatten(v, "", out)
	return out
}

func flatten(v any, prefix string, out map[string]string) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(e, p, out)
		}
	case []any:
		for i, e := range t {
			key := strconv.Itoa(i)
			if m, ok := e.(map[string]any); ok {
				if n, ok := m["type"].(string); ok {
					key = n
				} else if n, ok := m["name"].(string); ok {
					key = n
				}
			}
			flatten(e, fmt.Sprintf("%s[%s]", prefix, key), out)
		}
	default:
		out[prefix] = fmt.Sprint(t)
	}
}

// changedFields lists the paths whose values differ between a and b, sorted.
func changedFields(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func (w *convergeWatch) watchErrors() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return errors.Join(w.errs...)
}

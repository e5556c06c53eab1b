package engine

import (
	"cmp"
	"errors"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cxops/cxops/api/v1alpha1"
)

// Metric names. The objective series carry the labels namespace, owner_kind
// ("Moment" or "Journey"), owner and objective.
const (
	// MetricObjectiveValue is the latest observed value of an objective. The series
	// is absent while there is no data.
	MetricObjectiveValue = "cxops_objective_value"
	// MetricObjectiveTarget is an objective's target, with a bound label: "value"
	// for the operators >=, >, <=, < and ==, "min" and "max" for InRange, and
	// "warning" for the warning bound.
	MetricObjectiveTarget = "cxops_objective_target"
	// MetricObjectiveState is 1 with a state label naming the objective's current
	// state. Each objective has exactly one such series (none before its first
	// state is known); it is replaced on a transition. One series per objective,
	// rather than one per possible state, keeps 10,000 moments cheap;
	// count by (state) (cxops_objective_state) still works.
	MetricObjectiveState = "cxops_objective_state"
	// MetricProviderRequests counts fetches by source and result: "success", or the
	// reason of the failure (providers.ReasonOf: Unreachable, which includes the
	// engine's fetch timeout, Unauthorized, BadResponse, NoData, ...; "Error" when
	// the error has no reason). A source that is not ready is not counted: nothing
	// is called.
	MetricProviderRequests = "cxops_provider_requests_total"
	// MetricProviderRequestDuration is the duration of fetches by source. The
	// answers of an in-memory provider (static) are not timed.
	MetricProviderRequestDuration = "cxops_provider_request_duration_seconds"
	// MetricEvaluationLag is how late a group's tick started compared with its due
	// time (queueing for a worker included).
	MetricEvaluationLag = "cxops_evaluation_lag_seconds"
	// MetricEvaluations counts objective evaluations.
	MetricEvaluations = "cxops_evaluations_total"
	// MetricSourceIntervalStretch is, by source, how many times longer than
	// scheduled its intervals take because the calls of every source on its host
	// need more than the per-host egress rate allows (SourceLoad.Stretch): 1 when
	// they fit. Only sources whose calls are rate-limited have a series.
	MetricSourceIntervalStretch = "cxops_source_interval_stretch_ratio"
)

var objectiveLabels = []string{"namespace", "owner_kind", "owner", "objective"}

// metrics holds the engine's collectors. A nil *metrics records nothing.
//
// The per-objective series (value, target, state) are not kept as gauges: they are
// produced at scrape time from the engine's own state by objectiveCollector, so
// that 10,000 objectives cost nothing between scrapes.
type metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	lag         prometheus.Histogram
	evaluations prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, e *Engine) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricProviderRequests,
			Help: "Signal fetches by source and result (success or the failure reason).",
		}, []string{"source", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricProviderRequestDuration,
			Help:    "Duration of signal fetches by source.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"source"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    MetricEvaluationLag,
			Help:    "How late an evaluation tick started compared with its due time.",
			Buckets: []float64{.001, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		evaluations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: MetricEvaluations,
			Help: "Objective evaluations.",
		}),
	}
	m.requests = register(reg, m.requests)
	m.duration = register(reg, m.duration)
	m.lag = register(reg, m.lag)
	m.evaluations = register(reg, m.evaluations)
	if err := reg.Register(newObjectiveCollector(e)); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			panic(err)
		}
	}
	return m
}

// register registers c, or returns the collector already registered under the
// same description (two engines on one registry share their series).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

// objectiveCollector produces the per-objective series from the engine's state at
// scrape time: cxops_objective_value (absent while there is no data),
// cxops_objective_target (one series per bound) and cxops_objective_state (1 for
// the current state).
type objectiveCollector struct {
	e                    *Engine
	value, target, state *prometheus.Desc
	stretch              *prometheus.Desc
}

// The names and help texts of the per-objective families, shared by the
// collector's descriptions, objectiveFamilies and WriteObjectiveSeries.
var (
	nameValue, nameTarget, nameState = MetricObjectiveValue, MetricObjectiveTarget, MetricObjectiveState
	helpValue                        = "Latest observed value of an objective; absent while there is no data."
	helpTarget                       = "Target of an objective; bound is value, min, max or warning."
	helpState                        = "1 for the objective's current state (Met, Warning, Breached, Drifting, Unknown); one series per objective."
	one                              = 1.0
)

func newObjectiveCollector(e *Engine) *objectiveCollector {
	return &objectiveCollector{
		e:     e,
		value: prometheus.NewDesc(MetricObjectiveValue, helpValue, objectiveLabels, nil),
		target: prometheus.NewDesc(MetricObjectiveTarget, helpTarget,
			append(append([]string(nil), objectiveLabels...), "bound"), nil),
		state: prometheus.NewDesc(MetricObjectiveState, helpState,
			append(append([]string(nil), objectiveLabels...), "state"), nil),
		stretch: prometheus.NewDesc(MetricSourceIntervalStretch,
			"How many times longer than scheduled a source's intervals take because the calls to its host need more than the per-host egress rate allows; 1 when they fit.",
			[]string{"source"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *objectiveCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.value
	ch <- c.target
	ch <- c.state
	ch <- c.stretch
}

// objectiveSample is what one objective exports, copied under the engine's lock.
type objectiveSample struct {
	labels [4]string // namespace, owner_kind, owner, objective
	// The target: value, or min and max for InRange; and the warning bound.
	inRange, hasWarning       bool
	target, min, max, warning float64
	value                     float64
	hasValue                  bool
	state                     v1alpha1.ObjectiveState
}

// Collect implements prometheus.Collector: it copies what it needs under the lock
// and builds the series outside it. The per-objective series are left out when
// they are served apart (SeriesApart).
func (c *objectiveCollector) Collect(ch chan<- prometheus.Metric) {
	apart := c.e.seriesApart.Load()
	c.e.mu.Lock()
	var samples []objectiveSample
	if !apart {
		samples = c.e.objectiveSamplesLocked()
	}
	c.e.loadLocked()
	type stretch struct {
		source string
		ratio  float64
	}
	var stretches []stretch
	for _, s := range c.e.sources {
		if s.load.Host != "" && s.load.Rate > 0 {
			stretches = append(stretches, stretch{s.name, s.load.Stretch})
		}
	}
	out := c.e.takeLoadOutboxLocked()
	c.e.mu.Unlock()
	c.e.deliverLoads(out)
	for _, s := range stretches {
		ch <- prometheus.MustNewConstMetric(c.stretch, prometheus.GaugeValue, s.ratio, s.source)
	}
	c.series(samples, ch)
}

// objectiveSamplesLocked copies what every objective exports.
func (e *Engine) objectiveSamplesLocked() []objectiveSample {
	n := 0
	for _, ow := range e.owners {
		n += len(ow.objs)
	}
	samples := make([]objectiveSample, 0, n)
	for _, ow := range e.owners {
		for _, o := range ow.objs {
			samples = append(samples, objectiveSample{
				labels:  [4]string{ow.key.Namespace, ow.key.Kind, ow.key.Name, o.name},
				inRange: o.spec.Operator == v1alpha1.OpInRange, hasWarning: o.spec.HasWarning,
				target: o.spec.Value, min: o.spec.Min, max: o.spec.Max, warning: o.spec.Warning,
				value: o.state.Value, hasValue: o.state.HasValue, state: o.state.State,
			})
		}
	}
	return samples
}

// SeriesApart takes the per-objective series (cxops_objective_value, _target and
// _state) out of the engine's collector: WriteObjectiveSeries serves them
// instead, next to the registry's families (the manager's /metrics). A registry
// checks, hashes and sorts every series it gathers one by one; at 10,000
// objectives that cost more than building the series themselves.
func (e *Engine) SeriesApart() { e.seriesApart.Store(true) }

// sortSamples sorts samples as a registry sorts series: by their label values in
// the order of the sorted label names (namespace, objective, owner, owner_kind).
func sortSamples(samples []objectiveSample) {
	slices.SortFunc(samples, func(a, b objectiveSample) int {
		return cmp.Or(cmp.Compare(a.labels[0], b.labels[0]), cmp.Compare(a.labels[3], b.labels[3]),
			cmp.Compare(a.labels[2], b.labels[2]), cmp.Compare(a.labels[1], b.labels[1]))
	})
}

// objectiveFamilies builds the families of samples, sorted as a registry sorts
// them, in a few bulk allocations; nil when there are none, and families
// without a series are left out. The collector sends their series.
func objectiveFamilies(samples []objectiveSample) []*dto.MetricFamily {
	if len(samples) == 0 {
		return nil
	}
	sortSamples(samples)
	values, targets, states := 0, 0, 0
	for i := range samples {
		s := &samples[i]
		if s.hasValue {
			values++
		}
		targets++
		if s.inRange {
			targets++
		}
		if s.hasWarning {
			targets++
		}
		if s.state != "" {
			states++
		}
	}
	total := values + targets + states
	metrics := make([]dto.Metric, total)
	gauges := make([]dto.Gauge, total)
	ptrs := make([]*dto.Metric, total)
	base := make([]dto.LabelPair, 4*len(samples))
	refs := make([]*dto.LabelPair, 0, 4*values+5*(targets+states))
	next := 0
	add := func(v *float64, pairs []dto.LabelPair, first, last *dto.LabelPair) {
		from := len(refs)
		if first != nil {
			refs = append(refs, first)
		}
		refs = append(refs, &pairs[0], &pairs[3], &pairs[2], &pairs[1])
		if last != nil {
			refs = append(refs, last)
		}
		gauges[next].Value = v
		metrics[next].Label = refs[from:len(refs):len(refs)]
		metrics[next].Gauge = &gauges[next]
		ptrs[next] = &metrics[next]
		next++
	}
	for i := range samples {
		s := &samples[i]
		pairs := base[4*i : 4*i+4 : 4*i+4]
		pairs[0] = dto.LabelPair{Name: &labelNamespace, Value: &s.labels[0]}
		pairs[1] = dto.LabelPair{Name: &labelOwnerKind, Value: &s.labels[1]}
		pairs[2] = dto.LabelPair{Name: &labelOwner, Value: &s.labels[2]}
		pairs[3] = dto.LabelPair{Name: &labelObjective, Value: &s.labels[3]}
	}
	var out []*dto.MetricFamily
	family := func(name, help *string, from int) {
		if next > from {
			out = append(out, &dto.MetricFamily{Name: name, Help: help, Type: dto.MetricType_GAUGE.Enum(), Metric: ptrs[from:next:next]})
		}
	}
	// cxops_objective_state, cxops_objective_target, cxops_objective_value: the
	// families in name order, each sorted by its labels (bound comes first).
	from := next
	for i := range samples {
		if s := &samples[i]; s.state != "" {
			state := statePairs[string(s.state)]
			if state == nil {
				state = constPairs("state", string(s.state))[string(s.state)]
			}
			add(&one, base[4*i:4*i+4], nil, state)
		}
	}
	family(&nameState, &helpState, from)
	from = next
	for _, bound := range []string{"max", "min", "value", "warning"} {
		pair := boundPairs[bound]
		for i := range samples {
			s := &samples[i]
			switch {
			case bound == "max" && s.inRange:
				add(&s.max, base[4*i:4*i+4], pair, nil)
			case bound == "min" && s.inRange:
				add(&s.min, base[4*i:4*i+4], pair, nil)
			case bound == "value" && !s.inRange:
				add(&s.target, base[4*i:4*i+4], pair, nil)
			case bound == "warning" && s.hasWarning:
				add(&s.warning, base[4*i:4*i+4], pair, nil)
			}
		}
	}
	family(&nameTarget, &helpTarget, from)
	from = next
	for i := range samples {
		if s := &samples[i]; s.hasValue {
			add(&s.value, base[4*i:4*i+4], nil, nil)
		}
	}
	family(&nameValue, &helpValue, from)
	return out
}

// Label names of the per-objective series, and the label pairs of their last
// label, shared by every scrape: label pairs are immutable once collected.
var (
	labelNamespace, labelOwnerKind, labelOwner, labelObjective = "namespace", "owner_kind", "owner", "objective"
	boundPairs                                                 = constPairs("bound", "value", "min", "max", "warning")
	statePairs                                                 = constPairs("state",
		string(v1alpha1.StateMet), string(v1alpha1.StateWarning), string(v1alpha1.StateBreached),
		string(v1alpha1.StateDrifting), string(v1alpha1.StateUnknown))
)

func constPairs(name string, values ...string) map[string]*dto.LabelPair {
	out := make(map[string]*dto.LabelPair, len(values))
	for _, v := range values {
		out[v] = &dto.LabelPair{Name: &name, Value: &v}
	}
	return out
}

// builtMetric is one series of objectiveFamilies, sent through a collector (an
// engine whose series are not served apart): it hands over the labels and the
// gauge already built, which are immutable once collected.
type builtMetric struct {
	desc   *prometheus.Desc
	metric *dto.Metric
}

func (m builtMetric) Desc() *prometheus.Desc { return m.desc }

func (m builtMetric) Write(out *dto.Metric) error {
	out.Label, out.Gauge = m.metric.Label, m.metric.Gauge
	return nil
}

// series sends the per-objective series of samples, as objectiveFamilies builds
// them.
func (c *objectiveCollector) series(samples []objectiveSample, ch chan<- prometheus.Metric) {
	descs := map[string]*prometheus.Desc{MetricObjectiveValue: c.value, MetricObjectiveTarget: c.target, MetricObjectiveState: c.state}
	for _, mf := range objectiveFamilies(samples) {
		desc := descs[mf.GetName()]
		for _, m := range mf.Metric {
			ch <- builtMetric{desc: desc, metric: m}
		}
	}
}

func (m *metrics) countEvaluations(n int) {
	if m == nil || n == 0 {
		return
	}
	m.evaluations.Add(float64(n))
}

func (m *metrics) lagObserved(seconds float64) {
	if m == nil {
		return
	}
	m.lag.Observe(seconds)
}

// fetchedBatch counts the fetches of a batch of one source and observes their
// durations; a result without a provider call is not counted, one without a
// duration (in-memory) not timed.
func (m *metrics) fetchedBatch(source string, results []fetchResult) {
	if m == nil {
		return
	}
	var duration prometheus.Observer
	ok := 0
	for i := range results {
		r := &results[i]
		switch r.result {
		case "":
			continue
		case "success":
			ok++
		default:
			m.requests.WithLabelValues(source, r.result).Inc()
		}
		if r.seconds < 0 {
			continue // an in-memory answer is not timed
		}
		if duration == nil {
			duration = m.duration.WithLabelValues(source)
		}
		duration.Observe(r.seconds)
	}
	if ok > 0 {
		m.requests.WithLabelValues(source, "success").Add(float64(ok))
	}
}

// sourceRemoved deletes the series of a source no objective uses any more.
func (m *metrics) sourceRemoved(source string) {
	if m == nil {
		return
	}
	m.requests.DeletePartialMatch(prometheus.Labels{"source": source})
	m.duration.DeleteLabelValues(source)
}

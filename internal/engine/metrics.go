package engine

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

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
	// MetricProviderRequestDuration is the duration of fetches by source.
	MetricProviderRequestDuration = "cxops_provider_request_duration_seconds"
	// MetricEvaluationLag is how late a group's tick started compared with its due
	// time (queueing for a worker included).
	MetricEvaluationLag = "cxops_evaluation_lag_seconds"
	// MetricEvaluations counts objective evaluations.
	MetricEvaluations = "cxops_evaluations_total"
)

var objectiveLabels = []string{"namespace", "owner_kind", "owner", "objective"}

// metrics holds the engine's collectors. A nil *metrics records nothing.
type metrics struct {
	value       *prometheus.GaugeVec
	target      *prometheus.GaugeVec
	state       *prometheus.GaugeVec
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	lag         prometheus.Histogram
	evaluations prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		value: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricObjectiveValue,
			Help: "Latest observed value of an objective; absent while there is no data.",
		}, objectiveLabels),
		target: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricObjectiveTarget,
			Help: "Target of an objective; bound is value, min, max or warning.",
		}, append(append([]string(nil), objectiveLabels...), "bound")),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricObjectiveState,
			Help: "1 for the objective's current state (Met, Warning, Breached, Drifting, Unknown); one series per objective.",
		}, append(append([]string(nil), objectiveLabels...), "state")),
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
	m.value = register(reg, m.value)
	m.target = register(reg, m.target)
	m.state = register(reg, m.state)
	m.requests = register(reg, m.requests)
	m.duration = register(reg, m.duration)
	m.lag = register(reg, m.lag)
	m.evaluations = register(reg, m.evaluations)
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

// objMetrics is what an objective exported, so that it can be updated cheaply and
// deleted exactly.
type objMetrics struct {
	labels  [4]string // namespace, owner_kind, owner, objective
	value   prometheus.Gauge
	state   v1alpha1.ObjectiveState // the state label exported, "" for none
	targets []string                // bound labels exported
}

func (m *metrics) objectiveRegistered(om *objMetrics, owner Owner, name string, s *Spec, st v1alpha1.ObjectiveState) {
	if m == nil {
		return
	}
	om.labels = [4]string{owner.Namespace, owner.Kind, owner.Name, name}
	m.setTargets(om, s)
	m.setState(om, st)
}

func (m *metrics) setTargets(om *objMetrics, s *Spec) {
	if m == nil {
		return
	}
	for _, b := range om.targets {
		m.target.DeleteLabelValues(om.labels[0], om.labels[1], om.labels[2], om.labels[3], b)
	}
	om.targets = om.targets[:0]
	set := func(bound string, v float64) {
		m.target.WithLabelValues(om.labels[0], om.labels[1], om.labels[2], om.labels[3], bound).Set(v)
		om.targets = append(om.targets, bound)
	}
	if s.Operator == v1alpha1.OpInRange {
		set("min", s.Min)
		set("max", s.Max)
	} else {
		set("value", s.Value)
	}
	if s.HasWarning {
		set("warning", s.Warning)
	}
}

func (m *metrics) setState(om *objMetrics, st v1alpha1.ObjectiveState) {
	if m == nil || om.state == st {
		return
	}
	if om.state != "" {
		m.state.DeleteLabelValues(om.labels[0], om.labels[1], om.labels[2], om.labels[3], string(om.state))
	}
	if st != "" {
		m.state.WithLabelValues(om.labels[0], om.labels[1], om.labels[2], om.labels[3], string(st)).Set(1)
	}
	om.state = st
}

// evaluated records one evaluation's outcome: cheap (one atomic store) unless the
// state changed or data appeared or vanished.
func (m *metrics) evaluated(om *objMetrics, st *State) {
	if m == nil {
		return
	}
	switch {
	case st.HasValue && om.value == nil:
		om.value = m.value.WithLabelValues(om.labels[:]...)
		om.value.Set(st.Value)
	case st.HasValue:
		om.value.Set(st.Value)
	case om.value != nil:
		m.value.DeleteLabelValues(om.labels[:]...)
		om.value = nil
	}
	m.setState(om, st.State)
}

func (m *metrics) objectiveRemoved(om *objMetrics) {
	if m == nil {
		return
	}
	if om.value != nil {
		m.value.DeleteLabelValues(om.labels[:]...)
		om.value = nil
	}
	m.setState(om, "")
	for _, b := range om.targets {
		m.target.DeleteLabelValues(om.labels[0], om.labels[1], om.labels[2], om.labels[3], b)
	}
	om.targets = nil
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

func (m *metrics) fetched(source, result string, seconds float64) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(source, result).Inc()
	m.duration.WithLabelValues(source).Observe(seconds)
}

// sourceRemoved deletes the series of a source no objective uses any more.
func (m *metrics) sourceRemoved(source string) {
	if m == nil {
		return
	}
	m.requests.DeletePartialMatch(prometheus.Labels{"source": source})
	m.duration.DeleteLabelValues(source)
}

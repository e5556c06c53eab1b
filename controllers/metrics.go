package controllers

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// taskMetrics are the closed loop's metrics: open tasks (counted from the cache at
// scrape time, so they are always right), open-to-resolve durations, journey scores
// and stage health.
type taskMetrics struct {
	reader      client.Reader
	elected     <-chan struct{}
	open        *prometheus.Desc
	durations   *prometheus.HistogramVec
	score       *prometheus.GaugeVec
	stageHealth *prometheus.GaugeVec
	// pending counts undelivered notifications at scrape time; attempts counts
	// delivery attempts by result.
	pending  *prometheus.Desc
	attempts *prometheus.CounterVec
}

func newTaskMetrics(reg prometheus.Registerer, reader client.Reader, elected <-chan struct{}) *taskMetrics {
	m := &taskMetrics{
		reader:  reader,
		elected: elected,
		open: prometheus.NewDesc("cxops_remediation_tasks_open",
			"Remediation tasks not yet resolved, by journey, stream, severity and phase.",
			[]string{"namespace", "journey", "stream", "severity", "phase"}, nil),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cxops_remediation_task_duration_seconds",
			Help:    "Time from a remediation task's opening to its resolution.",
			Buckets: []float64{60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400},
		}, []string{"namespace", "journey", "stream", "severity", "resolution"}),
		score: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cxops_journey_score",
			Help: "Journey score, 0-100: the weighted share of objectives met.",
		}, []string{"namespace", "journey"}),
		stageHealth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cxops_journey_stage_health",
			Help: "1 for the current health of each journey stage, 0 for the others.",
		}, []string{"namespace", "journey", "stage", "health"}),
		pending: prometheus.NewDesc("cxops_notifications_pending",
			"Webhook notifications of remediation tasks not delivered yet (and not abandoned), by namespace.",
			[]string{"namespace"}, nil),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxops_notification_attempts_total",
			Help: "Webhook notification attempts, by result (delivered or failed).",
		}, []string{"result"}),
	}
	for _, c := range []prometheus.Collector{m, m.durations, m.score, m.stageHealth, m.attempts} {
		if err := reg.Register(c); err != nil {
			if _, dup := err.(prometheus.AlreadyRegisteredError); !dup {
				panic(err)
			}
		}
	}
	return m
}

// Describe implements prometheus.Collector for the open-task gauge.
func (m *taskMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.open
	ch <- m.pending
}

// Collect counts open tasks from the informer cache, on the leader only, so that a
// sum over replicas counts each task once.
func (m *taskMetrics) Collect(ch chan<- prometheus.Metric) {
	select {
	case <-m.elected:
	default:
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Read only: the cache's own objects, not a copy of every task per scrape.
	var list cxv1.RemediationTaskList
	if err := m.reader.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	type key struct{ ns, journey, stream, severity, phase string }
	counts := map[key]float64{}
	pendingByNS := map[string]float64{}
	for _, t := range list.Items {
		if !abandoned(&t) {
			if n := len(undeliveredOf(&t, sinksOf(ctx, m.reader, &t))); n > 0 {
				pendingByNS[t.Namespace] += float64(n)
			}
		}
		if t.Status.Phase == cxv1.TaskResolved {
			continue
		}
		k := key{t.Namespace, t.Spec.JourneyRef.Name, t.Spec.StreamRef.Name, string(t.Status.Severity), string(t.Status.Phase)}
		counts[k]++
	}
	for k, v := range counts {
		ch <- prometheus.MustNewConstMetric(m.open, prometheus.GaugeValue, v, k.ns, k.journey, k.stream, k.severity, k.phase)
	}
	for ns, v := range pendingByNS {
		ch <- prometheus.MustNewConstMetric(m.pending, prometheus.GaugeValue, v, ns)
	}
}

// attempt counts one delivery attempt.
func (m *taskMetrics) attempt(result string) {
	if m != nil {
		m.attempts.WithLabelValues(result).Inc()
	}
}

func (m *taskMetrics) resolved(t *cxv1.RemediationTask) {
	if t.Status.OpenedTime == nil || t.Status.ResolvedTime == nil {
		return
	}
	now := t.Status.ResolvedTime.Time
	m.durations.WithLabelValues(t.Namespace, t.Spec.JourneyRef.Name, t.Spec.StreamRef.Name,
		string(t.Status.Severity), string(t.Status.Resolution)).Observe(now.Sub(t.Status.OpenedTime.Time).Seconds())
}

func (m *taskMetrics) journey(j *cxv1.Journey) {
	if j.Status.Score != nil {
		m.score.WithLabelValues(j.Namespace, j.Name).Set(float64(*j.Status.Score))
	} else {
		m.score.DeleteLabelValues(j.Namespace, j.Name)
	}
	m.stageHealth.DeletePartialMatch(prometheus.Labels{"namespace": j.Namespace, "journey": j.Name})
	for _, s := range j.Status.Stages {
		for _, h := range []cxv1.HealthState{cxv1.HealthHealthy, cxv1.HealthAtRisk, cxv1.HealthDegraded, cxv1.HealthUnknown} {
			v := 0.0
			if s.Health == h {
				v = 1
			}
			m.stageHealth.WithLabelValues(j.Namespace, j.Name, s.Name, string(h)).Set(v)
		}
	}
}

func (m *taskMetrics) forgetJourney(ns, name string) {
	m.score.DeleteLabelValues(ns, name)
	m.stageHealth.DeletePartialMatch(prometheus.Labels{"namespace": ns, "journey": name})
}

// MetricProviderHTTPRequests counts the HTTP requests sent to each signal source
// (label source, "namespace/name"): probes and followed redirects included, the
// queries of an HTTP JSON source that share one document counted once. The
// engine's cxops_provider_requests_total counts queries instead.
const MetricProviderHTTPRequests = "cxops_provider_http_requests_total"

// sourceRequests counts the HTTP requests sent to each source.
type sourceRequests struct {
	vec *prometheus.CounterVec
}

func newSourceRequests(reg prometheus.Registerer) *sourceRequests {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricProviderHTTPRequests,
		Help: "HTTP requests sent to a signal source, probes included; queries sharing one HTTP JSON document count once.",
	}, []string{"source"})
	if err := reg.Register(vec); err != nil {
		are, ok := err.(prometheus.AlreadyRegisteredError)
		if !ok {
			panic(err)
		}
		vec = are.ExistingCollector.(*prometheus.CounterVec)
	}
	return &sourceRequests{vec: vec}
}

// counter returns the function that counts a request to source; nil when
// nothing counts.
func (m *sourceRequests) counter(source string) func() {
	if m == nil {
		return nil
	}
	return func() { m.vec.WithLabelValues(source).Inc() }
}

// forget deletes the series of a deleted source.
func (m *sourceRequests) forget(source string) {
	if m != nil {
		m.vec.DeleteLabelValues(source)
	}
}

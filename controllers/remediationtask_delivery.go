package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/notify"
	"github.com/cxops/cxops/internal/providers"
	"github.com/cxops/cxops/internal/textutil"
)

// sink is a webhook with where it was declared.
type sink struct {
	cxv1.WebhookSink
	from string // "moment" or "stream"
}

// sinksOf returns the moment's and the stream's webhooks, names prefixed by origin
// so they cannot collide.
func (r *RemediationTaskReconciler) sinksOf(ctx context.Context, t *cxv1.RemediationTask, m *cxv1.Moment) []sink {
	var out []sink
	if m != nil && m.Spec.Remediation != nil {
		for _, s := range m.Spec.Remediation.Sinks {
			out = append(out, sink{s, "moment"})
		}
	}
	if t.Spec.StreamRef != nil {
		st := &cxv1.RoadmapStream{}
		if err := r.Get(ctx, ctrlKey(t.Namespace, t.Spec.StreamRef.Name), st); err == nil {
			for _, s := range st.Spec.Sinks {
				out = append(out, sink{s, "stream"})
			}
		}
	}
	return out
}

// wanted lists the notifications the task's state calls for: Opened always, the
// latest escalation, and Resolved.
func wanted(t *cxv1.RemediationTask) []struct {
	event      cxv1.NotificationEvent
	escalation int32
} {
	type w = struct {
		event      cxv1.NotificationEvent
		escalation int32
	}
	out := []w{{cxv1.NotifyOpened, 0}}
	if t.Status.Escalations > 0 {
		out = append(out, w{cxv1.NotifyEscalated, t.Status.Escalations})
	}
	if t.Status.Phase == cxv1.TaskResolved {
		out = append(out, w{cxv1.NotifyResolved, 0})
	}
	return out
}

// deliver sends what is due and records each attempt in status. It returns how long
// to wait before the next retry (0 when nothing waits).
func (r *RemediationTaskReconciler) deliver(ctx context.Context, t *cxv1.RemediationTask, m *cxv1.Moment) time.Duration {
	sinks := r.sinksOf(ctx, t, m)
	if len(sinks) == 0 {
		return 0
	}
	var retry time.Duration
	var failed []string
	now := time.Now() // backoff is about the receiver: wall-clock time
	for _, s := range sinks {
		name := s.from + "/" + s.Name
		for _, w := range wanted(t) {
			d := findDelivery(t, name, w.event)
			if d == nil {
				t.Status.Deliveries = append(t.Status.Deliveries, cxv1.Delivery{Sink: name, Event: w.event, Escalation: w.escalation})
				d = &t.Status.Deliveries[len(t.Status.Deliveries)-1]
			}
			if d.Escalation != w.escalation {
				*d = cxv1.Delivery{Sink: name, Event: w.event, Escalation: w.escalation}
			}
			if d.Delivered {
				continue
			}
			if d.Attempts >= maxDeliveryAttempts {
				failed = append(failed, fmt.Sprintf("%s %s: gave up after %d attempts: %s", name, w.event, d.Attempts, d.LastError))
				continue
			}
			if d.LastAttemptTime != nil {
				if wait := d.LastAttemptTime.Add(notify.Backoff(d.Attempts)).Sub(now); wait > 0 {
					retry = minPositive(retry, wait)
					failed = append(failed, fmt.Sprintf("%s %s: %s", name, w.event, d.LastError))
					continue
				}
			}
			err := r.send(ctx, t, s, w.event, w.escalation)
			d.Attempts++
			at := metav1.NewTime(now)
			d.LastAttemptTime = &at
			if err != nil {
				d.LastError = textutil.Truncate(err.Error(), 512)
				retry = minPositive(retry, notify.Backoff(d.Attempts))
				failed = append(failed, fmt.Sprintf("%s %s: %s", name, w.event, d.LastError))
				continue
			}
			d.Delivered, d.LastError = true, ""
		}
	}
	if len(t.Status.Deliveries) > 24 {
		t.Status.Deliveries = t.Status.Deliveries[len(t.Status.Deliveries)-24:]
	}
	if len(failed) > 0 {
		setCondition(&t.Status.Conditions, t.Generation, cxv1.DeliveredCondition, metav1.ConditionFalse, cxv1.ReasonDeliveryFailed, joinLimited(failed, 3))
	} else {
		setCondition(&t.Status.Conditions, t.Generation, cxv1.DeliveredCondition, metav1.ConditionTrue, cxv1.ReasonDelivered,
			fmt.Sprintf("every notification was delivered to %d sinks", len(sinks)))
	}
	return retry
}

func (r *RemediationTaskReconciler) send(ctx context.Context, t *cxv1.RemediationTask, s sink, ev cxv1.NotificationEvent, escalation int32) error {
	headers := map[string]string{}
	if s.HeadersSecretRef != nil {
		data, err := secretReader{cached: r.Client, api: r.APIReader}.get(ctx, t.Namespace, s.HeadersSecretRef.Name)
		if err != nil {
			if errors.Is(err, providers.ErrSecretNotFound) {
				return fmt.Errorf("secret %q with the sink's headers does not exist", s.HeadersSecretRef.Name)
			}
			return fmt.Errorf("reading secret %q: %w", s.HeadersSecretRef.Name, err)
		}
		for k, v := range data {
			headers[k] = string(v)
		}
	}
	return r.Sender.Send(ctx, s.URL, headers, notification(t, s.from+"/"+s.Name, ev, escalation))
}

func notification(t *cxv1.RemediationTask, sinkName string, ev cxv1.NotificationEvent, escalation int32) notify.Notification {
	n := notify.Notification{
		Event:          ev,
		Task:           t.Name,
		Namespace:      t.Namespace,
		UID:            string(t.UID),
		Moment:         t.Spec.MomentRef.Name,
		Objective:      t.Spec.Objective,
		Team:           t.Spec.Team,
		Severity:       t.Status.Severity,
		Observed:       t.Spec.Observed,
		Target:         t.Spec.Target,
		BreachingSince: t.Spec.BreachingSince.Time,
		Summary:        t.Spec.Summary,
		Escalations:    t.Status.Escalations,
		Resolution:     t.Status.Resolution,
		IdempotencyKey: notify.IdempotencyKey(string(t.UID), sinkName, ev, escalation),
	}
	if t.Spec.JourneyRef != nil {
		n.Journey = t.Spec.JourneyRef.Name
	}
	if t.Spec.StreamRef != nil {
		n.Stream = t.Spec.StreamRef.Name
	}
	if t.Status.OpenedTime != nil {
		n.OpenedTime = t.Status.OpenedTime.Time
	}
	if t.Status.ResolvedTime != nil {
		n.ResolvedTime = t.Status.ResolvedTime.Time
	}
	return n
}

func findDelivery(t *cxv1.RemediationTask, sink string, ev cxv1.NotificationEvent) *cxv1.Delivery {
	for i := range t.Status.Deliveries {
		if d := &t.Status.Deliveries[i]; d.Sink == sink && d.Event == ev {
			return d
		}
	}
	return nil
}

func minPositive(a, b time.Duration) time.Duration {
	if a <= 0 || (b > 0 && b < a) {
		return b
	}
	return a
}

func joinLimited(s []string, n int) string {
	out := ""
	for i, x := range s {
		if i == n {
			return out + fmt.Sprintf("; and %d more", len(s)-n)
		}
		if i > 0 {
			out += "; "
		}
		out += x
	}
	return out
}

package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/egress"
	"github.com/cxops/cxops/internal/notify"
	"github.com/cxops/cxops/internal/providers"
	"github.com/cxops/cxops/internal/textutil"
)

// Delivery, in short: the reconcile decides what a task's state calls for and
// persists it (phase, openedTime, escalations, resolution) before anything is
// sent; then it hands one job per sink to the dispatcher, a bounded pool of
// workers that is fair per sink host. A job reads the task from the API server,
// sends that sink's due notifications in order (Opened, Escalated, Resolved),
// and records every attempt in status with the optimistic lock, re-reading the
// task on a conflict. Undelivered notifications are retried for ever (backoff up
// to DeliveryMaxBackoff) unless a person sets spec.abandonNotifications; until
// then retention keeps the task, and the finalizer keeps a task whose moment was
// deleted until its Resolved notification is delivered.

// taskFinalizer keeps a task until its notifications are delivered (or
// abandoned), so that a deleted moment's sinks still hear that the task ended.
const taskFinalizer = "cx.cxops.io/notifications"

// maxDeliveries bounds status.deliveries (the API's MaxItems).
const maxDeliveries = 24

// sink is a webhook with where it was declared.
type sink struct {
	cxv1.WebhookSink
	from string // "moment" or "stream"
}

// name is the sink's name in delivery records and idempotency keys.
func (s sink) name() string { return s.from + "/" + s.Name }

// host is what fairness between sinks is keyed on: host and port.
func (s sink) host() string {
	u, err := url.Parse(s.URL)
	if err != nil || u.Host == "" {
		return ""
	}
	return egress.HostKey(u)
}

// sinksOf returns the task's webhooks: the moment's as they were when the task
// opened (spec.sinks; the moment's current ones for tasks opened before
// spec.sinks existed) and its stream's current ones, names prefixed by origin so
// they cannot collide. reader is the cache.
func sinksOf(ctx context.Context, reader client.Reader, t *cxv1.RemediationTask) []sink {
	var out []sink
	moment := t.Spec.Sinks
	if moment == nil {
		m := &cxv1.Moment{}
		if err := reader.Get(ctx, ctrlKey(t.Namespace, t.Spec.MomentRef.Name), m); err == nil && m.Spec.Remediation != nil {
			moment = m.Spec.Remediation.Sinks
		}
	}
	for _, s := range moment {
		out = append(out, sink{s, "moment"})
	}
	if t.Spec.StreamRef.Name != "" {
		st := &cxv1.RoadmapStream{}
		if err := reader.Get(ctx, ctrlKey(t.Namespace, t.Spec.StreamRef.Name), st); err == nil {
			for _, s := range st.Spec.Sinks {
				out = append(out, sink{s, "stream"})
			}
		}
	}
	return out
}

// due is one notification a task's state calls for.
type due struct {
	event      cxv1.NotificationEvent
	escalation int32
}

// wanted lists the notifications the task's state calls for, in the order they
// are sent: Opened always, the latest escalation, and Resolved.
func wanted(t *cxv1.RemediationTask) []due {
	if t.Status.Phase == "" {
		return nil // nothing is sent before the task's opening is persisted
	}
	out := []due{{cxv1.NotifyOpened, 0}}
	if n := ptr.Deref(t.Status.Escalations, 0); n > 0 {
		out = append(out, due{cxv1.NotifyEscalated, n})
	}
	if t.Status.Phase == cxv1.TaskResolved {
		out = append(out, due{cxv1.NotifyResolved, 0})
	}
	return out
}

func abandoned(t *cxv1.RemediationTask) bool { return ptr.Deref(t.Spec.AbandonNotifications, false) }

// undelivered is a notification due to a sink and not delivered yet; record is
// nil before its first attempt.
type undelivered struct {
	sink   sink
	due    due
	record *cxv1.Delivery
}

// undeliveredOf lists the notifications due and not delivered, abandoned or not.
func undeliveredOf(t *cxv1.RemediationTask, sinks []sink) []undelivered {
	var out []undelivered
	for _, s := range sinks {
		for _, w := range wanted(t) {
			d := findDelivery(t, s.name(), w.event)
			if d != nil && d.Escalation != w.escalation {
				d = nil // an older escalation's record: this one was not tried yet
			}
			if d == nil || !ptr.Deref(d.Delivered, false) {
				out = append(out, undelivered{s, w, d})
			}
		}
	}
	return out
}

// pending reports whether the task still has notifications to deliver: they keep
// it from retention and hold its finalizer.
func pending(t *cxv1.RemediationTask, sinks []sink) bool {
	return !abandoned(t) && len(undeliveredOf(t, sinks)) > 0
}

// setDeliveryCondition summarizes the delivery records in the Delivered condition.
// Tasks without sinks have none.
func setDeliveryCondition(t *cxv1.RemediationTask, sinks []sink, maxBackoff time.Duration) {
	if len(sinks) == 0 {
		return
	}
	un := undeliveredOf(t, sinks)
	describe := func(u undelivered) string {
		if u.record == nil || u.record.Attempts == 0 {
			return fmt.Sprintf("%s %s: not attempted yet", u.sink.name(), u.due.event)
		}
		return fmt.Sprintf("%s %s: %s (%d attempts)", u.sink.name(), u.due.event, orDash(u.record.LastError), u.record.Attempts)
	}
	var failed, waiting []string
	for _, u := range un {
		if u.record != nil && u.record.LastError != "" {
			failed = append(failed, describe(u))
		} else {
			waiting = append(waiting, describe(u))
		}
	}
	st := &t.Status.Conditions
	switch {
	case len(un) == 0:
		setCondition(st, t.Generation, cxv1.DeliveredCondition, metav1.ConditionTrue, cxv1.ReasonDelivered,
			fmt.Sprintf("every notification was delivered to %d sinks", len(sinks)))
	case abandoned(t):
		setCondition(st, t.Generation, cxv1.DeliveredCondition, metav1.ConditionFalse, cxv1.ReasonDeliveryAbandoned,
			fmt.Sprintf("%d notifications were abandoned (spec.abandonNotifications): %s", len(un), joinLimited(append(failed, waiting...), 3)))
	case len(failed) > 0:
		setCondition(st, t.Generation, cxv1.DeliveredCondition, metav1.ConditionFalse, cxv1.ReasonDeliveryFailed,
			fmt.Sprintf("retrying (at least every %s): %s", maxBackoff, joinLimited(append(failed, waiting...), 3)))
	default:
		setCondition(st, t.Generation, cxv1.DeliveredCondition, metav1.ConditionUnknown, cxv1.ReasonDeliveryPending,
			fmt.Sprintf("%d notifications are being sent: %s", len(un), joinLimited(waiting, 3)))
	}
}

// jobKey names a delivery job: one task, one sink.
func jobKey(t types.NamespacedName, sinkName string) string {
	return t.Namespace + "/" + t.Name + "/" + sinkName
}

func parseJobKey(key string) (types.NamespacedName, string, bool) {
	parts := strings.SplitN(key, "/", 3)
	if len(parts) != 3 {
		return types.NamespacedName{}, "", false
	}
	return types.NamespacedName{Namespace: parts[0], Name: parts[1]}, parts[2], true
}

// dispatch hands the task's sinks with undelivered notifications to the
// dispatcher. t's status must be persisted: jobs read it from the API server.
func (r *RemediationTaskReconciler) dispatch(t *cxv1.RemediationTask, sinks []sink) {
	if abandoned(t) {
		return
	}
	seen := map[string]bool{}
	for _, u := range undeliveredOf(t, sinks) {
		if !seen[u.sink.name()] {
			seen[u.sink.name()] = true
			r.Delivery.Add(notify.Job{Key: jobKey(client.ObjectKeyFromObject(t), u.sink.name()), Host: u.sink.host()})
		}
	}
}

func (r *RemediationTaskReconciler) backoff(attempts int32) time.Duration {
	return notify.BackoffBetween(attempts, r.Options.DeliveryMinBackoff, r.Options.DeliveryMaxBackoff)
}

// deliverJob is the dispatcher's job: send one sink's due notifications of one
// task, in order, and record each attempt. It returns when to try again.
func (r *RemediationTaskReconciler) deliverJob(ctx context.Context, key string) time.Duration {
	nn, sinkName, ok := parseJobKey(key)
	if !ok {
		return 0
	}
	log := ctrl.LoggerFrom(ctx).WithName("delivery").WithValues("namespace", nn.Namespace, "task", nn.Name, "sink", sinkName)
	ctx = ctrl.LoggerInto(ctx, log)
	// Decide on the live object: the cache may not have the last attempt yet.
	t := &cxv1.RemediationTask{}
	if err := r.APIReader.Get(ctx, nn, t); err != nil {
		if apierrors.IsNotFound(err) || ctx.Err() != nil {
			return 0
		}
		log.Error(err, "reading the task before delivery")
		return r.backoff(1)
	}
	if abandoned(t) {
		return 0
	}
	sinks := sinksOf(ctx, r.Client, t)
	var s *sink
	for i := range sinks {
		if sinks[i].name() == sinkName {
			s = &sinks[i]
		}
	}
	if s == nil {
		return 0
	}
	for _, w := range wanted(t) {
		d := findDelivery(t, sinkName, w.event)
		if d != nil && d.Escalation == w.escalation {
			if ptr.Deref(d.Delivered, false) {
				continue
			}
			if d.LastAttemptTime != nil {
				if wait := time.Until(d.LastAttemptTime.Add(r.backoff(d.Attempts))); wait > 0 {
					return wait
				}
			}
		}
		var prev cxv1.Delivery
		if d != nil && d.Escalation == w.escalation {
			prev = *d
		}
		sendErr := r.send(ctx, t, *s, w)
		if sendErr != nil && ctx.Err() != nil {
			return 0 // shutting down: the next leader sends it again, same key and body
		}
		at := metav1.NewTime(time.Now())
		var err error
		if t, err = r.record(ctx, t, sinks, sinkName, w, sendErr, at); err != nil {
			// The attempt is not recorded: it is made again, with the same key and body.
			log.Error(err, "recording a delivery attempt", "event", w.event)
			return r.backoff(1)
		}
		r.reportAttempt(ctx, t, sinkName, w, prev, sendErr)
		if sendErr != nil {
			return r.backoff(prev.Attempts + 1)
		}
	}
	if t.Status.Phase == cxv1.TaskResolved || !t.DeletionTimestamp.IsZero() {
		// Retention and the finalizer wait for delivery: let them look again.
		r.Deadlines.Enqueue(nn)
	}
	return 0
}

// record writes one attempt into the task's status with the optimistic lock,
// re-reading the task when someone else wrote first. It returns the task as
// written.
func (r *RemediationTaskReconciler) record(ctx context.Context, t *cxv1.RemediationTask, sinks []sink, sinkName string, w due, sendErr error, at metav1.Time) (*cxv1.RemediationTask, error) {
	for try := 0; ; try++ {
		before := t.DeepCopy()
		if !applyAttempt(t, sinkName, w, sendErr, at) {
			return t, nil
		}
		setDeliveryCondition(t, sinks, r.Options.DeliveryMaxBackoff)
		_, err := patchStatus(ctx, r.Client, before, t, func(o client.Object) any { return o.(*cxv1.RemediationTask).Status })
		if err == nil || !apierrors.IsConflict(err) || try == 4 {
			return t, err
		}
		fresh := &cxv1.RemediationTask{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(t), fresh); err != nil {
			return t, err
		}
		t = fresh
	}
}

// applyAttempt records an attempt of w to sinkName in t's status. It reports
// false when there is nothing to record: the task has moved on to a newer
// escalation than the one sent.
func applyAttempt(t *cxv1.RemediationTask, sinkName string, w due, sendErr error, at metav1.Time) bool {
	d := findDelivery(t, sinkName, w.event)
	switch {
	case d == nil:
		t.Status.Deliveries = append(t.Status.Deliveries, cxv1.Delivery{Sink: sinkName, Event: w.event, Escalation: w.escalation})
		d = &t.Status.Deliveries[len(t.Status.Deliveries)-1]
	case d.Escalation > w.escalation:
		return false
	case d.Escalation < w.escalation:
		*d = cxv1.Delivery{Sink: sinkName, Event: w.event, Escalation: w.escalation}
	}
	d.Attempts++
	d.LastAttemptTime = &at
	if sendErr != nil {
		d.Delivered, d.LastError = ptr.To(false), textutil.Truncate(sendErr.Error(), notify.MaxErrorLength)
	} else {
		d.Delivered, d.LastError = ptr.To(true), ""
	}
	if n := len(t.Status.Deliveries); n > maxDeliveries {
		// The oldest records go first; a sink is notified at most 3 events.
		t.Status.Deliveries = t.Status.Deliveries[n-maxDeliveries:]
	}
	return true
}

// reportAttempt counts an attempt, logs a failure (the first of a streak at V(0),
// repeats at V(1)) and records an event at the first failure of a streak and at
// the recovery. Never headers, bodies or URLs: the error messages of the sender
// are safe for status, and so for logs and events.
func (r *RemediationTaskReconciler) reportAttempt(ctx context.Context, t *cxv1.RemediationTask, sinkName string, w due, prev cxv1.Delivery, sendErr error) {
	log := ctrl.LoggerFrom(ctx).WithValues("event", w.event, "attempt", prev.Attempts+1)
	if sendErr != nil {
		r.Metrics.attempt("failed")
		msg := textutil.Truncate(sendErr.Error(), notify.MaxErrorLength)
		if prev.LastError == "" {
			log.Info("notification not delivered; retrying", "error", msg)
			if r.Recorder != nil {
				r.Recorder.Eventf(t, nil, corev1.EventTypeWarning, "DeliveryFailed", "Deliver",
					"%s notification to sink %s failed: %s; retrying until delivered", w.event, sinkName, msg)
			}
		} else {
			log.V(1).Info("notification still not delivered; retrying", "error", msg)
		}
		return
	}
	r.Metrics.attempt("delivered")
	if prev.LastError != "" {
		log.Info("notification delivered after failures")
		if r.Recorder != nil {
			r.Recorder.Eventf(t, nil, corev1.EventTypeNormal, "DeliveryRecovered", "Deliver",
				"%s notification delivered to sink %s after %d attempts", w.event, sinkName, prev.Attempts+1)
		}
	}
}

func (r *RemediationTaskReconciler) send(ctx context.Context, t *cxv1.RemediationTask, s sink, w due) error {
	headers := map[string]string{}
	if s.HeadersSecretRef.Name != "" {
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
	return r.Sender.Send(ctx, s.URL, headers, notification(t, s.name(), w))
}

// notification is the body of one notification. It depends only on what is
// fixed once the event happened, so that every attempt sends the same bytes:
//   - Opened describes the task as it opened: spec.severity and no escalation,
//     even when it is retried after an escalation;
//   - Escalated n carries the severity after n escalations;
//   - Resolved carries the final severity, escalations, resolution and time;
//   - openedTime is persisted before the first attempt, and the spec fields in
//     the body cannot change (the API refuses it).
func notification(t *cxv1.RemediationTask, sinkName string, w due) notify.Notification {
	n := notify.Notification{
		Event:          w.event,
		Task:           t.Name,
		Namespace:      t.Namespace,
		UID:            string(t.UID),
		Moment:         t.Spec.MomentRef.Name,
		Objective:      t.Spec.Objective,
		Team:           t.Spec.Team,
		Observed:       t.Spec.Observed,
		Target:         t.Spec.Target,
		BreachingSince: ptr.Deref(t.Spec.BreachingSince, metav1.Time{}).Time,
		Summary:        t.Spec.Summary,
		IdempotencyKey: notify.IdempotencyKey(string(t.UID), sinkName, w.event, w.escalation),
	}
	switch w.event {
	case cxv1.NotifyOpened:
		n.Severity = t.Spec.Severity
	case cxv1.NotifyEscalated:
		n.Severity = severityAfter(t.Spec.Severity, w.escalation)
		n.Escalations = w.escalation
	case cxv1.NotifyResolved:
		n.Severity = t.Status.Severity
		n.Escalations = ptr.Deref(t.Status.Escalations, 0)
		n.Resolution = t.Status.Resolution
		if t.Status.ResolvedTime != nil {
			n.ResolvedTime = t.Status.ResolvedTime.Time
		}
	}
	if t.Spec.JourneyRef.Name != "" {
		n.Journey = t.Spec.JourneyRef.Name
	}
	if t.Spec.StreamRef.Name != "" {
		n.Stream = t.Spec.StreamRef.Name
	}
	if t.Status.OpenedTime != nil {
		n.OpenedTime = t.Status.OpenedTime.Time
	}
	return n
}

// severityAfter is the severity after n escalations of a task that opened at s.
func severityAfter(s cxv1.Severity, n int32) cxv1.Severity {
	for i := int32(0); i < n && s != cxv1.SeverityCritical; i++ {
		s = raise(s)
	}
	return s
}

func findDelivery(t *cxv1.RemediationTask, sink string, ev cxv1.NotificationEvent) *cxv1.Delivery {
	for i := range t.Status.Deliveries {
		if d := &t.Status.Deliveries[i]; d.Sink == sink && d.Event == ev {
			return d
		}
	}
	return nil
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

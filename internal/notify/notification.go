package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"

	"github.com/cxops/cxops/api/v1alpha1"
)

// Notification is the JSON body POSTed to a webhook: one event of one remediation
// task. The JSON keys are lowerCamelCase and come out in the order of the fields
// below; optional fields are left out when empty. Times are RFC 3339 in UTC.
//
// A retried notification has the same body and the same IdempotencyKey (nothing in
// it depends on when it is sent), so a receiver can drop duplicates.
type Notification struct {
	// Event is what happened: Opened, Escalated or Resolved.
	Event v1alpha1.NotificationEvent `json:"event"`
	// Task, Namespace and UID identify the RemediationTask.
	Task      string `json:"task"`
	Namespace string `json:"namespace"`
	UID       string `json:"uid"`
	// Moment, Journey, Objective and Stream say what drifted and where the fix is
	// routed.
	Moment    string `json:"moment"`
	Journey   string `json:"journey,omitempty"`
	Objective string `json:"objective"`
	Stream    string `json:"stream,omitempty"`
	// Team owns the fix.
	Team string `json:"team,omitempty"`
	// Severity is the task's current severity.
	Severity v1alpha1.Severity `json:"severity,omitempty"`
	// Observed is the value when the task opened, Target the target it missed.
	Observed string `json:"observed,omitempty"`
	Target   string `json:"target,omitempty"`
	// BreachingSince is when the breach episode began.
	BreachingSince time.Time `json:"breachingSince,omitzero"`
	// OpenedTime and ResolvedTime are when the task opened and was resolved.
	OpenedTime   time.Time `json:"openedTime,omitzero"`
	ResolvedTime time.Time `json:"resolvedTime,omitzero"`
	// Resolution says how the task was resolved (Resolved events).
	Resolution v1alpha1.Resolution `json:"resolution,omitempty"`
	// Summary is the task's human-readable summary.
	Summary string `json:"summary,omitempty"`
	// Escalations is the escalation this notification announces (Escalated), or
	// the number of escalations so far.
	Escalations int32 `json:"escalations"`
	// IdempotencyKey is also sent as the Idempotency-Key header; see
	// IdempotencyKey.
	IdempotencyKey string `json:"idempotencyKey"`
}

// MarshalJSON encodes the notification with its times in UTC, so that the body
// does not depend on the operator's time zone.
func (n Notification) MarshalJSON() ([]byte, error) {
	type plain Notification // no methods: no recursion
	p := plain(n)
	p.BreachingSince = utc(p.BreachingSince)
	p.OpenedTime = utc(p.OpenedTime)
	p.ResolvedTime = utc(p.ResolvedTime)
	return json.Marshal(p)
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// keyVersion is hashed into every idempotency key; changing it changes every key.
const keyVersion = "cxops.notify/v1"

// IdempotencyKey returns the idempotency key of the notification of event (and, for
// Escalated, escalation number escalation; pass 0 otherwise) of task taskUID to
// sink: the first 32 hex digits (128 bits) of a SHA-256 over the four values. The
// same values always give the same key, in every process and release, and
// different values give different keys, so a receiver can drop the duplicates that
// retries produce.
func IdempotencyKey(taskUID, sink string, event v1alpha1.NotificationEvent, escalation int32) string {
	h := sha256.New()
	// Length-prefixed fields: no two different tuples encode alike.
	for _, f := range []string{keyVersion, taskUID, sink, string(event), strconv.FormatInt(int64(escalation), 10)} {
		var n [8]byte
		b := strconv.AppendInt(n[:0], int64(len(f)), 10)
		h.Write(b)
		h.Write([]byte{':'})
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// Backoff bounds for Backoff.
const (
	MinBackoff = time.Second
	MaxBackoff = 5 * time.Minute
)

// Backoff returns how long to wait after attempts failed attempts before the next
// one: 1s after the first, then 2s, 4s, 8s, … up to 5m. Values below 1 are taken
// as 1. It is deterministic; a caller that wants jitter adds it.
func Backoff(attempts int32) time.Duration {
	return BackoffBetween(attempts, MinBackoff, MaxBackoff)
}

// BackoffBetween is Backoff with other bounds: lo after the first failed attempt,
// doubling up to hi, then hi for ever. Bounds of zero or less take Backoff's.
func BackoffBetween(attempts int32, lo, hi time.Duration) time.Duration {
	if lo <= 0 {
		lo = MinBackoff
	}
	if hi <= 0 {
		hi = MaxBackoff
	}
	d := lo
	for i := int32(1); i < attempts && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

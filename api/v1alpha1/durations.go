package v1alpha1

import "time"

// Bounds of the duration fields. The schema refuses a value outside them at apply
// time with a readable message, and every value it accepts parses with
// time.ParseDuration: each number has at most 5 digits before its decimal point and
// the whole value at most 32 characters, so no accepted value can overflow (a value
// that overflowed would stop the informers of every namespace). The rules in the
// markers must agree with these constants; api/v1alpha1/durations_test.go checks
// them against the generated CRDs.
const (
	// MinInterval and MaxInterval bound an objective's interval.
	MinInterval = 10 * time.Second
	MaxInterval = 24 * time.Hour

	// MaxHold bounds an objective's for and recoverFor (0s is allowed): 30 days.
	MaxHold = 720 * time.Hour

	// MaxEscalateAfter bounds remediation.escalateAfter (0s is not allowed): 30 days.
	MaxEscalateAfter = 720 * time.Hour

	// MinSourceInterval and MaxSourceInterval bound a source's minInterval.
	MinSourceInterval = 10 * time.Second
	MaxSourceInterval = 24 * time.Hour

	// MaxTimeout bounds a Prometheus or HTTP source's timeout (0s is not allowed).
	MaxTimeout = 5 * time.Minute

	// MaxDurationLength is the longest duration string the schema accepts.
	MaxDurationLength = 32
)

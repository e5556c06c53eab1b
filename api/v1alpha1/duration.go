package v1alpha1

import (
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a length of time written as a Go duration string, such as "30s",
// "10m" or "4h". It is metav1.Duration with one difference: decoding never fails.
// A value the schema accepted once but Go cannot hold (an object stored before the
// schema bounded durations, say "3000000h") decodes as an invalid Duration, which
// the controllers report on that object alone, instead of an error that fails the
// whole list and stops the informers for every namespace. Every duration field
// is at most MaxDurationLength (32) characters.
// +kubebuilder:validation:Type=string
// +kubebuilder:validation:MaxLength=32
type Duration struct {
	time.Duration `json:"-"`
	// invalid holds the text of a value that could not be parsed.
	invalid string `json:"-"`
}

// Invalid returns the text of a value that could not be parsed as a duration,
// and "" for a valid one.
func (d Duration) Invalid() string { return d.invalid }

// Err explains an invalid value, and is nil for a valid one.
func (d Duration) Err() error {
	if d.invalid == "" {
		return nil
	}
	return fmt.Errorf("%q is not a duration Go can hold (at most %s); write a shorter one such as 30m or 24h", d.invalid, time.Duration(1<<63-1))
}

// UnmarshalJSON accepts a duration string. A string that does not parse, or a
// value that is not a string, is kept as invalid, never an error.
func (d *Duration) UnmarshalJSON(b []byte) error {
	*d = Duration{}
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		d.invalid = string(b)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		d.invalid = s
		return nil
	}
	d.Duration = v
	return nil
}

// MarshalJSON writes the duration string, or an invalid value as it was read.
func (d Duration) MarshalJSON() ([]byte, error) {
	if d.invalid != "" {
		return json.Marshal(d.invalid)
	}
	return json.Marshal(d.String())
}

// ToUnstructured is what the unstructured converter writes: the duration string.
func (d Duration) ToUnstructured() any {
	if d.invalid != "" {
		return d.invalid
	}
	return d.String()
}

package engine

import (
	"io"
	"math"
	"strconv"
	"strings"
)

// WriteObjectiveSeries writes the per-objective series (cxops_objective_state,
// _target and _value) to w in the Prometheus text format, version 0.0.4: the very
// text the collector's families encode to, written as it is built. At 10,000 objectives
// the families took 13 MB per scrape, and a scrape was what set off most garbage
// collections of an idle manager, each finding the families alive: the heap goal
// then followed them up (RSS 104 MiB where the live heap was 31 MB). Writing the
// text needs a copy of what each objective exports (about 130 bytes each) and a
// buffer of flushBytes. Nothing is written when there is no objective.
func (e *Engine) WriteObjectiveSeries(w io.Writer) error {
	e.mu.Lock()
	samples := e.objectiveSamplesLocked()
	e.mu.Unlock()
	return writeObjectiveSeries(w, samples)
}

// flushBytes is how much text writeObjectiveSeries gathers before writing it.
const flushBytes = 32 << 10

func writeObjectiveSeries(w io.Writer, samples []objectiveSample) error {
	if len(samples) == 0 {
		return nil
	}
	sortSamples(samples)
	t := textWriter{w: w, buf: make([]byte, 0, flushBytes+1024)}
	states, values := false, false
	for i := range samples {
		states = states || samples[i].state != ""
		values = values || samples[i].hasValue
	}
	// The families in name order, each series in the order of its labels (the
	// bound first), as a registry gathers them.
	if states {
		t.header(nameState, helpState)
		for i := range samples {
			if s := &samples[i]; s.state != "" {
				t.series(nameState, "", s, string(s.state), 1)
			}
		}
	}
	t.header(nameTarget, helpTarget)
	for _, bound := range []string{"max", "min", "value", "warning"} {
		for i := range samples {
			s := &samples[i]
			switch {
			case bound == "max" && s.inRange:
				t.series(nameTarget, bound, s, "", s.max)
			case bound == "min" && s.inRange:
				t.series(nameTarget, bound, s, "", s.min)
			case bound == "value" && !s.inRange:
				t.series(nameTarget, bound, s, "", s.target)
			case bound == "warning" && s.hasWarning:
				t.series(nameTarget, bound, s, "", s.warning)
			}
		}
	}
	if values {
		t.header(nameValue, helpValue)
		for i := range samples {
			if s := &samples[i]; s.hasValue {
				t.series(nameValue, "", s, "", s.value)
			}
		}
	}
	return t.flush()
}

// textWriter gathers lines of the text format and writes them in chunks; the
// first error of w stops it.
type textWriter struct {
	w   io.Writer
	buf []byte
	err error
}

func (t *textWriter) flush() error {
	if t.err == nil && len(t.buf) > 0 {
		_, t.err = t.w.Write(t.buf)
	}
	t.buf = t.buf[:0]
	return t.err
}

func (t *textWriter) line() {
	t.buf = append(t.buf, '\n')
	if len(t.buf) >= flushBytes {
		_ = t.flush()
	}
}

func (t *textWriter) header(name, help string) {
	t.buf = append(t.buf, "# HELP "...)
	t.buf = append(t.buf, name...)
	t.buf = append(t.buf, ' ')
	t.buf = appendEscaped(t.buf, help, false)
	t.buf = append(t.buf, "\n# TYPE "...)
	t.buf = append(t.buf, name...)
	t.buf = append(t.buf, " gauge"...)
	t.line()
}

// series writes one series of s: its labels in name order (bound, namespace,
// objective, owner, owner_kind, state), bound and state only when not empty.
func (t *textWriter) series(name, bound string, s *objectiveSample, state string, v float64) {
	b := append(t.buf, name...)
	b = append(b, '{')
	if bound != "" {
		b = appendLabel(b, "bound", bound)
		b = append(b, ',')
	}
	b = appendLabel(b, labelNamespace, s.labels[0])
	b = append(b, ',')
	b = appendLabel(b, labelObjective, s.labels[3])
	b = append(b, ',')
	b = appendLabel(b, labelOwner, s.labels[2])
	b = append(b, ',')
	b = appendLabel(b, labelOwnerKind, s.labels[1])
	if state != "" {
		b = append(b, ',')
		b = appendLabel(b, "state", state)
	}
	b = append(b, "} "...)
	t.buf = appendFloat(b, v)
	t.line()
}

func appendLabel(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, `="`...)
	b = appendEscaped(b, value, true)
	return append(b, '"')
}

// appendEscaped escapes as the text format does: a backslash and a line feed,
// and in label values a double quote.
func appendEscaped(b []byte, s string, quote bool) []byte {
	if !strings.ContainsAny(s, "\\\n\"") {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFloat formats v as the text format does.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case v == 1:
		return append(b, '1')
	case v == 0:
		return append(b, '0')
	case v == -1:
		return append(b, "-1"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, +1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

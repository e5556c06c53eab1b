package providers

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/textutil"
)

// maxKnownNames bounds the value names listed in a NoData message.
const maxKnownNames = 10

// staticProvider serves the values written in the spec. It is rebuilt on every
// generation of its SignalSource (patching a value is how the signal changes), so
// building it only parses the values.
type staticProvider struct {
	values map[string]float64
}

func newStatic(s *v1alpha1.StaticSource) (*staticProvider, error) {
	values := make(map[string]float64, len(s.Values))
	for name, raw := range s.Values {
		v, ok := parseDecimal(string(raw))
		if !ok {
			return nil, Errorf(v1alpha1.ReasonInvalidSpec, "static value %q is not a decimal number", textutil.Truncate(name, 64))
		}
		values[name] = v
	}
	return &staticProvider{values: values}, nil
}

// Query returns the value named query.
func (p *staticProvider) Query(_ context.Context, query string) (float64, error) {
	if v, ok := p.values[query]; ok {
		return v, nil
	}
	return 0, Errorf(v1alpha1.ReasonNoData, "no static value named %q (known: %s)", textutil.Truncate(query, 64), p.knownNames())
}

// Traits says that the values are in memory: the engine calls Query without a
// deadline, in batches.
func (p *staticProvider) Traits() Traits { return Traits{InMemory: true} }

// Probe always succeeds: the values are in the spec.
func (p *staticProvider) Probe(context.Context) error { return nil }

// knownNames lists the value names for a message, bounded.
func (p *staticProvider) knownNames() string {
	names := slices.Sorted(maps.Keys(p.values))
	if len(names) == 0 {
		return "none"
	}
	shown := names[:min(len(names), maxKnownNames)]
	for i, n := range shown {
		shown[i] = textutil.Truncate(n, 64)
	}
	s := strings.Join(shown, ", ")
	if more := len(names) - len(shown); more > 0 {
		s += fmt.Sprintf(" and %d more", more)
	}
	return s
}

// parseDecimal parses a finite decimal number such as "99.5", "-10" or "1e3". It
// refuses what strconv.ParseFloat accepts beyond that: "NaN", "Inf", hexadecimal
// and underscores.
func parseDecimal(s string) (float64, bool) {
	if s == "" || len(s) > 64 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c == '.', c == '-', c == '+', c == 'e', c == 'E':
		default:
			return 0, false
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, false
	}
	return v, true
}

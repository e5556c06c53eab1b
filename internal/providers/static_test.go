package providers

import (
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/cxops/cxops/api/v1alpha1"
)

func TestStaticQuery(t *testing.T) {
	p, err := New(v1alpha1.SignalSourceSpec{Static: v1alpha1.StaticSource{Values: map[string]v1alpha1.StaticValue{
		"nps": "-10", "csat": "4.5", "uptime": "+99.95", "zero": "0",
	}}}, nil, Options{Policy: local})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		query   string
		want    float64
		reason  string
		message string
	}{
		{query: "nps", want: -10},
		{query: "csat", want: 4.5},
		{query: "uptime", want: 99.95},
		{query: "zero", want: 0},
		{query: "missing", reason: v1alpha1.ReasonNoData, message: `no static value named "missing" (known: csat, nps, uptime, zero)`},
		{query: "NPS", reason: v1alpha1.ReasonNoData, message: `no static value named "NPS" (known: csat, nps, uptime, zero)`},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			g := NewWithT(t)
			got, err := p.Query(testContext(t), tt.query)
			if tt.reason == "" {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(got).To(Equal(tt.want))
				return
			}
			pe := expectReason(g, err, tt.reason)
			g.Expect(pe.Message).To(Equal(tt.message))
		})
	}
	NewWithT(t).Expect(p.Probe(testContext(t))).To(Succeed())
}

func TestStaticKnownNamesAreBounded(t *testing.T) {
	g := NewWithT(t)
	values := map[string]v1alpha1.StaticValue{}
	for i := range 25 {
		values[fmt.Sprintf("v%02d", i)] = "1"
	}
	p, err := New(v1alpha1.SignalSourceSpec{Static: v1alpha1.StaticSource{Values: values}}, nil, Options{Policy: local})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = p.Query(testContext(t), "nope")
	pe := expectReason(g, err, v1alpha1.ReasonNoData)
	g.Expect(pe.Message).To(HaveSuffix("(known: v00, v01, v02, v03, v04, v05, v06, v07, v08, v09 and 15 more)"))
}

func TestStaticInvalidValues(t *testing.T) {
	for _, bad := range []string{"", "abc", "NaN", "Inf", "-Infinity", "0x1p3", "1_000", "1e400", strings.Repeat("1", 65)} {
		t.Run(bad, func(t *testing.T) {
			g := NewWithT(t)
			_, err := New(v1alpha1.SignalSourceSpec{Static: v1alpha1.StaticSource{Values: map[string]v1alpha1.StaticValue{"x": v1alpha1.StaticValue(bad)}}}, nil, Options{Policy: local})
			pe := expectReason(g, err, v1alpha1.ReasonInvalidSpec)
			g.Expect(pe.Message).To(Equal(`static value "x" is not a decimal number`))
		})
	}
}

func TestParseDecimal(t *testing.T) {
	tests := map[string]float64{"0": 0, "-10": -10, "+3": 3, "99.5": 99.5, "1e3": 1000, ".5": 0.5, "-0.25": -0.25}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			got, ok := parseDecimal(in)
			NewWithT(t).Expect(ok).To(BeTrue())
			NewWithT(t).Expect(got).To(Equal(want))
		})
	}
}

func BenchmarkNewStatic(b *testing.B) {
	values := map[string]v1alpha1.StaticValue{}
	for i := range 256 {
		values[fmt.Sprintf("value-%d", i)] = v1alpha1.StaticValue(fmt.Sprintf("%d.5", i))
	}
	spec := v1alpha1.SignalSourceSpec{Static: v1alpha1.StaticSource{Values: values}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(spec, nil, Options{Policy: local}); err != nil {
			b.Fatal(err)
		}
	}
}

package providers

import (
	"fmt"
	"sync"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/cxops/cxops/api/v1alpha1"
)

func TestRenderQuery(t *testing.T) {
	data := QueryData{
		Name:      "checkout",
		Namespace: "shop",
		Labels:    map[string]string{"app": "web", "app.kubernetes.io/part-of": "store"},
		Objective: "latency",
	}
	tests := []struct {
		name    string
		tmpl    string
		want    string
		message string
	}{
		{name: "no template", tmpl: `sum(rate(http_requests_total{code=~"5.."}[5m]))`, want: `sum(rate(http_requests_total{code=~"5.."}[5m]))`},
		{name: "single braces are not a template", tmpl: `{.nps.score}`, want: `{.nps.score}`},
		{name: "fields", tmpl: `up{namespace="{{ .Namespace }}",moment="{{ .Name }}",objective="{{ .Objective }}"}`,
			want: `up{namespace="shop",moment="checkout",objective="latency"}`},
		{name: "label by field", tmpl: `up{app="{{ .Labels.app }}"}`, want: `up{app="web"}`},
		{name: "label by index", tmpl: `up{part_of="{{ index .Labels "app.kubernetes.io/part-of" }}"}`, want: `up{part_of="store"}`},
		{name: "quoted text", tmpl: `a{{ "{{" }}b{{ ` + "`}}`" + ` }}`, want: `a{{b}}`},
		{name: "comments and trimming", tmpl: "x {{- /* the moment */ -}} {{ .Name -}} \n y", want: `xcheckouty`},
		{name: "printf is refused", tmpl: `{{ printf "%s-%s" .Namespace .Name }}`, message: `function "printf" is not allowed (at 1:3)`},
		{name: "missing label by field", tmpl: `up{team="{{ .Labels.team }}"}`, message: `there is no label "team" (at 1:12)`},
		{name: "missing label by index", tmpl: `up{team="{{ index .Labels "team" }}"}`, message: `there is no label "team"`},
		{name: "unknown field", tmpl: `{{ .Nope }}`, message: "field .Nope is not allowed"},
		{name: "parse error", tmpl: `up{app="{{ .Labels.app }"}`, message: "query template does not parse"},
		{name: "unknown function", tmpl: `{{ nope .Name }}`, message: `function "nope" is not allowed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := RenderQuery(tt.tmpl, data)
			if tt.message == "" {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(got).To(Equal(tt.want))
				return
			}
			pe := expectReason(g, err, v1alpha1.ReasonInvalidSpec)
			g.Expect(pe.Message).To(ContainSubstring(tt.message))
			g.Expect(pe.Message).To(HavePrefix("query template"))
		})
	}
}

func TestRenderQueryNilLabels(t *testing.T) {
	g := NewWithT(t)
	_, err := RenderQuery(`{{ index .Labels "a" }}`, QueryData{})
	_ = expectReason(g, err, v1alpha1.ReasonInvalidSpec)
	_, err = RenderQuery(`{{ .Labels.a }}`, QueryData{})
	_ = expectReason(g, err, v1alpha1.ReasonInvalidSpec)
}

func TestRenderQueryConcurrentAndCached(t *testing.T) {
	g := NewWithT(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Go(func() {
			tmpl := fmt.Sprintf(`x{n="{{ .Name }}",i="%d"}`, i%4)
			got, err := RenderQuery(tmpl, QueryData{Name: "m"})
			if err == nil && got != fmt.Sprintf(`x{n="m",i="%d"}`, i%4) {
				err = fmt.Errorf("got %q", got)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		g.Expect(err).NotTo(HaveOccurred())
	}
	templateCache.RLock()
	defer templateCache.RUnlock()
	g.Expect(templateCache.m).To(HaveKey(`x{n="{{ .Name }}",i="0"}`))
}

func BenchmarkRenderQuery(b *testing.B) {
	data := QueryData{Name: "checkout", Namespace: "shop", Labels: map[string]string{"app": "web"}}
	b.Run("plain", func(b *testing.B) {
		for b.Loop() {
			_, _ = RenderQuery(`sum(rate(x[5m]))`, data)
		}
	})
	b.Run("template", func(b *testing.B) {
		for b.Loop() {
			_, _ = RenderQuery(`sum(rate(x{app="{{ .Labels.app }}"}[5m]))`, data)
		}
	})
}

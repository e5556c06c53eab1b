package providers

import (
	"errors"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/cxops/cxops/api/v1alpha1"
)

// renderBound is how long one render may take. A render walks at most
// MaxQueryTemplateBytes of template once; the bound is generous for a loaded
// machine.
const renderBound = time.Second

// FuzzRenderQuery renders any template: it never panics, returns within
// renderBound, refuses with InvalidSpec, keeps the output within MaxQueryBytes, and
// when it accepts a template it renders exactly what text/template would.
func FuzzRenderQuery(f *testing.F) {
	for _, seed := range []string{
		`sum(rate(http_requests_total{code=~"5.."}[5m]))`,
		`{.nps.score}`,
		`up{namespace="{{ .Namespace }}",moment="{{ .Name }}",objective="{{ .Objective }}"}`,
		`up{app="{{ .Labels.app }}"}`,
		`up{part_of="{{ index .Labels "app.kubernetes.io/part-of" }}"}`,
		`{.segments[?(@.name=="{{ .Objective }}")].csat}`,
		`a{{ "{{" }}b{{ ` + "`}}`" + ` }}`,
		"x {{- /* c */ -}} {{ .Name -}} \n y",
		`{{range 3000000000}}x{{end}}`,
		`{{printf "%0999999d" 1}}`,
		nestedDefines(3),
		`{{block "a" .}}x{{end}}`,
		`{{with .Name}}{{.}}{{end}}`,
		`{{if .Name}}{{else}}{{end}}`,
		`{{$x := .Name}}{{$x}}`,
		`{{.Name | len}}`,
		`{{ (.Name) }}`,
		`{{ .Labels.missing }}`,
		`{{ index .Labels "a" "b" }}`,
		`{{ .Name`,
		`{{}}`,
		strings.Repeat("{{.Name}}", 500),
	} {
		f.Add(seed, "checkout")
	}
	f.Fuzz(func(t *testing.T, tmpl, name string) {
		data := QueryData{
			Name:      name,
			Namespace: "shop",
			Labels:    map[string]string{"app": "web", "app.kubernetes.io/part-of": "store", "": "empty"},
			Objective: "latency",
		}
		start := time.Now()
		out, err := RenderQuery(tmpl, data)
		if took := time.Since(start); took > renderBound {
			t.Fatalf("rendering a %d-byte template took %s", len(tmpl), took)
		}
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Reason != v1alpha1.ReasonInvalidSpec || !strings.HasPrefix(pe.Message, "query template") {
				t.Fatalf("error %v is not an InvalidSpec query template error", err)
			}
			return
		}
		if len(out) > MaxQueryBytes {
			t.Fatalf("output of %d bytes is over the limit", len(out))
		}
		if len(tmpl) > MaxQueryTemplateBytes {
			t.Fatalf("a %d-byte template was accepted", len(tmpl))
		}
		if !strings.Contains(tmpl, "{{") {
			if out != tmpl {
				t.Fatalf("plain query changed: %q became %q", tmpl, out)
			}
			return
		}
		// An accepted template uses only bounded constructs, so text/template may run
		// it as the reference.
		ref, err := template.New("query").Option("missingkey=error").Parse(tmpl)
		if err != nil {
			t.Fatalf("accepted template does not parse with text/template: %v", err)
		}
		var b strings.Builder
		if err := ref.Execute(&b, data); err != nil {
			t.Fatalf("accepted template fails with text/template: %v", err)
		}
		if b.String() != out {
			t.Fatalf("rendered %q, text/template renders %q", out, b.String())
		}
	})
}

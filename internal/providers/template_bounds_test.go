package providers

import (
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/cxops/cxops/api/v1alpha1"
)

// renderWithin renders tmpl in a goroutine and fails the test if it has not
// returned within limit. A template that blows up is abandoned after the deadline,
// so the test allocates at most what a render manages in that time (tens of
// megabytes for the templates below, measured on the unbounded renderer) instead of
// exhausting memory.
func renderWithin(t *testing.T, limit time.Duration, tmpl string, data QueryData) (string, error) {
	t.Helper()
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := RenderQuery(tmpl, data)
		done <- result{out, err}
	}()
	select {
	case r := <-done:
		return r.out, r.err
	case <-time.After(limit):
		t.Fatalf("rendering %.60q... did not return within %s", tmpl, limit)
		return "", nil
	}
}

// TestRenderQueryRefusesUnboundedTemplates reproduces the defect where a 29-byte
// query ({{range 3000000000}}x{{end}}) exhausted the manager's memory, again after
// every restart: the render must be refused at once, with a message naming the
// construct and what a template may use.
func TestRenderQueryRefusesUnboundedTemplates(t *testing.T) {
	data := QueryData{Name: "checkout", Namespace: "shop", Labels: map[string]string{"app": "web"}, Objective: "latency"}
	tests := []struct {
		name      string
		tmpl      string
		construct string
	}{
		{name: "range over a huge integer", tmpl: `{{range 3000000000}}x{{end}}`, construct: "range"},
		{name: "printf with a huge width", tmpl: `{{printf "%0999999d" 1}}`, construct: `function "printf"`},
		{name: "nested defines", tmpl: nestedDefines(40), construct: "define"},
		{name: "block", tmpl: `{{block "a" .}}x{{end}}`, construct: "block"},
		{name: "template call", tmpl: `{{template "query" .}}`, construct: "template"},
		{name: "with", tmpl: `{{with .Name}}{{.}}{{end}}`, construct: "with"},
		{name: "if", tmpl: `{{if .Name}}x{{end}}`, construct: "if"},
		{name: "variable", tmpl: `{{$x := .Name}}{{$x}}`, construct: "variable"},
		{name: "pipeline", tmpl: `{{.Name | len}}`, construct: "pipeline"},
		{name: "other function", tmpl: `{{len .Name}}`, construct: `function "len"`},
		{name: "unknown function", tmpl: `{{nope .Name}}`, construct: `function "nope"`},
		{name: "call", tmpl: `{{call .Name}}`, construct: `function "call"`},
		{name: "dot alone", tmpl: `{{.}}`, construct: `"."`},
		{name: "unknown field", tmpl: `{{.Nope}}`, construct: `field .Nope`},
		{name: "labels map itself", tmpl: `{{.Labels}}`, construct: `.Labels`},
		{name: "field of a string", tmpl: `{{.Name.x}}`, construct: `field .Name.x`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := renderWithin(t, 2*time.Second, tt.tmpl, data)
			pe := expectReason(g, err, v1alpha1.ReasonInvalidSpec)
			g.Expect(pe.Message).To(HavePrefix("query template"))
			g.Expect(pe.Message).To(ContainSubstring(tt.construct))
			g.Expect(pe.Message).To(ContainSubstring("{{ .Name }}"), "the message says what is allowed")
		})
	}
}

// nestedDefines defines n templates, each calling the previous one twice, and
// calls the last: 2^n copies of "x".
func nestedDefines(n int) string {
	var b strings.Builder
	b.WriteString(`{{define "t0"}}x{{end}}`)
	for i := 1; i <= n; i++ {
		b.WriteString(`{{define "t` + itoa(i) + `"}}{{template "t` + itoa(i-1) + `"}}{{template "t` + itoa(i-1) + `"}}{{end}}`)
	}
	b.WriteString(`{{template "t` + itoa(n) + `"}}`)
	return b.String()
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// TestRenderQueryBoundsSizes checks the limits on a template's length and on its
// output, which hold even for allowed constructs.
func TestRenderQueryBoundsSizes(t *testing.T) {
	g := NewWithT(t)
	long := strings.Repeat("a", 300)
	data := QueryData{Name: long, Labels: map[string]string{"k": long}}

	_, err := RenderQuery(strings.Repeat("x", MaxQueryTemplateBytes)+"{{ .Name }}", data)
	pe := expectReason(g, err, v1alpha1.ReasonInvalidSpec)
	g.Expect(pe.Message).To(ContainSubstring("longer than"))

	// 4096 bytes of {{.Name}} is 455 actions of 300 bytes each: 136 KB of output.
	_, err = RenderQuery(strings.Repeat("{{.Name}}", MaxQueryTemplateBytes/len("{{.Name}}")), data)
	pe = expectReason(g, err, v1alpha1.ReasonInvalidSpec)
	g.Expect(pe.Message).To(ContainSubstring("longer than the limit of 8192 bytes"))

	out, err := RenderQuery(strings.Repeat(`{{index .Labels "k"}}`, MaxQueryBytes/300), data)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(len(out)).To(BeNumerically("<=", MaxQueryBytes))
}

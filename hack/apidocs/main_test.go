package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// repoRoot is the repository root, relative to this package's directory (go test
// runs in it).
var repoRoot = filepath.Join("..", "..")

// TestReferenceUpToDate fails when docs/reference/api.md is not what the generator
// makes from the current API source.
func TestReferenceUpToDate(t *testing.T) {
	got, err := generate(filepath.Join(repoRoot, "api", "v1alpha1"))
	if err != nil {
		t.Fatalf("generating the API reference: %v", err)
	}
	path := filepath.Join(repoRoot, "docs", "reference", "api.md")
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v; run `make docs` (go run ./hack/apidocs -o docs/reference/api.md)", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("docs/reference/api.md is out of date with api/v1alpha1: run `make docs` "+
			"(go run ./hack/apidocs -o docs/reference/api.md)\nfirst difference: %s", firstDiff(want, got))
	}
}

// TestDeterministic generates twice and compares.
func TestDeterministic(t *testing.T) {
	a, err := generate(filepath.Join(repoRoot, "api", "v1alpha1"))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		b, err := generate(filepath.Join(repoRoot, "api", "v1alpha1"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("two runs differ: %s", firstDiff(a, b))
		}
	}
}

// TestContent checks that every kind, condition type and reason is documented, and
// that marker lines never leak into descriptions.
func TestContent(t *testing.T) {
	out, err := generate(filepath.Join(repoRoot, "api", "v1alpha1"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(out)
	for _, want := range []string{
		"## SignalSource\n", "## Journey\n", "## Moment\n", "## RoadmapStream\n", "## RemediationTask\n",
		"### Objective\n", "### Target\n", "### WebhookSink\n", "### Delivery\n",
		"## Conditions\n", "| `Ready` |", "| `Stalled` |", "| `KeyObjectiveBreached` |",
		"| `noData` | [NoDataPolicy](#nodatapolicy) | optional | `Unknown` |",
		"operator InRange needs min and max",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("the reference lacks %q", want)
		}
	}
	for _, bad := range []string{"+kubebuilder", "+required", "+optional", "+listType"} {
		if strings.Contains(doc, bad) {
			t.Errorf("a marker leaked into the reference: %q", bad)
		}
	}
	// Sections are linked from the contents and from field types: every link to
	// an anchor must have its heading.
	headings := map[string]bool{}
	for line := range strings.SplitSeq(doc, "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			headings[anchor(h)] = true
		} else if h, ok := strings.CutPrefix(line, "### "); ok {
			headings[anchor(h)] = true
		}
	}
	for rest := doc; ; {
		i := strings.Index(rest, "](#")
		if i < 0 {
			break
		}
		rest = rest[i+3:]
		a := rest[:strings.IndexByte(rest, ')')]
		if !headings[a] {
			t.Errorf("link to #%s has no heading", a)
		}
	}
}

func TestEnumValues(t *testing.T) {
	got, err := enumValues(`">=";">";"<=";"<";"==";InRange`)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{">=", ">", "<=", "<", "==", "InRange"}; !slices.Equal(got, want) {
		t.Errorf("enumValues = %q, want %q", got, want)
	}
}

func TestMarkerArgs(t *testing.T) {
	got, err := markerArgs(`rule="self.matches('^[a-z]$') && size(self) > 1",message="must be \"short\", really",priority=1,JSONPath=` + "`.a.b`")
	if err != nil {
		t.Fatal(err)
	}
	if got["rule"] != `self.matches('^[a-z]$') && size(self) > 1` || got["message"] != `must be "short", really` ||
		got["priority"] != "1" || got["JSONPath"] != ".a.b" {
		t.Errorf("markerArgs = %q", got)
	}
}

func TestMarkdownEscaping(t *testing.T) {
	if got, want := md("a | b <token> `<= x|y`"), "a \\| b &lt;token> `<= x\\|y`"; got != want {
		t.Errorf("md = %q, want %q", got, want)
	}
}

// firstDiff describes the first line where a and b differ.
func firstDiff(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n  file:      " + x + "\n  generated: " + y
		}
	}
	return "none"
}

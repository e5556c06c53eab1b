package providers

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cxops/cxops/api/v1alpha1"
)

// Bounds of FuzzJSONSelect: a query is at most as long as the schema allows, and a
// document is bounded like a response body; selection must finish in selectBound.
const (
	fuzzMaxDoc  = 64 << 10
	selectBound = 2 * time.Second
)

// FuzzJSONSelect runs a JSONPath query against a JSON document the way Query does
// (compile, then select): it never panics (not even one that selectNumber would
// recover from), finishes within selectBound, and returns either a finite number or
// an *Error with a known reason.
func FuzzJSONSelect(f *testing.F) {
	for _, s := range []struct{ doc, query string }{
		{sampleDoc, "{.nps.score}"},
		{sampleDoc, "nps.score"},
		{sampleDoc, "$.items[?(@.v >= 2)].v"},
		{sampleDoc, "{..v}"},
		{sampleDoc, "{.items[-1:].v}"},
		{sampleDoc, "{range .items[*]}{.v}{end}"},
		{`{"a":[[[[[[1]]]]]]}`, "{..[0]..[0]..[0]..[0]}"},
		{`{"a":{"b":{"c":{"d":1}}}}`, "{..*..*..*}"},
		{`[1,2,3]`, "[1:2]"},
		{`{"a":"1e3"}`, "{.a}"},
		{`{"a":1}`, `{.a[?(@.b=="x")]}`},
		{`{"a":1}`, "{.a[::0]}"},
		{`{"a":1}`, "{.a[0:-1:-1]}"},
		{`{"a":1}`, "{"},
		{`null`, "$"},
	} {
		f.Add(s.doc, s.query)
	}
	known := map[string]bool{
		v1alpha1.ReasonNoData: true, v1alpha1.ReasonBadResponse: true, v1alpha1.ReasonInvalidSpec: true,
	}
	f.Fuzz(func(t *testing.T, doc, query string) {
		if len(doc) > fuzzMaxDoc || len(query) > MaxQueryTemplateBytes {
			return
		}
		var v any
		if json.Unmarshal([]byte(doc), &v) != nil {
			return
		}
		start := time.Now()
		got, err := compileAndSelect(v, query)
		if took := time.Since(start); took > selectBound {
			t.Fatalf("query %q on a %d-byte document took %s", query, len(doc), took)
		}
		if err == nil {
			if math.IsNaN(got) || math.IsInf(got, 0) {
				t.Fatalf("selected a non-finite number %v", got)
			}
			return
		}
		var pe *Error
		if !errors.As(err, &pe) || !known[pe.Reason] {
			t.Fatalf("unexpected error %T %v", err, err)
		}
		if strings.Contains(pe.Message, "could not be evaluated") {
			t.Fatalf("query %q panicked during evaluation (recovered): %v", query, err)
		}
	})
}

// compileAndSelect is Query without the fetch.
func compileAndSelect(doc any, query string) (float64, error) {
	if _, err := compileJSONPath(query); err != nil {
		return 0, err
	}
	return selectNumber(doc, query)
}

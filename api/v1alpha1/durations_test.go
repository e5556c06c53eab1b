package v1alpha1_test

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/cel-go/cel"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apiserver/pkg/cel/environment"
	"sigs.k8s.io/yaml"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// bound is the range a duration field accepts.
type bound struct {
	min, max     time.Duration
	minExclusive bool // (0, max] rather than [0, max]
}

// durationBounds says, by JSON field name, what each duration field accepts. Every
// metav1.Duration field of the API must have an entry (TestEveryDurationFieldIsChecked).
var durationBounds = map[string]bound{
	"interval":      {min: cxv1.MinInterval, max: cxv1.MaxInterval},
	"for":           {min: 0, max: cxv1.MaxHold},
	"recoverFor":    {min: 0, max: cxv1.MaxHold},
	"escalateAfter": {min: 0, max: cxv1.MaxEscalateAfter, minExclusive: true},
	"minInterval":   {min: cxv1.MinSourceInterval, max: cxv1.MaxSourceInterval},
	"timeout":       {min: 0, max: cxv1.MaxTimeout, minExclusive: true},
}

func (b bound) contains(d time.Duration) bool {
	if d < b.min || d > b.max {
		return false
	}
	return !b.minExclusive || d > b.min
}

// schemaField is one property of a generated CRD schema.
type schemaField struct {
	kind, path string
	props      apiextensionsv1.JSONSchemaProps
}

// crdFields loads the generated CRDs and returns their properties by "Kind:path",
// a path such as spec.objectives[].interval.
func crdFields(t testing.TB) map[string]schemaField {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "config", "crd", "bases", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs found: %v", err)
	}
	out := map[string]schemaField{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(raw, &crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		kind := crd.Spec.Names.Kind
		for _, v := range crd.Spec.Versions {
			var walk func(path string, p apiextensionsv1.JSONSchemaProps)
			walk = func(path string, p apiextensionsv1.JSONSchemaProps) {
				if path != "" {
					out[kind+":"+path] = schemaField{kind: kind, path: path, props: p}
				}
				for name, c := range p.Properties {
					walk(strings.TrimPrefix(path+"."+name, "."), c)
				}
				if p.Items != nil && p.Items.Schema != nil {
					walk(path+"[]", *p.Items.Schema)
				}
				if p.AdditionalProperties != nil && p.AdditionalProperties.Schema != nil {
					walk(path+"{}", *p.AdditionalProperties.Schema)
				}
			}
			walk("", *v.Schema.OpenAPIV3Schema)
		}
	}
	return out
}

// goDurationFields lists "Kind:path" of every metav1.Duration field of the API types.
func goDurationFields() []string {
	durationType := reflect.TypeFor[cxv1.Duration]()
	var out []string
	var walk func(kind, path string, t reflect.Type)
	walk = func(kind, path string, t reflect.Type) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case t == durationType:
			out = append(out, kind+":"+path)
		case t.Kind() == reflect.Slice:
			walk(kind, path+"[]", t.Elem())
		case t.Kind() == reflect.Map:
			walk(kind, path+"{}", t.Elem())
		case t.Kind() == reflect.Struct && t.PkgPath() == apiPkgPath():
			for i := range t.NumField() {
				f := t.Field(i)
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				if name == "" || name == "-" {
					continue
				}
				walk(kind, strings.TrimPrefix(path+"."+name, "."), f.Type)
			}
		}
	}
	for _, obj := range []any{cxv1.Moment{}, cxv1.Journey{}, cxv1.SignalSource{}, cxv1.RoadmapStream{}, cxv1.RemediationTask{}} {
		t := reflect.TypeOf(obj)
		for _, part := range []string{"Spec", "Status"} {
			f, _ := t.FieldByName(part)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			walk(t.Name(), name, f.Type)
		}
	}
	return out
}

// apiPkgPath is the package of the API types: the walk stays inside it.
func apiPkgPath() string { return reflect.TypeFor[cxv1.Moment]().PkgPath() }

// celRule compiles a CRD rule on a string field as the API server's CEL environment
// does (same libraries: duration, format, ...).
func celRule(t testing.TB, rule string) cel.Program {
	t.Helper()
	envSet, err := environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()).Extend(environment.VersionedOptions{
		IntroducedVersion: environment.DefaultCompatibilityVersion(),
		EnvOptions:        []cel.EnvOption{cel.Variable("self", cel.StringType)},
	})
	if err != nil {
		t.Fatal(err)
	}
	env, err := envSet.Env(environment.StoredExpressions)
	if err != nil {
		t.Fatal(err)
	}
	ast, iss := env.Compile(rule)
	if iss.Err() != nil {
		t.Fatalf("rule %q: %v", rule, iss.Err())
	}
	prg, err := env.Program(ast)
	if err != nil {
		t.Fatal(err)
	}
	return prg
}

// accepts evaluates every rule on s, as the API server does: false when one refuses
// it, an error when one fails to evaluate (the user would see a conversion error).
func accepts(prgs []cel.Program, s string) (bool, error) {
	for _, p := range prgs {
		v, _, err := p.Eval(map[string]any{"self": s})
		if err != nil {
			return false, err
		}
		if ok, _ := v.Value().(bool); !ok {
			return false, nil
		}
	}
	return true, nil
}

func fieldRules(t testing.TB, f schemaField) []cel.Program {
	t.Helper()
	var prgs []cel.Program
	for _, r := range f.props.XValidations {
		if strings.Contains(r.Rule, "oldSelf") {
			continue // a transition rule: it checks updates, not values
		}
		prgs = append(prgs, celRule(t, r.Rule))
	}
	return prgs
}

// TestEveryDurationFieldIsChecked: every metav1.Duration field of the API is
// bounded in length and checked with CEL duration(), and has a bound here.
func TestEveryDurationFieldIsChecked(t *testing.T) {
	fields := crdFields(t)
	got := goDurationFields()
	if len(got) < 10 {
		t.Fatalf("found only %d duration fields: %v", len(got), got)
	}
	for _, key := range got {
		f, ok := fields[key]
		if !ok {
			t.Errorf("%s: not in the generated CRD", key)
			continue
		}
		if f.props.MaxLength == nil || *f.props.MaxLength != cxv1.MaxDurationLength {
			t.Errorf("%s: maxLength must be %d", key, cxv1.MaxDurationLength)
		}
		var checked bool
		for _, r := range f.props.XValidations {
			checked = checked || (strings.Contains(r.Rule, "duration(self)") && strings.Contains(r.Rule, "self.size() <= 32"))
		}
		if !checked {
			t.Errorf("%s: no CEL rule guards the length and calls duration(self)", key)
		}
		name := key[strings.LastIndex(key, ".")+1:]
		if _, ok := durationBounds[name]; !ok {
			t.Errorf("%s: no bound in durationBounds", key)
		}
	}
}

// durationCandidates are strings near and far from every bound: overflowing
// values, many components, fractions, units Go knows but the schema does not.
func durationCandidates(seed int64, n int) []string {
	out := []string{
		"", "0", "0s", "1", "s", "-1s", "+1s", "1d", "1w", "1µs", "1μs", ".5s", "1.s",
		"10s", "9s", "9.999s", "24h", "24h0m0s", "24h0m0.000000001s", "86400s", "86401s",
		"720h", "720h0m0s", "720h0m0.000000001s", "721h", "43200m", "2592000s", "2592001s",
		"5m", "300s", "300.000000001s", "5m0.000000001s",
		"100000h", "2000000h", "3000000h", "2562047h", "2562048h", "9223372036854775807ns",
		"99999h99999h99999h99999h99999h", "99999h99999h99999h99999h99999h9",
		"99999.99999999999999999999999h", "9999999999999999999999999999999h",
		"1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h1h", "0.0000000001ns", "1e3s", " 1s", "1s ", "1 s",
	}
	r := rand.New(rand.NewSource(seed))
	units := []string{"ns", "us", "µs", "ms", "s", "m", "h", "", "d"}
	digits := func(k int) string {
		var b strings.Builder
		for range k {
			b.WriteByte(byte('0' + r.Intn(10)))
		}
		return b.String()
	}
	for range n {
		var b strings.Builder
		for range 1 + r.Intn(6) {
			b.WriteString(digits(1 + r.Intn(8)))
			if r.Intn(3) == 0 {
				b.WriteString("." + digits(r.Intn(12)))
			}
			b.WriteString(units[r.Intn(len(units))])
		}
		out = append(out, b.String())
	}
	return out
}

// TestDurationRulesNeverOverflow: for every duration field, every string the schema
// accepts parses with time.ParseDuration (as the informers decode it) and lies
// within the field's bound; no string makes a rule fail to evaluate (so the user
// sees the field's message, never a type conversion error); and what a Go client
// sends for an in-bound value (time.Duration.String) is accepted.
func TestDurationRulesNeverOverflow(t *testing.T) {
	fields := crdFields(t)
	candidates := durationCandidates(1, 20000)
	for _, key := range goDurationFields() {
		t.Run(key, func(t *testing.T) {
			f := fields[key]
			b := durationBounds[key[strings.LastIndex(key, ".")+1:]]
			prgs := fieldRules(t, f)
			var accepted int
			check := func(s string) {
				ok, err := accepts(prgs, s)
				if err != nil {
					t.Fatalf("%q: a rule failed to evaluate: %v", s, err)
				}
				if !ok {
					return
				}
				accepted++
				if len(s) > cxv1.MaxDurationLength {
					t.Fatalf("%q: accepted although longer than %d", s, cxv1.MaxDurationLength)
				}
				d, err := time.ParseDuration(s)
				if err != nil {
					t.Fatalf("%q: accepted but time.ParseDuration fails: %v", s, err)
				}
				if !b.contains(d) {
					t.Fatalf("%q: accepted but %v is outside the bound %+v", s, d, b)
				}
			}
			for _, s := range candidates {
				check(s)
			}
			// The bounds themselves, and one nanosecond beyond.
			for _, c := range []struct {
				d    time.Duration
				want bool
			}{
				{b.max, true},
				{b.max + time.Nanosecond, false},
				{b.min, !b.minExclusive},
				{b.min - time.Nanosecond, false},
			} {
				ok, err := accepts(prgs, c.d.String())
				if err != nil || ok != c.want {
					t.Errorf("%s (%v): accepted=%v, want %v (err %v)", c.d.String(), c.d, ok, c.want, err)
				}
			}
			// What a Go client sends for in-bound values of at least 1ms.
			r := rand.New(rand.NewSource(2))
			for range 2000 {
				lo := max(b.min, time.Millisecond)
				d := lo + time.Duration(r.Int63n(int64(b.max-lo)+1))
				if b.minExclusive && d == b.min {
					continue
				}
				if ok, err := accepts(prgs, d.String()); err != nil || !ok {
					t.Fatalf("%s: in bound but refused (err %v)", d.String(), err)
				}
			}
			if accepted == 0 {
				t.Fatal("no candidate accepted: the generator does not reach the rule")
			}
		})
	}
}

// FuzzDurationRules checks the same property as TestDurationRulesNeverOverflow on
// fuzzed strings: go test ./api/v1alpha1 -run '^$' -fuzz FuzzDurationRules.
func FuzzDurationRules(f *testing.F) {
	for _, s := range durationCandidates(3, 200) {
		f.Add(s)
	}
	fields := crdFields(f)
	type rule struct {
		b    bound
		prgs []cel.Program
	}
	var rules []rule
	for _, key := range goDurationFields() {
		rules = append(rules, rule{durationBounds[key[strings.LastIndex(key, ".")+1:]], fieldRules(f, fields[key])})
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, r := range rules {
			ok, err := accepts(r.prgs, s)
			if err != nil {
				t.Fatalf("%q: a rule failed to evaluate: %v", s, err)
			}
			if !ok {
				continue
			}
			d, err := time.ParseDuration(s)
			if err != nil || !r.b.contains(d) {
				t.Fatalf("%q: accepted but parses to %v, %v (bound %+v)", s, d, err, r.b)
			}
		}
	})
}

// TestLabelValueRules: owner and team are accepted exactly when they are valid
// label values, since cxops writes them into the cx.cxops.io/team label of tasks.
func TestLabelValueRules(t *testing.T) {
	fields := crdFields(t)
	r := rand.New(rand.NewSource(4))
	alphabet := "aZ09-_. /é:"
	cands := []string{"customer-service", "Customer Service", "Ops/Night shift", "ops_night.shift", "-ops", "ops-", "a",
		strings.Repeat("a", 63), strings.Repeat("a", 64)}
	for range 5000 {
		var b strings.Builder
		for range 1 + r.Intn(12) {
			b.WriteString(string([]rune(alphabet)[r.Intn(len([]rune(alphabet)))]))
		}
		cands = append(cands, b.String())
	}
	for _, key := range []string{"Moment:spec.owner", "Moment:spec.remediation.team", "RemediationTask:spec.team"} {
		f, ok := fields[key]
		if !ok {
			t.Fatalf("%s not in the CRDs", key)
		}
		prgs := fieldRules(t, f)
		for _, s := range cands {
			if s == "" || (f.props.MaxLength != nil && int64(len(s)) > *f.props.MaxLength) {
				continue // refused by the schema before CEL
			}
			ok, err := accepts(prgs, s)
			if err != nil {
				t.Fatalf("%s %q: %v", key, s, err)
			}
			if want := len(validation.IsValidLabelValue(s)) == 0; ok != want {
				t.Errorf("%s %q: accepted=%v, but valid label value=%v", key, s, ok, want)
			}
		}
	}
}

// TestDueDateRule: a due date is accepted exactly when it is a real calendar date.
func TestDueDateRule(t *testing.T) {
	f := crdFields(t)["RoadmapStream:spec.initiatives[].dueDate"]
	prgs := fieldRules(t, f)
	var cands []string
	for _, y := range []int{2024, 2026, 2100} {
		for m := 0; m <= 13; m++ {
			for d := 0; d <= 32; d++ {
				cands = append(cands, fmt.Sprintf("%04d-%02d-%02d", y, m, d))
			}
		}
	}
	cands = append(cands, "31.01.2027", "2026-2-3", "2026-02-31T00:00:00Z", "")
	for _, s := range cands {
		ok, err := accepts(prgs, s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		_, perr := time.Parse(time.DateOnly, s)
		if want := perr == nil && len(s) == 10; ok != want {
			t.Errorf("%q: accepted=%v, want %v", s, ok, want)
		}
	}
}

// TestStaticValueNamesBounded: static value names have 1 to 253 characters.
func TestStaticValueNamesBounded(t *testing.T) {
	f := crdFields(t)["SignalSource:spec.static.values"]
	if len(f.props.XValidations) == 0 || f.props.MaxProperties == nil {
		t.Fatalf("static values: no rule on the names or no maxProperties: %+v", f.props)
	}
}

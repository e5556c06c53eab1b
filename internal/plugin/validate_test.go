package plugin

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cxops/cxops/internal/testenv"
)

func fixture(name string) string { return filepath.Join("testdata", "validate", name) }

func TestValidateSamples(t *testing.T) {
	g := NewWithT(t)
	samples := filepath.Join(testenv.RepoRoot(), "config", "samples")
	r := cx("validate", "-f", samples)
	g.Expect(r.code).To(Equal(0), r.out+r.err)
	g.Expect(r.out).To(MatchRegexp(`^\d+ objects valid \(1 non-cxops document skipped\)\n$`), "kustomization.yaml is skipped")

	res, err := Validate(context.Background(), ValidateOptions{Paths: []string{samples}}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Errors).To(BeZero())
	g.Expect(res.Warnings).To(BeZero())
	g.Expect(res.Objects).To(Equal(12))
}

func TestValidateSchemaError(t *testing.T) {
	g := NewWithT(t)
	r := cx("validate", "-f", fixture("schema-error.yaml"))
	g.Expect(r.code).To(Equal(1))
	g.Expect(r.out).To(ContainSubstring(fixture("schema-error.yaml") + `:10: Moment/wrong-polarity: spec.polarity: Unsupported value: "Neutral": supported values: "Gain", "Pain"` + "\n"))
	g.Expect(r.out).To(ContainSubstring(fixture("schema-error.yaml") + `:13: Moment/wrong-polarity: spec.impact.weight: Invalid value: "string": spec.impact.weight in body must be of type integer: "string"` + "\n"))
	g.Expect(r.out).To(ContainSubstring(fixture("schema-error.yaml") + `:2: Moment/wrong-polarity: <root>: note: some validation rules were not checked`))
	g.Expect(r.out).To(HaveSuffix("2 errors in 1 object\n"), "the note that CEL rules were not checked is not an error")
}

func TestValidateCELError(t *testing.T) {
	g := NewWithT(t)
	r := cx("validate", "-f", fixture("cel-error.yaml"))
	g.Expect(r.code).To(Equal(1))
	g.Expect(r.out).To(Equal(fixture("cel-error.yaml") +
		`:40: Moment/stock-shown-is-real: spec.objectives[0].target.value: Invalid value: "99.5%": value must be a decimal number such as 99.5 or -10` + "\n" +
		"1 error in 3 objects\n"))
}

func TestValidateDanglingReference(t *testing.T) {
	g := NewWithT(t)
	r := cx("validate", "-f", fixture("dangling-ref.yaml"))
	g.Expect(r.code).To(Equal(1))
	g.Expect(r.out).To(Equal(fixture("dangling-ref.yaml") +
		`:17: Moment/recommend-us: spec.journeyRef.name: Journey "no-such-journey" not found in namespace "default" in the given files (use --allow-missing-refs if it is defined elsewhere)` + "\n" +
		"1 error in 2 objects\n"))

	r = cx("validate", "-f", fixture("dangling-ref.yaml"), "--allow-missing-refs")
	g.Expect(r.code).To(Equal(0))
	g.Expect(r.out).To(Equal(fixture("dangling-ref.yaml") +
		`:17: Moment/recommend-us: spec.journeyRef.name: warning: Journey "no-such-journey" not found in namespace "default" in the given files` + "\n" +
		"2 objects valid, 1 warning\n"))

	// With the journey of the samples in another namespace, the reference does not
	// resolve: references never cross namespaces.
	r = cx("validate", "-f", fixture("dangling-ref.yaml"), "-n", "shop")
	g.Expect(r.out).To(ContainSubstring(`not found in namespace "shop"`))
}

func TestValidateCrossReferences(t *testing.T) {
	g := NewWithT(t)
	f := fixture("cross-refs.yaml")
	r := cx("validate", "-f", f, "--allow-missing-refs")
	g.Expect(r.code).To(Equal(1), "a stage or objective missing from an object in the files is an error even with --allow-missing-refs")
	g.Expect(r.out).To(Equal(strings.Join([]string{
		f + `:17: Moment/quick-quote: spec.stage: stage "quote" is not a stage of Journey "buyer" (` + f + `:7); its stages are: discover, order`,
		f + `:24: Moment/quick-quote: spec.objectives[0].signal.sourceRef.name: warning: SignalSource "crm" not found in namespace "default" in the given files`,
		f + `:28: Moment/quick-quote: spec.remediation.streamRef.name: warning: RoadmapStream "organization" not found in namespace "default" in the given files`,
		f + `:41: RoadmapStream/systems: spec.initiatives[0].addresses[0].objective: Moment "quick-quote" (` + f + `:20) has no objective "quote-accuracy"; its objectives are: quote-time`,
		f + `:42: RoadmapStream/systems: spec.initiatives[0].addresses[1].moment: warning: Moment "no-such-moment" not found in namespace "default" in the given files`,
		"2 errors, 3 warnings in 3 objects",
	}, "\n") + "\n"))
}

func TestValidateUnknownFieldAndStdin(t *testing.T) {
	g := NewWithT(t)
	data, err := os.ReadFile(fixture("unknown-field.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	r := cxWith(nil, "# from a pipe\n---\n"+string(data)+"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "validate", "-f", "-")
	g.Expect(r.code).To(Equal(1))
	g.Expect(r.out).To(Equal(`<stdin>:11: SignalSource/figures: spec.minIntervall: unknown field: it is not in the schema (the API server would drop it; strict validation rejects it)` + "\n" +
		"1 error in 1 object (1 non-cxops document skipped)\n"))
}

func TestValidateBadInput(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	g.Expect(os.WriteFile(bad, []byte("apiVersion: cx.cxops.io/v1alpha1\nkind: SignalSource\nmetadata:\n  name: a\n  name: b\n---\nfoo: [\n"), 0o644)).To(Succeed())
	r := cx("validate", "-f", dir)
	g.Expect(r.code).To(Equal(1))
	g.Expect(r.out).To(ContainSubstring(bad + `:5: <document>: <root>: duplicate field "name"`))
	g.Expect(r.out).To(ContainSubstring(bad + `:7: <document>: <root>: invalid YAML`))

	r = cx("validate", "-f", filepath.Join(dir, "missing.yaml"))
	g.Expect(r.code).To(Equal(1))
	g.Expect(r.err).To(ContainSubstring("does not exist"))

	r = cx("validate")
	g.Expect(r.code).To(Equal(1))
	g.Expect(r.err).To(ContainSubstring("no files given"))
}

// TestValidateAgreesWithAPIServer sends the invalid fixtures to the API server
// (dry run, strict field validation) and checks that it reports every schema and
// CEL error the offline validator reports, in the same words.
func TestValidateAgreesWithAPIServer(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	newNamespace(t, "shop")
	for _, name := range []string{"schema-error.yaml", "cel-error.yaml", "unknown-field.yaml", "wrong-operator.yaml"} {
		res, err := Validate(ctx, ValidateOptions{Paths: []string{fixture(name)}, AllowMissingRefs: true}, nil)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(res.Errors).NotTo(BeZero(), name)

		data, err := os.ReadFile(fixture(name))
		g.Expect(err).NotTo(HaveOccurred())
		serverErrs := map[string]string{} // object name → server error
		for _, c := range splitYAMLDocuments(data) {
			doc, _, err := parseChunk(c)
			g.Expect(err).NotTo(HaveOccurred())
			u := &unstructured.Unstructured{Object: doc.value.(map[string]interface{})}
			if u.GetNamespace() == "" {
				u.SetNamespace("default")
			}
			err = k8sClient.Create(ctx, u, client.DryRunAll, client.FieldValidation("Strict"))
			if err != nil {
				serverErrs[u.GetName()] = err.Error()
			}
		}
		for _, f := range res.Findings {
			if f.Level == levelNote {
				g.Expect(serverErrs[f.Name]).To(ContainSubstring(f.Message), "%s: the note is the server's words", name)
				continue
			}
			if f.Level != levelError {
				continue
			}
			serverErr, rejected := serverErrs[f.Name]
			g.Expect(rejected).To(BeTrue(), "%s: the API server accepted %s/%s", name, f.Kind, f.Name)
			if strings.HasPrefix(f.Message, "unknown field") {
				g.Expect(serverErr).To(ContainSubstring(`unknown field "`+f.Field+`"`), name)
				continue
			}
			g.Expect(serverErr).To(ContainSubstring(f.Field+": "+f.Message), name)
		}
	}
}

// TestValidateOneWrongOperator: one wrong operator is one error. The API server's
// "some validation rules were not checked" is a note after it, not a second error.
func TestValidateOneWrongOperator(t *testing.T) {
	g := NewWithT(t)
	f := fixture("wrong-operator.yaml")
	res, err := Validate(context.Background(), ValidateOptions{Paths: []string{f}}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Errors).To(Equal(1), "%v", res.Findings)
	g.Expect(res.Warnings).To(BeZero(), "%v", res.Findings)

	r := cx("validate", "-f", f)
	g.Expect(r.code).To(Equal(1))
	g.Expect(r.out).To(Equal(strings.Join([]string{
		f + `:40: Moment/stock-shown-is-real: spec.objectives[0].target.operator: Unsupported value: "=>": supported values: ">=", ">", "<=", "<", "==", "InRange"`,
		f + `:23: Moment/stock-shown-is-real: <root>: note: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation`,
		"1 error in 3 objects",
	}, "\n") + "\n"))
}

// TestValidateProcessReference: a moment's spec.process must be a backstage
// process of its stage in the journey of the files, as the controller requires.
func TestValidateProcessReference(t *testing.T) {
	g := NewWithT(t)
	f := fixture("process-ref.yaml")
	r := cx("validate", "-f", f)
	g.Expect(r.code).To(Equal(1))
	g.Expect(r.out).To(Equal(strings.Join([]string{
		f + `:22: Moment/stock: spec.process: process "stock-synk" is not a backstage process of stage "order" of Journey "buyer" (` + f + `:7); its processes are: stock-sync`,
		f + `:38: Moment/delivery: spec.process: process "stock-sync" is not a backstage process of stage "deliver" of Journey "buyer" (` + f + `:7); the stage has no backstage processes`,
		"2 errors in 5 objects",
	}, "\n") + "\n"))
}

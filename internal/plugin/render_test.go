package plugin

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/testenv"
)

// TestWrapFitsTheWidth: every physical line fits the width, but for a line that
// holds a single word too long for any line; words are never split.
func TestWrapFitsTheWidth(t *testing.T) {
	g := NewWithT(t)
	lines := []cline{
		line(4, plain("! task stock-shown-is-real-stock-accuracy-7f3a9")),
		line(6, state("Drifting"), plain(" 98.1 vs >= 99.5 (warning below 99.7)")),
		line(0, plain("averyveryverylongwordwithoutanyhyphenatall")),
		line(4, plain("Pain, "), state("Degraded")),
		line(0),
	}
	for _, color := range []bool{false, true} {
		p := painter{color: color}
		for width := 8; width <= 60; width++ {
			for _, l := range lines {
				got := []string{}
				for _, pl := range p.wrap(l, width) {
					text := pl.text
					for _, c := range []string{ansiRed, ansiGreen, ansiYellow, ansiGrey, ansiBold, ansiReset} {
						text = strings.ReplaceAll(text, c, "")
					}
					if pl.width > width {
						g.Expect(strings.Fields(text)).To(HaveLen(1), "%q at width %d: only a word alone may overflow", plainText(l), width)
					}
					g.Expect(runeLen(text)).To(Equal(pl.width))
					got = append(got, strings.Fields(text)...)
				}
				// Nothing is lost and no word is split: the same words, in order.
				g.Expect(got).To(Equal(strings.Fields(plainText(l))), "at width %d", width)
			}
		}
	}
	g.Expect(painter{}.wrap(line(4, plain("Pain, "), state("Degraded")), 40)).To(Equal([]pline{{width: 18, text: "    Pain, Degraded"}}))
	g.Expect(painter{}.wrap(line(0, state("Degraded"), plain(": 2/6")), 40)[0].text).To(Equal("Degraded: 2/6"))
}

func TestSplitYAMLDocumentsAndLines(t *testing.T) {
	g := NewWithT(t)
	data := []byte(`# leading comment
apiVersion: v1
kind: ConfigMap
--- # a comment after the separator
apiVersion: cx.cxops.io/v1alpha1
kind: Moment
metadata: {name: m}
spec:
  objectives:
    - name: a
      target: {operator: ">=", value: "1"}
    - name: b
      target:
        operator: ">="
        value: "2"
  static:
    values:
      nps: "41"
---
---
text: "--- not a separator"
`)
	chunks := splitYAMLDocuments(data)
	g.Expect(chunks).To(HaveLen(4))
	g.Expect(chunks[1].line).To(Equal(5))
	doc, _, err := parseChunk(chunks[1])
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(doc.line).To(Equal(5))
	for path, want := range map[string]int{
		"":                                5,
		"metadata.name":                   7,
		"spec":                            8,
		"spec.objectives[0]":              10,
		"spec.objectives[0].target":       11,
		"spec.objectives[1].target":       13,
		"spec.objectives[1].target.value": 15,
		"spec.objectives[7].target":       9, // no such item: the list
		"spec.static.values[nps]":         18,
		"spec.nothing.here":               8,
	} {
		g.Expect(doc.lineOf(doc.root, path)).To(Equal(want), path)
	}
	empty, _, err := parseChunk(chunks[2])
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(empty.value).To(BeNil())
	last, _, err := parseChunk(chunks[3])
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(last.line).To(Equal(21))
}

func TestJourneyMapPure(t *testing.T) {
	g := NewWithT(t)
	j := &cxv1.Journey{Spec: cxv1.JourneySpec{Stages: []cxv1.Stage{{Name: "a", Phase: cxv1.PhasePurchase}}}}
	j.Name, j.Namespace = "j", "ns"
	m := cxv1.Moment{Spec: cxv1.MomentSpec{JourneyRef: cxv1.LocalObjectReference{Name: "j"}, Stage: "a", Polarity: cxv1.PolarityGain}}
	m.Name = "m"
	tk := cxv1.RemediationTask{Spec: cxv1.RemediationTaskSpec{MomentRef: cxv1.LocalObjectReference{Name: "m"}, Objective: "o"}}
	tk.Name = "t" // no status yet: open
	jm := journeyMap(j, []cxv1.Moment{m}, []cxv1.RemediationTask{tk})
	g.Expect(jm.Journey.Health).To(Equal("Unknown"))
	g.Expect(jm.Journey.Moments.Total).To(HaveValue(Equal(int32(1))), "counted from the moments until the controller aggregates")
	g.Expect(jm.Stages[0].Moments[0].OpenTasks).To(Equal([]string{"t"}))
	g.Expect(jm.Tasks[0].Phase).To(Equal("Open"))

	var out bytes.Buffer
	RenderMap(&out, jm, 30, false)
	g.Expect(out.String()).To(ContainSubstring("Top gaps  none"))
	g.Expect(out.String()).To(ContainSubstring("! task t"))
}

// FuzzValidate feeds arbitrary input to the offline validator: it must never
// panic, whatever it is given.
func FuzzValidate(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "validate", "*.yaml"))
	samples, _ := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "*.yaml"))
	for _, path := range append(seeds, samples...) {
		if data, err := os.ReadFile(path); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("apiVersion: v1\nkind: List\nitems:\n- apiVersion: cx.cxops.io/v1alpha1\n  kind: Journey\n  metadata: {name: x}\n"))
	f.Add([]byte("- a\n- b\n"))
	f.Add([]byte("apiVersion: cx.cxops.io/v1alpha1\nkind: Moment\nmetadata: [1]\nspec: 3\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Validate(context.Background(), ValidateOptions{Paths: []string{"-"}}, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		PrintValidateResult(&bytes.Buffer{}, res)
	})
}

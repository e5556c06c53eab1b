package plugin

import (
	"bytes"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

func coverageJourney(health cxv1.HealthState, score, coverage, minCoverage *int32) *cxv1.Journey {
	j := &cxv1.Journey{
		ObjectMeta: metav1.ObjectMeta{Name: "j", Namespace: "ns"},
		Spec: cxv1.JourneySpec{Persona: cxv1.Persona{Name: "Shopper"}, MinCoverage: minCoverage,
			Stages: []cxv1.Stage{{Name: "buy", Phase: cxv1.PhasePurchase}}},
		Status: cxv1.JourneyStatus{Health: health, Score: score, Coverage: coverage},
	}
	return j
}

func renderHeader(j *cxv1.Journey, color bool) string {
	var out bytes.Buffer
	RenderMap(&out, journeyMap(j, nil, nil), 120, color)
	head, _, _ := strings.Cut(out.String(), "\n\n")
	return head + "\n"
}

// TestMapCoverage: the map's header shows the journey's data coverage, "-" when
// the controller has not measured it, and the minimum it is held to.
func TestMapCoverage(t *testing.T) {
	g := NewWithT(t)
	j := coverageJourney(cxv1.HealthHealthy, ptr.To(int32(90)), ptr.To(int32(85)), nil)
	g.Expect(renderHeader(j, false)).To(ContainSubstring("\nCoverage    85% of the objective weight has data (minimum 80%)\n"))
	g.Expect(journeyMap(j, nil, nil).Journey.Coverage).To(HaveValue(Equal(int32(85))))
	g.Expect(journeyMap(j, nil, nil).Journey.MinCoverage).To(Equal(int32(80)), "the API's default")

	j = coverageJourney(cxv1.HealthHealthy, ptr.To(int32(90)), nil, ptr.To(int32(60)))
	g.Expect(renderHeader(j, false)).To(ContainSubstring("\nCoverage    -\n"))
	g.Expect(journeyMap(j, nil, nil).Journey.Coverage).To(BeNil())

	j = coverageJourney(cxv1.HealthUnknown, ptr.To(int32(90)), ptr.To(int32(40)), ptr.To(int32(60)))
	g.Expect(renderHeader(j, false)).To(ContainSubstring("\nCoverage    40% of the objective weight has data, below the minimum 60%\n"))
}

// TestUnknownNeverLooksHealthy: a journey whose health is Unknown (or was never
// measured, or whose coverage is below its minimum while an older status still
// says Healthy) is shown Unknown, in grey, and its score is marked partial.
func TestUnknownNeverLooksHealthy(t *testing.T) {
	g := NewWithT(t)
	for name, j := range map[string]*cxv1.Journey{
		"unknown with a score":        coverageJourney(cxv1.HealthUnknown, ptr.To(int32(95)), ptr.To(int32(40)), nil),
		"never measured":              coverageJourney("", nil, nil, nil),
		"healthy below the minimum":   coverageJourney(cxv1.HealthHealthy, ptr.To(int32(95)), ptr.To(int32(40)), nil),
		"healthy below a set minimum": coverageJourney(cxv1.HealthHealthy, ptr.To(int32(95)), ptr.To(int32(89)), ptr.To(int32(90))),
		"healthy, condition unknown": func() *cxv1.Journey {
			j := coverageJourney(cxv1.HealthHealthy, ptr.To(int32(95)), nil, nil)
			j.Status.Conditions = []metav1.Condition{{Type: cxv1.HealthyCondition, Status: metav1.ConditionUnknown, Reason: "NoData"}}
			return j
		}(),
	} {
		g.Expect(journeyHealth(j)).To(Equal("Unknown"), name)
		jm := journeyMap(j, nil, nil)
		g.Expect(jm.Journey.Health).To(Equal("Unknown"), name)
		head := renderHeader(j, true)
		g.Expect(head).NotTo(ContainSubstring(ansiGreen), name)
		g.Expect(head).To(ContainSubstring(ansiGrey+"Unknown"+ansiReset+": "), name)
		if j.Status.Score != nil {
			g.Expect(head).To(ContainSubstring("95/100 (partial: the health is Unknown)\n"), name)
		}
		row := statusRow(j, 0)
		g.Expect(row.Health).To(Equal("Unknown"), name)
	}
	healthy := coverageJourney(cxv1.HealthHealthy, ptr.To(int32(95)), ptr.To(int32(80)), nil)
	g.Expect(journeyHealth(healthy)).To(Equal("Healthy"), "at the minimum, the health is known")
	g.Expect(renderHeader(healthy, true)).To(ContainSubstring(ansiGreen + "Healthy" + ansiReset))
	degraded := coverageJourney(cxv1.HealthDegraded, ptr.To(int32(40)), ptr.To(int32(10)), nil)
	g.Expect(journeyHealth(degraded)).To(Equal("Degraded"), "the plugin never hides a problem cxops reports")
}

// TestMapEscapesHostileText: persona, display names and targets are written by
// users; the map prints their control characters escaped, never raw.
func TestMapEscapesHostileText(t *testing.T) {
	g := NewWithT(t)
	j := coverageJourney(cxv1.HealthHealthy, nil, nil, nil)
	j.Spec.Persona.Name = "Shopper\x1b[2J\x1b]0;pwned\x07"
	j.Spec.Stages[0].DisplayName = "Buy\rnow\u009b31m"
	var out bytes.Buffer
	RenderMap(&out, journeyMap(j, nil, nil), 120, false)
	g.Expect(out.String()).NotTo(ContainSubstring("\x1b"))
	g.Expect(out.String()).NotTo(ContainSubstring("\r"))
	g.Expect(out.String()).NotTo(ContainSubstring("\u009b"))
	g.Expect(out.String()).To(ContainSubstring(`Shopper\x1b[2J\x1b]0;pwned\x07`))
}

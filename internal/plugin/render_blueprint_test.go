package plugin

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"golang.org/x/net/html"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// shopBlueprintObjects is the spare-parts shop with a service blueprint under
// its stages, measured: stock sync is degraded (its moment drifts), chat
// answering healthy, delivery planning named by no moment (Unknown).
func shopBlueprintObjects(ns string) (*cxv1.Journey, []cxv1.Moment, []cxv1.RemediationTask) {
	j := &cxv1.Journey{
		ObjectMeta: metav1.ObjectMeta{Name: "technician-buys-parts", Namespace: ns},
		Spec: cxv1.JourneySpec{
			Persona: cxv1.Persona{Name: "Maintenance technician", Segment: cxv1.SegmentB2B},
			Vision:  "A technician orders the right part in five minutes and it arrives when promised.",
			Stages: []cxv1.Stage{
				{Name: "discover", DisplayName: "Find the part", Phase: cxv1.PhaseBeforePurchase, Blueprint: cxv1.StageBlueprint{
					CustomerActions: []string{"searches the catalogue", "asks on chat when unsure"},
					Frontstage:      []cxv1.FrontstageAction{{Action: "answer on chat", Touchpoint: "chat", Channel: cxv1.ChannelChat, Team: "service"}},
					Backstage: []cxv1.BackstageProcess{{Name: "chat-answered", DisplayName: "Chat answering", Owner: "service", Systems: []string{"helpdesk"},
						SIPOC: cxv1.SIPOC{Inputs: []string{"questions"}, Outputs: []string{"answers"}}}},
					SupportSystems: []cxv1.SupportSystem{{Name: "helpdesk", Description: "Zendesk chat", Owner: "service"}},
				}},
				{Name: "order", DisplayName: "Order", Phase: cxv1.PhasePurchase, Blueprint: cxv1.StageBlueprint{
					CustomerActions: []string{"puts the part in the cart", "checks the stock shown", "places the order"},
					Frontstage: []cxv1.FrontstageAction{
						{Action: "show stock per warehouse", Touchpoint: "stock display", Channel: cxv1.ChannelWeb, Team: "e-commerce"},
						{Action: "confirm the order with a delivery date", Touchpoint: "order confirmation", Channel: cxv1.ChannelEmail},
					},
					Backstage: []cxv1.BackstageProcess{{Name: "stock-sync", DisplayName: "Stock synchronisation", Owner: "logistics", Systems: []string{"erp", "shop"}}},
					SupportSystems: []cxv1.SupportSystem{
						{Name: "erp", Description: "SAP S/4HANA, stock and orders", Owner: "it"},
						{Name: "shop", Description: "the web shop", Owner: "e-commerce"},
					},
				}},
				{Name: "deliver", DisplayName: "Delivery", Phase: cxv1.PhaseAfterPurchase, Blueprint: cxv1.StageBlueprint{
					Backstage: []cxv1.BackstageProcess{{Name: "delivery-planning", Owner: "logistics"}},
				}},
				{Name: "service", DisplayName: "Fit and service", Phase: cxv1.PhaseAfterPurchase},
			},
			Objectives: []cxv1.Objective{objective("nps", "figures", "nps", cxv1.OpGreaterOrEqual, "30", "40", cxv1.HigherIsBetter)},
		},
		Status: cxv1.JourneyStatus{
			Score: ptr.To(int32(71)), Health: cxv1.HealthDegraded, Coverage: ptr.To(int32(100)),
			Moments: cxv1.MomentCounts{Total: new(int32(3)), Healthy: new(int32(1)), Degraded: new(int32(1)), Unknown: new(int32(1))}, DriftingMoments: new(int32(1)),
			Stages: []cxv1.StageStatus{
				{Name: "discover", Health: cxv1.HealthHealthy, Processes: []cxv1.ProcessStatus{
					{Name: "chat-answered", Health: cxv1.HealthHealthy, ControlPoints: new(int32(1)), Drifting: new(int32(0)), Moments: []string{"first-answer-on-chat"}}}},
				{Name: "order", Health: cxv1.HealthDegraded, Processes: []cxv1.ProcessStatus{
					{Name: "stock-sync", Health: cxv1.HealthDegraded, ControlPoints: new(int32(1)), Drifting: new(int32(1)), Moments: []string{"stock-shown-is-real"}}}},
				{Name: "deliver", Health: cxv1.HealthUnknown, Processes: []cxv1.ProcessStatus{{Name: "delivery-planning", Health: cxv1.HealthUnknown}}},
				{Name: "service", Health: cxv1.HealthUnknown},
			},
			TopGaps: []cxv1.Gap{{Moment: "stock-shown-is-real", Stage: "order", Objective: "stock-accuracy", State: cxv1.StateDrifting,
				Value: "98.1", Target: ">= 99.5 (warning below 99.7)", Score: "14.3"}},
			Objectives: []cxv1.ObjectiveStatus{objStatus("nps", cxv1.StateMet, "41", ">= 30 (warning below 40)")},
		},
	}
	drifting := objStatus("stock-accuracy", cxv1.StateDrifting, "98.1", ">= 99.5 (warning below 99.7)")
	drifting.DriftingSince = at(-2 * time.Hour)
	stock := cxv1.Moment{
		ObjectMeta: metav1.ObjectMeta{Name: "stock-shown-is-real", Namespace: ns},
		Spec: cxv1.MomentSpec{JourneyRef: cxv1.LocalObjectReference{Name: j.Name}, Stage: "order", Process: "stock-sync", Owner: "logistics",
			Polarity: cxv1.PolarityPain, Touchpoint: "stock display", Channel: cxv1.ChannelWeb, Impact: &cxv1.Impact{Weight: 10},
			Objectives: []cxv1.Objective{objective("stock-accuracy", "figures", "stock-accuracy", cxv1.OpGreaterOrEqual, "99.5", "99.7", cxv1.HigherIsBetter)}},
		Status: cxv1.MomentStatus{Health: cxv1.HealthDegraded, Drifting: "stock-accuracy",
			Objectives: []cxv1.ObjectiveStatus{drifting}},
	}
	chat := cxv1.Moment{
		ObjectMeta: metav1.ObjectMeta{Name: "first-answer-on-chat", Namespace: ns},
		Spec: cxv1.MomentSpec{JourneyRef: cxv1.LocalObjectReference{Name: j.Name}, Stage: "discover", Process: "chat-answered", Owner: "service",
			Polarity: cxv1.PolarityPain, Touchpoint: "chat", Channel: cxv1.ChannelChat,
			Objectives: []cxv1.Objective{objective("first-response-time", "figures", "chat", cxv1.OpLessOrEqual, "60", "45", cxv1.LowerIsBetter)}},
		Status: cxv1.MomentStatus{Health: cxv1.HealthHealthy,
			Objectives: []cxv1.ObjectiveStatus{objStatus("first-response-time", cxv1.StateMet, "42", "<= 60 (warning above 45)")}},
	}
	recommend := cxv1.Moment{
		ObjectMeta: metav1.ObjectMeta{Name: "recommend-us", Namespace: ns},
		Spec: cxv1.MomentSpec{JourneyRef: cxv1.LocalObjectReference{Name: j.Name}, Stage: "service", Owner: "marketing", Polarity: cxv1.PolarityGain,
			Objectives: []cxv1.Objective{objective("nps", "figures", "nps", cxv1.OpGreaterOrEqual, "30", "", cxv1.HigherIsBetter)}},
	}
	tk := cxv1.RemediationTask{
		ObjectMeta: metav1.ObjectMeta{Name: "stock-shown-is-real-stock-accuracy-7f3a9", Namespace: ns, CreationTimestamp: metav1.Time{Time: testNow.Add(-time.Hour)}},
		Spec:       cxv1.RemediationTaskSpec{MomentRef: cxv1.LocalObjectReference{Name: "stock-shown-is-real"}, Objective: "stock-accuracy", Severity: cxv1.SeverityHigh},
	}
	return j, []cxv1.Moment{stock, chat, recommend}, []cxv1.RemediationTask{tk}
}

func blueprintMap() *JourneyMap {
	j, moments, tasks := shopBlueprintObjects("shop")
	return journeyMap(j, moments, tasks)
}

func TestJourneyMapBlueprintModel(t *testing.T) {
	g := NewWithT(t)
	jm := blueprintMap()
	g.Expect(jm.Journey.Vision).To(HavePrefix("A technician orders"))
	g.Expect(jm.Stages[1].Blueprint.Backstage).To(Equal([]ProcessView{{Name: "stock-sync", DisplayName: "Stock synchronisation",
		Owner: "logistics", Systems: []string{"erp", "shop"}, Health: "Degraded", ControlPoints: 1, Drifting: 1,
		Moments: []string{"stock-shown-is-real"}}}))
	g.Expect(jm.Stages[2].Blueprint.Backstage[0].Health).To(Equal("Unknown"), "no moment names it")
	g.Expect(jm.Stages[3].Blueprint).To(BeNil())
	g.Expect(jm.Stages[1].Moments[0].Process).To(Equal("stock-sync"))

	// A journey whose status has no processes yet: measured from the moments by
	// the controller's rule, never Healthy by default.
	j, moments, tasks := shopBlueprintObjects("shop")
	j.Status = cxv1.JourneyStatus{}
	jm = journeyMap(j, moments, tasks)
	g.Expect(jm.Stages[0].Blueprint.Backstage[0]).To(And(HaveField("Health", "Healthy"), HaveField("ControlPoints", int32(1))))
	g.Expect(jm.Stages[1].Blueprint.Backstage[0]).To(And(HaveField("Health", "Degraded"), HaveField("Drifting", int32(1))))
	g.Expect(jm.Stages[2].Blueprint.Backstage[0].Health).To(Equal("Unknown"))
}

// TestMapBlueprintGolden draws the blueprint lanes under the stage columns at
// two widths: lines fit the width but for a name alone that does not.
func TestMapBlueprintGolden(t *testing.T) {
	g := NewWithT(t)
	jm := blueprintMap()
	for _, width := range []int{120, 60} {
		var out bytes.Buffer
		RenderMapWith(&out, jm, MapOptions{Width: width, Blueprint: true})
		for _, l := range strings.Split(out.String(), "\n") {
			if runeLen(l) > width {
				longest := 0
				for _, f := range strings.Fields(strings.ReplaceAll(l, " | ", " ")) {
					longest = max(longest, runeLen(f))
				}
				g.Expect(longest).To(BeNumerically(">", width/3), "line wider than %d without a long name: %q", width, l)
			}
		}
		expectGolden(t, fmt.Sprintf("map-blueprint-%d", width), out.String())
	}

	// Without --blueprint the map is the map: no lanes.
	var out bytes.Buffer
	RenderMapWith(&out, jm, MapOptions{Width: 120})
	g.Expect(out.String()).NotTo(ContainSubstring("line of visibility"))
	g.Expect(out.String()).To(ContainSubstring("process stock-sync"))

	// A journey without any blueprint says so.
	out.Reset()
	RenderMapWith(&out, journeyMap(&cxv1.Journey{Spec: cxv1.JourneySpec{Stages: []cxv1.Stage{{Name: "a", Phase: cxv1.PhasePurchase}}}}, nil, nil),
		MapOptions{Width: 80, Blueprint: true})
	g.Expect(out.String()).To(ContainSubstring("(no stage of this journey has a service blueprint"))
}

// TestMapBlueprintCutsLongFreeTextRuneSafely: a customer action of one long word
// of multi-byte runes does not widen the columns, and is cut on a rune.
func TestMapBlueprintCutsLongFreeTextRuneSafely(t *testing.T) {
	g := NewWithT(t)
	j, moments, tasks := shopBlueprintObjects("shop")
	j.Spec.Stages[0].Blueprint.CustomerActions = []string{strings.Repeat("ä", 200), "ok"}
	var out bytes.Buffer
	RenderMapWith(&out, journeyMap(j, moments, tasks), MapOptions{Width: 120, Blueprint: true})
	g.Expect(strings.ToValidUTF8(out.String(), "?")).To(Equal(out.String()))
	g.Expect(out.String()).To(ContainSubstring("- " + strings.Repeat("ä", maxFreeWord-1) + "…"))
	for _, l := range strings.Split(out.String(), "\n") {
		g.Expect(runeLen(l)).To(BeNumerically("<=", 120), l)
	}
	g.Expect(cutRunes("日本語テキスト", 4)).To(Equal("日本語…"))
	g.Expect(cutRunes("abc", 3)).To(Equal("abc"))
}

// wellFormedXML decodes the whole document strictly.
func wellFormedXML(g Gomega, data []byte) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	elements := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		g.Expect(err).NotTo(HaveOccurred(), "the SVG is not well-formed XML")
		if _, ok := tok.(xml.StartElement); ok {
			elements++
		}
	}
	g.Expect(elements).To(BeNumerically(">", 10))
}

func TestMapPictureGolden(t *testing.T) {
	g := NewWithT(t)
	jm := blueprintMap()
	var svg, page bytes.Buffer
	g.Expect(RenderMapSVG(&svg, jm, PictureOptions{Blueprint: true})).To(Succeed())
	wellFormedXML(g, svg.Bytes())
	g.Expect(svg.String()).To(ContainSubstring("line of visibility"))
	g.Expect(svg.String()).To(ContainSubstring(`class="pain drifting"`), "the drifting moment is outlined")
	g.Expect(svg.String()).NotTo(MatchRegexp(`(?i)<script|href=|url\(`), "no scripts, no external assets")
	expectGolden(t, "map-blueprint-svg", svg.String())

	g.Expect(RenderMapHTML(&page, jm, PictureOptions{Blueprint: true})).To(Succeed())
	_, err := html.Parse(bytes.NewReader(page.Bytes()))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(page.String()).NotTo(MatchRegexp(`(?i)<script|<link|src=|url\(`), "no scripts, no external assets")
	g.Expect(page.String()).To(ContainSubstring("Stock synchronisation"))
	expectGolden(t, "map-blueprint-html", page.String())

	// Without --blueprint: no lanes.
	svg.Reset()
	g.Expect(RenderMapSVG(&svg, jm, PictureOptions{})).To(Succeed())
	wellFormedXML(g, svg.Bytes())
	g.Expect(svg.String()).NotTo(ContainSubstring("line of visibility"))
	expectGolden(t, "map-svg", svg.String())
}

// TestMapPictureEscapesHostileText: every text a user writes reaches the SVG
// and the HTML escaped: no element, attribute or entity of theirs survives,
// and the SVG stays well-formed (control characters included).
func TestMapPictureEscapesHostileText(t *testing.T) {
	g := NewWithT(t)
	const hostile = `<script>alert(1)</script>"&'` + "\x01\x1b]8;;"
	j, moments, tasks := shopBlueprintObjects("shop")
	j.Name = hostile
	j.Spec.Persona.Name = hostile
	j.Spec.Vision = hostile
	j.Spec.Stages[0].DisplayName = hostile
	j.Spec.Stages[0].Blueprint.CustomerActions = []string{hostile}
	j.Spec.Stages[0].Blueprint.Frontstage[0] = cxv1.FrontstageAction{Action: hostile, Touchpoint: hostile, Channel: `"><svg onload=x>`, Team: hostile}
	j.Spec.Stages[0].Blueprint.Backstage[0].DisplayName = hostile
	j.Spec.Stages[0].Blueprint.Backstage[0].Owner = hostile
	j.Spec.Stages[0].Blueprint.Backstage[0].SIPOC.Inputs = []string{hostile}
	j.Spec.Stages[0].Blueprint.SupportSystems[0].Description = hostile
	j.Status.Health = `"><img src=x>`
	j.Status.TopGaps[0].Target = hostile
	moments[0].Name = hostile
	moments[0].Spec.Touchpoint = hostile
	moments[0].Status.Objectives[0].Target = hostile
	moments[0].Status.Objectives[0].State = `"onmouseover="x`
	jm := journeyMap(j, moments, tasks)

	// The terminal: control characters in the lanes are escaped, never raw.
	var term bytes.Buffer
	RenderMapWith(&term, jm, MapOptions{Width: 120, Blueprint: true})
	g.Expect(term.String()).NotTo(ContainSubstring("\x1b"))
	g.Expect(term.String()).NotTo(ContainSubstring("\x01"))
	g.Expect(term.String()).To(ContainSubstring(`- <script>alert(1)</script>"&'\x01\x1b]8;;`))

	for _, blueprint := range []bool{true, false} {
		var svg, page bytes.Buffer
		g.Expect(RenderMapSVG(&svg, jm, PictureOptions{Blueprint: blueprint})).To(Succeed())
		wellFormedXML(g, svg.Bytes())
		g.Expect(RenderMapHTML(&page, jm, PictureOptions{Blueprint: blueprint})).To(Succeed())
		for name, out := range map[string]string{"svg": svg.String(), "html": page.String()} {
			g.Expect(out).NotTo(ContainSubstring("<script"), name)
			g.Expect(out).NotTo(ContainSubstring("<svg onload"), name)
			g.Expect(out).NotTo(ContainSubstring("<img"), name)
			g.Expect(out).NotTo(ContainSubstring(`"onmouseover`), name)
			g.Expect(out).To(ContainSubstring("&lt;script&gt;"), name)
		}
		g.Expect(svg.String()).NotTo(ContainSubstring("\x1b"), "XML cannot hold control characters")
		// The page holds the hostile text only as text: parsed, no script element.
		doc, err := html.Parse(bytes.NewReader(page.Bytes()))
		g.Expect(err).NotTo(HaveOccurred())
		var walk func(n *html.Node)
		walk = func(n *html.Node) {
			if n.Type == html.ElementNode {
				g.Expect(n.Data).NotTo(BeElementOf("script", "img", "svg", "iframe"))
				for _, a := range n.Attr {
					g.Expect(a.Key).NotTo(HavePrefix("on"))
				}
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c)
			}
		}
		walk(doc)
	}
}

// TestMapBlueprintCommand runs `kubectl cx map` with --blueprint and --format
// against the test control plane.
func TestMapBlueprintCommand(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, "map-blueprint")
	j, moments, _ := shopBlueprintObjects(ns)
	status := j.Status
	create(t, j, func() { j.Status = status })
	for i := range moments {
		m := &moments[i]
		ms := m.Status
		create(t, m, func() { m.Status = ms })
	}

	r := cx("map", j.Name, "-n", ns, "--blueprint")
	g.Expect(r.code).To(Equal(0), r.err)
	g.Expect(r.out).To(ContainSubstring("== line of visibility: the customer sees what is above"))
	g.Expect(r.out).To(ContainSubstring("Degraded, 1 control"))
	g.Expect(r.out).To(ContainSubstring("-- Backstage processes"))

	r = cx("map", j.Name, "-n", ns, "--blueprint", "--format", "svg")
	g.Expect(r.code).To(Equal(0), r.err)
	wellFormedXML(g, []byte(r.out))
	g.Expect(r.out).To(ContainSubstring("stock-sync"))

	r = cx("map", j.Name, "-n", ns, "--format", "html")
	g.Expect(r.code).To(Equal(0), r.err)
	g.Expect(r.out).To(HavePrefix("<!DOCTYPE html>"))
	g.Expect(r.out).NotTo(ContainSubstring("line of visibility"))

	r = cx("map", j.Name, "-n", ns, "-o", "json")
	g.Expect(r.code).To(Equal(0), r.err)
	g.Expect(r.out).To(ContainSubstring(`"controlPoints": 1`))
	g.Expect(r.out).To(ContainSubstring(`"vision": "A technician orders`))

	r = cx("map", j.Name, "-n", ns, "--format", "pdf")
	g.Expect(r.code).To(Equal(1))
	g.Expect(r.err).To(ContainSubstring(`unknown --format "pdf": one of text, svg, html`))
	r = cx("map", j.Name, "-n", ns, "--format", "svg", "-o", "yaml")
	g.Expect(r.code).To(Equal(1))
	g.Expect(r.err).To(ContainSubstring("--format svg and -o cannot be used together"))
}

// TestMapNeutralisesBidiControls: a bidi override (U+202E) or isolate in a
// name or free text would reorder what follows it on the line (a state, a
// value, the next column) and mislead the reader. The terminal spells these
// characters as \uNNNN; the SVG and the HTML show U+FFFD in their place, as
// the SVG does for control characters; the HTML shows no control character.
func TestMapNeutralisesBidiControls(t *testing.T) {
	g := NewWithT(t)
	j, moments, tasks := shopBlueprintObjects("shop")
	j.Spec.Vision = "safe \u202edeliver\u202c now"
	j.Spec.Stages[0].Blueprint.CustomerActions = []string{"asks \u2067x\u2069 on chat"}
	j.Spec.Stages[0].Blueprint.SupportSystems[0].Description = "ctl \x1b[2J\x07 here"
	moments[0].Spec.Touchpoint = "shop \u202dweb"
	jm := journeyMap(j, moments, tasks)
	bidi := "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"

	var term bytes.Buffer
	RenderMapWith(&term, jm, MapOptions{Width: 160, Blueprint: true})
	g.Expect(term.String()).NotTo(ContainSubstring("\x1b"))
	g.Expect(strings.ContainsAny(term.String(), bidi)).To(BeFalse(), "bidi controls reach the terminal")
	g.Expect(term.String()).To(ContainSubstring(`safe \u202edeliver\u202c now`))
	g.Expect(term.String()).To(ContainSubstring(`asks \u2067x\u2069 on chat`))

	var svg, page bytes.Buffer
	g.Expect(RenderMapSVG(&svg, jm, PictureOptions{Blueprint: true})).To(Succeed())
	wellFormedXML(g, svg.Bytes())
	g.Expect(RenderMapHTML(&page, jm, PictureOptions{Blueprint: true})).To(Succeed())
	for name, out := range map[string]string{"svg": svg.String(), "html": page.String()} {
		g.Expect(strings.ContainsAny(out, bidi)).To(BeFalse(), name+": bidi controls reach the picture")
		g.Expect(out).To(ContainSubstring("safe \uFFFDdeliver\uFFFD now"), name)
		g.Expect(strings.ContainsAny(out, "\x1b\x07")).To(BeFalse(), name+": control characters reach the picture")
	}
}

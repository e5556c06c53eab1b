package plugin

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// longNamesMap is a refund journey whose moments, objectives and tasks have the
// long generated names a real team ends up with.
func longNamesMap() (*JourneyMap, []string) {
	const ns = "payments-and-refunds"
	j := &cxv1.Journey{
		ObjectMeta: metav1.ObjectMeta{Name: "customer-gets-a-refund-without-calling-us", Namespace: ns},
		Spec: cxv1.JourneySpec{
			Persona: cxv1.Persona{Name: "Online shopper", Segment: cxv1.SegmentB2C},
			Stages: []cxv1.Stage{
				{Name: "request-the-refund-online", Phase: cxv1.PhaseAfterPurchase},
				{Name: "refund-is-paid-back", DisplayName: "Money back", Phase: cxv1.PhaseAfterPurchase},
				{Name: "follow-up", Phase: cxv1.PhaseAfterPurchase},
			},
		},
		Status: cxv1.JourneyStatus{Score: ptr.To(int32(71)), Health: cxv1.HealthAtRisk, Coverage: ptr.To(int32(85)),
			TopGaps: []cxv1.Gap{{Moment: "refund-on-time", Stage: "refund-is-paid-back", Objective: "refund-p90-days",
				State: cxv1.StateWarning, Value: "6.2", Target: "<= 7 (warning above 5)", Score: "2.1"}}},
	}
	mk := func(name, stage, obj string) cxv1.Moment {
		m := cxv1.Moment{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: cxv1.MomentSpec{JourneyRef: cxv1.LocalObjectReference{Name: j.Name}, Stage: stage, Polarity: cxv1.PolarityPain,
				Objectives: []cxv1.Objective{objective(obj, "figures", obj, cxv1.OpLessOrEqual, "7", "5", cxv1.LowerIsBetter)}},
		}
		m.Status.Health = cxv1.HealthAtRisk
		m.Status.Objectives = []cxv1.ObjectiveStatus{objStatus(obj, cxv1.StateWarning, "6.2", "<= 7 (warning above 5)")}
		return m
	}
	moments := []cxv1.Moment{
		mk("refund-on-time", "refund-is-paid-back", "refund-p90-days"),
		mk("refund-request-form-accepted-on-the-first-try", "request-the-refund-online", "form-first-time-acceptance-rate"),
		mk("customer-told-when-the-money-arrives", "refund-is-paid-back", "notification-sent-within-one-hour"),
	}
	tk := func(name, moment, objective string) cxv1.RemediationTask {
		t := cxv1.RemediationTask{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, CreationTimestamp: metav1.Time{Time: testNow.Add(-time.Hour)}},
			Spec:       cxv1.RemediationTaskSpec{MomentRef: cxv1.LocalObjectReference{Name: moment}, Objective: objective, Severity: cxv1.SeverityMedium},
		}
		return t
	}
	tasks := []cxv1.RemediationTask{
		tk("refund-on-time-refund-p90-days-a0e66a17cf", "refund-on-time", "refund-p90-days"),
		tk("refund-request-form-accepted-on-the-first-try-form-first-time-acceptance-rate-9c1d2e3f4a", "refund-request-form-accepted-on-the-first-try", "form-first-time-acceptance-rate"),
		tk("customer-told-when-the-money-arrives-notification-sent-within-one-hour-77aa01bc2d", "customer-told-when-the-money-arrives", "notification-sent-within-one-hour"),
	}
	names := []string{j.Name, ns}
	for _, s := range j.Spec.Stages {
		names = append(names, s.Name)
	}
	for _, m := range moments {
		names = append(names, m.Name, m.Spec.Objectives[0].Name)
	}
	for _, t := range tasks {
		names = append(names, t.Name)
	}
	return journeyMap(j, moments, tasks), names
}

// TestMapNeverSplitsNames reproduces names broken across lines ("! task
// refund-on-time-refund-p90-" / "days-a0e66a17cf"), even at --width 160: every
// object name must appear whole on one line, at any width, so that it can be
// copied into `kubectl cx ack`.
func TestMapNeverSplitsNames(t *testing.T) {
	g := NewWithT(t)
	jm, names := longNamesMap()
	for width := 20; width <= 200; width++ {
		var out bytes.Buffer
		RenderMap(&out, jm, width, false)
		for _, name := range names {
			g.Expect(out.String()).To(MatchRegexp(`(?m)(^|[^a-z0-9.-])`+name+`($|[^a-z0-9.-])`),
				"at width %d, %q is not whole on one line:\n%s", width, name, out.String())
		}
		for _, l := range strings.Split(out.String(), "\n") {
			// A line is wider than the width only when a name alone does not fit
			// (the header's values are at least 20 wide, next to their labels).
			if width >= headerLabel+20 && runeLen(l) > width {
				longest := 0
				for _, f := range strings.Fields(strings.ReplaceAll(l, " | ", " ")) {
					longest = max(longest, runeLen(f))
				}
				g.Expect(longest).To(BeNumerically(">", width/2), "at width %d, line wider than the width without a long name: %q", width, l)
			}
		}
	}
	for _, width := range []int{40, 80, 120, 160} {
		var out bytes.Buffer
		RenderMap(&out, jm, width, false)
		expectGolden(t, fmt.Sprintf("map-long-names-%d", width), out.String())
	}
}

// TestMapRendersEveryChannel: every channel of the Moment CRD's enum (MobileApp,
// SMS, Video, Kiosk, Marketplace and Partner included) has a label and shows in
// the map with the touchpoint.
func TestMapRendersEveryChannel(t *testing.T) {
	g := NewWithT(t)
	schemas, err := loadEmbeddedSchemas()
	g.Expect(err).NotTo(HaveOccurred())
	ks := schemas.byGVK[cxv1.GroupVersion.WithKind("Moment")]
	g.Expect(ks).NotTo(BeNil())
	enum := ks.structural.Properties["spec"].Properties["channel"].ValueValidation.Enum
	g.Expect(len(enum)).To(BeNumerically(">=", 14))
	var channels []string
	for _, v := range enum {
		channels = append(channels, v.Object.(string))
	}
	g.Expect(channels).To(ContainElements("MobileApp", "SMS", "Video", "Kiosk", "Marketplace", "Partner"))

	j := &cxv1.Journey{ObjectMeta: metav1.ObjectMeta{Name: "j", Namespace: "ns"},
		Spec: cxv1.JourneySpec{Stages: []cxv1.Stage{{Name: "buy", Phase: cxv1.PhasePurchase}}}}
	var moments []cxv1.Moment
	for i, c := range channels {
		_, labelled := channelLabels[cxv1.Channel(c)]
		g.Expect(labelled).To(BeTrue(), "channel %s has no label", c)
		m := cxv1.Moment{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("moment-%02d", i), Namespace: "ns"},
			Spec: cxv1.MomentSpec{JourneyRef: cxv1.LocalObjectReference{Name: "j"}, Stage: "buy", Polarity: cxv1.PolarityGain,
				Channel: cxv1.Channel(c), Touchpoint: fmt.Sprintf("tp%02d", i)}}
		moments = append(moments, m)
	}
	var out bytes.Buffer
	RenderMap(&out, journeyMap(j, moments, nil), 120, false)
	for i, c := range channels {
		g.Expect(out.String()).To(ContainSubstring(fmt.Sprintf("via %s: tp%02d\n", channelLabel(cxv1.Channel(c)), i)), c)
	}
	g.Expect(channelLabel("Hologram")).To(Equal("Hologram"), "a channel without a label shows as it is")
	g.Expect(channelLabel(cxv1.ChannelMobileApp)).To(Equal("mobile app"))
}

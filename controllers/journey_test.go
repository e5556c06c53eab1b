package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

func TestJourneyMeasuresItsMoments(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	src := staticSource(ns, "figures", map[string]string{"stock": "99.8", "delivery": "96", "chat": "40", "nps": "41"})
	j := journey(ns, "parts", "discover", "order", "deliver", "service")
	nps := objective("nps", "figures", "nps", "30")
	nps.KPI.Type = cxv1.KPINPS
	j.Spec.Objectives = []cxv1.Objective{nps}

	stock := objective("accuracy", "figures", "stock", "99.5")
	stock.Key = ptr.To(true)
	mStock := moment(ns, "stock", "parts", "order", stock)
	mStock.Spec.Impact = &cxv1.Impact{Weight: 10}
	delivery := objective("on-time", "figures", "delivery", "95")
	mDelivery := moment(ns, "delivery", "parts", "deliver", delivery)
	mDelivery.Spec.Impact = &cxv1.Impact{Weight: 8}
	chat := objective("first-response", "figures", "chat", "60")
	chat.KPI.Direction = cxv1.LowerIsBetter
	chat.Target.Operator = cxv1.OpLessOrEqual
	mChat := moment(ns, "chat", "parts", "discover", chat)
	create(g, src, j, mStock, mDelivery, mChat)

	g.Eventually(func(g Gomega) {
		j := get(g, j)
		g.Expect(j.Status.Score).To(HaveValue(Equal(int32(100))))
		g.Expect(j.Status.Health).To(Equal(cxv1.HealthHealthy))
		g.Expect(j.Status.Moments).To(Equal(momentCounts(3, 3, 0, 0, 0)))
		g.Expect(j.Status.Stages).To(HaveLen(4))
		g.Expect(j.Status.Stages[3]).To(Equal(cxv1.StageStatus{Name: "service", Health: cxv1.HealthUnknown, Moments: momentCounts(0, 0, 0, 0, 0)}), "a stage without moments is Unknown, with every count 0")
		g.Expect(j.Status.Stages[1].Health).To(Equal(cxv1.HealthHealthy))
		g.Expect(cond(j.Status.Conditions, cxv1.HealthyCondition).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(kstatusOf(g, j)).To(Equal(kstatus.CurrentStatus))
		g.Expect(j.Status.Objectives).To(ConsistOf(HaveField("State", cxv1.StateMet)))
	}, timeout, poll).Should(Succeed())

	// Chat slows down (a non-key objective of a light moment): the score, weighted by
	// moment impact, stays high; the journey is at risk and the gap is ranked.
	setStatic(g, src, "chat", "90")
	g.Eventually(func(g Gomega) {
		j := get(g, j)
		g.Expect(j.Status.Score).To(HaveValue(Equal(int32(95))), "weights: stock 10, delivery 8, chat 1, journey nps 1")
		g.Expect(j.Status.Health).To(Equal(cxv1.HealthAtRisk))
		g.Expect(j.Status.Stages[0].Health).To(Equal(cxv1.HealthDegraded))
		g.Expect(j.Status.TopGaps).To(HaveLen(1))
		g.Expect(j.Status.TopGaps[0]).To(And(HaveField("Moment", "chat"), HaveField("Value", "90"), HaveField("Score", "0.500")))
	}, timeout, poll).Should(Succeed())

	// Stock accuracy misses too: the key objective degrades the journey and ranks
	// by moment weight × normalized gap.
	setStatic(g, src, "chat", "40")
	setStatic(g, src, "stock", "97.5")
	g.Eventually(func(g Gomega) {
		j := get(g, j)
		g.Expect(j.Status.Health).To(Equal(cxv1.HealthDegraded))
		healthy := cond(j.Status.Conditions, cxv1.HealthyCondition)
		g.Expect(healthy.Reason).To(Equal(cxv1.ReasonKeyObjectiveBreached))
		g.Expect(healthy.Message).To(ContainSubstring("key objective stock/accuracy"))
		g.Expect(j.Status.TopGaps).To(HaveLen(1))
		g.Expect(j.Status.TopGaps[0].Moment).To(Equal("stock"))
	}, timeout, poll).Should(Succeed())
}

func TestRoadmapStreamProgressAndRisk(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	src := staticSource(ns, "figures", map[string]string{"stock": "98", "chat": "40"})
	chat := objective("first-response", "figures", "chat", "60")
	chat.KPI.Direction = cxv1.LowerIsBetter
	chat.Target.Operator = cxv1.OpLessOrEqual
	soon := testClock.Now().Add(5 * 24 * time.Hour).Format(time.DateOnly)
	later := testClock.Now().Add(60 * 24 * time.Hour).Format(time.DateOnly)
	s := &cxv1.RoadmapStream{}
	s.Namespace, s.Name = ns, "systems"
	s.Spec = cxv1.RoadmapStreamSpec{Category: cxv1.StreamSystemsData, Owner: "it", Initiatives: []cxv1.Initiative{
		{Name: "realtime-stock", State: cxv1.InitiativeInProgress, DueDate: soon, Progress: ptr.To[int32](40),
			Addresses: []cxv1.ObjectiveReference{{Moment: "stock", Objective: "accuracy"}}},
		{Name: "chat-training", State: cxv1.InitiativeDone, DueDate: soon,
			Addresses: []cxv1.ObjectiveReference{{Moment: "chat"}}},
		{Name: "carrier-api", State: cxv1.InitiativePlanned, DueDate: later,
			Addresses: []cxv1.ObjectiveReference{{Moment: "stock"}}},
	}}
	create(g, src, journey(ns, "parts", "order"),
		moment(ns, "stock", "parts", "order", objective("accuracy", "figures", "stock", "99.5")),
		moment(ns, "chat", "parts", "order", chat), s)

	g.Eventually(func(g Gomega) {
		s := get(g, s)
		g.Expect(s.Status.Progress).To(HaveValue(Equal(int32(46))), "(40 + 100 + 0) / 3")
		g.Expect(s.Status.AtRisk).To(HaveValue(Equal(int32(1))))
		g.Expect(s.Status.Initiatives[0]).To(And(HaveField("AtRisk", HaveValue(BeTrue())), HaveField("ObjectivesAttained", HaveValue(Equal(int32(0))))))
		g.Expect(s.Status.Initiatives[1]).To(And(HaveField("AtRisk", HaveValue(BeFalse())), HaveField("ObjectivesAttained", HaveValue(Equal(int32(1))))))
		g.Expect(s.Status.Initiatives[2].AtRisk).To(HaveValue(BeFalse()), "due in 60 days")
		onTrack := cond(s.Status.Conditions, cxv1.OnTrackCondition)
		g.Expect(onTrack.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(onTrack.Message).To(ContainSubstring("realtime-stock: due " + soon + " while [stock/accuracy] still miss their target"))
	}, timeout, poll).Should(Succeed())

	// An initiative addressing a moment that does not exist: Ready says so.
	patch := client.MergeFrom(s.DeepCopy())
	s.Spec.Initiatives[2].Addresses = append(s.Spec.Initiatives[2].Addresses, cxv1.ObjectiveReference{Moment: "warranty"})
	g.Expect(k8sClient.Patch(context.Background(), s, patch)).To(Succeed())
	g.Eventually(func(g Gomega) {
		ready := cond(get(g, s).Status.Conditions, cxv1.ReadyCondition)
		g.Expect(ready.Reason).To(Equal(cxv1.ReasonMomentNotFound))
		g.Expect(ready.Message).To(ContainSubstring("warranty"))
	}, timeout, poll).Should(Succeed())

	// The objective is met again: the stream is back on track.
	setStatic(g, src, "stock", "99.9")
	g.Eventually(func(g Gomega) {
		s := get(g, s)
		g.Expect(cond(s.Status.Conditions, cxv1.OnTrackCondition).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(s.Status.ObjectivesAttained).To(HaveValue(Equal(int32(3))))
	}, timeout, poll).Should(Succeed())
}

// momentCounts are moment counts as cxops writes them: every count set, 0 included.
func momentCounts(total, healthy, atRisk, degraded, unknown int32) cxv1.MomentCounts {
	return cxv1.MomentCounts{Total: &total, Healthy: &healthy, AtRisk: &atRisk, Degraded: &degraded, Unknown: &unknown}
}

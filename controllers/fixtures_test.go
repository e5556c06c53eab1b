package controllers

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

var nsCounter atomic.Int64

// newNamespace creates a namespace of its own for one test and deletes it after.
func newNamespace(t *testing.T) string {
	t.Helper()
	g := NewWithT(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("t%d-%s", nsCounter.Add(1), shortName(t.Name()))}}
	g.Expect(k8sClient.Create(context.Background(), ns)).To(Succeed())
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), ns) })
	return ns.Name
}

func shortName(s string) string {
	out := make([]rune, 0, 30)
	for _, r := range s {
		if len(out) == 30 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			out = append(out, r)
		case r >= 'A' && r <= 'Z':
			out = append(out, r+'a'-'A')
		default:
			if len(out) > 0 && out[len(out)-1] != '-' {
				out = append(out, '-')
			}
		}
	}
	for len(out) > 0 && out[len(out)-1] == '-' {
		out = out[:len(out)-1]
	}
	return string(out)
}

func staticSource(ns, name string, values map[string]string) *cxv1.SignalSource {
	src := &cxv1.SignalSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       cxv1.SignalSourceSpec{Static: cxv1.StaticSource{Values: map[string]cxv1.StaticValue{}}},
	}
	for k, v := range values {
		src.Spec.Static.Values[k] = cxv1.StaticValue(v)
	}
	if values == nil {
		src.Spec.Static.Values = nil
	}
	return src
}

func journey(ns, name string, stages ...string) *cxv1.Journey {
	j := &cxv1.Journey{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: cxv1.JourneySpec{
			Persona: cxv1.Persona{Name: "Maintenance technician", Segment: cxv1.SegmentB2B},
		},
	}
	for _, s := range stages {
		j.Spec.Stages = append(j.Spec.Stages, cxv1.Stage{Name: s, Phase: cxv1.PhasePurchase})
	}
	return j
}

// objective is a HigherIsBetter ">= target" objective on a static value.
func objective(name, source, key, target string) cxv1.Objective {
	return cxv1.Objective{
		Name:   name,
		KPI:    cxv1.KPI{Type: cxv1.KPIStockAccuracy, Unit: "%", Direction: cxv1.HigherIsBetter},
		Signal: cxv1.Signal{SourceRef: cxv1.LocalObjectReference{Name: source}, Query: key},
		Target: cxv1.Target{Operator: cxv1.OpGreaterOrEqual, Value: ptr.To(target)},
	}
}

func moment(ns, name, journeyName, stage string, objs ...cxv1.Objective) *cxv1.Moment {
	return &cxv1.Moment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: cxv1.MomentSpec{
			JourneyRef: cxv1.LocalObjectReference{Name: journeyName},
			Stage:      stage,
			Polarity:   cxv1.PolarityPain,
			Owner:      "logistics",
			Objectives: objs,
		},
	}
}

func stream(ns, name string) *cxv1.RoadmapStream {
	return &cxv1.RoadmapStream{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: cxv1.RoadmapStreamSpec{
			Category: cxv1.StreamSystemsData,
			Owner:    "it",
			Initiatives: []cxv1.Initiative{{
				Name: "realtime-stock", State: cxv1.InitiativeInProgress, DueDate: "2027-01-31",
				Addresses: []cxv1.ObjectiveReference{{Moment: "stock", Objective: "accuracy"}},
			}},
		},
	}
}

func task(ns, name string) *cxv1.RemediationTask {
	return &cxv1.RemediationTask{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: cxv1.RemediationTaskSpec{
			MomentRef:      cxv1.LocalObjectReference{Name: "stock"},
			Objective:      "accuracy",
			Severity:       cxv1.SeverityMedium,
			BreachingSince: ptr.To(metav1.Now()),
		},
	}
}

// secret is a Secret labelled for cxops (cx.cxops.io/usable-by=cxops).
func secret(ns, name string, data map[string]string) *corev1.Secret {
	s := unlabelledSecret(ns, name, data)
	s.Labels = map[string]string{cxv1.SecretUsableByLabel: cxv1.SecretUsableByValue}
	return s
}

// unlabelledSecret is a Secret cxops must not read.
func unlabelledSecret(ns, name string, data map[string]string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: data}
}

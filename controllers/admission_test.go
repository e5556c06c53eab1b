package controllers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// raw turns a typed object into the JSON a user would apply, with the values at the
// given paths replaced: a path is a list of map keys and slice indexes. A typed
// metav1.Duration cannot even hold 3000000h, a user's YAML can.
func raw(t *testing.T, obj client.Object, set map[string]any) *unstructured.Unstructured {
	t.Helper()
	gvk, err := k8sClient.GroupVersionKindFor(obj)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for path, v := range set {
		var cur any = m
		parts := strings.Split(path, ".")
		for i, p := range parts {
			last := i == len(parts)-1
			switch c := cur.(type) {
			case map[string]any:
				if last {
					c[p] = v
					continue
				}
				if c[p] == nil {
					c[p] = map[string]any{}
				}
				cur = c[p]
			case []any:
				var idx int
				if _, err := fmt.Sscan(p, &idx); err != nil {
					t.Fatalf("path %s: %v", path, err)
				}
				if last {
					c[idx] = v
					continue
				}
				cur = c[idx]
			}
		}
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)
	return u
}

type admissionCase struct {
	name    string
	obj     client.Object
	set     map[string]any
	wantErr string // empty: must be accepted
}

func runAdmission(t *testing.T, cases []admissionCase) {
	t.Helper()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			tc.obj.SetName(fmt.Sprintf("adm-%d", i))
			err := k8sClient.Create(context.Background(), raw(t, tc.obj, tc.set))
			if tc.wantErr == "" {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).To(ContainSubstring(tc.wantErr))
			g.Expect(err.Error()).NotTo(ContainSubstring("type conversion error"))
			g.Expect(err.Error()).NotTo(ContainSubstring("google.protobuf.Duration"))
		})
	}
}

// TestAdmissionDurations applies overflowing and out-of-bound durations to every
// duration field through the real API server. Before: `for: 3000000h` was accepted
// and then stopped every informer ("time: invalid duration"); `interval: 3000000h`
// was refused with "type conversion error from 'string' to
// 'google.protobuf.Duration'"; `interval: 100000h` and `for: 2000000h` were accepted.
func TestAdmissionDurations(t *testing.T) {
	ns := newNamespace(t)
	m := func() client.Object {
		return moment(ns, "x", "j", "order", objective("accuracy", "s", "stock", "99.5"))
	}
	j := func() client.Object {
		jr := journey(ns, "x", "order")
		jr.Spec.Objectives = []cxv1.Objective{objective("nps", "s", "nps", "30")}
		return jr
	}
	httpSrc := func() client.Object {
		s := staticSource(ns, "x", nil)
		s.Spec.Static = cxv1.StaticSource{}
		s.Spec.HTTP = cxv1.HTTPSource{URL: "https://surveys.example.com/nps"}
		return s
	}
	promSrc := func() client.Object {
		s := staticSource(ns, "x", nil)
		s.Spec.Static = cxv1.StaticSource{}
		s.Spec.Prometheus = cxv1.PrometheusSource{Address: "http://prometheus:9090"}
		return s
	}
	staticSrc := func() client.Object { return staticSource(ns, "x", map[string]string{"a": "1"}) }

	const (
		interval   = "interval must be a duration from 10s to 24h"
		forMsg     = "for must be a duration from 0s to 720h (30 days)"
		recoverMsg = "recoverFor must be a duration from 0s to 720h (30 days)"
		escalate   = "escalateAfter must be a positive duration of at most 720h (30 days)"
		minIntvl   = "minInterval must be a duration from 10s to 24h"
		timeoutMsg = "timeout must be a positive duration of at most 5m"
	)
	var cases []admissionCase
	for _, kind := range []struct {
		name string
		obj  func() client.Object
	}{{"moment", m}, {"journey", j}} {
		for _, f := range []struct {
			field, msg, ok, over string
		}{
			{"interval", interval, "24h", "24h0m1s"},
			{"for", forMsg, "720h", "721h"},
			{"recoverFor", recoverMsg, "720h0m0s", "2000000h"},
		} {
			path := "spec.objectives.0." + f.field
			cases = append(cases,
				admissionCase{kind.name + " " + f.field + " at its bound", kind.obj(), map[string]any{path: f.ok}, ""},
				admissionCase{kind.name + " " + f.field + " above its bound", kind.obj(), map[string]any{path: f.over}, f.msg},
				admissionCase{kind.name + " " + f.field + " overflowing", kind.obj(), map[string]any{path: "3000000h"}, f.msg},
				admissionCase{kind.name + " " + f.field + " overflowing in components", kind.obj(),
					map[string]any{path: "99999h99999h99999h99999h99999h"}, f.msg},
				admissionCase{kind.name + " " + f.field + " in days", kind.obj(), map[string]any{path: "1d"}, f.msg},
			)
		}
	}
	cases = append(cases,
		admissionCase{"moment interval 100000h", m(), map[string]any{"spec.objectives.0.interval": "100000h"}, interval},
		admissionCase{"moment for 2000000h", m(), map[string]any{"spec.objectives.0.for": "2000000h"}, forMsg},
		admissionCase{"moment for 0s", m(), map[string]any{"spec.objectives.0.for": "0s"}, ""},
		admissionCase{"moment escalateAfter 720h", m(), map[string]any{"spec.remediation.escalateAfter": "720h"}, ""},
		admissionCase{"moment escalateAfter 721h", m(), map[string]any{"spec.remediation.escalateAfter": "721h"}, escalate},
		admissionCase{"moment escalateAfter overflowing", m(), map[string]any{"spec.remediation.escalateAfter": "3000000h"}, escalate},
		admissionCase{"moment escalateAfter 0s", m(), map[string]any{"spec.remediation.escalateAfter": "0s"}, escalate},
		admissionCase{"source minInterval 24h", staticSrc(), map[string]any{"spec.minInterval": "24h"}, ""},
		admissionCase{"source minInterval 25h", staticSrc(), map[string]any{"spec.minInterval": "25h"}, minIntvl},
		admissionCase{"source minInterval overflowing", staticSrc(), map[string]any{"spec.minInterval": "3000000h"}, minIntvl},
		admissionCase{"http timeout 5m", httpSrc(), map[string]any{"spec.http.timeout": "5m"}, ""},
		admissionCase{"http timeout overflowing", httpSrc(), map[string]any{"spec.http.timeout": "3000000h"}, timeoutMsg},
		admissionCase{"prometheus timeout overflowing", promSrc(), map[string]any{"spec.prometheus.timeout": "9223372036854775807ns"}, timeoutMsg},
		admissionCase{"prometheus timeout 301s", promSrc(), map[string]any{"spec.prometheus.timeout": "301s"}, timeoutMsg},
	)
	runAdmission(t, cases)

	// The manager still reconciles in this namespace: nothing accepted above stops
	// the informers.
	g := NewWithT(t)
	src := staticSource(ns, "figures", map[string]string{"stock": "99.9"})
	ok := moment(ns, "after", "j", "order", objective("accuracy", "figures", "stock", "99.5"))
	ok.Spec.Objectives[0].For = &cxv1.Duration{Duration: cxv1.MaxHold}
	create(g, src, journey(ns, "j", "order"), ok)
	g.Eventually(func(g Gomega) {
		g.Expect(objState(get(g, ok), "accuracy").State).To(Equal(cxv1.StateMet))
	}, timeout, poll).Should(Succeed())
}

// TestAdmissionInputs: due dates, label-safe owner and team, bounded static names.
func TestAdmissionInputs(t *testing.T) {
	ns := newNamespace(t)
	m := func() client.Object {
		return moment(ns, "x", "j", "order", objective("accuracy", "s", "stock", "99.5"))
	}
	st := func() client.Object { return stream(ns, "x") }
	src := func() client.Object { return staticSource(ns, "x", map[string]string{"a": "1"}) }
	const (
		due   = "dueDate must be a real calendar date written YYYY-MM-DD"
		owner = "owner must be at most 63 letters, digits, '-', '_' or '.'"
		team  = "team must be at most 63 letters, digits, '-', '_' or '.'"
	)
	runAdmission(t, []admissionCase{
		{"dueDate 2026-02-31", st(), map[string]any{"spec.initiatives.0.dueDate": "2026-02-31"}, due},
		{"dueDate 2027-02-29", st(), map[string]any{"spec.initiatives.0.dueDate": "2027-02-29"}, due},
		{"dueDate 2026-04-31", st(), map[string]any{"spec.initiatives.0.dueDate": "2026-04-31"}, due},
		{"dueDate 2028-02-29", st(), map[string]any{"spec.initiatives.0.dueDate": "2028-02-29"}, ""},
		{"dueDate 2026-12-31", st(), map[string]any{"spec.initiatives.0.dueDate": "2026-12-31"}, ""},

		{"owner with a space", m(), map[string]any{"spec.owner": "Customer Service"}, "such as customer-service"},
		{"owner ending in a dash", m(), map[string]any{"spec.owner": "service-"}, owner},
		{"owner customer-service", m(), map[string]any{"spec.owner": "customer-service"}, ""},
		{"owner Customer_Service.EMEA", m(), map[string]any{"spec.owner": "Customer_Service.EMEA"}, ""},
		{"team with a slash", m(), map[string]any{"spec.remediation.team": "Ops/Night shift"}, "such as ops-night-shift"},
		{"team ops-night-shift", m(), map[string]any{"spec.remediation.team": "ops-night-shift"}, ""},
		{"task team with a space", task(ns, "x"), map[string]any{"spec.team": "Customer Service"}, team},

		{"static name of 253", src(), map[string]any{"spec.static.values": map[string]any{strings.Repeat("k", 253): "1"}}, ""},
		{"static name of 254", src(), map[string]any{"spec.static.values": map[string]any{strings.Repeat("k", 254): "1"}},
			"every static value name must have 1 to 253 characters"},
		{"static name of 1 MiB", src(), map[string]any{"spec.static.values": map[string]any{strings.Repeat("k", 1<<20): "1"}},
			"every static value name must have 1 to 253 characters"},
		{"static empty name", src(), map[string]any{"spec.static.values": map[string]any{"": "1"}},
			"every static value name must have 1 to 253 characters"},
		{"static 257 values", src(), map[string]any{"spec.static.values": manyValues(257)}, "must have at most 256 items"},
		{"static 256 values", src(), map[string]any{"spec.static.values": manyValues(256)}, ""},

		// Fields added for coverage and notifications: bounded too.
		{"minCoverage 101", journey(ns, "x", "order"), map[string]any{"spec.minCoverage": 101}, "should be less than or equal to 100"},
		{"minCoverage -1", journey(ns, "x", "order"), map[string]any{"spec.minCoverage": -1}, "should be greater than or equal to 0"},
		{"minCoverage 100", journey(ns, "x", "order"), map[string]any{"spec.minCoverage": 100}, ""},
		{"task with 5 sinks", task(ns, "x"), map[string]any{"spec.sinks": manySinks(5)}, "must have at most 4 items"},
		{"task with 4 sinks", task(ns, "x"), map[string]any{"spec.sinks": manySinks(4)}, ""},
		{"task sink URL of 2049", task(ns, "x"), map[string]any{"spec.sinks": []any{map[string]any{
			"name": "a", "url": "https://example.com/" + strings.Repeat("a", 2029)}}}, "Too long"},
	})
}

func manySinks(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = map[string]any{"name": fmt.Sprintf("s%d", i), "url": "https://example.com/hook"}
	}
	return out
}

func manyValues(n int) map[string]any {
	out := make(map[string]any, n)
	for i := range n {
		out[fmt.Sprintf("value-%03d", i)] = "1"
	}
	return out
}

// TestSamplesAreAccepted: the samples still pass the schema (server-side dry run).
func TestSamplesAreAccepted(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	for _, u := range readSamples(t) {
		u.SetNamespace(ns)
		err := k8sClient.Create(context.Background(), u, client.DryRunAll)
		g.Expect(err).NotTo(HaveOccurred(), "%s %s", u.GetKind(), u.GetName())
	}
}

// TestOwnerBecomesTaskLabel: an owner the schema accepts (capitals, '_' and '.'
// included) always makes a task the API server accepts. Before: "Customer Service"
// was accepted on the moment and its task was refused for its label, forever.
func TestOwnerBecomesTaskLabel(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	src := staticSource(ns, "figures", map[string]string{"stock": "97"})
	m := moment(ns, "stock", "parts", "order", objective("accuracy", "figures", "stock", "99.5"))
	m.Spec.Owner = "Customer_Service.EMEA"
	create(g, src, journey(ns, "parts", "order"), m)
	g.Eventually(func(g Gomega) {
		tasks := tasksOf(g, ns, "stock")
		g.Expect(tasks).To(HaveLen(1))
		g.Expect(tasks[0].Labels).To(HaveKeyWithValue(LabelTeam, "Customer_Service.EMEA"))
		g.Expect(tasks[0].Spec.Team).To(Equal("Customer_Service.EMEA"))
	}, timeout, poll).Should(Succeed())
}

// longMoments returns five moment names of 253 characters: an initiative message
// naming them untruncated is longer than the 512 bytes the schema allows.
func longMoments() []cxv1.ObjectiveReference {
	var refs []cxv1.ObjectiveReference
	for i := range 5 {
		refs = append(refs, cxv1.ObjectiveReference{Moment: fmt.Sprintf("m%d-%s", i, strings.Repeat("a", 250))})
	}
	return refs
}

// TestRoadmapStreamStatusWithLongMessages: an initiative addressing five moments
// that do not exist, each with a name of 253 characters. Before: the initiative's
// message joined the names untruncated, every status patch was refused (the field
// allows 512) and the stream never got a status.
func TestRoadmapStreamStatusWithLongMessages(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	s := stream(ns, "long")
	s.Spec.Initiatives[0].Addresses = longMoments()
	s.Spec.Initiatives[0].State = cxv1.InitiativeBlocked
	create(g, s)
	g.Eventually(func(g Gomega) {
		s := get(g, s)
		g.Expect(s.Status.ObservedGeneration).To(Equal(s.Generation))
		ready := cond(s.Status.Conditions, cxv1.ReadyCondition)
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(ready.Reason).To(Equal(cxv1.ReasonMomentNotFound))
		g.Expect(s.Status.Initiatives).To(HaveLen(1))
		g.Expect(len(s.Status.Initiatives[0].Message)).To(BeNumerically("<=", 512))
		g.Expect(s.Status.Initiatives[0].Message).To(ContainSubstring("addresses moments that do not exist"))
	}, timeout, poll).Should(Succeed())
}

// TestRoadmapStreamObjectiveNotFound: an initiative naming an objective its moment
// does not have. Before: the stream was Ready=True and the objective silently
// counted for nothing.
func TestRoadmapStreamObjectiveNotFound(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	src := staticSource(ns, "figures", map[string]string{"stock": "99.9"})
	s := stream(ns, "systems")
	s.Spec.Initiatives[0].Addresses = []cxv1.ObjectiveReference{{Moment: "stock", Objective: "acuracy"}}
	create(g, src, journey(ns, "parts", "order"),
		moment(ns, "stock", "parts", "order", objective("accuracy", "figures", "stock", "99.5"),
			objective("freshness", "figures", "stock", "90")), s)
	g.Eventually(func(g Gomega) {
		s := get(g, s)
		ready := cond(s.Status.Conditions, cxv1.ReadyCondition)
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(ready.Reason).To(Equal(cxv1.ReasonObjectiveNotFound))
		g.Expect(ready.Message).To(ContainSubstring(`initiative realtime-stock addresses objective "acuracy" of moment stock, which has: accuracy, freshness`))
		g.Expect(cond(s.Status.Conditions, cxv1.StalledCondition).Status).To(Equal(metav1.ConditionTrue))
	}, timeout, poll).Should(Succeed())

	// Fixed: Ready again.
	patch := client.MergeFrom(s.DeepCopy())
	s.Spec.Initiatives[0].Addresses[0].Objective = "accuracy"
	g.Expect(k8sClient.Patch(context.Background(), s, patch)).To(Succeed())
	g.Eventually(func(g Gomega) {
		s := get(g, s)
		g.Expect(cond(s.Status.Conditions, cxv1.ReadyCondition).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(s.Status.ObjectivesAddressed).To(HaveValue(Equal(int32(1))))
		g.Expect(s.Status.ObjectivesAttained).To(HaveValue(Equal(int32(1))))
	}, timeout, poll).Should(Succeed())
}

// TestRoadmapStreamNoDataIsNotOnTrack: an initiative due soon whose objective loses
// its data. Before: the objective turned Unknown and the stream flipped back to
// OnTrack=True although nothing said the objective was met.
func TestRoadmapStreamNoDataIsNotOnTrack(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	src := staticSource(ns, "figures", map[string]string{"stock": "97"})
	s := stream(ns, "systems")
	soon := testClock.Now().Add(3 * 24 * time.Hour).Format(time.DateOnly)
	s.Spec.Initiatives[0].DueDate = soon
	create(g, src, journey(ns, "parts", "order"),
		moment(ns, "stock", "parts", "order", objective("accuracy", "figures", "stock", "99.5")), s)
	g.Eventually(func(g Gomega) {
		s := get(g, s)
		onTrack := cond(s.Status.Conditions, cxv1.OnTrackCondition)
		g.Expect(onTrack.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(onTrack.Message).To(ContainSubstring("still miss their target"))
	}, timeout, poll).Should(Succeed())

	// The value disappears: the objective is Unknown, not met.
	patch := client.MergeFrom(src.DeepCopy())
	src.Spec.Static.Values = map[string]cxv1.StaticValue{"other": "1"}
	g.Expect(k8sClient.Patch(context.Background(), src, patch)).To(Succeed())
	m := &cxv1.Moment{}
	m.Namespace, m.Name = ns, "stock"
	g.Eventually(func(g Gomega) {
		g.Expect(objState(get(g, m), "accuracy").State).To(Equal(cxv1.StateUnknown))
	}, timeout, poll).Should(Succeed())
	g.Consistently(func(g Gomega) {
		s := get(g, s)
		onTrack := cond(s.Status.Conditions, cxv1.OnTrackCondition)
		g.Expect(onTrack.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(s.Status.AtRisk).To(HaveValue(Equal(int32(1))))
		g.Expect(s.Status.ObjectivesAttained).To(HaveValue(Equal(int32(0))))
	}, 2*time.Second, poll).Should(Succeed())
	g.Eventually(func(g Gomega) {
		s := get(g, s)
		g.Expect(cond(s.Status.Conditions, cxv1.OnTrackCondition).Message).To(ContainSubstring("[stock/accuracy] have no data"))
		g.Expect(s.Status.Initiatives[0].Message).To(ContainSubstring("have no data"))
	}, timeout, poll).Should(Succeed())
}

// readSamples reads every object of config/samples (not the kustomization).
func readSamples(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "config", "samples", "cx_*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	var out []*unstructured.Unstructured
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			u := &unstructured.Unstructured{}
			if err := utilyaml.Unmarshal(doc, &u.Object); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if len(u.Object) > 0 {
				out = append(out, u)
			}
		}
	}
	return out
}

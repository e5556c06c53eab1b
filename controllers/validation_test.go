package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// TestValidation applies one valid and one invalid object per schema and CEL rule to
// the real API server and checks the message a user sees.
func TestValidation(t *testing.T) {
	ns := newNamespace(t)
	dur := func(d time.Duration) *cxv1.Duration { return &cxv1.Duration{Duration: d} }

	cases := []struct {
		name    string
		obj     func(name string) client.Object
		wantErr string // empty: must be accepted
	}{
		// SignalSource
		{"source static valid", func(n string) client.Object {
			return staticSource(ns, n, map[string]string{"nps": "-12.5"})
		}, ""},
		{"source static value not a number", func(n string) client.Object {
			return staticSource(ns, n, map[string]string{"nps": "forty"})
		}, "every static value must be a decimal number"},
		{"source with no provider", func(n string) client.Object {
			s := staticSource(ns, n, nil)
			s.Spec.Static = cxv1.StaticSource{}
			s.Spec.MinInterval = dur(time.Minute)
			return s
		}, "exactly one of prometheus, http or static must be set"},
		{"source with an empty spec", func(n string) client.Object {
			s := staticSource(ns, n, nil)
			s.Spec.Static = cxv1.StaticSource{}
			return s
		}, "spec: Required value"},
		{"source with two providers", func(n string) client.Object {
			s := staticSource(ns, n, map[string]string{"a": "1"})
			s.Spec.Prometheus = cxv1.PrometheusSource{Address: "http://prometheus:9090"}
			return s
		}, "exactly one of prometheus, http or static must be set"},
		{"source prometheus valid", func(n string) client.Object {
			s := staticSource(ns, n, nil)
			s.Spec.Static = cxv1.StaticSource{}
			s.Spec.Prometheus = cxv1.PrometheusSource{
				Address: "https://prometheus.monitoring:9090",
				Auth:    cxv1.Auth{Type: cxv1.AuthBearer, SecretRef: cxv1.LocalObjectReference{Name: "prom-token"}},
				Timeout: dur(5 * time.Second),
			}
			return s
		}, ""},
		{"source prometheus address not a URL", func(n string) client.Object {
			s := staticSource(ns, n, nil)
			s.Spec.Static = cxv1.StaticSource{}
			s.Spec.Prometheus = cxv1.PrometheusSource{Address: "prometheus:9090"}
			return s
		}, "address must be an absolute http or https URL"},
		{"source secret in another namespace", func(n string) client.Object {
			s := staticSource(ns, n, nil)
			s.Spec.Static = cxv1.StaticSource{}
			s.Spec.HTTP = cxv1.HTTPSource{URL: "https://surveys.example.com/nps",
				HeadersSecretRef: cxv1.LocalObjectReference{Name: "other-ns/token"}}
			return s
		}, "must be the name of an object in the same namespace"},
		{"source minInterval below 10s", func(n string) client.Object {
			s := staticSource(ns, n, map[string]string{"a": "1"})
			s.Spec.MinInterval = dur(5 * time.Second)
			return s
		}, "minInterval must be a duration from 10s to 24h"},
		{"source http timeout zero", func(n string) client.Object {
			s := staticSource(ns, n, nil)
			s.Spec.Static = cxv1.StaticSource{}
			s.Spec.HTTP = cxv1.HTTPSource{URL: "https://surveys.example.com/nps", Timeout: dur(0)}
			return s
		}, "timeout must be a positive duration of at most 5m"},

		// Journey
		{"journey valid", func(n string) client.Object { return journey(ns, n, "discover", "order") }, ""},
		{"journey duplicate stage names", func(n string) client.Object {
			return journey(ns, n, "order", "order")
		}, "stage names must be unique within a journey"},
		{"journey stage name with capitals", func(n string) client.Object {
			return journey(ns, n, "Order")
		}, "stage name must be lowercase letters, digits and '-'"},
		{"journey without stages", func(n string) client.Object { return journey(ns, n) }, "spec.stages"},
		{"journey stage with unknown phase", func(n string) client.Object {
			j := journey(ns, n, "order")
			j.Spec.Stages[0].Phase = "Checkout"
			return j
		}, `Unsupported value: "Checkout"`},

		// Moment and objectives
		{"moment valid", func(n string) client.Object {
			return moment(ns, n, "j", "order", objective("accuracy", "s", "stock", "99.5"))
		}, ""},
		{"moment target value not a number", func(n string) client.Object {
			return moment(ns, n, "j", "order", objective("accuracy", "s", "stock", "99.5%"))
		}, "value must be a decimal number such as 99.5 or -10"},
		{"moment NPS target may be negative", func(n string) client.Object {
			return moment(ns, n, "j", "order", objective("nps", "s", "nps", "-10"))
		}, ""},
		{"moment inRange valid", func(n string) client.Object {
			o := objective("conversion", "s", "conv", "1")
			o.Target = cxv1.Target{Operator: cxv1.OpInRange, Min: ptr.To("25"), Max: ptr.To("60")}
			return moment(ns, n, "j", "order", o)
		}, ""},
		{"moment inRange without max", func(n string) client.Object {
			o := objective("conversion", "s", "conv", "1")
			o.Target = cxv1.Target{Operator: cxv1.OpInRange, Min: ptr.To("25")}
			return moment(ns, n, "j", "order", o)
		}, "operator InRange needs min and max"},
		{"moment inRange min not below max", func(n string) client.Object {
			o := objective("conversion", "s", "conv", "1")
			o.Target = cxv1.Target{Operator: cxv1.OpInRange, Min: ptr.To("60"), Max: ptr.To("25")}
			return moment(ns, n, "j", "order", o)
		}, "min must be less than max"},
		{"moment >= without value", func(n string) client.Object {
			o := objective("accuracy", "s", "stock", "1")
			o.Target.Value = nil
			return moment(ns, n, "j", "order", o)
		}, "the other operators need value"},
		{"moment warning on the safe side", func(n string) client.Object {
			o := objective("accuracy", "s", "stock", "99.5")
			o.Target.Warning = ptr.To("99.7")
			return moment(ns, n, "j", "order", o)
		}, ""},
		{"moment warning on the wrong side (>=)", func(n string) client.Object {
			o := objective("accuracy", "s", "stock", "99.5")
			o.Target.Warning = ptr.To("99")
			return moment(ns, n, "j", "order", o)
		}, "the warning bound must be above the target value"},
		{"moment warning on the wrong side (<=)", func(n string) client.Object {
			o := objective("response", "s", "chat", "60")
			o.KPI.Direction = cxv1.LowerIsBetter
			o.Target.Operator = cxv1.OpLessOrEqual
			o.Target.Warning = ptr.To("90")
			return moment(ns, n, "j", "order", o)
		}, "the warning bound must be below the target value"},
		{"moment direction disagrees with operator", func(n string) client.Object {
			o := objective("response", "s", "chat", "60")
			o.Target.Operator = cxv1.OpLessOrEqual
			return moment(ns, n, "j", "order", o)
		}, "a target with operator <= or < needs kpi.direction LowerIsBetter"},
		{"moment interval below 10s", func(n string) client.Object {
			o := objective("accuracy", "s", "stock", "99.5")
			o.Interval = dur(5 * time.Second)
			return moment(ns, n, "j", "order", o)
		}, "interval must be a duration from 10s to 24h"},
		{"moment interval of 10s", func(n string) client.Object {
			o := objective("accuracy", "s", "stock", "99.5")
			o.Interval = dur(10 * time.Second)
			return moment(ns, n, "j", "order", o)
		}, ""},
		{"moment negative for", func(n string) client.Object {
			o := objective("accuracy", "s", "stock", "99.5")
			o.For = dur(-time.Minute)
			return moment(ns, n, "j", "order", o)
		}, "for must be a duration from 0s to 720h"},
		{"moment negative recoverFor", func(n string) client.Object {
			o := objective("accuracy", "s", "stock", "99.5")
			o.RecoverFor = dur(-time.Minute)
			return moment(ns, n, "j", "order", o)
		}, "recoverFor must be a duration from 0s to 720h"},
		{"moment noData Met is refused", func(n string) client.Object {
			o := objective("accuracy", "s", "stock", "99.5")
			o.NoData = "Met"
			return moment(ns, n, "j", "order", o)
		}, `Unsupported value: "Met"`},
		{"moment without objectives", func(n string) client.Object {
			return moment(ns, n, "j", "order")
		}, "spec.objectives"},
		{"moment duplicate objective names", func(n string) client.Object {
			return moment(ns, n, "j", "order", objective("a", "s", "x", "1"), objective("a", "s", "y", "2"))
		}, "Duplicate value"},
		{"moment journeyRef in another namespace", func(n string) client.Object {
			return moment(ns, n, "other/j", "order", objective("a", "s", "x", "1"))
		}, "must be the name of an object in the same namespace"},
		{"moment webhook sink not a URL", func(n string) client.Object {
			m := moment(ns, n, "j", "order", objective("a", "s", "x", "1"))
			m.Spec.Remediation = &cxv1.Remediation{Sinks: []cxv1.WebhookSink{{Name: "ops", URL: "ftp://x"}}}
			return m
		}, "url must be an absolute http or https URL"},
		{"moment escalateAfter zero", func(n string) client.Object {
			m := moment(ns, n, "j", "order", objective("a", "s", "x", "1"))
			m.Spec.Remediation = &cxv1.Remediation{EscalateAfter: dur(0)}
			return m
		}, "escalateAfter must be a positive duration"},
		{"moment too many objectives", func(n string) client.Object {
			m := moment(ns, n, "j", "order")
			for i := range 17 {
				m.Spec.Objectives = append(m.Spec.Objectives, objective("o"+string(rune('a'+i)), "s", "x", "1"))
			}
			return m
		}, "must have at most 16 items"},

		// RoadmapStream
		{"stream valid", func(n string) client.Object { return stream(ns, n) }, ""},
		{"stream bad due date", func(n string) client.Object {
			s := stream(ns, n)
			s.Spec.Initiatives[0].DueDate = "31.01.2027"
			return s
		}, "dueDate must be a real calendar date written YYYY-MM-DD"},
		{"stream unknown category", func(n string) client.Object {
			s := stream(ns, n)
			s.Spec.Category = "Marketing"
			return s
		}, `Unsupported value: "Marketing"`},

		// RemediationTask
		{"task valid", func(n string) client.Object { return task(ns, n) }, ""},
		{"task unknown severity", func(n string) client.Object {
			tk := task(ns, n)
			tk.Spec.Severity = "Urgent"
			return tk
		}, `Unsupported value: "Urgent"`},
	}

	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			obj := tc.obj("obj-" + string(rune('a'+i/26)) + string(rune('a'+i%26)))
			err := k8sClient.Create(context.Background(), obj)
			if tc.wantErr == "" {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).To(ContainSubstring(tc.wantErr))
		})
	}
}

// TestTaskIdentityIsImmutable checks the transition rule on a task's spec.
func TestTaskIdentityIsImmutable(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	tk := task(ns, "immutable")
	g.Expect(k8sClient.Create(context.Background(), tk)).To(Succeed())

	patch := client.MergeFrom(tk.DeepCopy())
	tk.Spec.Objective = "something-else"
	err := k8sClient.Patch(context.Background(), tk, patch)
	g.Expect(err).To(HaveOccurred())
	g.Expect(err.Error()).To(ContainSubstring("momentRef and objective cannot change"))

	g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(tk), tk)).To(Succeed())
	patch = client.MergeFrom(tk.DeepCopy())
	tk.Spec.Acknowledged = ptr.To(true)
	g.Expect(k8sClient.Patch(context.Background(), tk, patch)).To(Succeed())
}

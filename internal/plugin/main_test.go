package plugin

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var (
	k8sClient  client.Client
	kubeconfig string
	// testNow is the clock of the commands under test.
	testNow = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		// Fuzzing (go test -run '^$' -fuzz FuzzValidate) runs the offline
		// validator only: no control plane in every fuzz worker.
		return m.Run()
	}
	env, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	dir, err := os.MkdirTemp("", "kubectl-cx-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	k8sClient, err = client.New(env.Config, client.Options{Scheme: Scheme()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// result of one `kubectl cx` invocation.
type result struct {
	out, err string
	code     int
}

// cx runs `kubectl cx ARGS` against the test control plane, with stdout not a
// terminal and the clock fixed at testNow.
func cx(args ...string) result {
	return cxWith(nil, "", args...)
}

func cxWith(terminal func(io.Writer) (bool, int), stdin string, args ...string) result {
	var out, errOut bytes.Buffer
	o := NewOptions(genericiooptions.IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut})
	o.Now = func() time.Time { return testNow }
	o.Terminal = func(io.Writer) (bool, int) { return false, 0 }
	if terminal != nil {
		o.Terminal = terminal
	}
	code := Run(context.Background(), o, append([]string{"--kubeconfig", kubeconfig}, args...))
	return result{out: out.String(), err: errOut.String(), code: code}
}

// newNamespace creates a namespace for one test.
func newNamespace(t *testing.T, name string) string {
	t.Helper()
	g := NewWithT(t)
	g.Expect(k8sClient.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})).To(Succeed())
	return name
}

// expectGolden compares got with testdata/NAME.golden, or rewrites it with -update.
func expectGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/plugin/ -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("output differs from %s (run with -update to accept):\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}

// ---- fixtures ----

func at(d time.Duration) *metav1.Time {
	return &metav1.Time{Time: testNow.Add(d).Truncate(time.Second)}
}

func objective(name, source, query string, op cxv1.Operator, value, warning string, dir cxv1.Direction) cxv1.Objective {
	o := cxv1.Objective{
		Name:   name,
		KPI:    cxv1.KPI{Type: cxv1.KPICustom, Direction: dir},
		Signal: cxv1.Signal{SourceRef: cxv1.LocalObjectReference{Name: source}, Query: query},
		Target: cxv1.Target{Operator: op, Value: ptr.To(value)},
	}
	if warning != "" {
		o.Target.Warning = ptr.To(warning)
	}
	return o
}

func objStatus(name string, state cxv1.ObjectiveState, value, target string) cxv1.ObjectiveStatus {
	s := cxv1.ObjectiveStatus{Name: name, State: state, Target: target, Since: at(-time.Hour), LastEvaluated: at(-time.Minute)}
	if value != "" {
		s.Value = ptr.To(value)
	}
	return s
}

// create creates obj and then writes its status, as the controller would.
func create(t *testing.T, obj client.Object, setStatus func()) {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	g.Expect(k8sClient.Create(ctx, obj)).To(Succeed())
	if setStatus != nil {
		setStatus()
		g.Expect(k8sClient.Status().Update(ctx, obj)).To(Succeed())
	}
}

func moment(ns, name, journey, stage string, polarity cxv1.Polarity, weight int32, objectives ...cxv1.Objective) *cxv1.Moment {
	return &cxv1.Moment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"cx.cxops.io/journey": journey}},
		Spec: cxv1.MomentSpec{
			JourneyRef: cxv1.LocalObjectReference{Name: journey}, Stage: stage, Polarity: polarity,
			Owner: "logistics", Impact: &cxv1.Impact{Weight: weight}, Objectives: objectives,
		},
	}
}

func task(ns, name, moment, journey, objective string, sev cxv1.Severity, phase cxv1.TaskPhase, opened time.Duration) *cxv1.RemediationTask {
	return &cxv1.RemediationTask{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{
			labelMoment: moment, "cx.cxops.io/journey": journey, "cx.cxops.io/objective": objective}},
		Spec: cxv1.RemediationTaskSpec{
			MomentRef: cxv1.LocalObjectReference{Name: moment}, JourneyRef: cxv1.LocalObjectReference{Name: journey},
			Objective: objective, Team: "logistics", Severity: sev, BreachingSince: at(opened - 10*time.Minute),
			Summary: fmt.Sprintf("%s of %s missed its target", objective, moment),
		},
	}
}

// createScenario creates the spare-parts shop with measured statuses: a journey of
// five stages (one without moments), six moments (one in a stage the journey does
// not have, one of another journey), open, acknowledged and resolved tasks, and a
// second journey that was not evaluated yet.
func createScenario(t *testing.T, ns string) {
	t.Helper()
	const jn = "technician-buys-parts"
	j := &cxv1.Journey{
		ObjectMeta: metav1.ObjectMeta{Name: jn, Namespace: ns},
		Spec: cxv1.JourneySpec{
			Persona: cxv1.Persona{Name: "Maintenance technician", Segment: cxv1.SegmentB2B},
			Stages: []cxv1.Stage{
				{Name: "discover", DisplayName: "Find the part", Phase: cxv1.PhaseBeforePurchase},
				{Name: "order", DisplayName: "Order", Phase: cxv1.PhasePurchase},
				{Name: "deliver", DisplayName: "Delivery", Phase: cxv1.PhaseAfterPurchase},
				{Name: "service", DisplayName: "Fit and service", Phase: cxv1.PhaseAfterPurchase},
				{Name: "returns", Phase: cxv1.PhaseAfterPurchase},
			},
			Objectives: []cxv1.Objective{objective("nps", "figures", "nps", cxv1.OpGreaterOrEqual, "30", "40", cxv1.HigherIsBetter)},
		},
	}
	create(t, j, func() {
		j.Status = cxv1.JourneyStatus{
			ObservedGeneration: 1, Score: ptr.To(int32(64)), Health: cxv1.HealthDegraded, Coverage: ptr.To(int32(92)),
			Moments:         momentCounts(6, 2, 1, 1, 2),
			DriftingMoments: ptr.To(int32(1)),
			Stages: []cxv1.StageStatus{
				{Name: "discover", Health: cxv1.HealthHealthy, Moments: momentCounts(1, 1, 0, 0, 0)},
				{Name: "order", Health: cxv1.HealthDegraded, Moments: momentCounts(2, 0, 0, 1, 1)},
				{Name: "deliver", Health: cxv1.HealthAtRisk, Moments: momentCounts(1, 0, 1, 0, 0)},
				{Name: "service", Health: cxv1.HealthHealthy, Moments: momentCounts(1, 1, 0, 0, 0)},
			},
			TopGaps: []cxv1.Gap{
				{Moment: "stock-shown-is-real", Stage: "order", Objective: "stock-accuracy", State: cxv1.StateDrifting,
					Value: "98.1", Target: ">= 99.5 (warning below 99.7)", Score: "14.3"},
				{Moment: "delivery-promise-kept", Stage: "deliver", Objective: "on-time-delivery", State: cxv1.StateWarning,
					Value: "96.4", Target: ">= 95 (warning below 97)", Score: "0"},
			},
			OpenRemediations: ptr.To(int32(2)),
			Objectives:       []cxv1.ObjectiveStatus{objStatus("nps", cxv1.StateMet, "41", ">= 30 (warning below 40)")},
		}
	})

	stock := moment(ns, "stock-shown-is-real", jn, "order", cxv1.PolarityPain, 10,
		objective("stock-accuracy", "figures", "stock-accuracy", cxv1.OpGreaterOrEqual, "99.5", "99.7", cxv1.HigherIsBetter))
	stock.Spec.Objectives[0].Key = ptr.To(true)
	create(t, stock, func() {
		os := objStatus("stock-accuracy", cxv1.StateDrifting, "98.1", ">= 99.5 (warning below 99.7)")
		os.TaskRef = "stock-shown-is-real-stock-accuracy-7f3a9"
		stock.Status = cxv1.MomentStatus{ObservedGeneration: 1, Health: cxv1.HealthDegraded, Drifting: "stock-accuracy",
			Objectives: []cxv1.ObjectiveStatus{os}}
	})
	delivery := moment(ns, "delivery-promise-kept", jn, "deliver", cxv1.PolarityPain, 8,
		objective("on-time-delivery", "figures", "on-time-delivery", cxv1.OpGreaterOrEqual, "95", "97", cxv1.HigherIsBetter))
	create(t, delivery, func() {
		delivery.Status = cxv1.MomentStatus{ObservedGeneration: 1, Health: cxv1.HealthAtRisk,
			Objectives: []cxv1.ObjectiveStatus{objStatus("on-time-delivery", cxv1.StateWarning, "96.4", ">= 95 (warning below 97)")}}
	})
	chat := moment(ns, "first-answer-on-chat", jn, "discover", cxv1.PolarityPain, 5,
		objective("first-response-time", "figures", "chat", cxv1.OpLessOrEqual, "60", "45", cxv1.LowerIsBetter))
	create(t, chat, func() {
		chat.Status = cxv1.MomentStatus{ObservedGeneration: 1, Health: cxv1.HealthHealthy,
			Objectives: []cxv1.ObjectiveStatus{objStatus("first-response-time", cxv1.StateMet, "42", "<= 60 (warning above 45)")}}
	})
	recommend := moment(ns, "recommend-us", jn, "service", cxv1.PolarityGain, 3,
		objective("nps", "figures", "nps", cxv1.OpGreaterOrEqual, "30", "", cxv1.HigherIsBetter),
		objective("first-time-fix", "figures", "first-time-fix", cxv1.OpGreaterOrEqual, "85", "", cxv1.HigherIsBetter))
	create(t, recommend, func() {
		recommend.Status = cxv1.MomentStatus{ObservedGeneration: 1, Health: cxv1.HealthHealthy,
			Objectives: []cxv1.ObjectiveStatus{
				objStatus("nps", cxv1.StateMet, "41", ">= 30"),
				objStatus("first-time-fix", cxv1.StateMet, "88", ">= 85"),
			}}
	})
	// Not evaluated yet: the map falls back to the spec's target.
	quote := moment(ns, "quote-converts", jn, "order", cxv1.PolarityGain, 4,
		objective("quote-conversion", "figures", "quote-conversion", cxv1.OpGreaterOrEqual, "25", "", cxv1.HigherIsBetter))
	create(t, quote, nil)
	// A stage the journey does not have.
	warranty := moment(ns, "warranty-claim-answered", jn, "warranty", cxv1.PolarityPain, 2,
		objective("claim-response-time", "figures", "claims", cxv1.OpLessOrEqual, "86400", "", cxv1.LowerIsBetter))
	create(t, warranty, nil)

	// Another journey, not evaluated yet, with a moment and an open task.
	other := &cxv1.Journey{
		ObjectMeta: metav1.ObjectMeta{Name: "buyer-reorders", Namespace: ns},
		Spec: cxv1.JourneySpec{
			Persona: cxv1.Persona{Name: "Purchasing agent", Segment: cxv1.SegmentB2B},
			Stages:  []cxv1.Stage{{Name: "reorder", Phase: cxv1.PhasePurchase}},
		},
	}
	create(t, other, nil)
	reorder := moment(ns, "one-click-reorder", "buyer-reorders", "reorder", cxv1.PolarityGain, 1,
		objective("reorder-time", "figures", "reorder-time", cxv1.OpLessOrEqual, "120", "", cxv1.LowerIsBetter))
	create(t, reorder, nil)

	taskStatus := func(tk *cxv1.RemediationTask, phase cxv1.TaskPhase, opened time.Duration) func() {
		return func() {
			tk.Status = cxv1.RemediationTaskStatus{ObservedGeneration: 1, Phase: phase, Severity: tk.Spec.Severity, OpenedTime: at(opened)}
			if phase == cxv1.TaskAcknowledged {
				tk.Status.AcknowledgedTime = at(opened + time.Hour)
			}
			if phase == cxv1.TaskResolved {
				tk.Status.ResolvedTime = at(opened + 2*time.Hour)
				tk.Status.Resolution = cxv1.ResolutionAutoRecovered
			}
		}
	}
	open := task(ns, "stock-shown-is-real-stock-accuracy-7f3a9", "stock-shown-is-real", jn, "stock-accuracy", cxv1.SeverityHigh, cxv1.TaskOpen, -2*time.Hour)
	create(t, open, taskStatus(open, cxv1.TaskOpen, -2*time.Hour))
	acked := task(ns, "delivery-promise-kept-on-time-delivery-c41d2", "delivery-promise-kept", jn, "on-time-delivery", cxv1.SeverityMedium, cxv1.TaskAcknowledged, -26*time.Hour)
	acked.Spec.Acknowledged = ptr.To(true)
	create(t, acked, taskStatus(acked, cxv1.TaskAcknowledged, -26*time.Hour))
	resolved := task(ns, "delivery-promise-kept-on-time-delivery-0b9e1", "delivery-promise-kept", jn, "on-time-delivery", cxv1.SeverityMedium, cxv1.TaskResolved, -9*24*time.Hour)
	create(t, resolved, taskStatus(resolved, cxv1.TaskResolved, -9*24*time.Hour))
	reorderTask := task(ns, "one-click-reorder-reorder-time-5e6f7", "one-click-reorder", "buyer-reorders", "reorder-time", cxv1.SeverityLow, cxv1.TaskOpen, -30*time.Minute)
	create(t, reorderTask, taskStatus(reorderTask, cxv1.TaskOpen, -30*time.Minute))
}

// momentCounts are moment counts as cxops writes them: every count set, 0 included.
func momentCounts(total, healthy, atRisk, degraded, unknown int32) cxv1.MomentCounts {
	return cxv1.MomentCounts{Total: &total, Healthy: &healthy, AtRisk: &atRisk, Degraded: &degraded, Unknown: &unknown}
}

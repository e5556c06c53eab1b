package plugin

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

func TestMapGolden(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, "map-golden")
	createScenario(t, ns)

	r := cx("map", "technician-buys-parts", "-n", ns)
	g.Expect(r.code).To(Equal(0), r.err)
	g.Expect(r.out).NotTo(ContainSubstring("\x1b["), "no colours when stdout is not a terminal")
	for _, l := range strings.Split(r.out, "\n") {
		g.Expect(runeLen(l)).To(BeNumerically("<=", defaultWidth), "line wider than 120: %q", l)
	}
	expectGolden(t, "map", r.out)

	// Narrow terminals: stages wrap to rows, long lines wrap inside their column.
	r = cx("map", "technician-buys-parts", "-n", ns, "--width", "60")
	g.Expect(r.code).To(Equal(0), r.err)
	for _, l := range strings.Split(r.out, "\n") {
		if strings.Contains(l, " | ") || strings.HasPrefix(l, "---") {
			g.Expect(runeLen(l)).To(BeNumerically("<=", 60), "line wider than 60: %q", l)
		}
	}
	expectGolden(t, "map-narrow", r.out)
}

func TestMapStructured(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, "map-structured")
	createScenario(t, ns)

	r := cx("map", "technician-buys-parts", "-n", ns, "-o", "json")
	g.Expect(r.code).To(Equal(0), r.err)
	var jm JourneyMap
	g.Expect(json.Unmarshal([]byte(r.out), &jm)).To(Succeed())
	g.Expect(jm.Kind).To(Equal("JourneyMap"))
	g.Expect(jm.Journey.Persona).To(Equal("Maintenance technician"))
	g.Expect(*jm.Journey.Score).To(Equal(int32(64)))
	g.Expect(jm.Journey.OpenTasks).To(Equal(2), "open and acknowledged tasks, not the resolved one nor the other journey's")
	g.Expect(jm.Stages).To(HaveLen(5))
	g.Expect(jm.Stages[1].Name).To(Equal("order"))
	g.Expect(jm.Stages[1].Moments).To(HaveLen(2))
	stock := jm.Stages[1].Moments[0]
	g.Expect(stock.Name).To(Equal("stock-shown-is-real"), "heaviest moment first")
	g.Expect(stock.Objectives).To(ConsistOf(ObjectiveView{Name: "stock-accuracy", State: "Drifting", Value: "98.1",
		Target: ">= 99.5 (warning below 99.7)", Key: true}))
	g.Expect(stock.OpenTasks).To(Equal([]string{"stock-shown-is-real-stock-accuracy-7f3a9"}))
	g.Expect(jm.Stages[1].Moments[1].Objectives[0]).To(Equal(ObjectiveView{Name: "quote-conversion", State: "Unknown", Target: ">= 25"}))
	g.Expect(jm.Stages[4].Moments).To(BeEmpty())
	g.Expect(jm.UnstagedMoments).To(HaveLen(1))
	g.Expect(jm.UnstagedMoments[0].Stage).To(Equal("warranty"))
	g.Expect(jm.Tasks).To(HaveLen(2))
	g.Expect(jm.TopGaps).To(HaveLen(2))

	r = cx("map", "technician-buys-parts", "-n", ns, "-o", "yaml")
	g.Expect(r.code).To(Equal(0), r.err)
	var fromYAML JourneyMap
	g.Expect(yaml.Unmarshal([]byte(r.out), &fromYAML)).To(Succeed())
	g.Expect(fromYAML).To(Equal(jm))

	r = cx("map", "no-such-journey", "-n", ns)
	g.Expect(r.code).To(Equal(1))
	g.Expect(r.err).To(ContainSubstring(`journey "no-such-journey" not found in namespace "map-structured"`))

	r = cx("map", "technician-buys-parts", "-n", ns, "-o", "jsonpath={.journey.coverage}/{.journey.minCoverage}")
	g.Expect(r.code).To(Equal(0), r.err)
	g.Expect(r.out).To(Equal("92/80"))

	r = cx("map", "technician-buys-parts", "-n", ns, "-o", "wide")
	g.Expect(r.code).To(Equal(1))
	g.Expect(r.err).To(MatchRegexp(`allowed formats are: .*json.*yaml`))
	g.Expect(r.err).NotTo(ContainSubstring("name"), "the map is not a list of objects")
}

func TestMapColours(t *testing.T) {
	g := NewWithT(t)
	t.Setenv("NO_COLOR", "")
	ns := newNamespace(t, "map-colours")
	createScenario(t, ns)
	terminal := func(io.Writer) (bool, int) { return true, 200 }

	r := cxWith(terminal, "", "map", "technician-buys-parts", "-n", ns)
	g.Expect(r.code).To(Equal(0), r.err)
	g.Expect(r.out).To(ContainSubstring(ansiRed + "Drifting" + ansiReset))
	g.Expect(r.out).To(ContainSubstring(ansiYellow + "Warning" + ansiReset))
	g.Expect(r.out).To(ContainSubstring(ansiGreen + "Met" + ansiReset))
	g.Expect(r.out).To(ContainSubstring(ansiGrey + "Unknown" + ansiReset))
	g.Expect(r.out).To(ContainSubstring(ansiRed + "Degraded" + ansiReset))
	g.Expect(r.out).To(ContainSubstring(ansiYellow + "AtRisk" + ansiReset))

	r = cxWith(terminal, "", "map", "technician-buys-parts", "-n", ns, "--no-color")
	g.Expect(r.code).To(Equal(0), r.err)
	g.Expect(r.out).NotTo(ContainSubstring("\x1b["))
}

func TestStatusGolden(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, "status-golden")
	createScenario(t, ns)

	r := cx("status", "-n", ns)
	g.Expect(r.code).To(Equal(0), r.err)
	expectGolden(t, "status", r.out)

	r = cx("status", "-n", ns, "-o", "json")
	g.Expect(r.code).To(Equal(0), r.err)
	var list JourneyStatusList
	g.Expect(json.Unmarshal([]byte(r.out), &list)).To(Succeed())
	g.Expect(list.Items).To(HaveLen(2))
	g.Expect(list.Items[1].Journey).To(Equal("technician-buys-parts"))
	g.Expect(list.Items[1].OpenTasks).To(Equal(2))
	g.Expect(list.Items[1].TopGap.Objective).To(Equal("stock-accuracy"))
	g.Expect(list.Items[0].OpenTasks).To(Equal(1))
	g.Expect(list.Items[0].Coverage).To(BeNil(), "not measured yet")
	g.Expect(list.Items[1].Coverage).To(HaveValue(Equal(int32(92))))

	r = cx("status", "-n", ns, "-o", "yaml")
	g.Expect(r.code).To(Equal(0), r.err)
	g.Expect(r.out).To(ContainSubstring("kind: JourneyStatusList"))

	other := newNamespace(t, "status-all")
	createScenario(t, other)
	r = cx("status", "-A")
	g.Expect(r.code).To(Equal(0), r.err)
	lines := strings.Split(r.out, "\n")
	g.Expect(lines[0]).To(HavePrefix("NAMESPACE"))
	g.Expect(r.out).To(MatchRegexp(`(?m)^status-all\s+technician-buys-parts\s+Maintenance technician\s+64\s+92%\s+Degraded\s+2/6\s+1\s+2\s+stock-shown-is-real/stock-accuracy 98.1 vs >= 99.5`))
	g.Expect(r.out).To(MatchRegexp(`(?m)^status-golden\s+buyer-reorders\s+Purchasing agent\s+<none>\s+-\s+Unknown\s+0/0\s+0\s+1\s+<none>`))

	empty := newNamespace(t, "status-empty")
	r = cx("status", "-n", empty)
	g.Expect(r.code).To(Equal(0), r.err)
	g.Expect(r.out).To(BeEmpty())
	g.Expect(r.err).To(Equal("No journeys found in status-empty namespace.\n"))
}

func TestTasks(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, "tasks")
	createScenario(t, ns)

	r := cx("tasks", "-n", ns)
	g.Expect(r.code).To(Equal(0), r.err)
	expectGolden(t, "tasks", r.out)

	r = cx("tasks", "-n", ns, "--open")
	g.Expect(r.code).To(Equal(0), r.err)
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	g.Expect(lines).To(HaveLen(4), r.out)
	g.Expect(lines[0]).To(MatchRegexp(`^NAME\s+MOMENT\s+OBJECTIVE\s+PHASE\s+SEVERITY\s+TEAM\s+AGE\s+SUMMARY$`))
	g.Expect(lines[1]).To(MatchRegexp(`^stock-shown-is-real-stock-accuracy-7f3a9\s+stock-shown-is-real\s+stock-accuracy\s+Open\s+High\s+logistics\s+120m\s+stock-accuracy of stock-shown-is-real missed its target$`))
	g.Expect(lines[2]).To(MatchRegexp(`^one-click-reorder-reorder-time-5e6f7\s+one-click-reorder\s+reorder-time\s+Open\s+Low\s+logistics\s+30m\s`))
	g.Expect(lines[3]).To(MatchRegexp(`^delivery-promise-kept-on-time-delivery-c41d2\s+.*\s+Acknowledged\s+Medium\s+logistics\s+26h\s`))
	g.Expect(r.out).NotTo(ContainSubstring("0b9e1"), "resolved tasks are not open")

	r = cx("tasks", "-A", "--open")
	g.Expect(r.code).To(Equal(0), r.err)
	g.Expect(r.out).To(MatchRegexp(`(?m)^NAMESPACE\s+NAME\s+MOMENT`))
	g.Expect(r.out).To(MatchRegexp(`(?m)^tasks\s+stock-shown-is-real-stock-accuracy-7f3a9\s`))

	empty := newNamespace(t, "tasks-empty")
	r = cx("tasks", "-n", empty, "--open")
	g.Expect(r.code).To(Equal(0), r.err)
	g.Expect(r.err).To(Equal("No open remediation tasks found in tasks-empty namespace.\n"))
}

func TestAck(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t, "ack")
	createScenario(t, ns)
	const name = "stock-shown-is-real-stock-accuracy-7f3a9"

	r := cx("ack", name, "-n", ns)
	g.Expect(r.code).To(Equal(0), r.err)
	g.Expect(r.out).To(Equal("remediationtask/" + name + " acknowledged\n"))
	var tk cxv1.RemediationTask
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &tk)).To(Succeed())
	g.Expect(tk.Spec.Acknowledged).To(HaveValue(BeTrue()))
	g.Expect(tk.Spec.Severity).To(Equal(cxv1.SeverityHigh), "a merge patch leaves the rest of the spec alone")
	g.Expect(tk.Status.Phase).To(Equal(cxv1.TaskOpen), "the controller, not the plugin, moves the phase")

	r = cx("ack", "rtask/one-click-reorder-reorder-time-5e6f7", "-n", ns)
	g.Expect(r.code).To(Equal(0), r.err)
	g.Expect(r.out).To(Equal("remediationtask/one-click-reorder-reorder-time-5e6f7 acknowledged\n"))

	r = cx("ack", "no-such-task", "-n", ns)
	g.Expect(r.code).To(Equal(1))
	g.Expect(r.err).To(ContainSubstring(`remediationtask "no-such-task" not found in namespace "ack"`))

	r = cx("ack", "moment/"+name, "-n", ns)
	g.Expect(r.code).To(Equal(1))
	g.Expect(r.err).To(ContainSubstring("is not a remediation task"))
}

package plugin

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"
)

// TestListOutputFormats reproduces `-o wide` and `-o name` failing on the list
// commands, and checks every format of cli-runtime's print flags on status and
// tasks against a real API server.
func TestListOutputFormats(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, "output")
	createScenario(t, ns)

	// wide: the default table and more columns.
	r := cx("status", "-n", ns, "-o", "wide")
	g.Expect(r.code).To(Equal(0), r.err)
	expectGolden(t, "status-wide", r.out)
	r = cx("tasks", "-n", ns, "-o", "wide")
	g.Expect(r.code).To(Equal(0), r.err)
	expectGolden(t, "tasks-wide", r.out)
	r = cx("tasks", "-A", "--open", "-o", "wide")
	g.Expect(r.code).To(Equal(0), r.err)
	g.Expect(r.out).To(MatchRegexp(`(?m)^NAMESPACE\s+NAME\s+MOMENT\s+JOURNEY\s+OBJECTIVE`))
	g.Expect(r.out).To(MatchRegexp(`(?m)^output\s+stock-shown-is-real-stock-accuracy-7f3a9\s+stock-shown-is-real\s+technician-buys-parts\s`))

	// name: kind.group/name, one a line; the tasks' can be given to ack.
	r = cx("status", "-n", ns, "-o", "name")
	g.Expect(r.code).To(Equal(0), r.err)
	g.Expect(r.out).To(Equal("journey.cx.cxops.io/buyer-reorders\njourney.cx.cxops.io/technician-buys-parts\n"))
	r = cx("tasks", "-n", ns, "--open", "-o", "name")
	g.Expect(r.code).To(Equal(0), r.err)
	g.Expect(r.out).To(Equal("remediationtask.cx.cxops.io/stock-shown-is-real-stock-accuracy-7f3a9\n" +
		"remediationtask.cx.cxops.io/one-click-reorder-reorder-time-5e6f7\n" +
		"remediationtask.cx.cxops.io/delivery-promise-kept-on-time-delivery-c41d2\n"))
	r = cx(append([]string{"ack", "-n", ns}, strings.Fields(r.out)...)...)
	g.Expect(r.code).To(Equal(0), r.err)
	g.Expect(strings.Count(r.out, " acknowledged\n")).To(Equal(3))

	// json and yaml: the same lists as before.
	r = cx("tasks", "-n", ns, "-o", "json")
	g.Expect(r.code).To(Equal(0), r.err)
	var tasks TaskList
	g.Expect(json.Unmarshal([]byte(r.out), &tasks)).To(Succeed())
	g.Expect(tasks.Kind).To(Equal("TaskList"))
	g.Expect(tasks.Items).To(HaveLen(4))
	g.Expect(tasks.Items[0].Journey).To(Equal("technician-buys-parts"))
	r = cx("tasks", "-n", ns, "-o", "yaml")
	g.Expect(r.code).To(Equal(0), r.err)
	var fromYAML TaskList
	g.Expect(yaml.Unmarshal([]byte(r.out), &fromYAML)).To(Succeed())
	g.Expect(fromYAML).To(Equal(tasks))
	r = cx("status", "-n", ns, "-o", "kyaml")
	g.Expect(r.code).To(Equal(0), r.err)
	g.Expect(r.out).To(ContainSubstring("JourneyStatusList"))

	// jsonpath and go-template address what -o json shows.
	r = cx("status", "-n", ns, "-o", "jsonpath={.items[*].journey}")
	g.Expect(r.code).To(Equal(0), r.err)
	g.Expect(r.out).To(Equal("buyer-reorders technician-buys-parts"))
	r = cx("tasks", "-n", ns, "--open", "-o", `jsonpath={range .items[*]}{.name}{"\t"}{.severity}{"\n"}{end}`)
	g.Expect(r.code).To(Equal(0), r.err)
	g.Expect(r.out).To(HavePrefix("stock-shown-is-real-stock-accuracy-7f3a9\tHigh\n"))
	r = cx("status", "-n", ns, "-o", `go-template={{range .items}}{{.journey}} {{.health}}{{"\n"}}{{end}}`)
	g.Expect(r.code).To(Equal(0), r.err)
	g.Expect(r.out).To(Equal("buyer-reorders Unknown\ntechnician-buys-parts Degraded\n"))

	// custom-columns.
	r = cx("status", "-n", ns, "-o", "custom-columns=JOURNEY:.journey,COVERAGE:.coverage,GAP:.topGap.objective")
	g.Expect(r.code).To(Equal(0), r.err)
	expectGolden(t, "status-custom-columns", r.out)
	r = cx("tasks", "-n", ns, "-o", "custom-columns=NAME:{.name},TEAM:.team")
	g.Expect(r.code).To(Equal(0), r.err)
	g.Expect(r.out).To(MatchRegexp(`^NAME\s+TEAM\nstock-shown-is-real-stock-accuracy-7f3a9\s+logistics\n`))
	r = cx("tasks", "-n", ns, "-o", "custom-columns=NAME")
	g.Expect(r.code).To(Equal(1))
	g.Expect(r.err).To(ContainSubstring("custom-columns"))

	// A format that does not exist names the ones that do.
	for _, cmd := range []string{"status", "tasks"} {
		r = cx(cmd, "-n", ns, "-o", "table")
		g.Expect(r.code).To(Equal(1))
		g.Expect(r.err).To(ContainSubstring(`unable to match a printer suitable for the output format "table", allowed formats are: `))
		for _, f := range []string{"custom-columns", "go-template", "json", "jsonpath", "name", "wide", "yaml"} {
			g.Expect(r.err).To(ContainSubstring(f))
		}
	}
}

// TestTasksEscapeHostileText: a summary is written by whoever can create a task;
// the table must not let it move the terminal's cursor or forge rows.
func TestTasksEscapeHostileText(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t, "hostile")
	tk := task(ns, "hostile-task", "m", "j", "o", "High", "Open", -time.Minute)
	tk.Spec.Summary = "looks fine\x1b[2J\x1b[1;1H\nforged-task   m   o   Open"
	create(t, tk, nil)
	r := cx("tasks", "-n", ns)
	g.Expect(r.code).To(Equal(0), r.err)
	g.Expect(r.out).NotTo(ContainSubstring("\x1b"))
	g.Expect(strings.Split(strings.TrimSpace(r.out), "\n")).To(HaveLen(2), r.out)
	r = cx("tasks", "-n", ns, "-o", "custom-columns=SUMMARY:.summary")
	g.Expect(r.code).To(Equal(0), r.err)
	g.Expect(r.out).NotTo(ContainSubstring("\x1b"))
	g.Expect(strings.Split(strings.TrimSpace(r.out), "\n")).To(HaveLen(2), r.out)
}

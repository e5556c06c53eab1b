package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// printStructured writes v as JSON or YAML.
func printStructured(w io.Writer, v interface{}, format string) error {
	switch format {
	case "json":
		data, err := json.MarshalIndent(v, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(data))
		return err
	case "yaml":
		data, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	return fmt.Errorf("unknown output format %q", format)
}

func checkOutput(format string) error {
	switch format {
	case "", "json", "yaml":
		return nil
	}
	return fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: json,yaml", format)
}

func addOutputFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVarP(p, "output", "o", "", "output format: json or yaml (default: a human-readable view)")
}

// listNamespace returns the list option for the namespace flags: every namespace
// with -A, else -n or the kubeconfig context's.
func (o *Options) listNamespace(all bool) ([]client.ListOption, string, error) {
	if all {
		return nil, "", nil
	}
	ns, err := o.Namespace()
	if err != nil {
		return nil, "", err
	}
	return []client.ListOption{client.InNamespace(ns)}, ns, nil
}

// listSetup is what every list command does first: check -o, resolve the namespace
// flags and connect.
func (o *Options) listSetup(output string, all bool) ([]client.ListOption, string, client.Client, error) {
	if err := checkOutput(output); err != nil {
		return nil, "", nil, err
	}
	opts, ns, err := o.listNamespace(all)
	if err != nil {
		return nil, "", nil, err
	}
	c, err := o.Client()
	return opts, ns, c, err
}

func noneFound(w io.Writer, what string, all bool, ns string) {
	if all {
		fmt.Fprintf(w, "No %s found.\n", what)
	} else {
		fmt.Fprintf(w, "No %s found in %s namespace.\n", what, ns)
	}
}

// ---- map ----

func newMapCommand(o *Options) *cobra.Command {
	var output string
	var noColor bool
	var width int
	cmd := &cobra.Command{
		Use:   "map JOURNEY",
		Short: "Show a journey map: stages, moments, objectives and open tasks",
		Long: `Show the journey map in the terminal: the stages left to right, under each stage
its moments (Gain [+] or Pain [-]) with their health, each objective's value against
its target and the moment's open remediation tasks; the persona, score, health and
open tasks above, the largest gaps below. Colours are used when standard output is
a terminal, unless --no-color or NO_COLOR is set.`,
		Example: `  kubectl cx map technician-buys-parts -n shop
  kubectl cx map technician-buys-parts -o yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			ns, err := o.Namespace()
			if err != nil {
				return err
			}
			c, err := o.Client()
			if err != nil {
				return err
			}
			jm, err := BuildJourneyMap(cmd.Context(), c, ns, args[0])
			if err != nil {
				return err
			}
			if output != "" {
				return printStructured(o.IOStreams.Out, jm, output)
			}
			isTerm, termWidth := false, 0
			if o.Terminal != nil {
				isTerm, termWidth = o.Terminal(o.IOStreams.Out)
			}
			if width <= 0 {
				width = defaultWidth
				if isTerm && termWidth > 0 {
					width = termWidth
				}
			}
			color := isTerm && !noColor && os.Getenv("NO_COLOR") == ""
			RenderMap(o.IOStreams.Out, jm, width, color)
			return nil
		},
	}
	addOutputFlag(cmd, &output)
	cmd.Flags().BoolVar(&noColor, "no-color", false, "never use colours")
	cmd.Flags().IntVar(&width, "width", 0, "width to lay the stages out in (default: the terminal's, or 120)")
	return cmd
}

// ---- status ----

// JourneyStatusRow is one journey in `kubectl cx status`.
type JourneyStatusRow struct {
	Namespace string            `json:"namespace"`
	Journey   string            `json:"journey"`
	Persona   string            `json:"persona"`
	Score     *int32            `json:"score,omitempty"`
	Health    string            `json:"health"`
	Coverage  *int32            `json:"coverage,omitempty"`
	Moments   cxv1.MomentCounts `json:"moments"`
	Drifting  int32             `json:"driftingMoments"`
	OpenTasks int               `json:"openTasks"`
	TopGap    *cxv1.Gap         `json:"topGap,omitempty"`
}

// JourneyStatusList is what `kubectl cx status -o json|yaml` prints.
type JourneyStatusList struct {
	Kind  string             `json:"kind"`
	Items []JourneyStatusRow `json:"items"`
}

// BuildStatus reads the journeys (of one namespace, or all when namespace is "")
// and counts their open tasks.
func BuildStatus(ctx context.Context, c client.Client, opts ...client.ListOption) (*JourneyStatusList, error) {
	var journeys cxv1.JourneyList
	if err := c.List(ctx, &journeys, opts...); err != nil {
		return nil, err
	}
	var moments cxv1.MomentList
	if err := c.List(ctx, &moments, opts...); err != nil {
		return nil, err
	}
	var tasks cxv1.RemediationTaskList
	if err := c.List(ctx, &tasks, opts...); err != nil {
		return nil, err
	}
	type nsName struct{ ns, name string }
	momentJourney := map[nsName]string{}
	for _, m := range moments.Items {
		momentJourney[nsName{m.Namespace, m.Name}] = m.Spec.JourneyRef.Name
	}
	open := map[nsName]int{}
	for i := range tasks.Items {
		t := &tasks.Items[i]
		if !taskOpen(t) {
			continue
		}
		j := momentJourney[nsName{t.Namespace, taskMoment(t)}]
		if j == "" {
			j = taskJourney(t)
		}
		open[nsName{t.Namespace, j}]++
	}
	list := &JourneyStatusList{Kind: "JourneyStatusList", Items: []JourneyStatusRow{}}
	for i := range journeys.Items {
		j := &journeys.Items[i]
		list.Items = append(list.Items, statusRow(j, open[nsName{j.Namespace, j.Name}]))
	}
	sort.SliceStable(list.Items, func(a, b int) bool {
		if list.Items[a].Namespace != list.Items[b].Namespace {
			return list.Items[a].Namespace < list.Items[b].Namespace
		}
		return list.Items[a].Journey < list.Items[b].Journey
	})
	return list, nil
}

// statusRow is one journey's row.
func statusRow(j *cxv1.Journey, openTasks int) JourneyStatusRow {
	row := JourneyStatusRow{
		Namespace: j.Namespace, Journey: j.Name, Persona: j.Spec.Persona.Name,
		Score: j.Status.Score, Health: journeyHealth(j), Coverage: j.Status.Coverage,
		Moments: j.Status.Moments, Drifting: j.Status.DriftingMoments,
		OpenTasks: openTasks,
	}
	if len(j.Status.TopGaps) > 0 {
		g := j.Status.TopGaps[0]
		row.TopGap = &g
	}
	return row
}

// PrintStatus writes the status table.
func PrintStatus(w io.Writer, list *JourneyStatusList, withNamespace bool) error {
	tw := printers.GetNewTabWriter(w)
	cols := []string{"JOURNEY", "PERSONA", "SCORE", "COVERAGE", "HEALTH", "MOMENTS", "DRIFTING", "OPEN-TASKS", "TOP-GAP"}
	if withNamespace {
		cols = append([]string{"NAMESPACE"}, cols...)
	}
	fmt.Fprintln(tw, strings.Join(cols, "\t"))
	for _, r := range list.Items {
		score := "<none>"
		if r.Score != nil {
			score = fmt.Sprint(*r.Score)
		}
		gap := "<none>"
		if r.TopGap != nil {
			gap = gapText(*r.TopGap)
		}
		coverage := "-"
		if r.Coverage != nil {
			coverage = fmt.Sprintf("%d%%", *r.Coverage)
		}
		cells := []string{r.Journey, r.Persona, score, coverage, r.Health,
			fmt.Sprintf("%d/%d", r.Moments.Healthy, r.Moments.Total),
			fmt.Sprint(r.Drifting), fmt.Sprint(r.OpenTasks), gap}
		if withNamespace {
			cells = append([]string{r.Namespace}, cells...)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

func newStatusCommand(o *Options) *cobra.Command {
	var output string
	var all bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every journey's score, health, drifting moments and open tasks",
		Example: `  kubectl cx status
  kubectl cx status -A
  kubectl cx status -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, ns, c, err := o.listSetup(output, all)
			if err != nil {
				return err
			}
			list, err := BuildStatus(cmd.Context(), c, opts...)
			if err != nil {
				return err
			}
			if output != "" {
				return printStructured(o.IOStreams.Out, list, output)
			}
			if len(list.Items) == 0 {
				noneFound(o.IOStreams.ErrOut, "journeys", all, ns)
				return nil
			}
			return PrintStatus(o.IOStreams.Out, list, all)
		},
	}
	addOutputFlag(cmd, &output)
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "show the journeys of every namespace")
	return cmd
}

// ---- tasks ----

func taskOpened(t *cxv1.RemediationTask) time.Time {
	if t.Status.OpenedTime != nil {
		return t.Status.OpenedTime.Time
	}
	return t.CreationTimestamp.Time
}

// PrintTasks writes the tasks table.
func PrintTasks(w io.Writer, tasks []cxv1.RemediationTask, withNamespace bool, now time.Time) error {
	tw := printers.GetNewTabWriter(w)
	cols := []string{"NAME", "MOMENT", "OBJECTIVE", "PHASE", "SEVERITY", "TEAM", "AGE", "SUMMARY"}
	if withNamespace {
		cols = append([]string{"NAMESPACE"}, cols...)
	}
	fmt.Fprintln(tw, strings.Join(cols, "\t"))
	orNone := func(s string) string {
		if s == "" {
			return "<none>"
		}
		return s
	}
	for i := range tasks {
		t := &tasks[i]
		age := "<unknown>"
		if opened := taskOpened(t); !opened.IsZero() {
			age = duration.HumanDuration(now.Sub(opened))
		}
		cells := []string{t.Name, orNone(taskMoment(t)), orNone(t.Spec.Objective), taskPhase(t),
			orNone(string(taskSeverity(t))), orNone(t.Spec.Team), age, t.Spec.Summary}
		if withNamespace {
			cells = append([]string{t.Namespace}, cells...)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

func newTasksCommand(o *Options) *cobra.Command {
	var output string
	var all, openOnly bool
	cmd := &cobra.Command{
		Use:     "tasks",
		Aliases: []string{"task"},
		Short:   "List remediation tasks",
		Long: `List remediation tasks: open ones first, most severe first, oldest first.
With --open, only the tasks that are not resolved.`,
		Example: `  kubectl cx tasks --open
  kubectl cx tasks -A`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, ns, c, err := o.listSetup(output, all)
			if err != nil {
				return err
			}
			var list cxv1.RemediationTaskList
			if err := c.List(cmd.Context(), &list, opts...); err != nil {
				return err
			}
			var tasks []cxv1.RemediationTask
			for _, t := range list.Items {
				if !openOnly || taskOpen(&t) {
					tasks = append(tasks, t)
				}
			}
			sortTasks(tasks)
			if output != "" {
				views := []TaskView{}
				for i := range tasks {
					views = append(views, taskView(&tasks[i]))
				}
				return printStructured(o.IOStreams.Out, struct {
					Kind  string     `json:"kind"`
					Items []TaskView `json:"items"`
				}{"TaskList", views}, output)
			}
			if len(tasks) == 0 {
				what := "remediation tasks"
				if openOnly {
					what = "open remediation tasks"
				}
				noneFound(o.IOStreams.ErrOut, what, all, ns)
				return nil
			}
			now := time.Now
			if o.Now != nil {
				now = o.Now
			}
			return PrintTasks(o.IOStreams.Out, tasks, all, now())
		},
	}
	addOutputFlag(cmd, &output)
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list the tasks of every namespace")
	cmd.Flags().BoolVar(&openOnly, "open", false, "only tasks that are not resolved")
	return cmd
}

// ---- ack ----

// taskName accepts NAME, remediationtask/NAME or rtask/NAME.
func taskName(arg string) (string, error) {
	kind, name, found := strings.Cut(arg, "/")
	if !found {
		return arg, nil
	}
	switch strings.ToLower(kind) {
	case "remediationtask", "remediationtasks", "rtask", "remediationtask.cx.cxops.io", "remediationtasks.cx.cxops.io":
		return name, nil
	}
	return "", fmt.Errorf("%q is not a remediation task: use NAME or remediationtask/NAME", arg)
}

// Acknowledge merge-patches spec.acknowledged=true on a task.
func Acknowledge(ctx context.Context, c client.Client, namespace, name string) error {
	t := &cxv1.RemediationTask{}
	t.Namespace, t.Name = namespace, name
	patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"acknowledged":true}}`))
	if err := c.Patch(ctx, t, patch); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("remediationtask %q not found in namespace %q", name, namespace)
		}
		return err
	}
	return nil
}

func newAckCommand(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ack TASK...",
		Short: "Acknowledge remediation tasks (sets spec.acknowledged, which stops escalation)",
		Example: `  kubectl cx ack stock-shown-is-real-stock-accuracy-1a2b3c -n shop
  kubectl cx ack remediationtask/stock-shown-is-real-stock-accuracy-1a2b3c`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, err := o.Namespace()
			if err != nil {
				return err
			}
			c, err := o.Client()
			if err != nil {
				return err
			}
			for _, arg := range args {
				name, err := taskName(arg)
				if err != nil {
					return err
				}
				if err := Acknowledge(cmd.Context(), c, ns, name); err != nil {
					return err
				}
				fmt.Fprintf(o.IOStreams.Out, "remediationtask/%s acknowledged\n", name)
			}
			return nil
		},
	}
	return cmd
}

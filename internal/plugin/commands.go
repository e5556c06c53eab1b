package plugin

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

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

// listSetup is what every list command does first: resolve -o (nil printer: a
// table), resolve the namespace flags and connect.
func (o *Options) listSetup(output *listOutput, all bool) (printers.ResourcePrinter, []client.ListOption, string, client.Client, error) {
	p, err := output.printer()
	if err != nil {
		return nil, nil, "", nil, err
	}
	opts, ns, err := o.listNamespace(all)
	if err != nil {
		return nil, nil, "", nil, err
	}
	c, err := o.Client()
	return p, opts, ns, c, err
}

func noneFound(w io.Writer, what string, all bool, ns string) {
	if all {
		_, _ = fmt.Fprintf(w, "No %s found.\n", what)
	} else {
		_, _ = fmt.Fprintf(w, "No %s found in %s namespace.\n", what, ns)
	}
}

// ---- map ----

// The drawings of --format.
const (
	mapFormatText = "text"
	mapFormatSVG  = "svg"
	mapFormatHTML = "html"
)

func newMapCommand(o *Options) *cobra.Command {
	var output *genericclioptions.PrintFlags
	var noColor, blueprint bool
	var width int
	var format string
	cmd := &cobra.Command{
		Use:   "map JOURNEY",
		Short: "Show a journey map: stages, moments, objectives and open tasks",
		Long: `Show the journey map in the terminal: the stages left to right, under each stage
its moments (Gain [+] or Pain [-]) with their health, each objective's value against
its target and the moment's open remediation tasks; the persona, score, health and
open tasks above, the largest gaps below. Colours are used when standard output is
a terminal, unless --no-color or NO_COLOR is set.

--blueprint draws the service blueprint under the stages: customer actions,
frontstage actions, the line of visibility, the backstage processes with their
owner, systems, health and control points, and the support systems.

--format svg or --format html writes a standalone picture of the map instead (no
external assets, no scripts), to save to a file or open in a browser.`,
		Example: `  kubectl cx map technician-buys-parts -n shop
  kubectl cx map technician-buys-parts -n shop --blueprint
  kubectl cx map technician-buys-parts -n shop --blueprint --format html > map.html
  kubectl cx map technician-buys-parts -n shop --format svg > map.svg
  kubectl cx map technician-buys-parts -o yaml
  kubectl cx map technician-buys-parts -o jsonpath='{.journey.coverage}'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			structured := *output.OutputFormat != "" || *output.TemplatePrinterFlags.TemplateArgument != ""
			switch format {
			case mapFormatText, mapFormatSVG, mapFormatHTML:
			default:
				return fmt.Errorf("unknown --format %q: one of text, svg, html", format)
			}
			if structured && format != mapFormatText {
				return fmt.Errorf("--format %s and -o cannot be used together: -o prints the map as data, --format draws it", format)
			}
			var p printers.ResourcePrinter
			if structured {
				var err error
				if p, err = output.ToPrinter(); err != nil {
					return err
				}
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
			if p != nil {
				return p.PrintObj(jm, o.IOStreams.Out)
			}
			switch format {
			case mapFormatSVG:
				return RenderMapSVG(o.IOStreams.Out, jm, PictureOptions{Blueprint: blueprint})
			case mapFormatHTML:
				return RenderMapHTML(o.IOStreams.Out, jm, PictureOptions{Blueprint: blueprint})
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
			RenderMapWith(o.IOStreams.Out, jm, MapOptions{Width: width, Color: color, Blueprint: blueprint})
			return nil
		},
	}
	// The map is one object, not a list: json, yaml and the templates, no name.
	output = &genericclioptions.PrintFlags{
		OutputFormat:         ptr.To(""),
		JSONYamlPrintFlags:   genericclioptions.NewJSONYamlPrintFlags(),
		TemplatePrinterFlags: genericclioptions.NewKubeTemplatePrintFlags(),
	}
	output.AddFlags(cmd)
	cmd.Flags().Lookup("output").Usage = fmt.Sprintf("Output format. One of: (%s). Default: the map.", strings.Join(output.AllowedFormats(), ", "))
	cmd.Flags().BoolVar(&noColor, "no-color", false, "never use colours")
	cmd.Flags().IntVar(&width, "width", 0, "width to lay the stages out in (default: the terminal's, or 120)")
	cmd.Flags().BoolVar(&blueprint, "blueprint", false, "draw the service blueprint lanes under the stages (customer actions, frontstage, backstage processes, support systems)")
	cmd.Flags().StringVar(&format, "format", mapFormatText, "how to draw the map: text (the terminal), svg or html (a standalone picture)")
	return cmd
}

// ---- status ----

// JourneyStatusRow is one journey in `kubectl cx status`.
type JourneyStatusRow struct {
	Namespace string `json:"namespace"`
	Journey   string `json:"journey"`
	Persona   string `json:"persona"`
	Segment   string `json:"segment,omitempty"`
	Score     *int32 `json:"score,omitempty"`
	Health    string `json:"health"`
	// Reason is the reason of the journey's Healthy condition.
	Reason    string            `json:"reason,omitempty"`
	Coverage  *int32            `json:"coverage,omitempty"`
	Moments   cxv1.MomentCounts `json:"moments"`
	Drifting  int32             `json:"driftingMoments"`
	OpenTasks int               `json:"openTasks"`
	TopGap    *cxv1.Gap         `json:"topGap,omitempty"`

	journey *cxv1.Journey // for -o name
}

// JourneyStatusList is what `kubectl cx status -o json|yaml|jsonpath=...` prints.
type JourneyStatusList struct {
	metav1.TypeMeta `json:",inline"`
	Items           []JourneyStatusRow `json:"items"`
}

// DeepCopyObject makes the list a runtime.Object, for cli-runtime's printers.
func (l *JourneyStatusList) DeepCopyObject() runtime.Object {
	out := &JourneyStatusList{TypeMeta: l.TypeMeta, Items: make([]JourneyStatusRow, len(l.Items))}
	for i, r := range l.Items {
		r.Score, r.Coverage = ptrCopy(r.Score), ptrCopy(r.Coverage)
		r.TopGap = r.TopGap.DeepCopy()
		out.Items[i] = r
	}
	return out
}

func ptrCopy[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
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
	list := &JourneyStatusList{TypeMeta: metav1.TypeMeta{Kind: "JourneyStatusList"}, Items: []JourneyStatusRow{}}
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
		Namespace: j.Namespace, Journey: j.Name, Persona: j.Spec.Persona.Name, Segment: string(j.Spec.Persona.Segment),
		Score: j.Status.Score, Health: journeyHealth(j), Coverage: j.Status.Coverage,
		Moments: j.Status.Moments, Drifting: ptr.Deref(j.Status.DriftingMoments, 0),
		OpenTasks: openTasks, journey: j,
	}
	if c := apimeta.FindStatusCondition(j.Status.Conditions, cxv1.HealthyCondition); c != nil {
		row.Reason = c.Reason
	}
	if len(j.Status.TopGaps) > 0 {
		g := j.Status.TopGaps[0]
		row.TopGap = &g
	}
	return row
}

// statusColumns are the columns of `kubectl cx status`; priority 1 only with -o wide.
var statusColumns = []metav1.TableColumnDefinition{
	{Name: "Journey", Type: "string"},
	{Name: "Persona", Type: "string"},
	{Name: "Segment", Type: "string", Priority: 1},
	{Name: "Score", Type: "string"},
	{Name: "Coverage", Type: "string"},
	{Name: "Health", Type: "string"},
	{Name: "Reason", Type: "string", Priority: 1},
	{Name: "Moments", Type: "string"},
	{Name: "Drifting", Type: "string"},
	{Name: "Open-Tasks", Type: "string"},
	{Name: "Top-Gap", Type: "string"},
}

// PrintStatus writes the status table (with -o wide, the wide one).
func PrintStatus(w io.Writer, list *JourneyStatusList, withNamespace, wide bool) error {
	var rows [][]interface{}
	for _, r := range list.Items {
		score := "<none>"
		if r.Score != nil {
			score = fmt.Sprint(*r.Score)
		}
		coverage := "-"
		if r.Coverage != nil {
			coverage = fmt.Sprintf("%d%%", *r.Coverage)
		}
		gap := "<none>"
		if r.TopGap != nil {
			gap = gapText(*r.TopGap)
		}
		cells := []interface{}{r.Journey, r.Persona, orNone(r.Segment), score, coverage, r.Health, orNone(r.Reason),
			fmt.Sprintf("%d/%d", ptr.Deref(r.Moments.Healthy, 0), ptr.Deref(r.Moments.Total, 0)),
			fmt.Sprint(r.Drifting), fmt.Sprint(r.OpenTasks), gap}
		if withNamespace {
			cells = append([]interface{}{r.Namespace}, cells...)
		}
		rows = append(rows, cells)
	}
	return printTable(w, statusColumns, rows, withNamespace, wide)
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

func newStatusCommand(o *Options) *cobra.Command {
	var output *listOutput
	var all bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every journey's score, health, drifting moments and open tasks",
		Example: `  kubectl cx status
  kubectl cx status -A
  kubectl cx status -o wide
  kubectl cx status -o json
  kubectl cx status -o custom-columns=JOURNEY:.journey,COVERAGE:.coverage`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, opts, ns, c, err := o.listSetup(output, all)
			if err != nil {
				return err
			}
			list, err := BuildStatus(cmd.Context(), c, opts...)
			if err != nil {
				return err
			}
			if p != nil {
				var journeys []client.Object
				for _, r := range list.Items {
					journeys = append(journeys, r.journey)
				}
				return output.print(o.IOStreams.Out, p, list, journeys)
			}
			if len(list.Items) == 0 {
				noneFound(o.IOStreams.ErrOut, "journeys", all, ns)
				return nil
			}
			_, wide := output.table()
			return PrintStatus(o.IOStreams.Out, list, all, wide)
		},
	}
	output = addListOutput(cmd)
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

// TaskList is what `kubectl cx tasks -o json|yaml|jsonpath=...` prints.
type TaskList struct {
	metav1.TypeMeta `json:",inline"`
	Items           []TaskView `json:"items"`
}

// DeepCopyObject makes the list a runtime.Object, for cli-runtime's printers.
func (l *TaskList) DeepCopyObject() runtime.Object {
	return &TaskList{TypeMeta: l.TypeMeta, Items: append([]TaskView(nil), l.Items...)}
}

// taskColumns are the columns of `kubectl cx tasks`; priority 1 only with -o wide.
var taskColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name"},
	{Name: "Moment", Type: "string"},
	{Name: "Journey", Type: "string", Priority: 1},
	{Name: "Objective", Type: "string"},
	{Name: "Phase", Type: "string"},
	{Name: "Severity", Type: "string"},
	{Name: "Escalations", Type: "string", Priority: 1},
	{Name: "Team", Type: "string"},
	{Name: "Age", Type: "string"},
	{Name: "Summary", Type: "string"},
}

// PrintTasks writes the tasks table (with -o wide, the wide one).
func PrintTasks(w io.Writer, tasks []cxv1.RemediationTask, withNamespace, wide bool, now time.Time) error {
	var rows [][]interface{}
	for i := range tasks {
		t := &tasks[i]
		age := "<unknown>"
		if opened := taskOpened(t); !opened.IsZero() {
			age = duration.HumanDuration(now.Sub(opened))
		}
		cells := []interface{}{t.Name, orNone(taskMoment(t)), orNone(taskJourney(t)), orNone(t.Spec.Objective), taskPhase(t),
			orNone(string(taskSeverity(t))), fmt.Sprint(ptr.Deref(t.Status.Escalations, 0)), orNone(t.Spec.Team), age, t.Spec.Summary}
		if withNamespace {
			cells = append([]interface{}{t.Namespace}, cells...)
		}
		rows = append(rows, cells)
	}
	return printTable(w, taskColumns, rows, withNamespace, wide)
}

func newTasksCommand(o *Options) *cobra.Command {
	var output *listOutput
	var all, openOnly bool
	cmd := &cobra.Command{
		Use:     "tasks",
		Aliases: []string{"task"},
		Short:   "List remediation tasks",
		Long: `List remediation tasks: open ones first, most severe first, oldest first.
With --open, only the tasks that are not resolved.`,
		Example: `  kubectl cx tasks --open
  kubectl cx tasks -A -o wide
  kubectl cx tasks --open -o name | xargs kubectl cx ack`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, opts, ns, c, err := o.listSetup(output, all)
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
			if p != nil {
				list := &TaskList{TypeMeta: metav1.TypeMeta{Kind: "TaskList"}, Items: []TaskView{}}
				var objects []client.Object
				for i := range tasks {
					list.Items = append(list.Items, taskView(&tasks[i]))
					objects = append(objects, &tasks[i])
				}
				return output.print(o.IOStreams.Out, p, list, objects)
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
			_, wide := output.table()
			return PrintTasks(o.IOStreams.Out, tasks, all, wide, now())
		},
	}
	output = addListOutput(cmd)
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
				_, _ = fmt.Fprintf(o.IOStreams.Out, "remediationtask/%s acknowledged\n", name)
			}
			return nil
		},
	}
	return cmd
}

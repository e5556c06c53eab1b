package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/scoring"
)

// JourneyMap is the journey map as data: what `kubectl cx map -o json|yaml` prints.
type JourneyMap struct {
	metav1.TypeMeta `json:",inline"`
	Journey         JourneySummary `json:"journey"`
	// Objectives are the journey-level objectives.
	Objectives []ObjectiveView `json:"objectives,omitempty"`
	// Stages in spec order, each with its moments.
	Stages []StageView `json:"stages"`
	// UnstagedMoments reference a stage the journey does not have.
	UnstagedMoments []MomentView `json:"unstagedMoments,omitempty"`
	// Tasks are the open remediation tasks of the journey's moments.
	Tasks []TaskView `json:"tasks"`
	// TopGaps are the largest gaps, largest first (status.topGaps).
	TopGaps []cxv1.Gap `json:"topGaps,omitempty"`
}

// JourneySummary is the header of the map.
type JourneySummary struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Persona   string `json:"persona"`
	Segment   string `json:"segment,omitempty"`
	// Vision is the journey's to-be statement (spec.vision).
	Vision string `json:"vision,omitempty"`
	Score  *int32 `json:"score,omitempty"`
	Health string `json:"health"`
	// Coverage is the percent of the journey's objective weight that has data
	// (status.coverage); absent until the controller measures it.
	Coverage *int32 `json:"coverage,omitempty"`
	// MinCoverage is the coverage below which the health is Unknown
	// (spec.minCoverage, 80 by default).
	MinCoverage int32             `json:"minCoverage"`
	Moments     cxv1.MomentCounts `json:"moments"`
	Drifting    int32             `json:"driftingMoments"`
	OpenTasks   int               `json:"openTasks"`
}

// StageView is one stage (a column of the map).
type StageView struct {
	Name        string       `json:"name"`
	DisplayName string       `json:"displayName,omitempty"`
	Phase       string       `json:"phase"`
	Health      string       `json:"health"`
	Moments     []MomentView `json:"moments"`
	// Blueprint is the service blueprint under the stage, with the measured
	// health of its backstage processes; absent when the stage has none.
	Blueprint *BlueprintView `json:"blueprint,omitempty"`
}

// BlueprintView is a stage's service blueprint, lane by lane: what the customer
// does, what the company does in front of the customer (above the line of
// visibility), the backstage processes behind it and the systems they run on.
type BlueprintView struct {
	CustomerActions []string                `json:"customerActions,omitempty"`
	Frontstage      []cxv1.FrontstageAction `json:"frontstage,omitempty"`
	Backstage       []ProcessView           `json:"backstage,omitempty"`
	SupportSystems  []cxv1.SupportSystem    `json:"supportSystems,omitempty"`
}

// ProcessView is a backstage process with its measured health: the worst health
// of the moments that name it in spec.process (Unknown when none does or none
// has data), its control points (their objectives) and how many of them drift.
type ProcessView struct {
	Name          string      `json:"name"`
	DisplayName   string      `json:"displayName,omitempty"`
	Owner         string      `json:"owner"`
	Systems       []string    `json:"systems,omitempty"`
	SIPOC         *cxv1.SIPOC `json:"sipoc,omitempty"`
	Health        string      `json:"health"`
	ControlPoints int32       `json:"controlPoints"`
	Drifting      int32       `json:"drifting"`
	Moments       []string    `json:"moments,omitempty"`
}

// MomentView is one moment in a stage.
type MomentView struct {
	Name       string          `json:"name"`
	Stage      string          `json:"stage"`
	Process    string          `json:"process,omitempty"`
	Polarity   string          `json:"polarity"`
	Health     string          `json:"health"`
	Owner      string          `json:"owner,omitempty"`
	Touchpoint string          `json:"touchpoint,omitempty"`
	Channel    string          `json:"channel,omitempty"`
	Weight     int32           `json:"weight"`
	Drifting   string          `json:"drifting,omitempty"`
	Objectives []ObjectiveView `json:"objectives"`
	OpenTasks  []string        `json:"openTasks,omitempty"`
}

// ObjectiveView is an objective's value against its target.
type ObjectiveView struct {
	Name   string `json:"name"`
	State  string `json:"state"`
	Value  string `json:"value,omitempty"`
	Target string `json:"target"`
	Unit   string `json:"unit,omitempty"`
	Key    bool   `json:"key,omitempty"`
}

// TaskView is an open remediation task.
type TaskView struct {
	Name         string `json:"name"`
	Moment       string `json:"moment"`
	Journey      string `json:"journey,omitempty"`
	Objective    string `json:"objective"`
	Phase        string `json:"phase"`
	Severity     string `json:"severity"`
	Team         string `json:"team,omitempty"`
	Summary      string `json:"summary,omitempty"`
	Acknowledged bool   `json:"acknowledged,omitempty"`
	Escalations  int32  `json:"escalations,omitempty"`
}

// DeepCopyObject makes the map a runtime.Object, for cli-runtime's printers
// (which do not copy it: it is not a Kubernetes object).
func (jm *JourneyMap) DeepCopyObject() runtime.Object {
	out := &JourneyMap{}
	data, err := json.Marshal(jm)
	if err == nil {
		err = json.Unmarshal(data, out)
	}
	if err != nil {
		panic(err) // a JourneyMap always round-trips through JSON
	}
	return out
}

// BuildJourneyMap reads a journey, its moments and their open tasks.
func BuildJourneyMap(ctx context.Context, c client.Client, namespace, name string) (*JourneyMap, error) {
	var j cxv1.Journey
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &j); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("journey %q not found in namespace %q", name, namespace)
		}
		return nil, err
	}
	var moments cxv1.MomentList
	if err := c.List(ctx, &moments, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	var tasks cxv1.RemediationTaskList
	if err := c.List(ctx, &tasks, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	var mine []cxv1.Moment
	for _, m := range moments.Items {
		if m.Spec.JourneyRef.Name == name {
			mine = append(mine, m)
		}
	}
	return journeyMap(&j, mine, tasks.Items), nil
}

// journeyMap assembles the map from the objects (pure, for tests).
func journeyMap(j *cxv1.Journey, moments []cxv1.Moment, tasks []cxv1.RemediationTask) *JourneyMap {
	jm := &JourneyMap{
		TypeMeta: metav1.TypeMeta{Kind: "JourneyMap"},
		Journey: JourneySummary{
			Name:        j.Name,
			Namespace:   j.Namespace,
			Persona:     j.Spec.Persona.Name,
			Segment:     string(j.Spec.Persona.Segment),
			Vision:      j.Spec.Vision,
			Score:       j.Status.Score,
			Health:      journeyHealth(j),
			Coverage:    j.Status.Coverage,
			MinCoverage: minCoverage(j),
			Moments:     j.Status.Moments,
			Drifting:    ptr.Deref(j.Status.DriftingMoments, 0),
		},
		Objectives: objectiveViews(j.Spec.Objectives, j.Status.Objectives),
		Stages:     []StageView{},
		Tasks:      []TaskView{},
		TopGaps:    j.Status.TopGaps,
	}

	// Open tasks of the journey's moments, by moment.
	momentNames := map[string]bool{}
	for _, m := range moments {
		momentNames[m.Name] = true
	}
	openByMoment := map[string][]string{}
	sortTasks(tasks)
	for _, t := range tasks {
		if !taskOpen(&t) {
			continue
		}
		moment := taskMoment(&t)
		if !momentNames[moment] && taskJourney(&t) != j.Name {
			continue
		}
		jm.Tasks = append(jm.Tasks, taskView(&t))
		openByMoment[moment] = append(openByMoment[moment], t.Name)
	}
	jm.Journey.OpenTasks = len(jm.Tasks)

	// Moments by stage, heaviest first.
	sort.SliceStable(moments, func(a, b int) bool {
		wa, wb := momentWeight(&moments[a]), momentWeight(&moments[b])
		if wa != wb {
			return wa > wb
		}
		return moments[a].Name < moments[b].Name
	})
	stageIdx := map[string]int{}
	stageStatus := map[string]*cxv1.StageStatus{}
	for i := range j.Status.Stages {
		stageStatus[j.Status.Stages[i].Name] = &j.Status.Stages[i]
	}
	for i := range j.Spec.Stages {
		s := &j.Spec.Stages[i]
		stageIdx[s.Name] = i
		var health cxv1.HealthState
		if st := stageStatus[s.Name]; st != nil {
			health = st.Health
		}
		jm.Stages = append(jm.Stages, StageView{
			Name: s.Name, DisplayName: s.DisplayName, Phase: string(s.Phase),
			Health: healthOrUnknown(health), Moments: []MomentView{},
			Blueprint: blueprintView(s, stageStatus[s.Name], moments),
		})
	}
	var counts cxv1.MomentCounts
	for i := range moments {
		m := &moments[i]
		mv := MomentView{
			Name: m.Name, Stage: m.Spec.Stage, Process: m.Spec.Process, Polarity: string(m.Spec.Polarity),
			Health: healthOrUnknown(m.Status.Health), Owner: m.Spec.Owner,
			Touchpoint: m.Spec.Touchpoint, Channel: string(m.Spec.Channel),
			Weight: momentWeight(m), Drifting: m.Status.Drifting,
			Objectives: objectiveViews(m.Spec.Objectives, m.Status.Objectives),
			OpenTasks:  openByMoment[m.Name],
		}
		scoring.Count(&counts, m.Status.Health)
		if idx, ok := stageIdx[m.Spec.Stage]; ok {
			jm.Stages[idx].Moments = append(jm.Stages[idx].Moments, mv)
		} else {
			jm.UnstagedMoments = append(jm.UnstagedMoments, mv)
		}
	}
	if ptr.Deref(jm.Journey.Moments.Total, 0) == 0 && len(moments) > 0 {
		jm.Journey.Moments = counts // not aggregated by the controller yet
	}
	return jm
}

// blueprintView is a stage's blueprint with the health of its processes from
// the journey's status (status.stages[].processes). A process the controller
// has not measured yet (an older controller, a journey not reconciled since
// the process was added) is measured here from the moments' status by the
// controller's own rule, scoring.ProcessStatuses: never Healthy by default.
func blueprintView(s *cxv1.Stage, st *cxv1.StageStatus, moments []cxv1.Moment) *BlueprintView {
	bp := &s.Blueprint
	if len(bp.CustomerActions) == 0 && len(bp.Frontstage) == 0 && len(bp.Backstage) == 0 && len(bp.SupportSystems) == 0 {
		return nil
	}
	measured := map[string]cxv1.ProcessStatus{}
	if st != nil {
		for _, p := range st.Processes {
			measured[p.Name] = p
		}
	}
	var computed []cxv1.ProcessStatus
	bv := &BlueprintView{CustomerActions: bp.CustomerActions, Frontstage: bp.Frontstage, SupportSystems: bp.SupportSystems}
	for i, p := range bp.Backstage {
		ps, ok := measured[p.Name]
		if !ok {
			if computed == nil {
				ms := make([]*cxv1.Moment, len(moments))
				for k := range moments {
					ms[k] = &moments[k]
				}
				computed = scoring.ProcessStatuses(s, ms)
			}
			if i < len(computed) {
				ps = computed[i]
			}
		}
		bv.Backstage = append(bv.Backstage, ProcessView{
			Name: p.Name, DisplayName: p.DisplayName, Owner: p.Owner, Systems: p.Systems, SIPOC: sipocOrNil(p.SIPOC),
			Health: healthOrUnknown(ps.Health), ControlPoints: ptr.Deref(ps.ControlPoints, 0), Drifting: ptr.Deref(ps.Drifting, 0), Moments: ps.Moments,
		})
	}
	return bv
}

func objectiveViews(spec []cxv1.Objective, status []cxv1.ObjectiveStatus) []ObjectiveView {
	byName := map[string]*cxv1.ObjectiveStatus{}
	for i := range status {
		byName[status[i].Name] = &status[i]
	}
	views := []ObjectiveView{}
	for _, o := range spec {
		v := ObjectiveView{Name: o.Name, State: string(cxv1.StateUnknown), Target: specTarget(o.Target),
			Unit: o.KPI.Unit, Key: o.Key != nil && *o.Key}
		if s := byName[o.Name]; s != nil {
			if s.State != "" {
				v.State = string(s.State)
			}
			if s.Value != nil {
				v.Value = *s.Value
			}
			if s.Target != "" {
				v.Target = s.Target
			}
		}
		views = append(views, v)
	}
	return views
}

// specTarget spells a target from the spec as the controller does in status.
func specTarget(t cxv1.Target) string {
	deref := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	if t.Operator == cxv1.OpInRange {
		return fmt.Sprintf("in [%s, %s]", deref(t.Min), deref(t.Max))
	}
	s := string(t.Operator) + " " + deref(t.Value)
	if t.Warning != nil {
		if t.Operator == cxv1.OpGreaterOrEqual || t.Operator == cxv1.OpGreater {
			s += " (warning below " + *t.Warning + ")"
		} else {
			s += " (warning above " + *t.Warning + ")"
		}
	}
	return s
}

func minCoverage(j *cxv1.Journey) int32 {
	if j.Spec.MinCoverage != nil {
		return *j.Spec.MinCoverage
	}
	return scoring.DefaultMinCoverage
}

// journeyHealth is a journey's health as the plugin shows it: status.health, but
// Unknown when there is none, and Unknown rather than Healthy when the Healthy
// condition is Unknown or the coverage is below the journey's minimum (a status
// written before the coverage rule, or by an older controller). The plugin never
// says more than cxops knows, and never hides a problem it reports.
func journeyHealth(j *cxv1.Journey) string {
	h := healthOrUnknown(j.Status.Health)
	if h != string(cxv1.HealthHealthy) {
		return h
	}
	if j.Status.Coverage != nil && *j.Status.Coverage < minCoverage(j) {
		return string(cxv1.HealthUnknown)
	}
	if c := apimeta.FindStatusCondition(j.Status.Conditions, cxv1.HealthyCondition); c != nil && c.Status == metav1.ConditionUnknown {
		return string(cxv1.HealthUnknown)
	}
	return h
}

func healthOrUnknown(h cxv1.HealthState) string {
	if h == "" {
		return string(cxv1.HealthUnknown)
	}
	return string(h)
}

func momentWeight(m *cxv1.Moment) int32 {
	if m.Spec.Impact != nil && m.Spec.Impact.Weight != 0 {
		return m.Spec.Impact.Weight
	}
	return 1
}

// taskOpen: a task is open until its phase is Resolved.
func taskOpen(t *cxv1.RemediationTask) bool {
	return t.Status.Phase != cxv1.TaskResolved
}

// taskMoment is the moment of a task: spec.momentRef, else its
// cx.cxops.io/moment label (which the controller shortens for names longer than
// a label value allows, so the spec is the reliable one).
func taskMoment(t *cxv1.RemediationTask) string {
	if t.Spec.MomentRef.Name != "" {
		return t.Spec.MomentRef.Name
	}
	return t.Labels[labelMoment]
}

func taskJourney(t *cxv1.RemediationTask) string {
	if t.Spec.JourneyRef.Name != "" {
		return t.Spec.JourneyRef.Name
	}
	return t.Labels["cx.cxops.io/journey"]
}

func taskPhase(t *cxv1.RemediationTask) string {
	if t.Status.Phase == "" {
		return string(cxv1.TaskOpen)
	}
	return string(t.Status.Phase)
}

func taskSeverity(t *cxv1.RemediationTask) cxv1.Severity {
	if t.Status.Severity != "" {
		return t.Status.Severity
	}
	return t.Spec.Severity
}

func taskView(t *cxv1.RemediationTask) TaskView {
	return TaskView{
		Name: t.Name, Moment: taskMoment(t), Journey: taskJourney(t), Objective: t.Spec.Objective, Phase: taskPhase(t),
		Severity: string(taskSeverity(t)), Team: t.Spec.Team, Summary: t.Spec.Summary,
		Acknowledged: t.Spec.Acknowledged != nil && *t.Spec.Acknowledged,
		Escalations:  ptr.Deref(t.Status.Escalations, 0),
	}
}

var phaseRank = map[string]int{string(cxv1.TaskOpen): 0, string(cxv1.TaskAcknowledged): 1, string(cxv1.TaskResolved): 2}

var severityRank = map[cxv1.Severity]int{cxv1.SeverityCritical: 0, cxv1.SeverityHigh: 1, cxv1.SeverityMedium: 2, cxv1.SeverityLow: 3}

// sortTasks orders tasks by namespace, then open before acknowledged before
// resolved, most severe first, oldest first, then by name.
func sortTasks(tasks []cxv1.RemediationTask) {
	sort.SliceStable(tasks, func(a, b int) bool {
		ta, tb := &tasks[a], &tasks[b]
		if ta.Namespace != tb.Namespace {
			return ta.Namespace < tb.Namespace
		}
		if pa, pb := phaseRank[taskPhase(ta)], phaseRank[taskPhase(tb)]; pa != pb {
			return pa < pb
		}
		sa, oka := severityRank[taskSeverity(ta)]
		sb, okb := severityRank[taskSeverity(tb)]
		if !oka {
			sa = 9
		}
		if !okb {
			sb = 9
		}
		if sa != sb {
			return sa < sb
		}
		oa, ob := taskOpened(ta), taskOpened(tb)
		if !oa.Equal(ob) {
			return oa.Before(ob)
		}
		return ta.Name < tb.Name
	})
}

// gapText spells a gap as "moment/objective value vs target".
func gapText(g cxv1.Gap) string {
	who := g.Objective
	if g.Moment != "" {
		who = g.Moment + "/" + g.Objective
	}
	value := g.Value
	if value == "" {
		value = "-"
	}
	s := who + " " + value
	if g.Target != "" {
		s += " vs " + g.Target
	}
	return strings.TrimSpace(s)
}

// sipocOrNil is nil for a process without a SIPOC.
func sipocOrNil(s cxv1.SIPOC) *cxv1.SIPOC {
	if len(s.Suppliers) == 0 && len(s.Inputs) == 0 && len(s.Outputs) == 0 && len(s.Customers) == 0 {
		return nil
	}
	return &s
}

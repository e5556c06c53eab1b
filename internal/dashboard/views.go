package dashboard

import (
	"context"
	"fmt"
	"sort"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/plugin"
)

// The pages' data. Each view is read from the API server as the user, with the
// plugin's rules (internal/plugin: the health a person is shown, which task is
// open, the order of tasks), so the dashboard says what `kubectl cx` says.

// journeysView is the journeys page.
type journeysView struct {
	Journeys []plugin.JourneyStatusRow
}

func (s *Server) journeys(ctx context.Context) (*journeysView, error) {
	list, err := plugin.BuildStatus(ctx, s.client, s.listOptions()...)
	if err != nil {
		return nil, err
	}
	return &journeysView{Journeys: list.Items}, nil
}

// mapView is the journey map with its service blueprint.
type mapView struct {
	Map    *plugin.JourneyMap
	Vision string
	// Description of the journey.
	Description string
	// Lanes is the service blueprint under the stages; nil when no stage has one.
	Lanes *blueprintLanes
	// CanAck: the user may patch tasks in the journey's namespace.
	CanAck bool
}

// blueprintLanes are the rows of the service blueprint, one cell per stage in
// the order of the map's columns.
type blueprintLanes struct {
	Stages []laneStage
}

// laneStage is one stage's column of the blueprint.
type laneStage struct {
	Name            string
	CustomerActions []string
	Frontstage      []cxv1.FrontstageAction
	Backstage       []processView
	SupportSystems  []cxv1.SupportSystem
}

// processView is a backstage process with its measured health.
type processView struct {
	cxv1.BackstageProcess
	Health        string
	ControlPoints int32
	Drifting      int32
	Moments       []string
}

func (s *Server) journeyMap(ctx context.Context, namespace, name string) (*mapView, error) {
	var j cxv1.Journey
	if err := s.client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &j); err != nil {
		return nil, err
	}
	jm, err := plugin.BuildJourneyMap(ctx, s.client, namespace, name)
	if err != nil {
		return nil, err
	}
	v := &mapView{Map: jm, Vision: j.Spec.Vision, Description: j.Spec.Description, Lanes: lanes(&j)}
	v.CanAck = s.access.canPatchTasks(ctx, namespace)
	return v, nil
}

// lanes builds the blueprint rows of a journey; nil when no stage has a blueprint.
func lanes(j *cxv1.Journey) *blueprintLanes {
	status := map[string]map[string]cxv1.ProcessStatus{}
	for _, st := range j.Status.Stages {
		byName := map[string]cxv1.ProcessStatus{}
		for _, p := range st.Processes {
			byName[p.Name] = p
		}
		status[st.Name] = byName
	}
	found := false
	l := &blueprintLanes{}
	for _, st := range j.Spec.Stages {
		ls := laneStage{Name: st.Name}
		if bp := st.Blueprint; len(bp.CustomerActions)+len(bp.Frontstage)+len(bp.Backstage)+len(bp.SupportSystems) > 0 {
			found = true
			ls.CustomerActions = bp.CustomerActions
			ls.Frontstage = bp.Frontstage
			ls.SupportSystems = bp.SupportSystems
			for _, p := range bp.Backstage {
				pv := processView{BackstageProcess: p, Health: string(cxv1.HealthUnknown)}
				if ps, ok := status[st.Name][p.Name]; ok {
					pv.Health = plugin.HealthOrUnknown(ps.Health)
					pv.ControlPoints, pv.Drifting, pv.Moments = ptr.Deref(ps.ControlPoints, 0), ptr.Deref(ps.Drifting, 0), ps.Moments
				}
				ls.Backstage = append(ls.Backstage, pv)
			}
		}
		l.Stages = append(l.Stages, ls)
	}
	if !found {
		return nil
	}
	return l
}

// taskFilter is the tasks page's filter: empty fields match everything.
type taskFilter struct {
	Team     string
	Severity string
	Phase    string
}

func (f taskFilter) match(t plugin.TaskView) bool {
	return (f.Team == "" || t.Team == f.Team) &&
		(f.Severity == "" || t.Severity == f.Severity) &&
		(f.Phase == "" || t.Phase == f.Phase)
}

// taskRow is one task on the tasks page.
type taskRow struct {
	plugin.TaskView
	Namespace string
	Opened    time.Time
	// CanAck: the task is open, not acknowledged, and the user may patch it.
	CanAck bool
}

// tasksView is the tasks page.
type tasksView struct {
	Filter taskFilter
	Tasks  []taskRow
	// Total is the number of tasks before filtering, Matched after it; at most
	// maxTaskRows of them are listed (Tasks), the most urgent first.
	Total, Matched int
	// Teams, Severities and Phases are the filter's choices.
	Teams      []string
	Severities []string
	Phases     []string
	AllNS      bool
}

// maxTaskRows bounds the tasks page: a namespace with thousands of tasks gets
// the most urgent ones and a note to narrow the filters, not a page that takes
// seconds to render and to read.
var maxTaskRows = 500

func (s *Server) tasks(ctx context.Context, f taskFilter) (*tasksView, error) {
	var list cxv1.RemediationTaskList
	if err := s.client.List(ctx, &list, s.listOptions()...); err != nil {
		return nil, err
	}
	items := list.Items
	plugin.SortTasks(items)
	v := &tasksView{Filter: f, Total: len(items), AllNS: s.namespace == "",
		Severities: []string{string(cxv1.SeverityCritical), string(cxv1.SeverityHigh), string(cxv1.SeverityMedium), string(cxv1.SeverityLow)},
		Phases:     []string{string(cxv1.TaskOpen), string(cxv1.TaskAcknowledged), string(cxv1.TaskResolved)},
	}
	teams := map[string]bool{}
	canAck := map[string]bool{}
	for i := range items {
		t := &items[i]
		tv := plugin.NewTaskView(t)
		if tv.Team != "" {
			teams[tv.Team] = true
		}
		if !f.match(tv) {
			continue
		}
		if v.Matched++; len(v.Tasks) >= maxTaskRows {
			continue
		}
		row := taskRow{TaskView: tv, Namespace: t.Namespace, Opened: t.CreationTimestamp.Time}
		if t.Status.OpenedTime != nil {
			row.Opened = t.Status.OpenedTime.Time
		}
		if plugin.TaskOpen(t) && !tv.Acknowledged {
			allowed, seen := canAck[t.Namespace]
			if !seen {
				allowed = s.access.canPatchTasks(ctx, t.Namespace)
				canAck[t.Namespace] = allowed
			}
			row.CanAck = allowed
		}
		v.Tasks = append(v.Tasks, row)
	}
	for team := range teams {
		v.Teams = append(v.Teams, team)
	}
	sort.Strings(v.Teams)
	if f.Team != "" && !teams[f.Team] {
		v.Teams = append(v.Teams, f.Team)
	}
	return v, nil
}

// streamView is one roadmap stream.
type streamView struct {
	Namespace   string
	Name        string
	Category    string
	Owner       string
	Vision      string
	Progress    int32
	OnTrack     string
	OnTrackWhy  string
	AtRisk      int32
	OpenTasks   int32
	Initiatives []initiativeView
}

// initiativeView is one initiative of a stream.
type initiativeView struct {
	Name     string
	State    string
	Priority string
	DueDate  string
	Owner    string
	Progress *int32
	AtRisk   bool
	Message  string
	Attained string
}

type streamsView struct {
	Streams []streamView
}

func (s *Server) streams(ctx context.Context) (*streamsView, error) {
	var list cxv1.RoadmapStreamList
	if err := s.client.List(ctx, &list, s.listOptions()...); err != nil {
		return nil, err
	}
	sort.SliceStable(list.Items, func(a, b int) bool {
		if list.Items[a].Namespace != list.Items[b].Namespace {
			return list.Items[a].Namespace < list.Items[b].Namespace
		}
		return list.Items[a].Name < list.Items[b].Name
	})
	v := &streamsView{}
	for _, rs := range list.Items {
		sv := streamView{Namespace: rs.Namespace, Name: rs.Name, Category: string(rs.Spec.Category), Owner: rs.Spec.Owner,
			Vision: rs.Spec.Vision, Progress: ptr.Deref(rs.Status.Progress, 0), AtRisk: ptr.Deref(rs.Status.AtRisk, 0), OpenTasks: ptr.Deref(rs.Status.OpenRemediations, 0),
			OnTrack: string(metav1.ConditionUnknown)}
		if c := apimeta.FindStatusCondition(rs.Status.Conditions, cxv1.OnTrackCondition); c != nil && rs.Status.ObservedGeneration == rs.Generation {
			sv.OnTrack, sv.OnTrackWhy = string(c.Status), c.Message
		}
		status := map[string]cxv1.InitiativeStatus{}
		for _, is := range rs.Status.Initiatives {
			status[is.Name] = is
		}
		for _, in := range rs.Spec.Initiatives {
			iv := initiativeView{Name: in.Name, State: string(in.State), Priority: string(in.Priority), DueDate: in.DueDate,
				Owner: in.Owner, Progress: in.Progress}
			if in.State == cxv1.InitiativeDone {
				done := int32(100)
				iv.Progress = &done
			}
			if is, ok := status[in.Name]; ok {
				iv.AtRisk, iv.Message = is.AtRisk != nil && *is.AtRisk, is.Message
				if ptr.Deref(is.ObjectivesAddressed, 0) > 0 {
					iv.Attained = fmt.Sprintf("%d/%d", ptr.Deref(is.ObjectivesAttained, 0), ptr.Deref(is.ObjectivesAddressed, 0))
				}
			}
			sv.Initiatives = append(sv.Initiatives, iv)
		}
		v.Streams = append(v.Streams, sv)
	}
	return v, nil
}

func (s *Server) listOptions() []client.ListOption {
	if s.namespace == "" {
		return nil
	}
	return []client.ListOption{client.InNamespace(s.namespace)}
}

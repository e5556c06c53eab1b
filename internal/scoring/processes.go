package scoring

import (
	"sort"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// Bounds of a stage's process statuses (the schema's limits of
// StageStatus.processes and ProcessStatus.moments).
const (
	MaxProcesses      = 16
	MaxProcessMoments = 32
)

// ProcessStatuses measures the backstage processes of a stage's blueprint, in
// the blueprint's order, from the moments that name them (spec.stage is the
// stage and spec.process the process; other moments are ignored, so callers
// may pass every moment of the journey). For each process: the moments naming
// it (sorted, at most MaxProcessMoments listed), its control points (their
// objectives), how many of those are drifting (an open drift episode), and its
// health, the worst health of those moments: Unknown when no moment names the
// process or none has data, never Healthy by default. A stage without
// backstage processes has none (nil).
func ProcessStatuses(stage *cxv1.Stage, moments []*cxv1.Moment) []cxv1.ProcessStatus {
	if len(stage.Blueprint.Backstage) == 0 {
		return nil
	}
	procs := stage.Blueprint.Backstage
	if len(procs) > MaxProcesses {
		procs = procs[:MaxProcesses]
	}
	idx := make(map[string]int, len(procs))
	out := make([]cxv1.ProcessStatus, len(procs))
	health := make([][]cxv1.HealthState, len(procs))
	for i, p := range procs {
		idx[p.Name] = i
		out[i] = cxv1.ProcessStatus{Name: p.Name, ControlPoints: new(int32), Drifting: new(int32)}
	}
	for _, m := range moments {
		if m.Spec.Process == "" || m.Spec.Stage != stage.Name {
			continue
		}
		i, ok := idx[m.Spec.Process]
		if !ok {
			continue
		}
		ps := &out[i]
		ps.Moments = append(ps.Moments, m.Name)
		*ps.ControlPoints += int32(len(m.Spec.Objectives))
		for _, o := range m.Status.Objectives {
			if o.DriftingSince != nil {
				*ps.Drifting++
			}
		}
		h := m.Status.Health
		if h == "" {
			h = cxv1.HealthUnknown
		}
		health[i] = append(health[i], h)
	}
	for i := range out {
		out[i].Health = Worst(health[i]...)
		sort.Strings(out[i].Moments)
		if len(out[i].Moments) > MaxProcessMoments {
			out[i].Moments = out[i].Moments[:MaxProcessMoments]
		}
	}
	return out
}

package plugin

import (
	"fmt"
	"strings"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

type objKey struct{ kind, namespace, name string }

// checkReferences checks what the schema cannot see: references between the
// objects in the given files, within one namespace (cxops never follows references
// across namespaces). A reference to an object that is not in the files is an
// error, or a warning with --allow-missing-refs; a reference into an object that
// is in the files but lacks the stage or objective named is always an error.
func (v *validator) checkReferences() {
	index := map[objKey]*vobject{}
	for _, o := range v.objects {
		k := objKey{o.kind, o.namespace, o.name}
		if prev, dup := index[k]; dup {
			v.add(Finding{File: o.file, Line: o.line("metadata.name"), Kind: o.kind, Name: o.name,
				Field: joinPath(o.base, "metadata.name"), Level: levelWarning, objLine: o.line(""),
				Message: fmt.Sprintf("%s %q in namespace %q is also defined at %s:%d; the last one applied wins",
					o.kind, o.name, o.namespace, prev.file, prev.line("metadata.name"))})
			continue
		}
		index[k] = o
	}
	lookup := func(kind, ns, name string) *vobject { return index[objKey{kind, ns, name}] }

	for _, o := range v.objects {
		missing := func(fld, kind, name string) {
			level := levelError
			hint := ""
			if v.opts.AllowMissingRefs {
				level = levelWarning
			} else {
				hint = " (use --allow-missing-refs if it is defined elsewhere)"
			}
			v.add(Finding{File: o.file, Line: o.line(fld), Kind: o.kind, Name: o.name, Field: joinPath(o.base, fld), Level: level, objLine: o.line(""),
				Message: fmt.Sprintf("%s %q not found in namespace %q in the given files%s", kind, name, o.namespace, hint)})
		}
		invalid := func(fld, msg string) {
			v.add(Finding{File: o.file, Line: o.line(fld), Kind: o.kind, Name: o.name, Field: joinPath(o.base, fld), Message: msg, objLine: o.line("")})
		}
		checkSources := func(prefix string, objectives []cxv1.Objective) {
			for i, obj := range objectives {
				src := obj.Signal.SourceRef.Name
				if src != "" && lookup("SignalSource", o.namespace, src) == nil {
					missing(fmt.Sprintf("%s[%d].signal.sourceRef.name", prefix, i), "SignalSource", src)
				}
			}
		}

		switch t := o.typed.(type) {
		case *cxv1.Moment:
			jname := t.Spec.JourneyRef.Name
			if j := lookup("Journey", o.namespace, jname); j == nil {
				missing("spec.journeyRef.name", "Journey", jname)
			} else if journey, ok := j.typed.(*cxv1.Journey); ok {
				var stages []string
				var stage *cxv1.Stage
				for i, s := range journey.Spec.Stages {
					stages = append(stages, s.Name)
					if s.Name == t.Spec.Stage && stage == nil {
						stage = &journey.Spec.Stages[i]
					}
				}
				if stage == nil {
					invalid("spec.stage", fmt.Sprintf("stage %q is not a stage of Journey %q (%s:%d); its stages are: %s",
						t.Spec.Stage, jname, j.file, j.line("spec.stages"), strings.Join(stages, ", ")))
				} else if t.Spec.Process != "" {
					var processes []string
					found := false
					for _, p := range stage.Blueprint.Backstage {
						processes = append(processes, p.Name)
						found = found || p.Name == t.Spec.Process
					}
					existing := "the stage has no backstage processes"
					if len(processes) > 0 {
						existing = "its processes are: " + strings.Join(processes, ", ")
					}
					if !found {
						invalid("spec.process", fmt.Sprintf("process %q is not a backstage process of stage %q of Journey %q (%s:%d); %s",
							t.Spec.Process, t.Spec.Stage, jname, j.file, j.line("spec.stages"), existing))
					}
				}
			}
			checkSources("spec.objectives", t.Spec.Objectives)
			if r := t.Spec.Remediation; r != nil && r.StreamRef.Name != "" {
				if lookup("RoadmapStream", o.namespace, r.StreamRef.Name) == nil {
					missing("spec.remediation.streamRef.name", "RoadmapStream", r.StreamRef.Name)
				}
			}
		case *cxv1.Journey:
			checkSources("spec.objectives", t.Spec.Objectives)
		case *cxv1.RoadmapStream:
			for i, in := range t.Spec.Initiatives {
				for j, a := range in.Addresses {
					at := fmt.Sprintf("spec.initiatives[%d].addresses[%d]", i, j)
					mo := lookup("Moment", o.namespace, a.Moment)
					if mo == nil {
						missing(at+".moment", "Moment", a.Moment)
						continue
					}
					moment, ok := mo.typed.(*cxv1.Moment)
					if !ok || a.Objective == "" {
						continue
					}
					var names []string
					found := false
					for _, obj := range moment.Spec.Objectives {
						names = append(names, obj.Name)
						found = found || obj.Name == a.Objective
					}
					if !found {
						invalid(at+".objective", fmt.Sprintf("Moment %q (%s:%d) has no objective %q; its objectives are: %s",
							a.Moment, mo.file, mo.line("spec.objectives"), a.Objective, strings.Join(names, ", ")))
					}
				}
			}
		}
	}
}

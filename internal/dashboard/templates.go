package dashboard

import (
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/plugin"
)

// pageNames are the pages; each is templates/NAME.html defining "content",
// rendered inside templates/layout.html.
var pageNames = []string{"journeys", "map", "tasks", "streams"}

func parsePages(funcs template.FuncMap) (map[string]*template.Template, error) {
	base, err := template.New("base").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.Must(base.Clone()).ParseFS(templateFS, "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		pages[name] = t
	}
	return pages, nil
}

// stateClass is the CSS class of a health or objective state. Colour only
// repeats what the text says; an unknown or empty state is "unknown", never
// good.
func stateClass(state string) string {
	switch state {
	case string(cxv1.HealthHealthy), string(cxv1.StateMet):
		return "st-good"
	case string(cxv1.HealthAtRisk), string(cxv1.StateWarning), string(cxv1.TaskAcknowledged):
		return "st-warn"
	case string(cxv1.HealthDegraded), string(cxv1.StateBreached), string(cxv1.StateDrifting), string(cxv1.TaskOpen):
		return "st-bad"
	}
	return "st-unknown"
}

// momentCard is what the "moment" template renders.
type momentCard struct {
	Map    *plugin.JourneyMap
	Moment plugin.MomentView
}

// momentDrifting reports whether a moment has a drifting objective.
func momentDrifting(m plugin.MomentView) bool {
	if m.Drifting != "" {
		return true
	}
	for _, o := range m.Objectives {
		if o.State == string(cxv1.StateDrifting) {
			return true
		}
	}
	return false
}

func (s *Server) funcs() template.FuncMap {
	return template.FuncMap{
		"stateClass": stateClass,
		"drifting":   momentDrifting,
		"percent": func(p *int32) string {
			if p == nil {
				return "not measured"
			}
			return itoa32(*p) + "%"
		},
		"score": func(p *int32) string {
			if p == nil {
				return "not measured"
			}
			return itoa32(*p)
		},
		"deref": func(p *int32) int32 {
			if p == nil {
				return 0
			}
			return *p
		},
		"age": func(t time.Time) string {
			if t.IsZero() {
				return "unknown"
			}
			return duration.HumanDuration(s.now().Sub(t))
		},
		"mapURL": func(ns, name string) string {
			return "/journeys/" + url.PathEscape(ns) + "/" + url.PathEscape(name)
		},
		"ackURL": func(ns, name string) string {
			return "/tasks/" + url.PathEscape(ns) + "/" + url.PathEscape(name) + "/acknowledge"
		},
		"taskID": func(ns, name string) string { return "task-" + ns + "-" + name },
		"stageName": func(display, name string) string {
			if display != "" {
				return display
			}
			return name
		},
		"polarity": func(p string) string {
			if p == string(cxv1.PolarityGain) {
				return "Gain"
			}
			return "Pain"
		},
		"join": strings.Join,
		"card": func(m *plugin.JourneyMap, mv plugin.MomentView) momentCard { return momentCard{Map: m, Moment: mv} },
		// large keeps the large-text mode on links.
		"large": func(on bool) string {
			if on {
				return "large=1"
			}
			return ""
		},
		"withQuery": func(path, query string) string {
			if query == "" {
				return path
			}
			if strings.Contains(path, "?") {
				return path + "&" + query
			}
			return path + "?" + query
		},
	}
}

func itoa32(n int32) string { return strconv.FormatInt(int64(n), 10) }

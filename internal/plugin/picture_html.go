package plugin

import (
	"fmt"
	"html/template"
	"io"
	"strings"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/textutil"
)

// htmlMap is what the HTML template draws.
type htmlMap struct {
	*JourneyMap
	Blueprint bool
	// Columns are the stages, and the unknown stage when moments name one.
	Columns []StageView
	// Lanes are the blueprint lanes, each with one cell per column.
	Lanes []htmlLane
}

type htmlLane struct {
	Title string
	// Visibility: the line of visibility runs above this lane.
	Visibility bool
	Cells      []htmlCell
}

// htmlCell is one stage's part of a lane; nil parts are drawn as "-".
type htmlCell struct {
	Actions    []string
	Frontstage []cxv1.FrontstageAction
	Processes  []ProcessView
	Systems    []cxv1.SupportSystem
}

func (c htmlCell) Empty() bool {
	return len(c.Actions) == 0 && len(c.Frontstage) == 0 && len(c.Processes) == 0 && len(c.Systems) == 0
}

var htmlFuncs = template.FuncMap{
	"stateClass": stateClass,
	"channel":    channelLabelOf,
	"where":      frontstageWhere,
	"controlPoints": func(p ProcessView) string {
		return controlPointsText(p)
	},
	"join":   strings.Join,
	"plural": plural,
	"valueVsTarget": func(o ObjectiveView) string {
		return valueVsTarget(o)
	},
	"score": func(s *int32) string {
		if s == nil {
			return "none yet"
		}
		return fmt.Sprintf("%d/100", *s)
	},
	"coverage": func(c *int32, min int32) string {
		if c == nil {
			return "-"
		}
		return fmt.Sprintf("%d%% (minimum %d%%)", *c, min)
	},
	"title": func(s StageView) string {
		if s.DisplayName != "" {
			return s.DisplayName
		}
		return s.Name
	},
	"subtitle": func(s StageView) string {
		if s.DisplayName != "" {
			return s.Name + " / " + s.Phase
		}
		return s.Phase
	},
	"pain":    func(m MomentView) bool { return m.Polarity == "Pain" },
	"gapText": gapText,
	"sipoc":   sipocText,
}

// sipocText spells a SIPOC: "suppliers ERP; inputs stock levels; ...".
func sipocText(s *cxv1.SIPOC) string {
	var parts []string
	for _, p := range []struct {
		label string
		items []string
	}{{"suppliers", s.Suppliers}, {"inputs", s.Inputs}, {"outputs", s.Outputs}, {"customers", s.Customers}} {
		if len(p.items) > 0 {
			parts = append(parts, p.label+" "+strings.Join(p.items, ", "))
		}
	}
	return strings.Join(parts, "; ")
}

// htmlTemplate is the page: inline CSS, no scripts, no external assets.
// html/template escapes every value for its context.
var htmlTemplate = template.Must(template.New("map").Funcs(htmlFuncs).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Journey map: {{.Journey.Name}}</title>
<style>
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;margin:24px;background:#fff}
h1{font-size:20px;margin:0 0 8px}
dl.head{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0 0 16px}
dl.head dt{font-weight:bold}
dl.head dd{margin:0}
.grid{display:grid;gap:8px 16px;align-items:start}
.stage{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:8px}
.stage h2{font-size:15px;margin:0}
.muted{color:#59636e}
.card{border:1px solid;border-radius:6px;padding:8px;margin:8px 0 0;overflow-wrap:anywhere}
.card.gain{background:#eefbf1;border-color:#4ac26b}
.card.pain{background:#fff5f5;border-color:#ff8182}
.card.drifting{border:3px solid #cf222e}
.card h3{font-size:14px;margin:0;font-family:ui-monospace,Menlo,Consolas,monospace}
.card ul{margin:4px 0 0;padding-left:16px}
.s{font-weight:bold}
.ok{color:#1a7f37}.warn{color:#9a6700}.bad{color:#cf222e}.unknown{color:#6e7781}
.lane-title{grid-column:1/-1;font-size:11px;font-weight:bold;text-transform:uppercase;color:#59636e;border-top:1px solid #d0d7de;padding-top:6px;margin-top:8px}
.visibility{grid-column:1/-1;border-top:2px dashed #59636e;margin-top:12px;padding-top:2px;font-size:12px;color:#59636e}
.cell{overflow-wrap:anywhere}
.cell ul{margin:0;padding-left:16px}
.process{margin:0 0 8px}
.process code,.card code{font-family:ui-monospace,Menlo,Consolas,monospace}
footer{margin-top:16px}
</style>
</head>
<body>
<h1>Journey map: {{.Journey.Name}} <span class="muted">(namespace {{.Journey.Namespace}})</span></h1>
<dl class="head">
<dt>Persona</dt><dd>{{.Journey.Persona}}{{with .Journey.Segment}} ({{.}}){{end}}</dd>
{{- with .Journey.Vision}}
<dt>Vision</dt><dd>{{.}}</dd>
{{- end}}
<dt>Health</dt><dd><span class="s {{stateClass .Journey.Health}}">{{.Journey.Health}}</span>: score {{score .Journey.Score}}, coverage {{coverage .Journey.Coverage .Journey.MinCoverage}}, {{.Journey.Moments.Healthy}}/{{.Journey.Moments.Total}} moments healthy, {{.Journey.Drifting}} drifting, {{plural .Journey.OpenTasks "open task" "open tasks"}}</dd>
{{- range $i, $o := .Objectives}}
<dt>{{if eq $i 0}}KPIs{{end}}</dt><dd>{{$o.Name}}: <span class="s {{stateClass $o.State}}">{{$o.State}}</span> {{valueVsTarget $o}}</dd>
{{- end}}
</dl>
<div class="grid" style="grid-template-columns:repeat({{len .Columns}},minmax(220px,1fr))">
{{- range .Columns}}
<section class="stage">
<h2>{{title .}}</h2>
<div class="muted">{{subtitle .}}</div>
<div><span class="s {{stateClass .Health}}">{{.Health}}</span> {{plural (len .Moments) "moment" "moments"}}</div>
{{- range .Moments}}
<article class="card {{if pain .}}pain{{else}}gain{{end}}{{if .Drifting}} drifting{{end}}">
<h3>{{if pain .}}[-]{{else}}[+]{{end}} {{.Name}}</h3>
<div>{{.Polarity}}, <span class="s {{stateClass .Health}}">{{.Health}}</span></div>
{{- if .Drifting}}
<div class="s bad">drifting: {{.Drifting}}</div>
{{- end}}
{{- if and .Channel .Touchpoint}}
<div class="muted">via {{channel .Channel}}: {{.Touchpoint}}</div>
{{- else if .Channel}}
<div class="muted">via {{channel .Channel}}</div>
{{- else if .Touchpoint}}
<div class="muted">at {{.Touchpoint}}</div>
{{- end}}
{{- with .Process}}
<div class="muted">process <code>{{.}}</code></div>
{{- end}}
<ul>
{{- range .Objectives}}
<li><code>{{.Name}}</code>{{if .Key}} (key){{end}}: <span class="s {{stateClass .State}}">{{.State}}</span> {{valueVsTarget .}}</li>
{{- end}}
</ul>
{{- range .OpenTasks}}
<div class="bad">! task <code>{{.}}</code></div>
{{- end}}
</article>
{{- else}}
<div class="muted">(no moments)</div>
{{- end}}
</section>
{{- end}}
{{- if .Blueprint}}
{{- range .Lanes}}
{{- if .Visibility}}
<div class="visibility">line of visibility: the customer sees what is above</div>
{{- end}}
<div class="lane-title">{{.Title}}</div>
{{- range .Cells}}
<div class="cell">
{{- if .Empty}}<span class="muted">-</span>{{end}}
{{- if .Actions}}
<ul>{{range .Actions}}<li>{{.}}</li>{{end}}</ul>
{{- end}}
{{- if .Frontstage}}
<ul>{{range .Frontstage}}<li>{{.Action}}{{with where .}} <span class="muted">{{.}}</span>{{end}}{{with .Team}} <span class="muted">(team {{.}})</span>{{end}}</li>{{end}}</ul>
{{- end}}
{{- range .Processes}}
<div class="process"><code class="s">{{.Name}}</code>{{with .DisplayName}} <span class="muted">{{.}}</span>{{end}}<br>
owner {{.Owner}}{{with .Systems}}, on {{join . ", "}}{{end}}<br>
<span class="s {{stateClass .Health}}">{{.Health}}</span>, {{controlPoints .}}
{{- with .Moments}}<br><span class="muted">measured by {{join . ", "}}</span>{{end}}
{{- with .SIPOC}}<br><span class="muted">SIPOC: {{sipoc .}}</span>{{end}}
</div>
{{- end}}
{{- range .Systems}}
<div class="process"><code class="s">{{.Name}}</code>{{with .Description}} <span class="muted">{{.}}</span>{{end}}{{with .Owner}}<br>owner {{.}}{{end}}</div>
{{- end}}
</div>
{{- end}}
{{- end}}
{{- end}}
</div>
<footer>
<strong>Top gaps</strong>{{if not .TopGaps}} none{{end}}
{{- if .TopGaps}}
<ol>
{{- range .TopGaps}}
<li>{{gapText .}} <span class="s {{stateClass (print .State)}}">{{.State}}</span> <span class="muted">({{with .Stage}}stage {{.}}, {{end}}score {{.Score}})</span></li>
{{- end}}
</ol>
{{- end}}
</footer>
</body>
</html>
`))

// RenderMapHTML writes the journey map as a standalone HTML page: the same
// picture as RenderMapSVG, laid out by CSS, text wrapping instead of being cut.
// Every value a user wrote is escaped by html/template, and its control and bidi
// characters are shown as U+FFFD (textutil.Neutralize: the template itself has
// none); no scripts, no external assets.
func RenderMapHTML(w io.Writer, jm *JourneyMap, opts PictureOptions) error {
	data := htmlMap{JourneyMap: jm, Blueprint: opts.Blueprint, Columns: append([]StageView(nil), jm.Stages...)}
	if len(jm.UnstagedMoments) > 0 {
		data.Columns = append(data.Columns, StageView{Name: "(unknown stage)", Phase: "not a stage of this journey",
			Health: string(cxv1.HealthUnknown), Moments: jm.UnstagedMoments})
	}
	if opts.Blueprint {
		for li, title := range laneTitles {
			lane := htmlLane{Title: title, Visibility: li == laneVisibility}
			for _, s := range data.Columns {
				var cell htmlCell
				if bp := s.Blueprint; bp != nil {
					switch li {
					case 0:
						cell.Actions = bp.CustomerActions
					case 1:
						cell.Frontstage = bp.Frontstage
					case 2:
						cell.Processes = bp.Backstage
					case 3:
						cell.Systems = bp.SupportSystems
					}
				}
				lane.Cells = append(lane.Cells, cell)
			}
			data.Lanes = append(data.Lanes, lane)
		}
	}
	var page strings.Builder
	if err := htmlTemplate.Execute(&page, data); err != nil {
		return err
	}
	_, err := io.WriteString(w, textutil.Neutralize(page.String()))
	return err
}

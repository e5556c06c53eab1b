package plugin

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"k8s.io/utils/ptr"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/textutil"
)

// PictureOptions choose what RenderMapSVG and RenderMapHTML draw.
type PictureOptions struct {
	// Blueprint draws the service blueprint lanes under the stages.
	Blueprint bool
}

// Metrics of the SVG picture. Text is monospace, so that its width is known
// without a font: a line holds svgChars characters of a column.
const (
	svgMargin   = 24
	svgColumn   = 264
	svgGap      = 16
	svgLine     = 16
	svgPad      = 10
	svgCharW    = 7.2
	svgChars    = 33 // (svgColumn - 2*svgPad) / svgCharW, rounded down
	svgMaxLines = 6  // of one wrapped text (a long action, a vision)
)

// stateClass is the CSS class of a health or objective state: the same colours
// as the terminal (green good, amber at risk, red bad, grey Unknown: Unknown is
// never green).
func stateClass(state string) string {
	switch stateColor(state) {
	case ansiGreen:
		return "ok"
	case ansiYellow:
		return "warn"
	case ansiRed:
		return "bad"
	}
	return "unknown"
}

// esc escapes text for XML character data and attribute values (<, >, &, ' and
// "); control characters (which XML cannot hold at all) and bidi controls
// (which would reorder the rest of the line) become U+FFFD, so that the picture
// is always well-formed and shows what is written (textutil.Neutralize).
func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(textutil.Neutralize(s)))
	return b.String()
}

// wrapText breaks s into lines of at most n runes at spaces, cutting words
// longer than a line (rune-safely, with an ellipsis), and at most maxLines
// lines (the last one ends with an ellipsis when text was left out).
func wrapText(s string, n, maxLines int) []string {
	var lines []string
	cur := ""
	for _, f := range strings.Fields(s) {
		f = cutRunes(f, n)
		switch {
		case cur == "":
			cur = f
		case runeLen(cur)+1+runeLen(f) <= n:
			cur += " " + f
		default:
			lines = append(lines, cur)
			cur = f
		}
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	if len(lines) > maxLines {
		lines = lines[:maxLines]
		lines[maxLines-1] = cutRunes(lines[maxLines-1]+" …", n)
		if !strings.HasSuffix(lines[maxLines-1], "…") {
			lines[maxLines-1] = cutRunes(lines[maxLines-1], n-1) + "…"
		}
	}
	return lines
}

// svgText is one line of text in a cell: its spans and its indent in characters.
type svgText struct {
	indent int
	spans  []svgSpan
	// title is the full text, shown on hover, when the line was cut.
	title string
}

type svgSpan struct {
	text  string
	class string
}

func sp(text, class string) svgSpan { return svgSpan{text: text, class: class} }

// textLines wraps free text into cell lines of one class.
func textLines(s string, indent int, class string) []svgText {
	lines := wrapText(s, svgChars-indent-2, svgMaxLines)
	out := make([]svgText, 0, len(lines))
	for i, l := range lines {
		in := indent
		if i > 0 {
			in += 2 // continuation
		}
		out = append(out, svgText{indent: in, spans: []svgSpan{sp(l, class)}})
	}
	if len(out) > 0 && strings.Join(lines, " ") != strings.Join(strings.Fields(s), " ") {
		out[0].title = s
	}
	return out
}

// nameLine is an object name on a line of its own, cut to the column with the
// whole name in its title.
func nameLine(prefix, name string, indent int, class string) svgText {
	full := prefix + name
	cut := cutRunes(full, svgChars-indent)
	return svgText{indent: indent, spans: []svgSpan{sp(cut, class)}, title: titleIfCut(full, cut)}
}

func titleIfCut(full, shown string) string {
	if full == shown {
		return ""
	}
	return full
}

// stateLines is "STATE rest", the state coloured, wrapped to the column
// (continuation lines indented two more characters).
func stateLines(indent int, state, rest string) []svgText {
	if strings.TrimSpace(state) == "" || strings.ContainsFunc(state, func(r rune) bool { return r == ' ' }) {
		state = "Unknown"
	}
	lines := wrapText(state+rest, svgChars-indent, 3)
	out := make([]svgText, 0, len(lines))
	for i, l := range lines {
		if i == 0 {
			first := strings.TrimPrefix(l, state)
			if len(first) == len(l) { // the state itself was cut
				out = append(out, svgText{indent: indent, spans: []svgSpan{sp(l, "s "+stateClass(state))}})
				continue
			}
			out = append(out, svgText{indent: indent, spans: []svgSpan{sp(state, "s "+stateClass(state)), sp(first, "")}})
			continue
		}
		out = append(out, svgText{indent: indent + 2, spans: []svgSpan{sp(l, "")}})
	}
	if len(out) > 0 && strings.Join(lines, " ") != strings.Join(strings.Fields(state+rest), " ") {
		out[0].title = state + rest
	}
	return out
}

func channelLabelOf(c string) string { return channelLabel(cxv1.Channel(c)) }

// svgBox is a card: lines of text in a rectangle of a class.
type svgBox struct {
	class string
	lines []svgText
}

func (b svgBox) height() int { return len(b.lines)*svgLine + 2*svgPad - 4 }

// svgCanvas collects the elements of the picture.
type svgCanvas struct {
	b bytes.Buffer
}

func (c *svgCanvas) printf(format string, args ...any) { _, _ = fmt.Fprintf(&c.b, format, args...) }

// box draws a card at (x, y) of the column's width and returns its height.
func (c *svgCanvas) box(x, y int, b svgBox) int {
	h := b.height()
	c.printf(`<rect x="%d" y="%d" width="%d" height="%d" rx="6" class="%s"/>`+"\n", x, y, svgColumn, h, esc(b.class))
	c.lines(x+svgPad, y+svgPad+8, b.lines)
	return h
}

// lines writes text lines from baseline y.
func (c *svgCanvas) lines(x, y int, lines []svgText) {
	for i, l := range lines {
		if len(l.spans) == 0 {
			continue
		}
		c.printf(`<text x="%.1f" y="%d">`, float64(x)+float64(l.indent)*svgCharW, y+i*svgLine)
		if l.title != "" {
			c.printf(`<title>%s</title>`, esc(l.title))
		}
		for _, s := range l.spans {
			if s.class == "" {
				c.printf(`<tspan>%s</tspan>`, esc(s.text))
			} else {
				c.printf(`<tspan class="%s">%s</tspan>`, esc(s.class), esc(s.text))
			}
		}
		c.printf("</text>\n")
	}
}

// RenderMapSVG writes the journey map as a standalone SVG picture: the header,
// the stages as columns with their moments as gain and pain cards (each
// objective's value against its target, drifting moments outlined in red),
// and with opts.Blueprint the service blueprint lanes under the stages. Every
// text a user wrote is escaped; long text is cut rune-safely, in full in a
// tooltip (<title>). No external assets, no scripts.
func RenderMapSVG(w io.Writer, jm *JourneyMap, opts PictureOptions) error {
	cols := len(jm.Stages)
	if len(jm.UnstagedMoments) > 0 {
		cols++
	}
	cols = max(cols, 1)
	width := 2*svgMargin + cols*svgColumn + (cols-1)*svgGap
	headerChars := int(float64(width-2*svgMargin) / svgCharW)

	var c svgCanvas
	y := svgMargin

	// Header.
	j := jm.Journey
	c.printf(`<text x="%d" y="%d" class="title">%s</text>`+"\n", svgMargin, y+14, esc(cutRunes("Journey map: "+j.Name+" (namespace "+j.Namespace+")", headerChars*3/4)))
	y += 32
	var header []svgText
	persona := j.Persona
	if j.Segment != "" {
		persona += " (" + j.Segment + ")"
	}
	header = append(header, svgText{spans: []svgSpan{sp("Persona  ", "b"), sp(cutRunes(persona, headerChars-9), "")}})
	if j.Vision != "" {
		for i, l := range wrapText(j.Vision, headerChars-9, 3) {
			label := "         "
			if i == 0 {
				label = "Vision   "
			}
			header = append(header, svgText{spans: []svgSpan{sp(label, "b"), sp(l, "")}})
		}
	}
	score := "none yet"
	if j.Score != nil {
		score = fmt.Sprintf("%d/100", *j.Score)
	}
	coverage := "-"
	if j.Coverage != nil {
		coverage = fmt.Sprintf("%d%% (minimum %d%%)", *j.Coverage, j.MinCoverage)
	}
	header = append(header, svgText{spans: []svgSpan{
		sp("Health   ", "b"), sp(j.Health, "s "+stateClass(j.Health)),
		sp(fmt.Sprintf("  score %s, coverage %s, %d/%d moments healthy, %d drifting, %s", score, coverage,
			ptr.Deref(j.Moments.Healthy, 0), ptr.Deref(j.Moments.Total, 0), j.Drifting, plural(j.OpenTasks, "open task", "open tasks")), ""),
	}})
	for i, o := range jm.Objectives {
		label := "         "
		if i == 0 {
			label = "KPIs     "
		}
		header = append(header, svgText{spans: []svgSpan{sp(label, "b"), sp(cutRunes(o.Name, 40)+": ", ""), sp(o.State, "s "+stateClass(o.State)),
			sp(cutRunes(" "+valueVsTarget(o), headerChars-9-runeLen(o.Name)-2-runeLen(o.State)), "")}})
	}
	c.lines(svgMargin, y, header)
	y += len(header)*svgLine + 12

	// Stage columns.
	type column struct {
		head  svgBox
		cards []svgBox
		lanes [][]svgText
	}
	var columns []column
	for _, s := range jm.Stages {
		title, sub := s.DisplayName, s.Name+" / "+s.Phase
		if title == "" {
			title, sub = s.Name, s.Phase
		}
		col := column{head: svgBox{class: "stage", lines: []svgText{
			nameLine("", title, 0, "b"),
			nameLine("", sub, 0, "muted"),
		}}}
		col.head.lines = append(col.head.lines, stateLines(0, s.Health, " "+plural(len(s.Moments), "moment", "moments"))...)
		col.cards = momentCards(s.Moments)
		if opts.Blueprint {
			col.lanes = svgLanes(s.Blueprint)
		}
		columns = append(columns, col)
	}
	if len(jm.UnstagedMoments) > 0 {
		columns = append(columns, column{
			head: svgBox{class: "stage", lines: []svgText{
				nameLine("", "(unknown stage)", 0, "b"),
				nameLine("", "not a stage of this journey", 0, "muted"),
				nameLine("", plural(len(jm.UnstagedMoments), "moment", "moments"), 0, ""),
			}},
			cards: momentCards(jm.UnstagedMoments),
			lanes: make([][]svgText, len(laneTitles)),
		})
	}
	bottom := y
	for i, col := range columns {
		x := svgMargin + i*(svgColumn+svgGap)
		cy := y + c.box(x, y, col.head) + 12
		for _, card := range col.cards {
			cy += c.box(x, cy, card) + 8
		}
		bottom = max(bottom, cy)
	}
	y = bottom + 8

	// Blueprint lanes: one band per lane across the stages.
	if opts.Blueprint {
		for li, title := range laneTitles {
			if li == laneVisibility {
				c.printf(`<line x1="%d" y1="%d" x2="%d" y2="%d" class="visibility"/>`+"\n", svgMargin, y+4, width-svgMargin, y+4)
				c.printf(`<text x="%d" y="%d" class="muted">line of visibility: the customer sees what is above</text>`+"\n", width-svgMargin-380, y+18)
				y += 24
			}
			rows := 0
			for _, col := range columns {
				rows = max(rows, len(col.lanes[li]))
			}
			rows = max(rows, 1)
			h := rows*svgLine + 2*svgPad + 14
			c.printf(`<rect x="%d" y="%d" width="%d" height="%d" class="lane"/>`+"\n", svgMargin-8, y, width-2*svgMargin+16, h)
			c.printf(`<text x="%d" y="%d" class="lanetitle">%s</text>`+"\n", svgMargin, y+14, esc(title))
			for i, col := range columns {
				x := svgMargin + i*(svgColumn+svgGap)
				c.lines(x, y+svgPad+22, col.lanes[li])
			}
			y += h + 6
		}
	}

	// Top gaps.
	y += 10
	gaps := []svgText{{spans: []svgSpan{sp("Top gaps", "b")}}}
	if len(jm.TopGaps) == 0 {
		gaps[0].spans = append(gaps[0].spans, sp("  none", ""))
	}
	for i, g := range jm.TopGaps {
		text := fmt.Sprintf("%d. %s ", i+1, gapText(g))
		gaps = append(gaps, svgText{indent: 2, spans: []svgSpan{sp(cutRunes(text, headerChars-30), ""), sp(string(g.State), "s "+stateClass(string(g.State))),
			sp(fmt.Sprintf(" (score %s)", g.Score), "muted")}})
	}
	c.lines(svgMargin, y, gaps)
	y += len(gaps)*svgLine + svgMargin

	if _, err := fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img">
<title>%s</title>
<style>
text{font:12px ui-monospace,Menlo,Consolas,monospace;fill:#1f2328}
.title{font-size:18px;font-weight:bold}
.b{font-weight:bold}
.muted{fill:#59636e}
.s{font-weight:bold}
.ok{fill:#1a7f37}.warn{fill:#9a6700}.bad{fill:#cf222e}.unknown{fill:#6e7781}
rect.stage{fill:#f6f8fa;stroke:#d0d7de}
rect.gain{fill:#eefbf1;stroke:#4ac26b}
rect.pain{fill:#fff5f5;stroke:#ff8182}
rect.drifting{stroke:#cf222e;stroke-width:3}
rect.lane{fill:#f6f8fa;stroke:none}
.lanetitle{font-weight:bold;fill:#59636e;font-size:11px;text-transform:uppercase}
line.visibility{stroke:#59636e;stroke-width:1.5;stroke-dasharray:6 4}
</style>
<rect width="100%%" height="100%%" fill="#ffffff"/>
`, width, y, width, y, esc("Journey map: "+j.Name)); err != nil {
		return err
	}
	if _, err := w.Write(c.b.Bytes()); err != nil {
		return err
	}
	_, err := io.WriteString(w, "</svg>\n")
	return err
}

// valueVsTarget: "98.1 vs >= 99.5", or "(no value) target >= 25".
func valueVsTarget(o ObjectiveView) string {
	if o.Value == "" {
		return "(no value) target " + o.Target
	}
	return o.Value + " vs " + o.Target
}

// momentCards are the moments of a stage as cards: gain or pain, drifting
// outlined in red.
func momentCards(moments []MomentView) []svgBox {
	if len(moments) == 0 {
		return []svgBox{{class: "stage", lines: []svgText{nameLine("", "(no moments)", 0, "muted")}}}
	}
	var out []svgBox
	for _, m := range moments {
		class, marker := "gain", "[+] "
		if m.Polarity == "Pain" {
			class, marker = "pain", "[-] "
		}
		if m.Drifting != "" {
			class += " drifting"
		}
		b := svgBox{class: class}
		b.lines = append(b.lines, nameLine(marker, m.Name, 0, "b"))
		b.lines = append(b.lines, stateLines(0, m.Health, ", "+m.Polarity)...)
		if m.Drifting != "" {
			b.lines = append(b.lines, nameLine("drifting: ", m.Drifting, 0, "s bad"))
		}
		switch {
		case m.Channel != "" && m.Touchpoint != "":
			b.lines = append(b.lines, textLines("via "+channelLabelOf(m.Channel)+": "+m.Touchpoint, 0, "muted")...)
		case m.Channel != "":
			b.lines = append(b.lines, textLines("via "+channelLabelOf(m.Channel), 0, "muted")...)
		case m.Touchpoint != "":
			b.lines = append(b.lines, textLines("at "+m.Touchpoint, 0, "muted")...)
		}
		if m.Process != "" {
			b.lines = append(b.lines, nameLine("process ", m.Process, 0, "muted"))
		}
		for _, o := range m.Objectives {
			name := o.Name
			if o.Key {
				name += " (key)"
			}
			b.lines = append(b.lines, nameLine("", name, 0, ""))
			b.lines = append(b.lines, stateLines(2, o.State, " "+valueVsTarget(o))...)
		}
		for _, t := range m.OpenTasks {
			b.lines = append(b.lines, nameLine("! task ", t, 0, "bad"))
		}
		out = append(out, b)
	}
	return out
}

// svgLanes are a stage's cells in each blueprint lane.
func svgLanes(bp *BlueprintView) [][]svgText {
	lanes := make([][]svgText, len(laneTitles))
	none := []svgText{nameLine("", "-", 0, "muted")}
	for i := range lanes {
		lanes[i] = none
	}
	if bp == nil {
		return lanes
	}
	if len(bp.CustomerActions) > 0 {
		lanes[0] = nil
		for _, a := range bp.CustomerActions {
			lanes[0] = append(lanes[0], textLines("• "+a, 0, "")...)
		}
	}
	if len(bp.Frontstage) > 0 {
		lanes[1] = nil
		for _, f := range bp.Frontstage {
			lanes[1] = append(lanes[1], textLines("• "+f.Action, 0, "")...)
			if where := frontstageWhere(f); where != "" {
				lanes[1] = append(lanes[1], textLines(where, 2, "muted")...)
			}
			if f.Team != "" {
				lanes[1] = append(lanes[1], nameLine("team ", f.Team, 2, "muted"))
			}
		}
	}
	if len(bp.Backstage) > 0 {
		lanes[2] = nil
		for i, p := range bp.Backstage {
			if i > 0 {
				lanes[2] = append(lanes[2], svgText{})
			}
			lanes[2] = append(lanes[2], nameLine("", p.Name, 0, "b"))
			if p.DisplayName != "" {
				lanes[2] = append(lanes[2], textLines(p.DisplayName, 2, "muted")...)
			}
			lanes[2] = append(lanes[2], nameLine("owner ", p.Owner, 2, ""))
			if len(p.Systems) > 0 {
				lanes[2] = append(lanes[2], textLines("on "+strings.Join(p.Systems, ", "), 2, "")...)
			}
			lanes[2] = append(lanes[2], stateLines(2, p.Health, ", "+controlPointsText(p))...)
			if len(p.Moments) > 0 {
				lanes[2] = append(lanes[2], textLines("measured by "+strings.Join(p.Moments, ", "), 2, "muted")...)
			}
		}
	}
	if len(bp.SupportSystems) > 0 {
		lanes[3] = nil
		for _, s := range bp.SupportSystems {
			lanes[3] = append(lanes[3], nameLine("", s.Name, 0, "b"))
			if s.Description != "" {
				lanes[3] = append(lanes[3], textLines(s.Description, 2, "muted")...)
			}
			if s.Owner != "" {
				lanes[3] = append(lanes[3], nameLine("owner ", s.Owner, 2, ""))
			}
		}
	}
	return lanes
}

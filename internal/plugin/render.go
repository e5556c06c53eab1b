package plugin

import (
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"k8s.io/utils/ptr"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
	"github.com/cxops/cxops/internal/textutil"
)

// ANSI colours of states.
const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiGrey   = "\x1b[90m"
)

// stateColor: green Healthy/Met, yellow AtRisk/Warning, red Degraded/Breached/
// Drifting, grey Unknown.
func stateColor(state string) string {
	switch state {
	case "Healthy", "Met":
		return ansiGreen
	case "AtRisk", "Warning":
		return ansiYellow
	case "Degraded", "Breached", "Drifting":
		return ansiRed
	default:
		return ansiGrey
	}
}

// span is text in one colour ("" for none).
type span struct {
	text  string
	color string
}

// cline is a logical line of a cell: wrapped to the column width, continuation
// lines indented two more columns.
type cline struct {
	indent int
	spans  []span
}

func line(indent int, spans ...span) cline { return cline{indent: indent, spans: spans} }
func plain(s string) span                  { return span{text: s} }
func colored(s, c string) span             { return span{text: s, color: c} }
func state(s string) span                  { return span{text: s, color: stateColor(s)} }

// painter renders spans with or without colours.
type painter struct{ color bool }

func (p painter) paint(s span) string {
	if !p.color || s.color == "" {
		return s.text
	}
	return s.color + s.text + ansiReset
}

// physical line: its visible width and its rendered text.
type pline struct {
	width int
	text  string
}

func runeLen(s string) int { return utf8.RuneCountInString(s) }

// word is what wrapping never splits, not even when it is longer than a line:
// text between spaces, possibly in several colours ("Degraded," is a state and a
// comma). Object names are words, so a name always appears whole on one line and
// can be copied from the terminal.
type word []span

func (w word) width() int {
	n := 0
	for _, s := range w {
		n += runeLen(s.text)
	}
	return n
}

// escapeControl spells control characters (C0, DEL, C1) as \xNN and bidi
// embedding, override and isolate controls as \uNNNN: text written by users (a
// persona, a display name) must not drive the terminal, nor reorder what follows
// it on the line (textutil.IsBidiControl).
func escapeControl(s string) string {
	if strings.IndexFunc(s, isControl) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case textutil.IsBidiControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		case textutil.IsControl(r) && !unicode.IsSpace(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isControl(r rune) bool { return textutil.IsControl(r) || textutil.IsBidiControl(r) }

// words splits spans at spaces; text that does not start with a space is glued to
// the word before it.
func words(spans []span) []word {
	var out []word
	glue := false
	for _, s := range spans {
		if s.text == "" {
			continue
		}
		fields := strings.Fields(escapeControl(s.text))
		startsSpace := strings.IndexFunc(s.text, unicode.IsSpace) == 0
		for i, f := range fields {
			if i == 0 && glue && !startsSpace && len(out) > 0 {
				out[len(out)-1] = append(out[len(out)-1], span{f, s.color})
				continue
			}
			out = append(out, word{{f, s.color}})
		}
		last, _ := utf8.DecodeLastRuneInString(s.text)
		glue = !unicode.IsSpace(last)
	}
	return out
}

// wrap breaks a logical line into physical lines of at most width columns, at
// spaces. A word that does not fit on the current line starts the next one; a
// word longer than any line is put on a line of its own, whole, and overflows
// the width (a cut name could not be copied).
func (p painter) wrap(l cline, width int) []pline {
	ws := words(l.spans)
	indent := min(l.indent, width/2)
	if len(ws) == 0 {
		return []pline{{}}
	}
	var out []pline
	var cur strings.Builder
	curW := 0
	lineIndent := indent
	contIndent := min(indent+2, width/2)
	flush := func() {
		out = append(out, pline{width: lineIndent + curW, text: strings.Repeat(" ", lineIndent) + cur.String()})
		cur.Reset()
		curW = 0
		lineIndent = contIndent
	}
	for _, w := range ws {
		sep := 0
		if curW > 0 {
			sep = 1
		}
		if curW > 0 && curW+sep+w.width() > width-lineIndent {
			flush()
			sep = 0
		}
		if sep == 1 {
			cur.WriteByte(' ')
		}
		for _, s := range w {
			cur.WriteString(p.paint(s))
		}
		curW += sep + w.width()
	}
	flush()
	return out
}

// longestWord is the width a column needs for no word of l to overflow it: a
// line's first word at its indent, the others at the continuation indent.
func longestWord(l cline) int {
	need := 0
	for i, w := range words(l.spans) {
		indent := l.indent
		if i > 0 {
			indent += 2
		}
		need = max(need, indent+w.width())
	}
	return need
}

const columnGap = " | "

// layout lays out cells (each a list of logical lines) as columns of colWidth,
// separated by " | ".
func (p painter) layout(w io.Writer, cells [][]cline, colWidth int) {
	cols := make([][]pline, len(cells))
	rows := 0
	for i, c := range cells {
		for _, l := range c {
			cols[i] = append(cols[i], p.wrap(l, colWidth)...)
		}
		rows = max(rows, len(cols[i]))
	}
	for r := 0; r < rows; r++ {
		var b strings.Builder
		for i := range cols {
			var pl pline
			if r < len(cols[i]) {
				pl = cols[i][r]
			}
			if i > 0 {
				b.WriteString(columnGap)
			}
			b.WriteString(pl.text)
			if i < len(cols)-1 {
				b.WriteString(strings.Repeat(" ", max(colWidth-pl.width, 0)))
			}
		}
		_, _ = fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

func (p painter) rule(w io.Writer, columns, colWidth int) {
	parts := make([]string, columns)
	for i := range parts {
		parts[i] = strings.Repeat("-", colWidth)
	}
	_, _ = fmt.Fprintln(w, strings.Join(parts, "-+-"))
}

// Map column widths: columns are at least minColumn wide when the terminal
// allows it, and no wider than maxColumn or than their content needs, except that
// a column is always as wide as its longest name (when the width allows), so that
// names are never broken.
const (
	minColumn = 24
	maxColumn = 40
	// headerLabel is the width of the header's label column.
	headerLabel = 12
)

// MapOptions choose how RenderMapWith draws the map in the terminal.
type MapOptions struct {
	// Width to lay the stages out in (defaultWidth when not positive).
	Width int
	// Color paints states with ANSI colours.
	Color bool
	// Blueprint draws the service blueprint lanes under the stage columns:
	// customer actions, frontstage, the line of visibility, backstage processes
	// with their health and control points, and support systems.
	Blueprint bool
}

// RenderMap writes the journey map: a header, the stages as columns (wrapped to
// width), and the top gaps.
func RenderMap(w io.Writer, jm *JourneyMap, width int, color bool) {
	RenderMapWith(w, jm, MapOptions{Width: width, Color: color})
}

// RenderMapWith writes the journey map as RenderMap does, with the blueprint
// lanes when opts.Blueprint is set.
func RenderMapWith(w io.Writer, jm *JourneyMap, opts MapOptions) {
	p := painter{color: opts.Color}
	width := opts.Width
	if width <= 0 {
		width = defaultWidth
	}
	j := jm.Journey
	bold := func(s string) span { return colored(s, ansiBold) }

	// Header: a label column, the values wrapped to the width.
	persona := j.Persona
	if j.Segment != "" {
		persona += " (" + j.Segment + ")"
	}
	score := "none yet"
	if j.Score != nil {
		score = fmt.Sprintf("%d/100", *j.Score)
		if j.Health == "Unknown" {
			score += " (partial: the health is Unknown)"
		}
	}
	coverage := "-"
	if j.Coverage != nil {
		coverage = fmt.Sprintf("%d%% of the objective weight has data (minimum %d%%)", *j.Coverage, j.MinCoverage)
		if *j.Coverage < j.MinCoverage {
			coverage = fmt.Sprintf("%d%% of the objective weight has data, below the minimum %d%%", *j.Coverage, j.MinCoverage)
		}
	}
	labelled := func(label string, spans ...span) {
		for i, pl := range p.wrap(line(0, spans...), max(width-headerLabel, 20)) {
			if i == 0 {
				_, _ = fmt.Fprint(w, p.paint(bold(label))+strings.Repeat(" ", headerLabel-runeLen(label)))
			} else {
				_, _ = fmt.Fprint(w, strings.Repeat(" ", headerLabel))
			}
			_, _ = fmt.Fprintln(w, strings.TrimRight(pl.text, " "))
		}
	}
	labelled("Journey", plain(j.Name+" (namespace "+j.Namespace+")"))
	labelled("Persona", plain(persona))
	if j.Vision != "" {
		labelled("Vision", plain(freeText(j.Vision)))
	}
	labelled("Score", plain(score))
	labelled("Coverage", plain(coverage))
	labelled("Health", state(j.Health), plain(fmt.Sprintf(": %d/%d moments healthy, %d drifting, %s",
		ptr.Deref(j.Moments.Healthy, 0), ptr.Deref(j.Moments.Total, 0), j.Drifting, plural(j.OpenTasks, "open task", "open tasks"))))
	for i, o := range jm.Objectives {
		label := ""
		if i == 0 {
			label = "Objectives"
		}
		labelled(label, objectiveSpans(o)...)
	}
	_, _ = fmt.Fprintln(w)

	// Stage columns.
	type column struct {
		head  []cline
		body  []cline
		lanes [][]cline
	}
	drawLanes := false
	if opts.Blueprint {
		for _, s := range jm.Stages {
			drawLanes = drawLanes || s.Blueprint != nil
		}
	}
	var columns []column
	for _, s := range jm.Stages {
		title := s.DisplayName
		sub := s.Name + " / " + s.Phase
		if title == "" {
			title, sub = s.Name, s.Phase
		}
		c := column{head: []cline{
			line(0, bold(title)),
			line(0, plain(sub)),
			line(0, state(s.Health), plain(" "+plural(len(s.Moments), "moment", "moments"))),
		}}
		c.body = momentLines(s.Moments)
		if drawLanes {
			c.lanes = blueprintLanes(s.Blueprint)
		}
		columns = append(columns, c)
	}
	if len(jm.UnstagedMoments) > 0 {
		columns = append(columns, column{
			head: []cline{
				line(0, bold("(unknown stage)")),
				line(0, plain("not a stage of this journey")),
				line(0, plain(plural(len(jm.UnstagedMoments), "moment", "moments"))),
			},
			body: momentLines(jm.UnstagedMoments),
		})
		if drawLanes {
			columns[len(columns)-1].lanes = make([][]cline, len(laneTitles))
		}
	}
	if len(columns) == 0 {
		_, _ = fmt.Fprintln(w, "(no stages)")
	}
	natural, need := 0, 0
	for _, c := range columns {
		all := append(append([]cline{}, c.head...), c.body...)
		for _, l := range c.lanes {
			all = append(all, l...)
		}
		for _, l := range all {
			natural = max(natural, l.indent+runeLen(plainText(l)))
			need = max(need, longestWord(l))
		}
	}
	need = min(need, width)
	natural = max(min(max(natural, 12), maxColumn), need)
	narrowest := min(max(minColumn, need), natural)
	perRow := max(1, min(len(columns), (width+len(columnGap))/(narrowest+len(columnGap))))
	colWidth := min(natural, (width-len(columnGap)*(perRow-1))/max(perRow, 1))
	colWidth = max(colWidth, need, 8)
	for start := 0; start < len(columns); start += perRow {
		end := min(start+perRow, len(columns))
		if start > 0 {
			_, _ = fmt.Fprintln(w)
		}
		var heads, bodies [][]cline
		for _, c := range columns[start:end] {
			heads = append(heads, c.head)
			bodies = append(bodies, c.body)
		}
		p.layout(w, heads, colWidth)
		p.rule(w, end-start, colWidth)
		p.layout(w, bodies, colWidth)
		if drawLanes {
			for li, title := range laneTitles {
				if li == laneVisibility {
					p.laneRule(w, "line of visibility: the customer sees what is above", '=', end-start, colWidth)
				}
				p.laneRule(w, title, '-', end-start, colWidth)
				var cells [][]cline
				for _, c := range columns[start:end] {
					cells = append(cells, c.lanes[li])
				}
				p.layout(w, cells, colWidth)
			}
		}
	}
	if opts.Blueprint && !drawLanes {
		_, _ = fmt.Fprintln(w)
		_, _ = fmt.Fprintln(w, "(no stage of this journey has a service blueprint: see spec.stages[].blueprint)")
	}

	// Footer.
	_, _ = fmt.Fprintln(w)
	if len(jm.TopGaps) == 0 {
		_, _ = fmt.Fprintln(w, p.paint(bold("Top gaps"))+"  none")
		return
	}
	_, _ = fmt.Fprintln(w, p.paint(bold("Top gaps")))
	for i, g := range jm.TopGaps {
		where := ""
		if g.Stage != "" {
			where = "stage " + g.Stage + ", "
		}
		l := line(2, plain(fmt.Sprintf("%d. %s", i+1, gapText(g))), plain(" "), state(string(g.State)),
			plain(fmt.Sprintf(" (%sscore %s)", where, g.Score)))
		for _, pl := range p.wrap(l, width) {
			_, _ = fmt.Fprintln(w, strings.TrimRight(pl.text, " "))
		}
	}
}

// channelLabels spell the channels for people; a channel without a label (one
// added to the API later) shows as the API spells it.
var channelLabels = map[cxv1.Channel]string{
	cxv1.ChannelWeb:          "web",
	cxv1.ChannelMobileApp:    "mobile app",
	cxv1.ChannelChat:         "chat",
	cxv1.ChannelWhatsApp:     "WhatsApp",
	cxv1.ChannelSMS:          "SMS",
	cxv1.ChannelSocial:       "social media",
	cxv1.ChannelPhone:        "phone",
	cxv1.ChannelVideo:        "video call",
	cxv1.ChannelEmail:        "email",
	cxv1.ChannelStore:        "store",
	cxv1.ChannelKiosk:        "kiosk",
	cxv1.ChannelFieldService: "field service",
	cxv1.ChannelMarketplace:  "marketplace",
	cxv1.ChannelPartner:      "partner",
	cxv1.ChannelOther:        "other channel",
}

func channelLabel(c cxv1.Channel) string {
	if l, ok := channelLabels[c]; ok {
		return l
	}
	return string(c)
}

func momentLines(moments []MomentView) []cline {
	if len(moments) == 0 {
		return []cline{line(0, colored("(no moments)", ansiGrey))}
	}
	var out []cline
	for i, m := range moments {
		if i > 0 {
			out = append(out, line(0))
		}
		marker := "[+]"
		if m.Polarity == "Pain" {
			marker = "[-]"
		}
		out = append(out,
			line(0, plain(marker+" "+m.Name)),
			line(4, plain(m.Polarity+", "), state(m.Health)),
		)
		if m.Process != "" {
			out = append(out, line(4, plain("process "+m.Process)))
		}
		switch {
		case m.Channel != "" && m.Touchpoint != "":
			out = append(out, line(4, plain("via "+channelLabel(cxv1.Channel(m.Channel))+": "+m.Touchpoint)))
		case m.Channel != "":
			out = append(out, line(4, plain("via "+channelLabel(cxv1.Channel(m.Channel)))))
		case m.Touchpoint != "":
			out = append(out, line(4, plain("at "+m.Touchpoint)))
		}
		for _, o := range m.Objectives {
			name := o.Name
			if o.Key {
				name += " (key)"
			}
			out = append(out, line(4, plain(name)), line(6, objectiveSpans(ObjectiveView{State: o.State, Value: o.Value, Target: o.Target})...))
		}
		for _, t := range m.OpenTasks {
			out = append(out, line(4, plain("! task "+t)))
		}
	}
	return out
}

// objectiveSpans: "[name:] State value vs target", or "State (no value) target
// TARGET" before the first evaluation.
func objectiveSpans(o ObjectiveView) []span {
	var spans []span
	if o.Name != "" {
		spans = append(spans, plain(o.Name+": "))
	}
	spans = append(spans, state(o.State))
	if o.Value == "" {
		return append(spans, plain(" (no value) target "+o.Target))
	}
	return append(spans, plain(" "+o.Value+" vs "+o.Target))
}

func plainText(l cline) string {
	var words []string
	for _, s := range l.spans {
		words = append(words, strings.Fields(s.text)...)
	}
	return strings.Join(words, " ")
}

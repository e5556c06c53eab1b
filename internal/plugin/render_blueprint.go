package plugin

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	cxv1 "github.com/cxops/cxops/api/v1alpha1"
)

// The lanes of a service blueprint, top to bottom. The line of visibility runs
// above laneVisibility: the customer sees the lanes above it, not those below.
var laneTitles = []string{"Customer actions", "Frontstage", "Backstage processes", "Support systems"}

const laneVisibility = 2

// maxFreeWord bounds a word of free text (an action, a description) in the
// terminal: longer words are cut, rune-safely, so that one pasted URL does not
// widen every column. Object names (processes, systems, moments) are never cut.
const maxFreeWord = maxColumn - 6

// freeText cuts the words of s longer than maxFreeWord runes.
func freeText(s string) string {
	if utf8.RuneCountInString(s) <= maxFreeWord {
		return s
	}
	fields := strings.Fields(s)
	for i, f := range fields {
		fields[i] = cutRunes(f, maxFreeWord)
	}
	return strings.Join(fields, " ")
}

// cutRunes returns s when it has at most n runes, else its first n-1 runes and
// an ellipsis: never a broken rune.
func cutRunes(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	out := make([]rune, 0, n)
	for _, r := range s {
		if len(out) == n-1 {
			break
		}
		out = append(out, r)
	}
	return string(out) + "…"
}

// blueprintLanes are a stage's cells in each lane; a stage without a blueprint
// has "-" in every lane.
func blueprintLanes(bp *BlueprintView) [][]cline {
	none := []cline{line(0, colored("-", ansiGrey))}
	lanes := make([][]cline, len(laneTitles))
	for i := range lanes {
		lanes[i] = none
	}
	if bp == nil {
		return lanes
	}
	if len(bp.CustomerActions) > 0 {
		lanes[0] = nil
		for _, a := range bp.CustomerActions {
			lanes[0] = append(lanes[0], line(0, plain("- "+freeText(a))))
		}
	}
	if len(bp.Frontstage) > 0 {
		lanes[1] = nil
		for _, f := range bp.Frontstage {
			lanes[1] = append(lanes[1], line(0, plain("- "+freeText(f.Action))))
			if where := frontstageWhere(f); where != "" {
				lanes[1] = append(lanes[1], line(4, plain(freeText(where))))
			}
			if f.Team != "" {
				lanes[1] = append(lanes[1], line(4, plain("team "+f.Team)))
			}
		}
	}
	if len(bp.Backstage) > 0 {
		lanes[2] = nil
		for i, p := range bp.Backstage {
			if i > 0 {
				lanes[2] = append(lanes[2], line(0))
			}
			lanes[2] = append(lanes[2], line(0, plain(p.Name)))
			if p.DisplayName != "" {
				lanes[2] = append(lanes[2], line(4, plain(freeText(p.DisplayName))))
			}
			lanes[2] = append(lanes[2], line(4, plain("owner "+p.Owner)))
			if len(p.Systems) > 0 {
				lanes[2] = append(lanes[2], line(4, plain("on "+strings.Join(p.Systems, ", "))))
			}
			lanes[2] = append(lanes[2], line(4, state(p.Health), plain(", "+controlPointsText(p))))
			if len(p.Moments) > 0 {
				lanes[2] = append(lanes[2], line(4, plain("measured by "+strings.Join(p.Moments, ", "))))
			}
		}
	}
	if len(bp.SupportSystems) > 0 {
		lanes[3] = nil
		for _, s := range bp.SupportSystems {
			lanes[3] = append(lanes[3], line(0, plain(s.Name)))
			if s.Description != "" {
				lanes[3] = append(lanes[3], line(4, plain(freeText(s.Description))))
			}
			if s.Owner != "" {
				lanes[3] = append(lanes[3], line(4, plain("owner "+s.Owner)))
			}
		}
	}
	return lanes
}

// frontstageWhere spells where a frontstage action happens: "at TOUCHPOINT (channel)".
func frontstageWhere(f cxv1.FrontstageAction) string {
	switch {
	case f.Touchpoint != "" && f.Channel != "":
		return "at " + f.Touchpoint + " (" + channelLabel(f.Channel) + ")"
	case f.Touchpoint != "":
		return "at " + f.Touchpoint
	case f.Channel != "":
		return "via " + channelLabel(f.Channel)
	}
	return ""
}

// controlPointsText: "3 control points, 1 drifting", or "no control point"
// when no moment names the process.
func controlPointsText(p ProcessView) string {
	if p.ControlPoints == 0 && len(p.Moments) == 0 {
		return "no control point: no moment names it"
	}
	return fmt.Sprintf("%s, %d drifting", plural(int(p.ControlPoints), "control point", "control points"), p.Drifting)
}

// laneRule draws a lane's title across the columns: "-- Title ------".
func (p painter) laneRule(w io.Writer, title string, fill rune, columns, colWidth int) {
	total := columns*colWidth + (columns-1)*len(columnGap)
	head := strings.Repeat(string(fill), 2) + " " + title + " "
	rest := max(total-runeLen(head), 2)
	_, _ = fmt.Fprintln(w, p.paint(colored(head, ansiBold))+strings.Repeat(string(fill), rest))
}

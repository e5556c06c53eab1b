package textutil

import (
	"strings"
	"unicode"
)

// Replacement is what Neutralize puts in place of a character a reader must
// not be shown raw.
const Replacement = "\uFFFD"

// IsBidiControl reports whether r is a bidirectional embedding, override or
// isolate control (U+202A–U+202E, U+2066–U+2069). In user text these reorder
// what follows them on the line (a state, a value, the next column) and can make
// a reader see something other than what is written (CVE-2021-42574, "Trojan
// Source"). The marks U+200E, U+200F and U+061C are not controls of this kind:
// they change no order of strong characters, and right-to-left text needs them.
func IsBidiControl(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

// IsControl reports whether r is a C0 or C1 control character or DEL.
func IsControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r < 0xa0) }

// Neutralize returns s with every bidi control and every control character
// other than white space replaced by Replacement: the one rule for user text
// that reaches a picture or a web page (the terminal spells these characters
// as escapes instead, so that they can be told apart).
func Neutralize(s string) string {
	bad := func(r rune) bool { return IsBidiControl(r) || (IsControl(r) && !unicode.IsSpace(r)) }
	if strings.IndexFunc(s, bad) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if bad(r) {
			return '\uFFFD'
		}
		return r
	}, s)
}

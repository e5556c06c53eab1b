// Package textutil holds the one rule for bounding text that reaches a status
// field, an event, a log line or a notification: cut on a rune boundary, and say
// that it was cut.
package textutil

import "unicode/utf8"

// Ellipsis marks text that was cut.
const Ellipsis = "…"

// Truncate returns s when it fits in n bytes, and otherwise its longest prefix
// that ends on a rune boundary and, with Ellipsis appended, fits in n bytes. The
// result is always valid to store in a field whose schema limit is n (the API
// server counts characters, which are never more than bytes). Invalid UTF-8 in s
// is kept as it is. n below the size of Ellipsis cuts without a mark.
func Truncate(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	mark := Ellipsis
	if n < len(mark) {
		mark = ""
	}
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// TruncateNoMark is Truncate without the ellipsis, for identifiers built from a
// prefix (names, label values) where a mark would not be allowed.
func TruncateNoMark(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

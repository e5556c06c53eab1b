package textutil

import "testing"

func TestNeutralize(t *testing.T) {
	for in, want := range map[string]string{
		"plain text":                   "plain text",
		"tab\tnew\nline\r":             "tab\tnew\nline\r",
		"a\u202eb\u202cc":              "a\uFFFDb\uFFFDc",
		"\u2066iso\u2069 \u2067\u2068": "\uFFFDiso\uFFFD \uFFFD\uFFFD",
		"esc\x1b[2J bel\x07 c1\u009b":  "esc\uFFFD[2J bel\uFFFD c1\uFFFD",
		"rtl mark \u200f kept":         "rtl mark \u200f kept",
		"日本語":                          "日本語",
	} {
		if got := Neutralize(in); got != want {
			t.Errorf("Neutralize(%q) = %q, want %q", in, got, want)
		}
	}
}

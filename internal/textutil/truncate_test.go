package textutil

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"hello world", 8, "hello…"},
		{"ééééé", 6, "é…"}, // é is 2 bytes, … is 3
		{"abc", 2, "ab"},
		{"abc", 0, ""},
	}
	for _, tt := range tests {
		if got := Truncate(tt.s, tt.n); got != tt.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

func FuzzTruncate(f *testing.F) {
	f.Add("héllo wörld", 5)
	f.Add(strings.Repeat("日本", 100), 1024)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 0 || n > 1<<16 {
			return
		}
		for _, got := range []string{Truncate(s, n), TruncateNoMark(s, n)} {
			if len(got) > n {
				t.Fatalf("len %d > %d", len(got), n)
			}
			if utf8.ValidString(s) && !utf8.ValidString(got) {
				t.Fatalf("cut inside a rune: %q", got)
			}
		}
	})
}

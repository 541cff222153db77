package untrusted

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClean(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{"plain", "aws-cli/2.22.4", 100, "aws-cli/2.22.4"},
		{"newline and tab become spaces", "a\nb\r\tc", 100, "a b  c"},
		{"separators become spaces", "a\u2028b\u2029c", 100, "a b c"},
		{"escape sequence", "a\x1b[2Jb", 100, "a\uFFFD[2Jb"},
		{"C1 control", "a\u009bb", 100, "a\uFFFDb"},
		{"override", "a\u202eb", 100, "a\uFFFDb"},
		{"isolate", "a\u2067b", 100, "a\uFFFDb"},
		{"LRM", "a\u200eb", 100, "a\uFFFDb"},
		{"RLM", "a\u200fb", 100, "a\uFFFDb"},
		{"ALM", "a\u061cb", 100, "a\uFFFDb"},
		{"invalid UTF-8", "a\xffb", 100, "a\uFFFDb"},
		{"cut", "abcdef", 4, "abc…"},
		{"exact fit", "abcd", 4, "abcd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Clean(tt.in, tt.max); got != tt.want {
				t.Errorf("Clean(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
		})
	}
}

func TestEscape(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{"plain", "plain", 100, "plain"},
		{"escape sequence", "a\x1b[2Jb", 100, `a\x1b[2Jb`},
		{"newline", "line\nbreak", 100, `line\nbreak`},
		{"override", "bidi\u202eevil", 100, `bidi\u202eevil`},
		{"C1 control", "c1\u009bcontrol", 100, `c1\u009bcontrol`},
		{"LRM", "a\u200eb", 100, `a\u200eb`},
		{"RLM", "a\u200fb", 100, `a\u200fb`},
		{"ALM", "a\u061cb", 100, `a\u061cb`},
		{"separator", "a\u2028b", 100, `a\u2028b`},
		{"invalid UTF-8 stays a replacement character", "a\xffb", 100, "a\uFFFDb"},
		{"cut after max runes", strings.Repeat("x", 10), 5, "xxxxx…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Escape(tt.in, tt.max); got != tt.want {
				t.Errorf("Escape(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
		})
	}
}

// FuzzSanitize checks the promises of Clean and Escape on any input: valid
// UTF-8 out, no unsafe rune out, and the length bound.
func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"", "plain", "a\x1b[2Jb", "\u202e\u200e\u200f\u061c", "\xff\xfe", "a\u2028b\n\t\r", strings.Repeat("é", 300)} {
		f.Add(s, 10)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max <= 0 || max > 1000 {
			max = 1 + (max%1000+1000)%1000
		}
		c := Clean(s, max)
		if !utf8.ValidString(c) {
			t.Fatalf("Clean(%q) = %q: invalid UTF-8", s, c)
		}
		if n := utf8.RuneCountInString(c); n > max {
			t.Fatalf("Clean(%q, %d) has %d runes", s, max, n)
		}
		for _, r := range c {
			if IsUnsafe(r) {
				t.Fatalf("Clean(%q) = %q keeps unsafe %U", s, c, r)
			}
		}
		e := Escape(s, max)
		if !utf8.ValidString(e) {
			t.Fatalf("Escape(%q) = %q: invalid UTF-8", s, e)
		}
		for _, r := range e {
			if IsUnsafe(r) {
				t.Fatalf("Escape(%q) = %q keeps unsafe %U", s, e, r)
			}
		}
	})
}

package slack

import (
	"github.com/rootwatch/rootwatch/notify/untrusted"

	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// bareAmp matches an & that does not start one of the three entities
// escapeText produces.
var bareAmp = regexp.MustCompile(`&(?:amp;|lt;|gt;)?`)

// FuzzCode checks the invariants that keep attacker text inert in a code
// span: no raw < or >, every & is an entity, exactly the two delimiting
// backticks, no line break, valid UTF-8, bounded length.
func FuzzCode(f *testing.F) {
	for _, s := range []string{"<!channel>", "a`b`c", "&amp;", "x\ny", "\u202e", "\xff", strings.Repeat("<", 300), ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := code(untrusted.Text(in))
		if out == "_none_" {
			return
		}
		if strings.ContainsAny(out, "<>\n\r") {
			t.Fatalf("code(%q) = %q keeps < > or a line break", in, out)
		}
		for _, m := range bareAmp.FindAllString(out, -1) {
			if m == "&" {
				t.Fatalf("code(%q) = %q has a bare &", in, out)
			}
		}
		if strings.Count(out, "`") != 2 || !strings.HasPrefix(out, "`") || !strings.HasSuffix(out, "`") {
			t.Fatalf("code(%q) = %q: code span not closed exactly once", in, out)
		}
		if !utf8.ValidString(out) {
			t.Fatalf("code(%q) is not valid UTF-8", in)
		}
		if n := len(out); n > MaxValueBytes+len(truncationMarker)+2 {
			t.Fatalf("code(%q) is %d bytes", in, n)
		}
	})
}

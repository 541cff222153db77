package watchdog

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParseExpect reads testdata/expect.tsv: a ROOTWATCH_EXPECT value and
// its canonical form, or the error it gives.
func TestParseExpect(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "expect.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if strings.HasPrefix(text, "#") {
			continue
		}
		in, want, ok := strings.Cut(text, "\t")
		if !ok {
			t.Fatalf("expect.tsv:%d: no tab", line)
		}
		e, err := ParseExpect(in)
		if wantErr, isErr := strings.CutPrefix(want, "error: "); isErr {
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Errorf("expect.tsv:%d: ParseExpect(%q) error %v, want one containing %q", line, in, err, wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("expect.tsv:%d: ParseExpect(%q): %v", line, in, err)
			continue
		}
		if got := e.String(); got != want {
			t.Errorf("expect.tsv:%d: ParseExpect(%q) = %q, want %q", line, in, got, want)
		}
	}
	e, _ := ParseExpect("111122223333:us-east-1;444455556666:*")
	for _, c := range []struct {
		p    Pair
		want bool
	}{{a1, true}, {a2, false}, {b1, true}, {Pair{"444455556666", AnyRegion}, true}, {Pair{"999999999999", "us-east-1"}, false}} {
		if got := e.Wants(c.p.Account, c.p.Region); got != c.want {
			t.Errorf("Wants(%s) = %v, want %v", c.p, got, c.want)
		}
	}
}

// FuzzParseExpect: ParseExpect never panics; what it accepts has a
// canonical form that parses back to the same expectation, names only
// valid accounts and regions, and Wants every pair it lists.
func FuzzParseExpect(f *testing.F) {
	for _, s := range []string{"", "111122223333:us-east-1,us-west-2;444455556666:*", "1:a", ";;", "111122223333:*,us-east-1", " 111122223333 : eu-west-1 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseExpect(s)
		if err != nil {
			return
		}
		c := e.String()
		e2, err := ParseExpect(c)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", c, s, err)
		}
		if c2 := e2.String(); c2 != c {
			t.Fatalf("canonical form of %q: %q then %q", s, c, c2)
		}
		for _, p := range e.Pairs() {
			if !accountRE.MatchString(p.Account) || (p.Region != AnyRegion && !regionRE.MatchString(p.Region)) {
				t.Fatalf("%q gave invalid pair %s", s, p)
			}
			if !e.Wants(p.Account, p.Region) {
				t.Fatalf("%q lists %s but does not want it", s, p)
			}
		}
	})
}

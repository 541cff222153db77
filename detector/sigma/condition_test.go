package sigma

import (
	"strings"
	"testing"
)

func TestParseCondition(t *testing.T) {
	sels := []string{"sel", "sel_a", "sel_b", "filter_x", "filter_y", "other"}
	tests := []struct {
		cond, want string
	}{
		{"sel", "sel"},
		{"sel and other", "(sel and other)"},
		{"sel or other", "(sel or other)"},
		{"not sel", "not sel"},
		{"sel and not other", "(sel and not other)"},
		{"sel or other and sel_a", "(sel or (other and sel_a))"},
		{"(sel or other) and sel_a", "((sel or other) and sel_a)"},
		{"not (sel or other)", "not (sel or other)"},
		{"not not sel", "not not sel"},
		{"sel AND NOT other", "(sel and not other)"},
		{"1 of sel_*", "1 of sel_*"},
		{"any of sel_*", "1 of sel_*"},
		{"all of sel_*", "all of sel_*"},
		{"1 of them", "1 of them"},
		{"all of them", "all of them"},
		{"sel and not 1 of filter_*", "(sel and not 1 of filter_*)"},
		{"all of sel* or 1 of *_x", "(all of sel* or 1 of *_x)"},
		{"  ( ( sel ) )  ", "sel"},
		{"sel\nand\tother", "(sel and other)"},
	}
	for _, tc := range tests {
		t.Run(tc.cond, func(t *testing.T) {
			n, err := ParseCondition(tc.cond, sels)
			if err != nil {
				t.Fatal(err)
			}
			if got := n.String(); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestParseConditionQuantifierSelections(t *testing.T) {
	sels := []string{"sel_b", "sel_a", "filter", "selx"}
	for cond, want := range map[string]string{
		"1 of sel_*":   "sel_a,sel_b",
		"all of sel*":  "sel_a,sel_b,selx",
		"1 of them":    "filter,sel_a,sel_b,selx",
		"1 of *":       "filter,sel_a,sel_b,selx",
		"1 of filter":  "filter",
		"all of *_a":   "sel_a",
		"1 of s*l*_*b": "sel_b",
	} {
		n, err := ParseCondition(cond, sels)
		if err != nil {
			t.Fatalf("%s: %v", cond, err)
		}
		if got := strings.Join(n.Selections, ","); got != want {
			t.Errorf("%s: selections %s, want %s", cond, got, want)
		}
	}
}

func TestParseConditionErrors(t *testing.T) {
	sels := []string{"sel", "filter"}
	tests := []struct{ cond, want string }{
		{"", "empty condition"},
		{"   ", "empty condition"},
		{"sel and", "unexpected end of condition at offset 7"},
		{"sel or or filter", `unexpected "or" at offset 7`},
		{"sel filter", `unexpected "filter" at offset 4`},
		{"(sel", `missing ")" at offset 4`},
		{"sel)", `unexpected ")" at offset 3`},
		{"()", `unexpected ")" at offset 1`},
		{"nope", `unknown selection "nope" at offset 0`},
		{"Sel", `unknown selection "Sel"`},
		{"1 of x*", `selection pattern "x*" matches no selection at offset 5`},
		{"1 of", `missing selection pattern after "of" at offset 4`},
		{"2 of sel", `unsupported quantifier "2"`},
		{"1 of (sel)", `missing selection pattern after "of"`},
		{"sel | count() > 5", "unsupported: aggregation expression"},
		{"sel | near filter", "unsupported: aggregation expression"},
		{strings.Repeat("not ", 100) + "sel", "nested too deeply"},
		{strings.Repeat("(", 100) + "sel" + strings.Repeat(")", 100), "nested too deeply"},
		{"of", `unexpected "of"`},
		{"them", `unexpected "them"`},
	}
	for _, tc := range tests {
		t.Run(tc.cond, func(t *testing.T) {
			_, err := ParseCondition(tc.cond, sels)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestParseGlob(t *testing.T) {
	tests := []struct {
		in, lit, str string
		wild         bool
		parts        int
	}{
		{"abc", "abc", "abc", false, 1},
		{"a*c", "ac", "a*c", true, 3},
		{"a**c", "ac", "a*c", true, 3},
		{"a?c", "ac", "a?c", true, 3},
		{`a\*c`, "a*c", `a\*c`, false, 1},
		{`a\?c`, "a?c", `a\?c`, false, 1},
		{`a\\c`, `a\c`, `a\\c`, false, 1},
		{`C:\Windows\x`, `C:\Windows\x`, `C:\\Windows\\x`, false, 1},
		{`a\\*`, `a\`, `a\\*`, true, 2},
		{`trailing\`, `trailing\`, `trailing\\`, false, 1},
		{"*", "", "*", true, 1},
		{"", "", "", false, 0},
	}
	for _, tc := range tests {
		g := ParseGlob(tc.in)
		if g.Literal() != tc.lit || g.HasWildcards() != tc.wild || g.String() != tc.str || len(g) != tc.parts {
			t.Errorf("ParseGlob(%q) = %+v: literal %q wild %v string %q", tc.in, g, g.Literal(), g.HasWildcards(), g.String())
		}
		// String is the inverse of ParseGlob.
		if again := ParseGlob(g.String()); again.String() != g.String() || again.Literal() != g.Literal() {
			t.Errorf("round trip of %q: %q", tc.in, again.String())
		}
	}
}

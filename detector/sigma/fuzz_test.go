package sigma

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// FuzzParse checks that arbitrary input never panics and that every rule
// of a file that loads (ParseAll: several documents, correlations) is
// internally consistent. The seed corpus is every rule under
// testdata, the built-in rules, plus testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.yml")
	builtin, _ := filepath.Glob("../rules/builtin/*.yml") // expand and the rootwatch extension
	for _, name := range append(files, builtin...) {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := ParseAll("fuzz.yml", data, Options{})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yml:") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, r := range rs {
			checkRule(t, r)
		}
	})
}

func checkRule(t *testing.T, r *Rule) {
	if c := r.Correlation; c != nil {
		if r.Name == "" || len(c.Rules) == 0 || c.Timespan <= 0 || c.Min < 1 || r.Detection != nil || (c.Type == ValueCount) != (c.Field != "") {
			t.Fatalf("loaded an incomplete correlation: %+v %+v", r, c)
		}
		return
	}
	{
		if r.Name == "" || r.Condition == nil || len(r.Detection) == 0 {
			t.Fatalf("loaded an incomplete rule: %+v", r)
		}
		checkNode(t, r.Condition, r.Detection)
		if r.Escalation != nil {
			if r.Escalation.Level <= r.DeclaredLevel {
				t.Fatalf("escalation to %s from %s", r.Escalation.Level, r.DeclaredLevel)
			}
			checkNode(t, r.Escalation.Condition, r.Detection)
		}
		for _, sel := range r.Detection {
			for _, m := range sel.Maps {
				for _, fm := range m.Matches {
					if fm.Never != (len(fm.Values) == 0) {
						t.Fatalf("field %q: never %v with %d values", fm.Field, fm.Never, len(fm.Values))
					}
				}
			}
		}
	}
}

func checkNode(t *testing.T, n *Node, sels map[string]*Selection) {
	switch n.Kind {
	case NodeSelection:
		if sels[n.Name] == nil {
			t.Fatalf("condition names unknown selection %q", n.Name)
		}
	case NodeOneOf, NodeAllOf:
		if len(n.Selections) == 0 {
			t.Fatal("quantifier without selections")
		}
		for _, s := range n.Selections {
			if sels[s] == nil {
				t.Fatalf("quantifier names unknown selection %q", s)
			}
		}
	case NodeNot:
		if len(n.Args) != 1 {
			t.Fatalf("not with %d args", len(n.Args))
		}
		checkNode(t, n.Args[0], sels)
	default:
		if len(n.Args) < 2 {
			t.Fatalf("and/or with %d args", len(n.Args))
		}
		for _, a := range n.Args {
			checkNode(t, a, sels)
		}
	}
}

// FuzzCondition checks that arbitrary conditions never panic and that a
// parsed condition renders to a string that parses to the same tree.
func FuzzCondition(f *testing.F) {
	for _, s := range []string{
		"sel", "sel and not filter", "1 of sel_* or all of them", "(a or b) and not (c)",
		"all of filter_*", "any of them", "sel | count() > 5", "not not not a", "((a))",
	} {
		f.Add(s)
	}
	sels := []string{"a", "b", "c", "sel", "sel_1", "sel_2", "filter_x"}
	f.Fuzz(func(t *testing.T, cond string) {
		n, err := ParseCondition(cond, sels)
		if err != nil {
			return
		}
		again, err := ParseCondition(n.String(), sels)
		if err != nil {
			t.Fatalf("rendered condition %q does not parse: %v", n.String(), err)
		}
		if again.String() != n.String() {
			t.Fatalf("round trip: %q became %q", n.String(), again.String())
		}
	})
}

// FuzzExpand checks placeholder expansion: a template without wildcards
// expands to literal patterns equal to the expanded text, whatever the
// placeholder values hold (wildcards and backslashes in values are
// literal), and a rule using the template never panics.
func FuzzExpand(f *testing.F) {
	f.Add("%bucket%", "trail-logs", "x")
	f.Add("/%queue%", `a\`, `*`)
	f.Add(`\%a%%b%`, "?", `\*`)
	f.Add("%a%-%a%-%b", "1", "2")
	f.Add("100%", "%b%", "%a%")
	f.Fuzz(func(t *testing.T, tmpl, a, b string) {
		p := &parser{file: "f.yml", opts: Options{Placeholders: map[string][]string{"a": {a}, "b": {b, a}, "bucket": {a}, "queue": {b}}}}
		ex, err := p.expand(tmpl)
		if err != nil {
			t.Fatalf("expand(%q): %v", tmpl, err)
		}
		if len(ex.undefined) > 0 {
			return
		}
		if len(ex.texts) != len(ex.globs) || len(ex.texts) == 0 {
			t.Fatalf("expand(%q): %d texts, %d globs", tmpl, len(ex.texts), len(ex.globs))
		}
		for i, g := range ex.globs {
			if again := ParseGlob(g.String()); !reflect.DeepEqual(again, g) && !(len(again) == 0 && len(g) == 0) {
				t.Fatalf("expand(%q): glob %#v renders as %q, which parses as %#v", tmpl, g, g.String(), again)
			}
			if !strings.ContainsAny(tmpl, `*?\`) {
				if g.HasWildcards() || g.Literal() != ex.texts[i] {
					t.Fatalf("expand(%q): glob %#v for text %q", tmpl, g, ex.texts[i])
				}
			}
		}
		rule := "title: T\nlevel: high\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel:\n    f|expand|contains: " +
			strconv.Quote(tmpl) + "\n  condition: sel\n"
		_, _ = ParseWithOptions("f.yml", []byte(rule), p.opts)
	})
}

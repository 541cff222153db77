package ruletest_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rootwatch/rootwatch/detector/ruletest"
	"github.com/rootwatch/rootwatch/detector/sigma"
)

// FuzzParse checks that Parse never panics and that whatever it accepts is
// well formed: named cases, sorted distinct expectations, JSON events.
// Seeds: the test files in testdata, the built-in rule tests, and
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{
		filepath.Join("testdata", "*", "tests", "*.yml"),
		filepath.Join("testdata", "*", "sub", "*.yaml"),
		filepath.Join("..", "rules", "builtin", "tests", "*.yml"),
	} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cases, err := ruletest.Parse("fuzz.yml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yml:") {
				t.Errorf("error %q does not name the file", err)
			}
			return
		}
		names := make(map[string]bool)
		for _, c := range cases {
			if c.Name == "" || names[c.Name] {
				t.Errorf("case name %q empty or repeated", c.Name)
			}
			names[c.Name] = true
			if c.Expect == nil || !slices.IsSorted(c.Expect) || len(slices.Compact(slices.Clone(c.Expect))) != len(c.Expect) {
				t.Errorf("case %q: expect %q not a sorted set", c.Name, c.Expect)
			}
			if !json.Valid(c.Event) {
				t.Errorf("case %q: event is not valid JSON: %q", c.Name, c.Event)
			}
			for name := range c.Levels {
				if !slices.Contains(c.Expect, name) {
					t.Errorf("case %q: level for %q, which is not expected", c.Name, name)
				}
			}
			for name, vals := range c.Placeholders {
				if !sigma.ValidPlaceholderName(name) || len(vals) == 0 || slices.Contains(vals, "") {
					t.Errorf("case %q: placeholder %q = %q", c.Name, name, vals)
				}
			}
			if c.File != "fuzz.yml" || c.Line <= 0 {
				t.Errorf("case %q: file %q line %d", c.Name, c.File, c.Line)
			}
		}
	})
}

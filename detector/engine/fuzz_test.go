package engine

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/rootwatch/rootwatch/detector"
)

// FuzzMatch feeds arbitrary records to the engine with every test rule:
// Match never panics, never keeps rec, and the indexed engine gives exactly
// the detections of evaluating every rule; MatchEventTime hands over
// exactly the eventTime string encoding/json reads from the same bytes.
// Seeds: testdata/records and the records of testdata/semantics.yml.
func FuzzMatch(f *testing.F) {
	files, _ := filepath.Glob("testdata/records/*.json")
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	if data, err := os.ReadFile("testdata/semantics.yml"); err == nil {
		var cases []semanticsCase
		if yaml.Unmarshal(data, &cases) == nil {
			for _, c := range cases {
				for _, r := range append(c.Match, c.NoMatch...) {
					f.Add([]byte(r))
				}
			}
		}
	}
	rules := propertyRules(f)
	indexed, err := New(rules)
	if err != nil {
		f.Fatal(err)
	}
	brute, err := newEngine(rules, options{noIndex: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		orig := bytes.Clone(rec)
		a, errA := indexed.Match(rec, "fuzz", nil)
		b, errB := brute.Match(rec, "fuzz", nil)
		if (errA == nil) != (errB == nil) {
			t.Fatalf("indexed error %v, brute-force error %v", errA, errB)
		}
		if !bytes.Equal(rec, orig) {
			t.Fatal("Match modified rec")
		}
		if !slices.Equal(ruleNames(a), ruleNames(b)) {
			t.Fatalf("indexed %v, brute force %v", ruleNames(a), ruleNames(b))
		}
		var (
			gotTime []byte
			calls   int
		)
		c, errC := indexed.MatchEventTime(rec, "fuzz", nil, func(v []byte) { calls++; gotTime = bytes.Clone(v) })
		if (errC == nil) != (errA == nil) || !slices.Equal(ruleNames(c), ruleNames(a)) {
			t.Fatalf("MatchEventTime %v, %v; Match %v, %v", ruleNames(c), errC, ruleNames(a), errA)
		}
		if errA == nil {
			var top map[string]any
			if err := json.Unmarshal(rec, &top); err != nil {
				t.Fatalf("Match accepted what encoding/json refuses: %v", err)
			}
			want, isStr := top["eventTime"].(string)
			if calls > 1 || isStr != (calls == 1) || string(gotTime) != want {
				t.Fatalf("eventTime handed over %d times as %q; encoding/json reads %q (a string: %v)", calls, gotTime, want, isStr)
			}
		}
		for _, d := range a {
			if !bytes.Equal(d.Record, rec) || (len(rec) > 0 && &d.Record[0] == &rec[0]) {
				t.Fatal("Record is not a copy of rec")
			}
			if d.Source != "fuzz" || d.Rule == "" || d.Level == detector.LevelUnknown {
				t.Fatalf("incomplete detection %+v", d)
			}
		}
	})
}

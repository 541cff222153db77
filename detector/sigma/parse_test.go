package sigma

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rootwatch/rootwatch/detector"
)

// TestParseInvalid loads every rule under testdata/invalid. Each starts with
// a "# error: LINE: TEXT" comment; the error must be an *Error that begins
// with "FILE:LINE: TEXT".
func TestParseInvalid(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid rules: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(data), "\n")
			want, ok := strings.CutPrefix(first, "# error: ")
			if !ok {
				t.Fatalf("%s: first line must be \"# error: LINE: TEXT\"", f)
			}
			_, err = Parse(f, data)
			if err == nil {
				t.Fatalf("Parse succeeded, want error %q", want)
			}
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("error %v is %T, want *sigma.Error", err, err)
			}
			if !strings.HasPrefix(err.Error(), f+":"+want) {
				t.Errorf("error\n got %q\nwant prefix %q", err.Error(), f+":"+want)
			}
		})
	}
}

// TestParseSigmaHQ loads our rewrites of SigmaHQ CloudTrail rules, which
// together use every construct the SigmaHQ AWS CloudTrail folder uses
// (apart from count() aggregations, which are rejected).
func TestParseSigmaHQ(t *testing.T) {
	files, err := filepath.Glob("testdata/sigmahq/*.yml")
	if err != nil || len(files) < 8 {
		t.Fatalf("want the SigmaHQ rewrites, got %d files: %v", len(files), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Parse(f, data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if want := strings.TrimSuffix(filepath.Base(f), ".yml"); r.Name != want {
				t.Errorf("Name = %q, want %q (derived from the file name)", r.Name, want)
			}
			if r.Logsource.Product != "aws" || r.Logsource.Service != "cloudtrail" || r.Logsource.Line == 0 {
				t.Errorf("Logsource = %+v", r.Logsource)
			}
			if r.Title == "" || r.ID == "" || r.Level == detector.LevelUnknown || r.Condition == nil || len(r.Detection) == 0 {
				t.Errorf("incomplete rule: %+v", r)
			}
		})
	}
}

func TestParseFullRule(t *testing.T) {
	src := `title: Root console sign-in
id: 0b9c5c1e-1111-4222-8333-944455556666
name: root-console-login
status: stable
description: desc
author: me
date: 2026-01-02
modified: 2026-02-03
level: HIGH
tags: [attack.t1078.004]
falsepositives: none known
references: [https://example.com]
fields: [eventName]
custom_key: {anything: goes}
logsource:
  product: aws
  service: cloudtrail
detection:
  sel:
    eventName: ConsoleLogin
    userIdentity.type|cased: Root
    additionalEventData.MFAUsed:
      - 'No'
      - null
    eventVersion: 1.08
    readOnly: false
    apiVersion: 5
  filter:
    - errorCode|exists: true
    - userAgent|re|i: '^curl/'
  condition: sel and not filter
`
	r, err := Parse("rules/root.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "root-console-login" || r.Level != detector.LevelHigh || r.Date != "2026-01-02" || r.Modified != "2026-02-03" ||
		!reflect.DeepEqual(r.FalsePositives, []string{"none known"}) || r.Line != 1 {
		t.Errorf("metadata: %+v", r)
	}
	sel := r.Detection["sel"]
	if sel == nil || len(sel.Maps) != 1 || len(sel.Maps[0].Matches) != 6 || sel.Line != 19 {
		t.Fatalf("sel = %+v", sel)
	}
	ms := sel.Maps[0].Matches
	if !reflect.DeepEqual(ms[1].Path, []string{"userIdentity", "type"}) || !ms[1].Cased || ms[1].Line != 21 {
		t.Errorf("userIdentity.type match: %+v", ms[1])
	}
	if k := ms[2].Values; len(k) != 2 || k[0].Kind != ValueString || k[1].Kind != ValueNull {
		t.Errorf("MFAUsed values: %+v %+v", k[0], k[1])
	}
	if v := ms[3].Values[0]; v.Kind != ValueNumber || v.Text != "1.08" || v.Glob.Literal() != "1.08" {
		t.Errorf("number value: %+v", v)
	}
	if v := ms[4].Values[0]; v.Kind != ValueBool || v.Text != "false" {
		t.Errorf("bool value: %+v", v)
	}
	f := r.Detection["filter"]
	if len(f.Maps) != 2 || f.Maps[0].Matches[0].Op != OpExists || !f.Maps[0].Matches[0].Values[0].Exists {
		t.Errorf("filter: %+v", f.Maps[0].Matches[0])
	}
	re := f.Maps[1].Matches[0].Values[0].Regexp
	if re == nil || !re.MatchString("CURL/8.0") {
		t.Errorf("re|i did not apply (?i): %v", re)
	}
	if got := r.Condition.String(); got != "(sel and not filter)" {
		t.Errorf("condition = %s", got)
	}
}

func TestParseModifiers(t *testing.T) {
	tests := []struct {
		key, value string
		op         Op
		all, cased bool
	}{
		{"f", "x", OpEquals, false, false},
		{"f|contains", "x", OpContains, false, false},
		{"f|startswith", "x", OpStartsWith, false, false},
		{"f|endswith|cased", "x", OpEndsWith, false, true},
		{"f|contains|all", "[a, b]", OpContains, true, false},
		{"f|re", "a.b", OpRegexp, false, false},
		{"f|re|m|s", "a.b", OpRegexp, false, false},
		{"f|cidr", "10.1.2.3/8", OpCIDR, false, false},
		{"f|exists", "false", OpExists, false, false},
		{"f|gt", "5", OpGT, false, false},
		{"f|gte", "5.5", OpGTE, false, false},
		{"f|lt", "-1", OpLT, false, false},
		{"f|lte", "0", OpLTE, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			src := "title: t\nlevel: low\ndetection:\n  sel:\n    " + tc.key + ": " + tc.value + "\n  condition: sel\n"
			r, err := Parse("m.yml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			m := r.Detection["sel"].Maps[0].Matches[0]
			if m.Op != tc.op || m.All != tc.all || m.Cased != tc.cased || m.Field != "f" {
				t.Errorf("got op=%v all=%v cased=%v field=%q", m.Op, m.All, m.Cased, m.Field)
			}
			if tc.op == OpCIDR && m.Values[0].Prefix.String() != "10.0.0.0/8" {
				t.Errorf("prefix not masked: %v", m.Values[0].Prefix)
			}
			if tc.op == OpGTE && m.Values[0].Number != 5.5 {
				t.Errorf("number = %v", m.Values[0].Number)
			}
		})
	}
}

func TestParseNameDerivation(t *testing.T) {
	src := "title: t\nlevel: low\ndetection:\n  sel: {a: b}\n  condition: sel\n"
	for file, want := range map[string]string{
		"rules/aws/x_y.yml":     "x_y",
		"a.b.yaml":              "a.b",
		"/abs/path/no_ext":      "no_ext",
		`C:\rules\win_rule.yml`: "", // not a path separator on Unix: the whole name has no slash issue
	} {
		r, err := Parse(file, []byte(src))
		if want == "" {
			continue
		}
		if err != nil || r.Name != want {
			t.Errorf("Parse(%q): name %q, err %v; want %q", file, r.Name, err, want)
		}
	}
	if _, err := Parse("r.yml", []byte("title: t\nname: has space\nlevel: low\ndetection:\n  sel: {a: b}\n  condition: sel\n")); err == nil ||
		!strings.Contains(err.Error(), `r.yml:2: name "has space"`) {
		t.Errorf("name with a space: %v", err)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, src := range []string{"", "# only a comment\n", "- a\n- b\n", "title: t\nlevel: low\n"} {
		if _, err := Parse("e.yml", []byte(src)); err == nil {
			t.Errorf("Parse(%q) succeeded", src)
		}
	}
}

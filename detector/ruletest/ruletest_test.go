package ruletest_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/detector/engine"
	"github.com/rootwatch/rootwatch/detector/rules"
	"github.com/rootwatch/rootwatch/detector/ruletest"
	"github.com/rootwatch/rootwatch/detector/sigma"
)

func fixtureEngine(t *testing.T) *engine.Engine {
	t.Helper()
	rs, err := rules.LoadDir(filepath.Join("testdata", "rules"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(rs)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestLoadDir(t *testing.T) {
	dir := filepath.Join("testdata", "load")
	cases, err := ruletest.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	type summary struct {
		File, Name string
		Line       int
		Expect     []string
		EventFile  string
	}
	var got []summary
	for _, c := range cases {
		got = append(got, summary{c.File, c.Name, c.Line, c.Expect, c.EventFile})
		if !json.Valid(c.Event) {
			t.Errorf("%s: event is not valid JSON: %s", c.String(), c.Event)
		}
	}
	more := filepath.Join(dir, "sub", "more_test.yaml")
	basic := filepath.Join(dir, "tests", "basic.yml")
	want := []summary{
		{more, "fails on purpose, expecting a rule that does not fire", 2, []string{"list-buckets"}, ""},
		{more, "fails on purpose, a rule fires unexpectedly", 5, []string{}, ""},
		{more, "fails on purpose, an unknown rule name", 8, []string{"no-such-rule"}, ""},
		{more, "fails on purpose, not a JSON object", 11, []string{}, ""},
		{basic, "event as a YAML mapping", 3, []string{"by-root", "list-buckets"}, ""},
		{basic, "event as pasted JSON", 14, []string{"list-buckets"}, ""},
		{basic, "event as JSON text", 21, []string{}, ""},
		{basic, "event from a file", 24, []string{"by-root"}, filepath.Join(dir, "tests", "events", "root-getobject.json")},
	}
	if len(got) != len(want) {
		t.Fatalf("loaded %d cases, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.File != w.File || g.Name != w.Name || g.Line != w.Line || g.EventFile != w.EventFile || !slices.Equal(g.Expect, w.Expect) {
			t.Errorf("case %d = %+v, want %+v", i, g, w)
		}
		if g.Expect == nil {
			t.Errorf("case %d: Expect is nil, want an empty list", i)
		}
	}
}

func TestEventYAMLToJSON(t *testing.T) {
	tests := []struct {
		name  string
		event string
		want  string
	}{
		{"scalars keep their JSON types", `{eventVersion: "1.10", v: 1.10, n: 42, big: 123456789012345678901234567890, hex: 0x1F, f: 2.5e3, b: true, nul: null, tilde: ~}`,
			`{"eventVersion":"1.10","v":1.10,"n":42,"big":123456789012345678901234567890,"hex":31,"f":2.5e3,"b":true,"nul":null,"tilde":null}`},
		{"YAML 1.1 booleans and timestamps stay strings", "\n      MFAUsed: No\n      MobileVersion: yes\n      eventTime: 2026-11-20T09:05:11Z\n      day: 2026-11-20",
			`{"MFAUsed":"No","MobileVersion":"yes","eventTime":"2026-11-20T09:05:11Z","day":"2026-11-20"}`},
		{"key order and nesting are kept", `{z: 1, a: {y: [1, "two", {k: v}], b: []}, m: {}}`,
			`{"z":1,"a":{"y":[1,"two",{"k":"v"}],"b":[]},"m":{}}`},
		{"strings are escaped for JSON only", `{ua: "Root <script>&\"\\ \t é"}`,
			`{"ua":"Root <script>&\"\\ \t é"}`},
		{"JSON text is passed byte for byte", `'{"a" : 1,"a":2}'`, `{"a" : 1,"a":2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := "cases:\n  - name: c\n    expect: []\n    event: " + tt.event + "\n"
			cases, err := ruletest.Parse("t.yml", []byte(doc))
			if err != nil {
				t.Fatalf("Parse: %v\n%s", err, doc)
			}
			if got := string(cases[0].Event); got != tt.want {
				t.Errorf("event JSON\ngot  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string // substring of the error, after "t.yml:"
	}{
		{"not YAML", "cases: [", "t.yml:0: not a valid YAML test file"},
		{"empty file", "", "not a valid YAML test file"},
		{"not a mapping", "- a\n- b\n", "t.yml:1: a test file must be a mapping"},
		{"missing cases", "tests: []\n", `t.yml:1: unknown key "tests"`},
		{"cases not a list", "cases: {}\n", "t.yml:1: cases must be a list"},
		{"two documents", "cases: []\n---\ncases: []\n", "t.yml:2: more than one YAML document"},
		{"case not a mapping", "cases:\n  - just a string\n", "t.yml:2: a case must be a mapping"},
		{"no name", "cases:\n  - expect: []\n    event: {}\n", "t.yml:2: case without a name"},
		{"empty name", "cases:\n  - name: ''\n    expect: []\n    event: {}\n", "t.yml:2: name must be a non-empty string"},
		{"no expect", "cases:\n  - name: c\n    event: {}\n", `case "c": missing expect`},
		{"expect not a list", "cases:\n  - name: c\n    expect: root-api-call\n    event: {}\n", "t.yml:3: expect: must be a list"},
		{"expect twice the same", "cases:\n  - name: c\n    expect: [a, a]\n    event: {}\n", `rule "a" listed twice`},
		{"expect a number", "cases:\n  - name: c\n    expect: [1]\n    event: {}\n", "rule names must be non-empty strings"},
		{"no event", "cases:\n  - name: c\n    expect: []\n", `case "c": missing event, event_file or events`},
		{"both events", "cases:\n  - name: c\n    expect: []\n    event: {}\n    event_file: e.json\n", "give only one of event, event_file and events"},
		{"event and events", "cases:\n  - name: c\n    expect: []\n    event: {}\n    events: [{}]\n", "give only one of event, event_file and events"},
		{"events empty", "cases:\n  - name: c\n    expect: []\n    events: []\n", "events must be a non-empty list of records"},
		{"events item a list", "cases:\n  - name: c\n    expect: []\n    events: [[1]]\n", "t.yml:4: case \"c\": events: must be a mapping"},
		{"alerts not in expect", "cases:\n  - name: c\n    expect: [a]\n    alerts: {b: 1}\n    event: {}\n", `alerts: line 4: "b" is not in expect`},
		{"alerts zero", "cases:\n  - name: c\n    expect: [a]\n    alerts: {a: 0}\n    event: {}\n", "must be a positive integer"},
		{"unknown case key", "cases:\n  - name: c\n    expect: []\n    event: {}\n    expected: [x]\n", `t.yml:5: unknown key "expected" in a case`},
		{"duplicate case key", "cases:\n  - name: c\n    name: d\n    expect: []\n    event: {}\n", `t.yml:3: duplicate key "name"`},
		{"duplicate case name", "cases:\n  - name: c\n    expect: []\n    event: {}\n  - name: c\n    expect: []\n    event: {}\n", `t.yml:5: case "c": name already used at line 2`},
		{"event a list", "cases:\n  - name: c\n    expect: []\n    event: [1]\n", "must be a mapping (the CloudTrail record) or a string of JSON"},
		{"event string not JSON", "cases:\n  - name: c\n    expect: []\n    event: 'not json'\n", "not valid JSON"},
		{"event with an alias", "cases:\n  - name: c\n    expect: []\n    event: {a: &x 1, b: *x}\n", "aliases are not supported"},
		{"event with a merge key", "base: &b {a: 1}\ncases: []\n", `unknown key "base"`},
		{"event duplicate key", "cases:\n  - name: c\n    expect: []\n    event: {a: 1, a: 2}\n", "duplicate key \"a\""},
		{"event infinite number", "cases:\n  - name: c\n    expect: []\n    event: {a: .inf}\n", "has no JSON form"},
		{"event binary", "cases:\n  - name: c\n    expect: []\n    event: {a: !!binary aGVsbG8=}\n", "binary values are not supported"},
		{"event_file without a directory", "cases:\n  - name: c\n    expect: []\n    event_file: e.json\n", "not supported when parsing a single file"},
		{"event nested too deep", "cases:\n  - name: c\n    expect: []\n    event: " + strings.Repeat("[", 70) + strings.Repeat("]", 70) + "\n", "must be a mapping"},
		{"placeholders not a map", "placeholders: [a]\ncases: []\n", "t.yml:1: placeholders: must be a map"},
		{"placeholder bad name", "placeholders: {'a b': x}\ncases: []\n", `invalid placeholder name "a b"`},
		{"placeholder empty value", "placeholders: {a: ''}\ncases: []\n", `"a": values must be non-empty strings`},
		{"placeholder number", "placeholders: {a: [1]}\ncases: []\n", `"a": values must be non-empty strings`},
		{"placeholder map value", "placeholders: {a: {b: c}}\ncases: []\n", `"a" must be a string or a list of strings`},
		{"placeholder no values", "placeholders: {a: []}\ncases: []\n", `"a" has no values`},
		{"placeholder duplicate", "placeholders: {a: x, a: y}\ncases: []\n", `duplicate placeholder "a"`},
		{"placeholders twice", "placeholders: {}\nplaceholders: {}\ncases: []\n", "t.yml:2: duplicate key placeholders"},
		{"levels not in expect", "cases:\n  - name: c\n    expect: [a]\n    levels: {b: high}\n    event: {}\n", `case "c": levels: line 4: "b" is not in expect`},
		{"levels bad level", "cases:\n  - name: c\n    expect: [a]\n    levels: {a: loud}\n    event: {}\n", `unknown level "loud"`},
		{"levels not a map", "cases:\n  - name: c\n    expect: [a]\n    levels: [a]\n    event: {}\n", "levels: must be a map"},
		{"credential unknown kind", "cases:\n  - name: c\n    expect: [a]\n    credential: root_key\n    event: {}\n", `unknown credential kind "root_key"`},
		{"credential unknown session", "cases:\n  - name: c\n    expect: [a]\n    credential: temporary_session/sso\n    event: {}\n", `unknown session kind "sso"`},
		{"credential not a string", "cases:\n  - name: c\n    expect: [a]\n    credential: [none]\n    event: {}\n", "credential: must be a string"},
		{"credential without expect", "cases:\n  - name: c\n    expect: []\n    credential: none\n    event: {}\n", `case "c": credential needs a rule in expect`},
		{"event mapping nested too deep", "cases:\n  - name: c\n    expect: []\n    event: " + strings.Repeat("{a: ", 70) + "1" + strings.Repeat("}", 70) + "\n", "nested deeper than 64 levels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cases, err := ruletest.Parse("t.yml", []byte(tt.doc))
			if err == nil {
				t.Fatalf("Parse succeeded with %d cases, want an error containing %q", len(cases), tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "t.yml:") {
				t.Errorf("error %q does not start with the file name", err)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		dir  string
		want string
	}{
		{"event_file escaping the directory", filepath.Join("testdata", "escape"), "must be a relative path inside the loaded directory"},
		{"missing directory", filepath.Join("testdata", "nope"), "nope"},
		{"not a directory", filepath.Join("testdata", "rules", "rules.yml"), "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ruletest.LoadDir(tt.dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadDir(%q) error = %v, want one containing %q", tt.dir, err, tt.want)
			}
		})
	}
	fsys := fstest.MapFS{
		"tests/a.yml":    {Data: []byte("cases:\n  - name: c\n    expect: []\n    event_file: missing.json\n")},
		"tests/b.yml":    {Data: []byte("cases:\n  - name: c\n    expect: []\n    event_file: bad.json\n")},
		"tests/bad.json": {Data: []byte("{not json")},
	}
	for file, want := range map[string]string{"a.yml": "missing.json", "b.yml": "is not valid JSON"} {
		one := fstest.MapFS{"tests/" + file: fsys["tests/"+file], "tests/bad.json": fsys["tests/bad.json"]}
		_, err := ruletest.LoadFS(one, ".", "x", false)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "x/tests/"+file+":") {
			t.Errorf("LoadFS with %s: error = %v, want one naming x/tests/%s and containing %q", file, err, file, want)
		}
	}
}

func TestLoadFSAll(t *testing.T) {
	fsys := fstest.MapFS{
		"a.yml":         {Data: []byte("cases:\n  - name: c\n    expect: []\n    event: {}\n")},
		"notes.md":      {Data: []byte("not a test")},
		"deep/b.yaml":   {Data: []byte("cases: []\n")},
		".skip/c.yml":   {Data: []byte("garbage: [")},
		"events/e.json": {Data: []byte("{}")},
	}
	cases, err := ruletest.LoadFS(fsys, ".", "builtin/tests", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != 1 || cases[0].File != "builtin/tests/a.yml" {
		t.Errorf("cases = %+v, want the one case of builtin/tests/a.yml", cases)
	}
	none, err := ruletest.LoadFS(fsys, ".", "", false)
	if err != nil || len(none) != 0 {
		t.Errorf("LoadFS(all=false) = %d cases, %v; want none (no tests directory)", len(none), err)
	}
}

func TestRun(t *testing.T) {
	e := fixtureEngine(t)
	cases, err := ruletest.LoadDir(filepath.Join("testdata", "load"))
	if err != nil {
		t.Fatal(err)
	}
	rep := ruletest.Run(e, cases)
	if rep.Passed != 4 || rep.Failed != 4 || rep.OK() {
		t.Fatalf("passed %d failed %d OK %v, want 4, 4, false\n%s", rep.Passed, rep.Failed, rep.OK(), rep.String())
	}
	type outcome struct {
		pass                         bool
		got, missing, unexp, unknown []string
		err                          bool
	}
	want := map[string]outcome{
		"fails on purpose, expecting a rule that does not fire": {missing: []string{"list-buckets"}},
		"fails on purpose, a rule fires unexpectedly":           {got: []string{"list-buckets"}, unexp: []string{"list-buckets"}},
		"fails on purpose, an unknown rule name":                {missing: []string{"no-such-rule"}, unknown: []string{"no-such-rule"}},
		"fails on purpose, not a JSON object":                   {err: true},
		"event as a YAML mapping":                               {pass: true, got: []string{"by-root", "list-buckets"}},
		"event as pasted JSON":                                  {pass: true, got: []string{"list-buckets"}},
		"event as JSON text":                                    {pass: true},
		"event from a file":                                     {pass: true, got: []string{"by-root"}},
	}
	for _, r := range rep.Results {
		w, ok := want[r.Case.Name]
		if !ok {
			t.Errorf("unexpected case %q", r.Case.Name)
			continue
		}
		if r.Passed() != w.pass || !slices.Equal(r.Got, w.got) || !slices.Equal(r.Missing, w.missing) ||
			!slices.Equal(r.Unexpected, w.unexp) || !slices.Equal(r.Unknown, w.unknown) || (r.Err != nil) != w.err {
			t.Errorf("%s: passed %v got %v missing %v unexpected %v unknown %v err %v; want %+v",
				r.Case.Name, r.Passed(), r.Got, r.Missing, r.Unexpected, r.Unknown, r.Err, w)
		}
	}

	text := rep.String()
	for _, s := range []string{
		"FAIL " + filepath.Join("testdata", "load", "sub", "more_test.yaml") + ":2: fails on purpose, expecting a rule that does not fire\n",
		"     expected:   list-buckets\n     got:        (none)\n     missing:    list-buckets\n",
		"     unexpected: list-buckets\n",
		"     unknown:    no-such-rule\n     (no rule under test has these names)\n",
		"     error:",
		"rule tests: 4 passed, 4 failed (8 cases in 2 files)\n",
	} {
		if !strings.Contains(text, s) {
			t.Errorf("report text lacks %q:\n%s", s, text)
		}
	}
	if strings.Contains(text, "ok   ") {
		t.Errorf("non-verbose report lists passed cases:\n%s", text)
	}
	var verbose bytes.Buffer
	if err := rep.WriteText(&verbose, true); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(verbose.String(), "\nok   ") + boolToInt(strings.HasPrefix(verbose.String(), "ok   ")); n != 4 {
		t.Errorf("verbose report has %d ok lines, want 4:\n%s", n, verbose.String())
	}
}

// TestCredential checks the credential key: every detection's credential
// kind and session are compared, and a mismatch fails the case with a
// report line.
func TestCredential(t *testing.T) {
	doc := `cases:
  - name: root key
    expect: [p]
    credential: long_lived_key
    event: {eventName: X, userIdentity: {type: Root, accessKeyId: AKIAEXAMPLE}}
  - name: console
    expect: [p]
    credential: temporary_session/console
    event: {eventName: X, sessionCredentialFromConsole: "true", userIdentity: {type: Root, accessKeyId: ASIAEXAMPLE}}
  - name: assumed root
    expect: [p]
    credential: temporary_session/assumed_root
    event: {eventName: X, userIdentity: {type: Root, accessKeyId: ASIAEXAMPLE, sessionContext: {assumedRoot: "true"}}}
  - name: fails on purpose, no key
    expect: [p]
    credential: long_lived_key
    event: {eventName: X, userIdentity: {type: Root}}
`
	cases, err := ruletest.Parse("t.yml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	r, err := sigma.Parse("p.yml", []byte("title: P\nname: p\nlevel: high\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel: {eventName: X}\n  condition: sel\n"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New([]*sigma.Rule{r})
	if err != nil {
		t.Fatal(err)
	}
	rep := ruletest.Run(e, cases)
	if rep.Passed != 3 || rep.Failed != 1 || rep.Results[3].Passed() {
		t.Fatalf("passed %d failed %d, want 3 and 1 (the last)\n%s", rep.Passed, rep.Failed, rep.String())
	}
	if text := rep.String(); !strings.Contains(text, "     credential: p: got none, want long_lived_key\n") {
		t.Errorf("report lacks the credential line:\n%s", text)
	}
}

// TestPlaceholdersAndLevels checks the placeholders and levels keys and
// RunLoading: one engine per placeholder set, levels compared.
func TestPlaceholdersAndLevels(t *testing.T) {
	doc := `placeholders:
  bucket: trail
  queue: [a, b]
cases:
  - name: high by default
    expect: [p]
    levels: {p: high}
    event: {eventName: DeleteBucket, requestParameters: {bucketName: trail}, userIdentity: {type: IAMUser}}
  - name: critical for root
    expect: [p]
    levels: {p: critical}
    event: {eventName: DeleteBucket, requestParameters: {bucketName: trail}, userIdentity: {type: Root}}
  - name: fails on purpose, wrong level
    expect: [p]
    levels: {p: critical}
    event: {eventName: DeleteBucket, requestParameters: {bucketName: trail}, userIdentity: {type: IAMUser}}
  - name: other bucket
    expect: []
    event: {eventName: DeleteBucket, requestParameters: {bucketName: other}}
`
	cases, err := ruletest.Parse("t.yml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	wantPH := map[string][]string{"bucket": {"trail"}, "queue": {"a", "b"}}
	if !reflect.DeepEqual(cases[0].Placeholders, wantPH) || cases[1].Levels["p"] != detector.LevelCritical {
		t.Fatalf("placeholders %q levels %v", cases[0].Placeholders, cases[1].Levels)
	}
	rule := []byte(`title: P
name: p
level: high
logsource: {product: aws, service: cloudtrail}
detection:
  sel:
    eventName: DeleteBucket
    requestParameters.bucketName|expand: '%bucket%'
  root: {userIdentity.type: Root}
  condition: sel
rootwatch:
  escalate: {level: critical, condition: root}
`)
	var loads []map[string][]string
	load := func(ph map[string][]string) (*engine.Engine, error) {
		loads = append(loads, ph)
		r, err := sigma.ParseWithOptions("p.yml", rule, sigma.Options{Placeholders: ph})
		if err != nil {
			return nil, err
		}
		return engine.New([]*sigma.Rule{r})
	}
	rep, err := ruletest.RunLoading(load, cases)
	if err != nil {
		t.Fatal(err)
	}
	if len(loads) != 1 || rep.Passed != 3 || rep.Failed != 1 {
		t.Fatalf("%d loads, passed %d failed %d, want 1, 3, 1\n%s", len(loads), rep.Passed, rep.Failed, rep.String())
	}
	if text := rep.String(); !strings.Contains(text, "     level:      p: got high, want critical\n") {
		t.Errorf("report lacks the level line:\n%s", text)
	}
	// Without placeholders the rule cannot load: RunLoading says which file.
	cases[0].Placeholders = nil
	if _, err := ruletest.RunLoading(load, cases[:1]); err == nil || !strings.Contains(err.Error(), "rules for t.yml: p.yml:8: placeholder %bucket% has no value") {
		t.Errorf("err = %v", err)
	}
}

func TestRunEmpty(t *testing.T) {
	rep := ruletest.Run(fixtureEngine(t), nil)
	if !rep.OK() || rep.String() != "rule tests: 0 passed, 0 failed (0 cases in 0 files)\n" {
		t.Errorf("empty run: OK %v, text %q", rep.OK(), rep.String())
	}
}

func boolToInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// The package doc's example is a valid test file.
func TestDocExampleShape(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "load", "tests", "basic.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ruletest.Parse("basic.yml", bytes.ReplaceAll(data, []byte("    event_file: events/root-getobject.json\n"), []byte("    event: {}\n"))); err != nil {
		t.Errorf("Parse: %v", err)
	}
}

func TestLoadDirOfTestsDirectory(t *testing.T) {
	dir := filepath.Join("testdata", "load", "tests")
	cases, err := ruletest.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != 4 {
		t.Fatalf("LoadDir(%s) = %d cases, want the 4 cases of basic.yml", dir, len(cases))
	}
	if want := filepath.Join(dir, "basic.yml"); cases[0].File != want {
		t.Errorf("File = %q, want %q", cases[0].File, want)
	}
}

func TestLoadDirSkipsTestdata(t *testing.T) {
	cases, err := ruletest.LoadDir(filepath.Join("..", "rules"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if strings.Contains(filepath.ToSlash(c.File), "/testdata/") {
			t.Errorf("loaded a testdata fixture: %s", c.String())
		}
	}
	if len(cases) < 90 {
		t.Errorf("loaded %d cases from ../rules, want the built-in rules' tests", len(cases))
	}
}

// TestEventsAndAlerts: a case with events runs them in order through the
// engine and the correlation rules, with state of its own; alerts counts
// distinct alert keys and reports a wrong count.
func TestEventsAndAlerts(t *testing.T) {
	rs, err := sigma.ParseAll("r.yml", []byte(`title: two calls
name: two-calls
level: high
correlation:
  type: event_count
  rules: [call]
  group-by: [recipientAccountId]
  timespan: 1h
  condition: {gte: 2}
  generate: true
---
title: call
name: call
level: low
logsource: {product: aws, service: cloudtrail}
detection: {sel: {eventName: ListBuckets}, condition: sel}
`), sigma.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(rs)
	if err != nil {
		t.Fatal(err)
	}
	ev := func(id, at string) string {
		return `{"eventVersion":"1.09","eventName":"ListBuckets","eventID":"` + id + `","eventTime":"` + at + `","recipientAccountId":"1"}`
	}
	doc := `cases:
  - name: two calls, the first redelivered
    expect: [call, two-calls]
    alerts: {two-calls: 1, call: 2}
    events:
      - '` + ev("a", "2026-11-20T10:00:00Z") + `'
      - '` + ev("b", "2026-11-20T09:30:00Z") + `'
      - '` + ev("a", "2026-11-20T10:00:00Z") + `'
  - name: state is per case, so one call is not two
    expect: [call]
    events:
      - '` + ev("c", "2026-11-20T10:00:00Z") + `'
  - name: fails on purpose, wrong count
    expect: [call, two-calls]
    alerts: {two-calls: 2}
    events:
      - '` + ev("d", "2026-11-20T10:00:00Z") + `'
      - '` + ev("e", "2026-11-20T10:01:00Z") + `'
`
	cases, err := ruletest.Parse("t.yml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(cases[0].Events) != 3 || cases[0].Alerts["call"] != 2 {
		t.Fatalf("parsed %+v", cases[0])
	}
	rep := ruletest.Run(e, cases)
	if !rep.Results[0].Passed() || !rep.Results[1].Passed() || rep.Results[2].Passed() {
		t.Fatalf("report:\n%s", rep.String())
	}
	if got := rep.Results[2].WrongAlerts; !slices.Equal(got, []string{"two-calls: got 1, want 2"}) {
		t.Errorf("WrongAlerts = %v", got)
	}
	if !strings.Contains(rep.String(), "     alerts:     two-calls: got 1, want 2\n") {
		t.Errorf("report text:\n%s", rep.String())
	}
}

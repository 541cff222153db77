package rules_test

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/detector/correlate"
	"github.com/rootwatch/rootwatch/detector/engine"
	"github.com/rootwatch/rootwatch/detector/rules"
	"github.com/rootwatch/rootwatch/detector/ruletest"
	"github.com/rootwatch/rootwatch/detector/sigma"
)

func builtinEngine(t *testing.T) *engine.Engine {
	t.Helper()
	rs, err := rules.Builtin()
	if err != nil {
		t.Fatalf("Builtin: %v", err)
	}
	e, err := engine.New(rs)
	if err != nil {
		t.Fatalf("engine.New(built-in rules): %v", err)
	}
	return e
}

// alerting runs detections through the built-in correlation rules (which
// drop hidden helper rules' detections and add correlation detections),
// as the service and scan do after matching.
type alerting struct {
	t *testing.T
	c *correlate.Correlator
}

func newAlerting(t *testing.T, e *engine.Engine) alerting {
	t.Helper()
	c, err := correlate.New(e.Rules(), correlate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return alerting{t, c}
}

func (a alerting) of(ds []detector.Detection) []detector.Detection {
	a.t.Helper()
	ds, err := a.c.Correlate(context.Background(), ds)
	if err != nil {
		a.t.Fatal(err)
	}
	return ds
}

// TestBuiltinRuleTests runs the rule tests shipped with the built-in rules
// (builtin/tests/*.yml, embedded) through the real engine.
func TestBuiltinRuleTests(t *testing.T) {
	cases, err := ruletest.LoadFS(rules.BuiltinTestFS(), ".", "builtin/tests", true)
	if err != nil {
		t.Fatalf("loading built-in rule tests: %v", err)
	}
	rep, err := ruletest.RunLoading(func(ph map[string][]string) (*engine.Engine, error) {
		rs, err := rules.BuiltinWithOptions(sigma.Options{Placeholders: ph})
		if err != nil {
			return nil, err
		}
		return engine.New(rs)
	}, cases)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed > 0 {
		t.Errorf("built-in rule tests failed:\n%s", rep.String())
	}
	t.Logf("%d cases passed", rep.Passed)

	// Every rule has positives and negatives of its own: at least three cases
	// in its file expect it, and at least two expect it not to fire.
	for name := range contract {
		if _, hidden := hiddenHelpers[name]; hidden {
			continue
		}
		var pos, neg int
		for _, c := range cases {
			if c.File != "builtin/tests/"+name+".yml" {
				continue
			}
			if slices.Contains(c.Expect, name) {
				pos++
			} else {
				neg++
			}
		}
		if pos < 3 || neg < 2 {
			t.Errorf("%s: %d positive and %d negative cases, want at least 3 and 2", name, pos, neg)
		}
	}
}

// TestBuiltinRuleTestsOnDisk runs the same tests as `rootwatch rules test
// detector/rules/builtin` does: rules and tests loaded from the directory.
func TestBuiltinRuleTestsOnDisk(t *testing.T) {
	cases, err := ruletest.LoadDir("builtin")
	if err != nil {
		t.Fatal(err)
	}
	emb, err := ruletest.LoadFS(rules.BuiltinTestFS(), ".", "builtin/tests", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != len(emb) {
		t.Errorf("on disk %d cases, embedded %d", len(cases), len(emb))
	}
	rep, err := ruletest.RunLoading(func(ph map[string][]string) (*engine.Engine, error) {
		rs, err := rules.LoadDirWithOptions("builtin", sigma.Options{Placeholders: ph})
		if err != nil {
			return nil, err
		}
		return engine.New(rs)
	}, cases)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed > 0 || rep.Passed == 0 {
		t.Errorf("on-disk rule tests:\n%s", rep.String())
	}
}

// TestTrickyOverlaps pins the exact set of built-in rules that fire on the
// records the product issue singles out: overlaps and tricky negatives.
func TestTrickyOverlaps(t *testing.T) {
	e := builtinEngine(t)
	no, yes := false, true
	tests := []struct {
		event string
		want  []string
		// What every detection on the record must carry, when set.
		mfa     *bool
		outcome string
		target  string
		errCode string
	}{
		{"signin-root-mfa", []string{"root-console-login"}, &yes, "Success", "", ""},
		{"signin-root-no-mfa", []string{"root-console-login", "root-console-login-no-mfa"}, &no, "Success", "", ""},
		{"signin-root-failed", []string{"root-console-login-failure"}, &no, "Failure", "", ""},
		{"signin-iam-user-named-root", nil, nil, "", "", ""},
		{"signin-switch-role", nil, nil, "", "", ""},
		{"signin-root-checkmfa", nil, nil, "", "", ""},
		{"api-root-direct", []string{"root-api-call"}, nil, "", "", ""},
		{"api-root-console-invokedby-signin", []string{"root-api-call"}, nil, "", "", ""},
		// PutBucketPolicy and DeleteBucketPolicy: without placeholders
		// log-delivery-tampering is unscoped and fires for any bucket.
		{"api-root-denied", []string{"log-delivery-tampering", "root-api-call"}, nil, "", "", "AccessDenied"},
		{"api-assumed-root-session", []string{"log-delivery-tampering", "root-api-call"}, nil, "", "", ""},
		{"api-root-invokedby-cloudtrail", nil, nil, "", "", ""},
		{"service-event-root", nil, nil, "", "", ""},
		{"api-iam-user-named-root", nil, nil, "", "", ""},
		{"api-role-issuer-root-arn", nil, nil, "", "", ""},
		{"api-root-in-parameters", nil, nil, "", "", ""},
		{"insight-root", nil, nil, "", "", ""},
		{"key-root-self", []string{"root-access-key-created", "root-api-call"}, nil, "", "", ""},
		{"key-root-for-user", []string{"root-api-call"}, nil, "", "", ""},
		{"mfa-root-deactivate", []string{"root-api-call", "root-mfa-change"}, nil, "", "", ""},
		{"password-root-updated", []string{"root-password-change"}, nil, "", "", ""},
		{"password-root-update-failed", nil, nil, "", "", ""},
		{"password-recovery-requested", []string{"root-password-change"}, nil, "", "", ""},
		{"settings-root-alternate-contact", []string{"root-account-settings-change", "root-api-call"}, nil, "", "", ""},
		{"settings-root-security-questions-console", []string{"root-account-settings-change"}, nil, "", "", ""},
		{"assume-root-granted", []string{"assume-root"}, nil, "", "777788889999", ""},
		{"assume-root-denied", []string{"assume-root"}, nil, "", "arn:aws:iam::777788889999:root", "AccessDenied"},
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			rec, err := os.ReadFile(filepath.Join("testdata", "events", tt.event+".json"))
			if err != nil {
				t.Fatal(err)
			}
			ds, err := e.Match(rec, tt.event, nil)
			if err != nil {
				t.Fatalf("Match: %v", err)
			}
			ds = newAlerting(t, e).of(ds)
			got := fired(ds)
			if !slices.Equal(got, tt.want) {
				t.Errorf("fired %v, want %v", got, tt.want)
			}
			for _, d := range ds {
				if d.Source != tt.event || d.EventID == "" || d.EventName == "" {
					t.Errorf("detection %s: source %q, event id %q, event name %q", d.Rule, d.Source, d.EventID, d.EventName)
				}
				if tt.mfa != nil && (d.MFAUsed == nil || *d.MFAUsed != *tt.mfa) {
					t.Errorf("detection %s: MFAUsed %v, want %v", d.Rule, d.MFAUsed, *tt.mfa)
				}
				if d.Outcome != tt.outcome || d.ErrorCode != tt.errCode {
					t.Errorf("detection %s: outcome %q error code %q, want %q and %q", d.Rule, d.Outcome, d.ErrorCode, tt.outcome, tt.errCode)
				}
				if tt.target != "" && d.Target != tt.target {
					t.Errorf("detection %s: target %q, want %q", d.Rule, d.Target, tt.target)
				}
			}
		})
	}
}

// TestSampleExpected scans the bundled sample (testdata/sample at the
// repository root) with the built-in rules and compares the (rule, event)
// pairs with its expected.jsonl.
func TestSampleExpected(t *testing.T) {
	e := builtinEngine(t)
	root := filepath.Join("..", "..", "testdata", "sample")
	type pair struct{ Rule, EventID, File string }
	var want []pair
	f, err := os.Open(filepath.Join(root, "expected.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var p struct {
			Rule    string `json:"rule"`
			EventID string `json:"event_id"`
			File    string `json:"file"`
		}
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("expected.jsonl: %v", err)
		}
		want = append(want, pair{p.Rule, p.EventID, p.File})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}

	var got []pair
	var records int
	alerts := newAlerting(t, e)
	var corrs []detector.Detection // correlation detections, checked apart
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".json") || strings.HasSuffix(p, ".json.gz")) {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		for _, rec := range readRecords(t, p) {
			records++
			ds, err := e.Match(rec, rel, nil)
			if err != nil {
				t.Errorf("%s: Match: %v", rel, err)
				continue
			}
			for _, d := range alerts.of(ds) {
				if d.IsCorrelation() {
					corrs = append(corrs, d)
					continue
				}
				got = append(got, pair{d.Rule, d.EventID, filepath.ToSlash(d.Source)})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	less := func(a, b pair) int { return strings.Compare(a.File+a.EventID+a.Rule, b.File+b.EventID+b.Rule) }
	slices.SortFunc(got, less)
	slices.SortFunc(want, less)
	if !slices.Equal(got, want) {
		t.Errorf("sample detections differ from expected.jsonl\ngot  %v\nwant %v", got, want)
	}
	if records < 200 {
		t.Errorf("sample has %d records, want a realistic mix of at least 200", records)
	}
	// The sample's account 111122223333 goes through a whole takeover:
	// password reset, MFA and key changes, root API calls. One incident
	// names every step (expected.jsonl lists the detections of single
	// records; a correlation's id depends on the events it was made of).
	// Steps that arrive after the alert (later in the same object, or in
	// a later one) are announced by follow-ups of that incident.
	var follows []detector.Detection
	corrs = slices.DeleteFunc(corrs, func(d detector.Detection) bool {
		if d.CorrelationUpdate != "" {
			follows = append(follows, d)
			return true
		}
		return false
	})
	if len(corrs) != 1 || corrs[0].Rule != "root-takeover-chain" || corrs[0].Level != detector.LevelCritical {
		t.Fatalf("correlation detections %+v, want one root-takeover-chain", corrs)
	}
	for _, f := range follows {
		if f.Rule != corrs[0].Rule || f.EventID != corrs[0].EventID || f.Level != detector.LevelCritical {
			t.Errorf("follow-up %s is not one of the incident %s", f.Key(), corrs[0].Key())
		}
	}
	steps := map[string]bool{}
	for _, ev := range corrs[0].Correlated {
		steps[ev.Rule] = true
		t.Logf("step %s %s %s %s", ev.EventTime.Format(time.RFC3339), ev.Rule, ev.EventName, ev.EventID)
	}
	for _, step := range []string{"root-password-change", "root-takeover-credential-step", "root-api-call"} {
		if !steps[step] {
			t.Errorf("the incident does not name step %s", step)
		}
	}
}

// readRecords reads a small CloudTrail log object ({"Records":[...]}, gzipped
// or not) whole: fine for the bundled sample, not for real logs.
func readRecords(t *testing.T, path string) []json.RawMessage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		defer zr.Close()
		r = zr
	}
	var obj struct {
		Records []json.RawMessage `json:"Records"`
	}
	if err := json.NewDecoder(r).Decode(&obj); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return obj.Records
}

func fired(ds []detector.Detection) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Rule)
	}
	sort.Strings(out)
	return out
}

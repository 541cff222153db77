package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/detector/sigma"
)

// loadRules parses every *.yml under the given globs.
func loadRules(t testing.TB, globs ...string) []*sigma.Rule {
	t.Helper()
	var rules []*sigma.Rule
	for _, g := range globs {
		files, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r, err := sigma.Parse(f, data)
			if err != nil {
				t.Fatal(err)
			}
			rules = append(rules, r)
		}
	}
	if len(rules) == 0 {
		t.Fatalf("no rules in %v", globs)
	}
	return rules
}

func ruleNames(ds []detector.Detection) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Rule
	}
	return out
}

func TestNewErrors(t *testing.T) {
	good := ruleFromDetection(t, "good", "sel:\n  eventName: A\ncondition: sel\n")
	parse := func(file, src string) *sigma.Rule {
		r, err := sigma.Parse(file, []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	gcp := parse("rules/gcp.yml", "title: t\nlevel: low\nlogsource:\n  product: gcp\n  service: gcp.audit\ndetection:\n  sel: {a: b}\n  condition: sel\n")
	none := parse("rules/none.yml", "title: t\nlevel: low\ndetection:\n  sel: {a: b}\n  condition: sel\n")
	dup := ruleFromDetection(t, "good", "sel:\n  eventName: B\ncondition: sel\n")
	dup.File = "other/good.yml"
	tests := []struct {
		name  string
		rules []*sigma.Rule
		want  string
	}{
		{"wrong logsource", []*sigma.Rule{good, gcp}, `rules/gcp.yml:3: rule "gcp": logsource product "gcp" service "gcp.audit" is not supported`},
		{"no logsource", []*sigma.Rule{none}, `rules/none.yml:1: rule "none": logsource product "" service ""`},
		{"duplicate name", []*sigma.Rule{good, dup}, `duplicate rule name "good" in good.yml and other/good.yml`},
		{"nil rule", []*sigma.Rule{good, nil}, "rule 1 is nil"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.rules)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want error containing %q", err, tc.want)
			}
		})
	}
	e, err := New(nil)
	if err != nil {
		t.Fatalf("New(nil): %v", err)
	}
	if ds, err := e.Match([]byte(`{"eventName":"A"}`), "x", nil); err != nil || len(ds) != 0 {
		t.Errorf("empty engine: %v %v", ds, err)
	}
}

func TestRulesOrderAndCopy(t *testing.T) {
	rules := loadRules(t, "testdata/rules/*.yml")
	e, err := New(rules)
	if err != nil {
		t.Fatal(err)
	}
	got := e.Rules()
	if !slices.Equal(got, rules) {
		t.Fatal("Rules() differs from the input")
	}
	got[0] = nil
	if e.Rules()[0] == nil {
		t.Fatal("Rules() exposes the engine's slice")
	}
}

func TestMatchInvalidRecord(t *testing.T) {
	e, err := New(loadRules(t, "testdata/rules/*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	prev := []detector.Detection{{Rule: "kept"}}
	for _, rec := range []string{``, ` `, `[]`, `"x"`, `null`, `{`, `{"a":}`, `{"a":1} {}`, `{"a":1}x`, `{"eventName":"ConsoleLogin",}`} {
		ds, err := e.Match([]byte(rec), "s3://b/k", prev)
		if err == nil {
			t.Errorf("Match(%q) succeeded", rec)
			continue
		}
		if !strings.Contains(err.Error(), "s3://b/k") || len(ds) != 1 || ds[0].Rule != "kept" {
			t.Errorf("Match(%q): err %v, dst %v", rec, err, ds)
		}
	}
}

func TestDetections(t *testing.T) {
	e, err := New(loadRules(t, "testdata/rules/*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	tests := []struct {
		file  string
		rules []string
		want  detector.Detection // Rule, RuleID, Level, Title and Record not compared here
	}{
		{"root_console_login_no_mfa.json", []string{"root-console-login-no-mfa", "root-console-login"}, detector.Detection{
			EventID: "3c5f7a2e-9d1b-4e6f-8a0c-2b4d6f8e0a1c", EventName: "ConsoleLogin", EventSource: "signin.amazonaws.com",
			EventType: "AwsConsoleSignIn", EventTime: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC), AccountID: "111122223333",
			Region: "us-east-1", SourceIP: "198.51.100.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) <script>",
			Principal: "arn:aws:iam::111122223333:root", IdentityType: "Root", MFAUsed: &no, Outcome: "Success", Source: "src",
			CredentialKind: detector.CredentialNone,
		}},
		{"failed_root_login.json", []string{"root-console-login-failure"}, detector.Detection{
			EventID: "0f1e2d3c-4b5a-4978-8877-665544332211", EventName: "ConsoleLogin", EventSource: "signin.amazonaws.com",
			EventType: "AwsConsoleSignIn", AccountID: "111122223333", Region: "us-east-1", SourceIP: "192.0.2.44",
			UserAgent: "Mozilla/5.0", Principal: "arn:aws:iam::111122223333:root", IdentityType: "Root", MFAUsed: &yes,
			Outcome: "Failure", ErrorMessage: "Failed authentication", Source: "src", CredentialKind: detector.CredentialNone,
		}},
		{"assume_root.json", []string{"assume-root"}, detector.Detection{
			EventID: "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b", EventName: "AssumeRoot", EventSource: "sts.amazonaws.com",
			EventType: "AwsApiCall", EventTime: time.Date(2026, 3, 4, 3, 10, 0, 0, time.UTC), AccountID: "444455556666",
			Region: "us-east-1", SourceIP: "203.0.113.9", UserAgent: "aws-cli/2.22.0",
			Principal: "arn:aws:sts::444455556666:assumed-role/OrgAdmin/admin", IdentityType: "AssumedRole",
			AccessKeyID: "ASIAEXAMPLE1", Target: "111122223333", Source: "src", CredentialKind: detector.CredentialTemporarySession,
		}},
		{"iam_user_named_root.json", nil, detector.Detection{}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			rec, err := os.ReadFile(filepath.Join("testdata/records", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			orig := bytes.Clone(rec)
			ds, err := e.Match(rec, "src", nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := ruleNames(ds); !slices.Equal(got, tc.rules) {
				t.Fatalf("rules %v, want %v", got, tc.rules)
			}
			for i := range rec {
				rec[i] = 'X' // Match must not keep rec
			}
			for _, d := range ds {
				if !bytes.Equal(d.Record, orig) {
					t.Errorf("%s: Record is not a copy of the record", d.Rule)
				}
				var r *sigma.Rule
				for _, rr := range e.Rules() {
					if rr.Name == d.Rule {
						r = rr
					}
				}
				if d.RuleID != r.ID || d.Level != r.Level || d.Title != r.Title {
					t.Errorf("%s: rule identity %q %v %q", d.Rule, d.RuleID, d.Level, d.Title)
				}
				got := d
				got.Rule, got.RuleID, got.Level, got.Title, got.Record = "", "", 0, "", nil
				if !reflect.DeepEqual(got, tc.want) {
					gj, _ := json.Marshal(got)
					wj, _ := json.Marshal(tc.want)
					t.Errorf("%s:\n got %s\nwant %s", d.Rule, gj, wj)
				}
			}
		})
	}
}

// TestIndexPlacement checks which field, and which values, each rule is
// indexed under.
func TestIndexPlacement(t *testing.T) {
	tests := []struct {
		name, detection string
		field           string // "" = unindexed
		keys            string
	}{
		{"eq", "sel:\n  eventName: ConsoleLogin\ncondition: sel", "eventName", "consolelogin"},
		{"list", "sel:\n  eventName: [A, b]\ncondition: sel", "eventName", "a,b"},
		{"prefers eventName", "sel:\n  userIdentity.type: Root\n  eventName: X\ncondition: sel", "eventName", "x"},
		{"eventSource", "sel:\n  eventSource: s3.amazonaws.com\n  userIdentity.type: Root\ncondition: sel", "eventSource", "s3.amazonaws.com"},
		{"or of maps on one field", "sel:\n  - eventName: A\n    userAgent: x\n  - eventName: B\ncondition: sel", "eventName", "a,b"},
		{"or with a branch without it", "sel:\n  - eventName: A\n    userIdentity.type: Root\n  - userIdentity.type: root\ncondition: sel", "userIdentity.type", "root"},
		{"or across selections", "a:\n  eventType: AwsApiCall\nb:\n  eventType: AwsConsoleSignIn\ncondition: a or b", "eventType", "awsapicall,awsconsolesignin"},
		{"and of selections", "a:\n  eventName: A\nb:\n  userAgent: x\ncondition: a and b", "eventName", "a"},
		{"not", "a:\n  eventName: A\ncondition: not a", "", ""},
		{"and not", "a:\n  userIdentity.type: Root\nb:\n  eventType: AwsServiceEvent\ncondition: a and not b", "userIdentity.type", "root"},
		{"wildcard", "sel:\n  eventName: Get*\ncondition: sel", "", ""},
		{"startswith", "sel:\n  eventName|startswith: Get\ncondition: sel", "", ""},
		{"null in list", "sel:\n  eventName: [A, null]\ncondition: sel", "", ""},
		{"cased still indexed", "sel:\n  eventName|cased: A\ncondition: sel", "eventName", "a"},
		{"non-ASCII not indexed", "sel:\n  eventName: Ärger\ncondition: sel", "", ""},
		{"number", "sel:\n  eventType: 5\ncondition: sel", "eventType", "5"},
		{"contradiction", "a:\n  eventName: A\nb:\n  eventName: B\ncondition: a and b", "eventName", ""},
		{"all of", "a_1:\n  eventName: A\na_2:\n  eventSource: s\ncondition: all of a_*", "eventName", "a"},
		{"1 of", "a_1:\n  eventName: A\na_2:\n  eventSource: s\ncondition: 1 of a_*", "", ""},
		{"common value demoted", "sel:\n  eventType: AwsApiCall\n  userIdentity.type: Root\ncondition: sel", "userIdentity.type", "root"},
		{"common value kept when alone", "sel:\n  eventType: AwsApiCall\n  userAgent: x\ncondition: sel", "eventType", "awsapicall"},
		{"unselective field", "sel:\n  userAgent: x\ncondition: sel", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New([]*sigma.Rule{ruleFromDetection(t, "r", tc.detection)})
			if err != nil {
				t.Fatal(err)
			}
			if tc.field == "" {
				if len(e.unindexed) != 1 || len(e.index) != 0 {
					t.Fatalf("want unindexed, got index %+v", e.index)
				}
				return
			}
			if len(e.index) != 1 || len(e.unindexed) != 0 {
				t.Fatalf("want one index, got %d (unindexed %d)", len(e.index), len(e.unindexed))
			}
			ix := e.index[0]
			if e.names[ix.field] != tc.field || strings.Join(sortedKeys(ix.byValue), ",") != tc.keys {
				t.Errorf("indexed under %s %v, want %s %s", e.names[ix.field], sortedKeys(ix.byValue), tc.field, tc.keys)
			}
		})
	}
}

// TestIndexSkipsOtherEvents shows that a rule requiring eventName
// ConsoleLogin is never evaluated against other events.
func TestIndexSkipsOtherEvents(t *testing.T) {
	r := ruleFromDetection(t, "login", "sel:\n  eventName: ConsoleLogin\n  userIdentity.type: Root\ncondition: sel\n")
	e, err := newEngine([]*sigma.Rule{r}, options{countEvals: true})
	if err != nil {
		t.Fatal(err)
	}
	others := []string{
		`{"eventName":"GetObject","userIdentity":{"type":"Root"}}`,
		`{"eventName":"ConsoleLogins","userIdentity":{"type":"Root"}}`,
		`{"eventVersion":"1.08","eventName":5,"userIdentity":{"type":"Root"}}`,
		`{"eventVersion":"1.08","eventName":null,"userIdentity":{"type":"Root"}}`,
		`{"eventVersion":"1.08","eventName":{"ConsoleLogin":1},"userIdentity":{"type":"Root"}}`,
		`{"eventVersion":"1.08","userIdentity":{"type":"Root"}}`,
	}
	for _, rec := range others {
		if _, err := e.Match([]byte(rec), "t", nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.evals.Load(); n != 0 {
		t.Fatalf("rule evaluated %d times against other events", n)
	}
	for _, rec := range []string{`{"eventName":"ConsoleLogin"}`, `{"eventName":"consoleLOGIN","userIdentity":{"type":"Root"}}`} {
		if _, err := e.Match([]byte(rec), "t", nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.evals.Load(); n != 2 {
		t.Fatalf("rule evaluated %d times against 2 ConsoleLogin events", n)
	}
	// An array where a scalar is expected cannot be looked up: every rule
	// indexed under the field is evaluated.
	if _, err := e.Match([]byte(`{"eventVersion":"1.08","eventName":["x","ConsoleLogin"],"userIdentity":{"type":"Root"}}`), "t", nil); err != nil {
		t.Fatal(err)
	}
	if n := e.evals.Load(); n != 3 {
		t.Fatalf("array eventName: %d evaluations, want 3", n)
	}
}

// propertyRules is every rule the package's tests know: the root rules,
// the SigmaHQ rewrites and one rule per semantics case.
func propertyRules(t testing.TB) []*sigma.Rule {
	rules := loadRules(t, "testdata/rules/*.yml", "../sigma/testdata/sigmahq/*.yml")
	data, err := os.ReadFile("testdata/semantics.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cases []semanticsCase
	if err := yaml.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		rules = append(rules, ruleFromDetection(t, tc.Name, tc.Detection))
	}
	return rules
}

var vocab = []string{
	"ConsoleLogin", "consolelogin", "CONSOLELOGIN", "StopLogging", "CreateAccessKey", "AssumeRoot", "PasswordUpdated",
	"PasswordRecoveryRequested", "PutContactInformation", "GetBucketPolicy", "ListBuckets", "A", "b", "C", "",
	"Root", "root", "IAMUser", "AWSService", "AssumedRole", "AwsApiCall", "AwsConsoleSignIn", "AwsServiceEvent",
	"signin.amazonaws.com", "sts.amazonaws.com", "iam.amazonaws.com", "s3.amazonaws.com", "cloudtrail.amazonaws.com",
	"Success", "Failure", "Yes", "No", "10.1.2.3", "2001:db8::1", "terraform/1.5", "aws-cli/2", "ärger-ω",
	"arn:aws:sts::1:assumed-role/aws:ec2/i-1", "AKIA123", "x", "5", "AccessDenied",
}

func randValue(rng *rand.Rand, depth int) any {
	switch n := rng.IntN(20); {
	case n == 0:
		return nil
	case n == 1:
		return rng.IntN(10)
	case n == 2:
		return rng.IntN(2) == 0
	case n == 3 && depth < 2:
		return []any{randValue(rng, depth+1), randValue(rng, depth+1)}
	case n == 4 && depth < 2:
		return map[string]any{"type": randValue(rng, depth+1), "ARN": randValue(rng, depth+1)}
	default:
		return vocab[rng.IntN(len(vocab))]
	}
}

func randRecord(rng *rand.Rand) []byte {
	// eventVersion makes every random object a CloudTrail record, whatever
	// its eventName and eventSource (see TestMatchRejectsNonCloudTrail).
	rec := map[string]any{"eventVersion": "1.08"}
	put := func(m map[string]any, k string) {
		if rng.IntN(5) > 0 {
			m[k] = randValue(rng, 0)
		}
	}
	for _, k := range []string{"eventName", "eventSource", "eventType", "errorCode", "errorMessage", "userAgent", "sourceIPAddress", "awsRegion", "readOnly", "status", "type"} {
		put(rec, k)
	}
	if rng.IntN(6) > 0 {
		ui := map[string]any{}
		for _, k := range []string{"type", "invokedBy", "arn", "accessKeyId"} {
			put(ui, k)
		}
		if rng.IntN(3) == 0 {
			ui["sessionContext"] = map[string]any{"sessionIssuer": map[string]any{"type": randValue(rng, 0)}}
		}
		rec["userIdentity"] = ui
	}
	for _, k := range []string{"responseElements", "additionalEventData", "requestParameters"} {
		if rng.IntN(3) > 0 {
			m := map[string]any{}
			for _, kk := range []string{"ConsoleLogin", "PasswordUpdated", "MFAUsed", "userName", "maxItems", "names"} {
				put(m, kk)
			}
			rec[k] = m
		}
	}
	if rng.IntN(4) == 0 {
		rec["resources"] = []any{map[string]any{"ARN": randValue(rng, 0), "type": randValue(rng, 0)}, randValue(rng, 0)}
	}
	b, _ := json.Marshal(rec)
	return b
}

// TestIndexedEqualsBruteForce: over random records, the indexed engine
// gives exactly the detections of evaluating every rule on every record.
func TestIndexedEqualsBruteForce(t *testing.T) {
	rules := propertyRules(t)
	indexed, err := New(rules)
	if err != nil {
		t.Fatal(err)
	}
	brute, err := newEngine(rules, options{noIndex: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(indexed.index) == 0 || len(indexed.unindexed) == len(rules) {
		t.Fatal("nothing indexed")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	fired := map[string]int{}
	var a, b []detector.Detection
	for i := 0; i < 6000; i++ {
		rec := randRecord(rng)
		a, err = indexed.Match(rec, "p", a[:0])
		if err != nil {
			t.Fatal(err)
		}
		b, err = brute.Match(rec, "p", b[:0])
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ruleNames(a), ruleNames(b)) {
			t.Fatalf("record %s:\nindexed %v\nbrute   %v", rec, ruleNames(a), ruleNames(b))
		}
		for _, d := range a {
			fired[d.Rule]++
		}
	}
	// The property is only meaningful if rules fire: most of them should.
	if len(fired) < len(rules)/2 {
		t.Errorf("only %d of %d rules ever fired: %v", len(fired), len(rules), fired)
	}
}

func TestConcurrentMatch(t *testing.T) {
	rules := propertyRules(t)
	e, err := New(rules)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	recs := make([][]byte, 500)
	want := make([]string, len(recs))
	for i := range recs {
		recs[i] = randRecord(rng)
		ds, err := e.Match(recs[i], "c", nil)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = fmt.Sprint(ruleNames(ds))
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			var dst []detector.Detection
			for n := 0; n < len(recs); n++ {
				i := (n + g*61) % len(recs)
				var err error
				dst, err = e.Match(recs[i], "c", dst[:0])
				if got := fmt.Sprint(ruleNames(dst)); err != nil || got != want[i] {
					errs <- fmt.Sprintf("goroutine %d record %d: %v %v, want %v", g, i, err, got, want[i])
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
}

package rules_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/detector/rules"
	"github.com/rootwatch/rootwatch/detector/sigma"
)

// contract is the public list of built-in rule names and their levels.
var contract = map[string]detector.Level{
	"root-console-login":            detector.LevelHigh,
	"root-console-login-no-mfa":     detector.LevelCritical,
	"root-console-login-failure":    detector.LevelMedium,
	"root-api-call":                 detector.LevelHigh,
	"root-access-key-created":       detector.LevelCritical,
	"root-mfa-change":               detector.LevelCritical,
	"root-password-change":          detector.LevelHigh,
	"root-account-settings-change":  detector.LevelCritical,
	"assume-root":                   detector.LevelHigh,
	"trail-tampering":               detector.LevelHigh,
	"log-delivery-tampering":        detector.LevelHigh,
	"root-login-brute-force":        detector.LevelHigh,
	"root-login-brute-force-ips":    detector.LevelHigh,
	"root-takeover-chain":           detector.LevelCritical,
	"root-takeover-credential-step": detector.LevelCritical,
}

// hiddenHelpers are built-in rules that a correlation of their file hides
// (sigma.Rule.Hidden): they live in that correlation's file and never
// alert, so they have no test file of their own.
var hiddenHelpers = map[string]string{
	"root-takeover-credential-step": "root-takeover-chain",
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestBuiltinRulesAreTheContract(t *testing.T) {
	rs, err := rules.Builtin()
	if err != nil {
		t.Fatalf("Builtin: %v", err)
	}
	if len(rs) != len(contract) {
		t.Errorf("Builtin returned %d rules, the contract has %d", len(rs), len(contract))
	}
	ids := make(map[string]string)
	for _, r := range rs {
		t.Run(r.Name, func(t *testing.T) {
			want, ok := contract[r.Name]
			if !ok {
				t.Fatalf("rule %q (%s) is not in the contract", r.Name, r.File)
			}
			if r.DeclaredLevel != want {
				t.Errorf("level = %v, want %v", r.DeclaredLevel, want)
			}
			fileName := r.Name
			if owner, ok := hiddenHelpers[r.Name]; ok {
				fileName = owner
				if !r.Hidden {
					t.Errorf("helper rule is not hidden")
				}
			} else if r.Hidden {
				t.Errorf("rule is hidden: it would never alert")
			}
			if wantFile := "builtin/" + fileName + ".yml"; r.File != wantFile {
				t.Errorf("File = %q, want %q", r.File, wantFile)
			}
			if !uuidV4.MatchString(r.ID) {
				t.Errorf("id %q is not a lowercase UUIDv4", r.ID)
			}
			if other, dup := ids[r.ID]; dup {
				t.Errorf("id %s also used by %s", r.ID, other)
			}
			ids[r.ID] = r.Name
			if r.Correlation == nil && (r.Logsource.Product != "aws" || r.Logsource.Service != "cloudtrail") {
				t.Errorf("logsource = %+v, want aws/cloudtrail", r.Logsource)
			}
			if r.Author != "rootwatch" || r.Status != "stable" || r.Title == "" {
				t.Errorf("author %q, status %q, title %q", r.Author, r.Status, r.Title)
			}
			if !strings.Contains(r.Description, "Decisions and overlaps:") {
				t.Errorf("description does not record its decisions and overlaps")
			}
			if len(r.References) == 0 || len(r.FalsePositives) == 0 || len(r.Tags) == 0 {
				t.Errorf("references %d, falsepositives %d, tags %d: each must be non-empty",
					len(r.References), len(r.FalsePositives), len(r.Tags))
			}
			for _, tag := range r.Tags {
				if !strings.HasPrefix(tag, "attack.") {
					t.Errorf("tag %q is not an ATT&CK tag", tag)
				}
			}
		})
	}
}

func TestBuiltinIsDeterministic(t *testing.T) {
	a, err := rules.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	b, err := rules.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names(a), names(b)) {
		t.Errorf("two loads differ: %v vs %v", names(a), names(b))
	}
	if !slices.IsSorted(files(a)) {
		t.Errorf("built-in rules are not in file order: %v", files(a))
	}
}

// The on-disk builtin directory (what `rootwatch rules test
// detector/rules/builtin` loads) and the embedded copy are the same rules.
func TestLoadDirOfBuiltinMatchesEmbedded(t *testing.T) {
	emb, err := rules.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	disk, err := rules.LoadDir("builtin")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names(emb), names(disk)) {
		t.Errorf("embedded %v, on disk %v", names(emb), names(disk))
	}
	for i := range disk {
		if want := filepath.Join("builtin", filepath.Base(emb[i].File)); disk[i].File != want {
			t.Errorf("disk rule File = %q, want %q", disk[i].File, want)
		}
	}
}

func TestBuiltinFS(t *testing.T) {
	data, err := fs.ReadFile(rules.BuiltinFS(), "root-api-call.yml")
	if err != nil {
		t.Fatal(err)
	}
	disk, err := os.ReadFile(filepath.Join("builtin", "root-api-call.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != string(disk) {
		t.Error("BuiltinFS root-api-call.yml differs from builtin/root-api-call.yml")
	}
	entries, err := fs.ReadDir(rules.BuiltinTestFS(), ".")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, strings.TrimSuffix(e.Name(), ".yml"))
	}
	slices.Sort(got)
	var want []string
	for name := range contract {
		if _, hidden := hiddenHelpers[name]; !hidden {
			want = append(want, name)
		}
	}
	slices.Sort(want)
	// One file per rule, plus files named <rule>-<variant> (for example a
	// file without placeholders).
	for _, name := range want {
		if !slices.Contains(got, name) {
			t.Errorf("BuiltinTestFS has no %s.yml, want one per rule: %v", name, want)
		}
	}
	for _, f := range got {
		if !slices.ContainsFunc(want, func(name string) bool { return f == name || strings.HasPrefix(f, name+"-") }) {
			t.Errorf("BuiltinTestFS file %s.yml is not named after a rule", f)
		}
	}
}

func TestLoadDir(t *testing.T) {
	rs, err := rules.LoadDir(filepath.Join("testdata", "loaddir"))
	if err != nil {
		t.Fatal(err)
	}
	wantNames := []string{"fixture-a", "fixture-b", "fixture-c"}
	wantFiles := []string{
		filepath.Join("testdata", "loaddir", "a-rule.yaml"),
		filepath.Join("testdata", "loaddir", "b-rule.yml"),
		filepath.Join("testdata", "loaddir", "cloud", "aws", "c-rule.yml"),
	}
	if !slices.Equal(names(rs), wantNames) {
		t.Errorf("names = %v, want %v (hidden files, tests and non-YAML skipped)", names(rs), wantNames)
	}
	if !slices.Equal(files(rs), wantFiles) {
		t.Errorf("files = %v, want %v", files(rs), wantFiles)
	}
}

func TestLoadDirErrors(t *testing.T) {
	tests := []struct {
		name    string
		dir     string
		wantSub []string
		sigma   bool
	}{
		{"missing directory", filepath.Join("testdata", "no-such-dir"), []string{"no-such-dir"}, false},
		{"file, not directory", filepath.Join("testdata", "loaddir", "b-rule.yml"), []string{"b-rule.yml", "not a directory"}, false},
		{"unsupported construct", filepath.Join("testdata", "bad"), []string{filepath.Join("testdata", "bad", "unsupported.yml") + ":", "base64offset"}, true},
		{"broken YAML", filepath.Join("testdata", "badyaml"), []string{filepath.Join("testdata", "badyaml", "broken.yml")}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := rules.LoadDir(tt.dir)
			if err == nil {
				t.Fatalf("LoadDir(%q) = %d rules, want an error", tt.dir, len(rs))
			}
			for _, s := range tt.wantSub {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			var se *sigma.Error
			if got := errors.As(err, &se); got != tt.sigma {
				t.Errorf("errors.As(*sigma.Error) = %v, want %v", got, tt.sigma)
			}
		})
	}
}

func TestLoadFS(t *testing.T) {
	rs, err := rules.LoadFS(os.DirFS("testdata"), "loaddir/cloud", "rules")
	if err != nil {
		t.Fatal(err)
	}
	if got := files(rs); !slices.Equal(got, []string{"rules/aws/c-rule.yml"}) {
		t.Errorf("files = %v", got)
	}
}

func TestIsTestPath(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"tests/root-api-call.yml", true},
		{"builtin/tests/root-api-call.yml", true},
		{"a/tests/b/c.yaml", true},
		{"cloud/aws/c-rule_test.yml", true},
		{"c-rule_test.yaml", true},
		{"tests/events/e.json", false},
		{"root-api-call.yml", false},
		{"contests/x.yml", false},
		{"tests.yml", false},
		{"tests/README.md", false},
		{"latest_tests.yml", false},
	}
	for _, tt := range tests {
		if got := rules.IsTestPath(tt.path); got != tt.want {
			t.Errorf("IsTestPath(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func names(rs []*sigma.Rule) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name
	}
	return out
}

func files(rs []*sigma.Rule) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.File
	}
	return out
}

// The package directory itself loads as a rules directory: the built-in
// rules, with tests and testdata fixtures skipped.
func TestLoadDirSkipsTestdata(t *testing.T) {
	rs, err := rules.LoadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	emb, err := rules.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names(rs), names(emb)) {
		t.Errorf("LoadDir(.) = %v, want the built-in rules %v", names(rs), names(emb))
	}
}

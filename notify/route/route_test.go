package route

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rootwatch/rootwatch/detector"
)

var (
	slackOnly = Sinks{Chat: []string{"slack"}}
	both      = Sinks{Paging: []string{"pagerduty"}, Chat: []string{"slack"}}
	pagerOnly = Sinks{Paging: []string{"pagerduty"}}
	rules     = []string{"root-console-login", "root-api-call", "root-noisy"}
)

func det(rule string, level detector.Level, account string) *detector.Detection {
	return &detector.Detection{Rule: rule, Level: level, AccountID: account, EventID: "e1"}
}

func mustLoad(t *testing.T, path string, opts Options) *Router {
	t.Helper()
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	r, err := c.Compile(opts)
	if err != nil {
		t.Fatalf("Compile(%s): %v", path, err)
	}
	return r
}

func TestRouteFile(t *testing.T) {
	r := mustLoad(t, "testdata/routes.yml", Options{Sinks: both, Rules: rules})
	tests := []struct {
		name string
		d    *detector.Detection
		want []string
	}{
		{"continue route then critical", det("root-console-login", detector.LevelCritical, "111122223333"), []string{"pagerduty", "slack"}},
		{"continue route then low", det("root-console-login", detector.LevelLow, "111122223333"), []string{"pagerduty", "slack"}},
		{"continue route then nothing else matches", det("root-console-login", detector.LevelInformational, "111122223333"), []string{"pagerduty"}},
		{"other account skips continue route", det("root-console-login", detector.LevelHigh, "999999999999"), []string{"slack", "pagerduty"}},
		{"medium", det("root-api-call", detector.LevelMedium, "999999999999"), []string{"slack"}},
		{"muted rule", det("root-noisy", detector.LevelInformational, "999999999999"), []string{}},
		{"first match wins over muted rule", det("root-noisy", detector.LevelHigh, "999999999999"), []string{"slack", "pagerduty"}},
		{"no match uses default_sinks", det("root-api-call", detector.LevelInformational, "999999999999"), []string{"slack"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.Route(tt.d)
			if !slices.Equal(got, tt.want) || got == nil {
				t.Errorf("Route = %#v, want %#v", got, tt.want)
			}
		})
	}
	if got := r.AccountName("012345678901"); got != "sandbox" {
		t.Errorf("AccountName(012345678901) = %q, want sandbox", got)
	}
	if got := r.AccountName("999999999999"); got != "" {
		t.Errorf("AccountName(unknown) = %q, want empty", got)
	}
}

func TestDefaults(t *testing.T) {
	tests := []struct {
		name  string
		sinks Sinks
		file  string // "" = no file
		level detector.Level
		want  []string
	}{
		{"both critical", both, "", detector.LevelCritical, []string{"pagerduty", "slack"}},
		{"both high", both, "", detector.LevelHigh, []string{"pagerduty", "slack"}},
		{"both medium", both, "", detector.LevelMedium, []string{"slack"}},
		{"both informational", both, "", detector.LevelInformational, []string{"slack"}},
		{"slack only critical", slackOnly, "", detector.LevelCritical, []string{"slack"}},
		{"slack only low", slackOnly, "", detector.LevelLow, []string{"slack"}},
		{"pager only high", pagerOnly, "", detector.LevelHigh, []string{"pagerduty"}},
		{"pager only medium", pagerOnly, "", detector.LevelMedium, []string{}},
		{"empty file critical", both, "testdata/empty.yml", detector.LevelCritical, []string{"pagerduty", "slack"}},
		{"accounts-only file low", both, "testdata/accounts-only.yml", detector.LevelLow, []string{"slack"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Default(tt.sinks)
			if tt.file != "" {
				r = mustLoad(t, tt.file, Options{Sinks: tt.sinks})
			}
			got := r.Route(det("root-api-call", tt.level, "111122223333"))
			if !slices.Equal(got, tt.want) {
				t.Errorf("Route = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct {
		file string
		want string // substring of the error, which must also name file:line
		line int
	}{
		{"unknown-sink.yml", `sink "pagerdutty" is not configured (configured: pagerduty, slack)`, 3},
		{"unknown-level.yml", `unknown level "crit"`, 2},
		{"unknown-field.yml", `unknown field "receiver"`, 4},
		{"unknown-match-field.yml", `unknown field "level"`, 2},
		{"missing-sinks.yml", "sinks is required", 2},
		{"bad-account.yml", "is not 12 digits", 2},
		{"unknown-rule.yml", `unknown rule "root-console-logn"`, 2},
		{"unknown-default-sink.yml", `default_sinks: sink "email" is not configured`, 1},
		{"alias.yml", "anchors and aliases are not supported", 1},
		{"syntax.yml", "yaml:", 0},
		{"bad-continue.yml", "continue must be true or false", 3},
		{"two-docs.yml", "only one YAML document", 0},
		{"empty-levels.yml", "match.levels is empty", 2},
		{"duplicate-key.yml", `duplicate key "default_sinks"`, 2},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", "invalid", tt.file)
			c, err := Load(path)
			if err == nil {
				_, err = c.Compile(Options{Sinks: both, Rules: rules})
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if tt.line > 0 {
				loc := path + ":" + strconv.Itoa(tt.line) + ":"
				if !strings.Contains(err.Error(), loc) {
					t.Errorf("error %q does not name %s", err, loc)
				}
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load(missing) = %v, want ErrNotExist", err)
	}
}

func TestTooLarge(t *testing.T) {
	data := []byte("# " + strings.Repeat("x", MaxFileBytes))
	if _, err := Parse("big.yml", data); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Parse(big) = %v, want ErrInvalid", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, p := range []string{"testdata/routes.yml", "testdata/empty.yml", "testdata/accounts-only.yml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	entries, err := os.ReadDir("testdata/invalid")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("testdata/invalid", e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	known := both.all()
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yml", data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		r, err := c.Compile(Options{Sinks: both})
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Compile error %v does not wrap ErrInvalid", err)
			}
			return
		}
		for l := detector.LevelInformational; l <= detector.LevelCritical; l++ {
			for _, s := range r.Route(det("root-console-login", l, "111122223333")) {
				if !slices.Contains(known, s) {
					t.Fatalf("routed to unconfigured sink %q", s)
				}
			}
		}
	})
}

func TestPageMinLevelAndAccounts(t *testing.T) {
	env := map[string]string{"111122223333": "from-env", "444455556666": "sandbox"}
	tests := []struct {
		name    string
		file    string
		pageMin detector.Level
		level   detector.Level
		want    []string
		account string
		wantAcc string
	}{
		{"page medium and up: medium pages", "", detector.LevelMedium, detector.LevelMedium, []string{"pagerduty", "slack"}, "444455556666", "sandbox"},
		{"page medium and up: low does not", "", detector.LevelMedium, detector.LevelLow, []string{"slack"}, "111122223333", "from-env"},
		{"page critical only: high does not", "", detector.LevelCritical, detector.LevelHigh, []string{"slack"}, "999999999999", ""},
		{"file accounts win over env", "testdata/accounts-only.yml", 0, detector.LevelHigh, []string{"pagerduty", "slack"}, "111122223333", "prod-payments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c *Config
			if tt.file != "" {
				var err error
				if c, err = Load(tt.file); err != nil {
					t.Fatal(err)
				}
			}
			r, err := c.Compile(Options{Sinks: both, PageMinLevel: tt.pageMin, Accounts: env})
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Route(det("root-api-call", tt.level, tt.account)); !slices.Equal(got, tt.want) {
				t.Errorf("Route = %v, want %v", got, tt.want)
			}
			if got := r.AccountName(tt.account); got != tt.wantAcc {
				t.Errorf("AccountName = %q, want %q", got, tt.wantAcc)
			}
		})
	}
	if _, err := (*Config)(nil).Compile(Options{Sinks: both, PageMinLevel: 42}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Compile(page level 42) = %v, want ErrInvalid", err)
	}
}

func TestParseAccounts(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string]string
		wantErr string
	}{
		{"", map[string]string{}, ""},
		{" 111122223333 = prod-payments , 444455556666=sandbox,", map[string]string{"111122223333": "prod-payments", "444455556666": "sandbox"}, ""},
		{"111122223333", nil, "want id=name"},
		{"111122223333=", nil, "want id=name"},
		{"1111=short", nil, "not 12 digits"},
		{"111122223333=a,111122223333=b", nil, "named twice"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAccounts(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("ParseAccounts = %v, want error %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("ParseAccounts = %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("ParseAccounts[%s] = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

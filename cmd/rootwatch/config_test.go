package main

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestREADMESettingsTable keeps the README's settings table identical to
// the one in config.go, the single place settings are defined.
func TestREADMESettingsTable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	const begin, end = "<!-- settings:begin", "<!-- settings:end -->"
	i := strings.Index(s, begin)
	j := strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README.md has no settings markers %q ... %q", begin, end)
	}
	got := s[i:j]
	got = got[strings.Index(got, "\n")+1:]
	if want := settingsMarkdown(); got != want {
		t.Errorf("README settings table is stale; replace it with the output of `go run ./cmd/rootwatch config --markdown`:\n%s", want)
	}
}

func TestApplyEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    map[string]string
		wantErr string
	}{
		{name: "env fills unset flag", env: map[string]string{"ROOTWATCH_WORKERS": "8"}, want: map[string]string{"workers": "8"}},
		{name: "flag wins over env", env: map[string]string{"ROOTWATCH_WORKERS": "8"}, args: []string{"--workers=3"}, want: map[string]string{"workers": "3"}},
		{name: "list from comma-separated env", env: map[string]string{"ROOTWATCH_QUEUE_URL": "a, b,,c"}, want: map[string]string{"queue-url": "[a,b,c]"}},
		{name: "malformed int names the variable", env: map[string]string{"ROOTWATCH_WORKERS": "many"}, wantErr: `ROOTWATCH_WORKERS: invalid value "many"`},
		{name: "malformed secret is not echoed", env: map[string]string{"ROOTWATCH_STDOUT_ALERTS": "maybe"}, wantErr: `ROOTWATCH_STDOUT_ALERTS: invalid value "maybe"`},
		{name: "unset env keeps default", want: map[string]string{"workers": "4", "listen": ":9090"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
			fs.Int("workers", 4, "")
			fs.String("listen", ":9090", "")
			fs.StringSlice("queue-url", nil, "")
			fs.Bool("stdout-alerts", true, "")
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			err := applyEnv(fs, func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.want {
				if got := fs.Lookup(k).Value.String(); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	for _, s := range settings {
		if !s.Secret {
			continue
		}
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		fs.Int(s.Flag, 0, "") // an int flag so a string secret is malformed
		err := applyEnv(fs, func(k string) string {
			if k == s.Env {
				return "xoxb-very-secret"
			}
			return ""
		})
		if err == nil || strings.Contains(err.Error(), "very-secret") {
			t.Errorf("%s: error %v must exist and must not contain the value", s.Env, err)
		}
	}
}

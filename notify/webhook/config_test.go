package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/notifytest"
)

func TestValidate(t *testing.T) {
	const url = "https://soar.example/hook?token=" + testURLSecret
	tests := []struct {
		name     string
		cfg      Config
		contains string // "" when valid
	}{
		{"https", Config{URL: url, Secrets: []string{testSecret}}, ""},
		{"loopback http", Config{URL: "http://127.0.0.1:8080/" + testURLSecret, Secrets: []string{testSecret}}, ""},
		{"localhost http", Config{URL: "http://localhost/" + testURLSecret, Secrets: []string{testSecret, oldSecret}}, ""},
		{"ipv6 loopback", Config{URL: "http://[::1]:9/x", Secrets: []string{testSecret}}, ""},
		{"plain http elsewhere", Config{URL: "http://soar.example/" + testURLSecret, Secrets: []string{testSecret}}, "plain http would send the secret in clear text"},
		{"no URL", Config{Secrets: []string{testSecret}}, "URL is empty"},
		{"not a URL", Config{URL: "soar.example/" + testURLSecret, Secrets: []string{testSecret}}, "URL: scheme must be https"},
		{"ftp", Config{URL: "ftp://soar.example/" + testURLSecret, Secrets: []string{testSecret}}, "URL: scheme"},
		{"no secret", Config{URL: url}, "signing secret is empty"},
		{"short secret", Config{URL: url, Secrets: []string{"hunter2hunter2"}}, "14 characters, at least 32"},
		{"three secrets", Config{URL: url, Secrets: []string{testSecret, oldSecret, testSecret + "x"}}, "at most 2"},
		{"secret with a space", Config{URL: url, Secrets: []string{testSecret + " x"}}, "white space"},
		{"bad console URL", Config{URL: url, Secrets: []string{testSecret}, ConsoleURL: "console"}, "console URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.contains == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.contains) {
				t.Fatalf("Validate = %v, want %q", err, tt.contains)
			}
			notifytest.AssertNoSecret(t, "error", err.Error(), testURLSecret, testSecret, "hunter2")
		})
	}
}

func TestParseSecrets(t *testing.T) {
	for in, want := range map[string]int{"": 0, "a": 1, " a , b ": 2, "a,,": 1, ",": 0} {
		if got := ParseSecrets(in); len(got) != want {
			t.Errorf("ParseSecrets(%q) = %q", in, got)
		}
	}
}

// TestConfigPrintsNoSecret checks every way a Config or Sink is printed.
func TestConfigPrintsNoSecret(t *testing.T) {
	cfg := Config{URL: "https://soar.example/hook/" + testURLSecret + "?k=" + testURLSecret, Secrets: []string{testSecret, oldSecret}}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := json.Marshal(cfg)
	out := fmt.Sprintf("%v %+v %#v %s %v %+v", cfg, cfg, cfg, j, s, s)
	notifytest.AssertNoSecret(t, "printed config", out, testURLSecret, testSecret, oldSecret)
	if !strings.Contains(string(j), `"https://soar.example/REDACTED"`) || !strings.Contains(string(j), `["REDACTED","REDACTED"]`) {
		t.Errorf("JSON %s", j)
	}
}

// TestDef builds the sink from settings as the commands do: half a
// configuration is an error naming both settings, not a silent "off".
func TestDef(t *testing.T) {
	deps := notify.SinkDeps{Logger: zap.NewNop()}
	if Def.Configured(notify.Settings{}) {
		t.Error("configured without settings")
	}
	for _, s := range []notify.Settings{
		{EnvURL: "https://soar.example/" + testURLSecret},
		{EnvSecret: testSecret},
	} {
		if !Def.Configured(s) {
			t.Errorf("%v: half a configuration is not reported", s)
		}
		_, err := Def.New(context.Background(), s, deps)
		if err == nil || !strings.Contains(err.Error(), EnvURL) || !strings.Contains(err.Error(), EnvSecret) {
			t.Errorf("New(%v) = %v", s, err)
		}
		if err != nil {
			notifytest.AssertNoSecret(t, "error", err.Error(), testURLSecret, testSecret)
		}
	}
	sc, err := Def.New(context.Background(), notify.Settings{EnvURL: "https://soar.example/x", EnvSecret: testSecret + "," + oldSecret}, deps)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Sink.Name() != "webhook" || sc.Kind != notify.KindChat || len(sc.Sink.(*Sink).cfg.Secrets) != 2 {
		t.Errorf("built %v kind %v", sc.Sink, sc.Kind)
	}
}

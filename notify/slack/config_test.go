package slack

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rootwatch/rootwatch/detector"
)

func TestConfigValidate(t *testing.T) {
	hook := "https://hooks.slack.com" + webhookPath
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"bot", Config{BotToken: testToken, Channel: "C1"}, ""},
		{"webhook", Config{WebhookURL: hook}, ""},
		{"both", Config{BotToken: testToken, Channel: "C1", WebhookURL: hook}, ""},
		{"nothing", Config{}, "set a bot token and channel, a webhook URL, or both"},
		{"token without channel", Config{BotToken: testToken}, "channel is empty"},
		{"channel without token", Config{Channel: "C1"}, "bot token is empty"},
		{"webhook not a URL", Config{WebhookURL: "hooks.slack.com" + webhookPath}, "webhook URL: scheme"},
		{"webhook bad scheme", Config{WebhookURL: "ftp://hooks.slack.com" + webhookPath}, "webhook URL: scheme"},
		{"webhook unparsable", Config{WebhookURL: "https://hooks.slack.com/%zz" + webhookPath}, "webhook URL: not a valid URL"},
		{"api url without host", Config{BotToken: testToken, Channel: "C1", APIURL: "https:///api/"}, "API URL: no host"},
		{"console url", Config{WebhookURL: hook, ConsoleURL: "javascript:alert(1)"}, "console URL: scheme"},
		// Item 14: the token or webhook secret must never travel in clear
		// text: plain http only to loopback (tests, a local proxy).
		{"webhook plain http", Config{WebhookURL: "http://hooks.slack.com" + webhookPath}, "webhook URL: plain http"},
		{"api url plain http", Config{BotToken: testToken, Channel: "C1", APIURL: "http://slack.com/api/"}, "API URL: plain http"},
		{"api url http to a name that looks local", Config{BotToken: testToken, Channel: "C1", APIURL: "http://localhost.example.com/api/"}, "API URL: plain http"},
		{"api url http to a private address", Config{BotToken: testToken, Channel: "C1", APIURL: "http://10.0.0.8/api/"}, "API URL: plain http"},
		{"webhook http loopback v4", Config{WebhookURL: "http://127.0.0.1:8080" + webhookPath}, ""},
		{"webhook http loopback 127/8", Config{WebhookURL: "http://127.0.0.53" + webhookPath}, ""},
		{"api url http localhost", Config{BotToken: testToken, Channel: "C1", APIURL: "http://localhost:3000/api/"}, ""},
		{"api url http loopback v6", Config{BotToken: testToken, Channel: "C1", APIURL: "http://[::1]:3000/api/"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want %q", err, tt.wantErr)
			}
			assertNoSecret(t, "validation error", err.Error())
		})
	}
}

func TestConfigPrintsNoSecret(t *testing.T) {
	cfg := Config{BotToken: testToken, Channel: "C1", WebhookURL: "https://hooks.slack.com" + webhookPath, Timeout: 3 * time.Second}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	zap.New(core).Info("config", zap.Any("slack", cfg), zap.Stringer("str", cfg))
	var logged strings.Builder
	for _, e := range logs.All() {
		fmt.Fprintf(&logged, "%v", e.ContextMap())
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", cfg), "%#v": fmt.Sprintf("%#v", cfg),
		"%s": fmt.Sprintf("%s", cfg), "json": string(js), "zap": logged.String(), "sink": fmt.Sprint(s),
		"pointer": fmt.Sprintf("%v", &cfg),
	}
	for name, out := range outputs {
		assertNoSecret(t, name, out)
		if !strings.Contains(out, "xoxb-REDACTED") || !strings.Contains(out, "https://hooks.slack.com/REDACTED") {
			t.Errorf("%s: masked values missing: %s", name, out)
		}
	}
}

// TestThreadMemoryBounded checks that the sink's memories of bursts hold
// at most MaxThreads entries each.
func TestThreadMemoryBounded(t *testing.T) {
	s, err := New(Config{WebhookURL: "https://hooks.slack.com/services/T/B/x", MaxThreads: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		s.hookTop.Add(fmt.Sprint("burst-", i), detector.LevelHigh)
		s.done.Add(fmt.Sprint("alert-", i), struct{}{})
	}
	if n := s.hookTop.Len(); n != 3 {
		t.Errorf("hookTop holds %d entries, want 3", n)
	}
	if _, ok := s.hookTop.Get("burst-9"); !ok {
		t.Error("newest entry evicted")
	}
	if _, ok := s.hookTop.Get("burst-0"); ok {
		t.Error("oldest entry kept")
	}
	if n := s.done.Len(); n != 3 {
		t.Errorf("done holds %d entries, want 3", n)
	}
}

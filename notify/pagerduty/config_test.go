package pagerduty

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"minimal", Config{RoutingKey: testRoutingKey}, ""},
		{"eu", Config{RoutingKey: testRoutingKey, EventsURL: EUEventsURL}, ""},
		{"no key", Config{}, "routing key is empty"},
		{"blank key", Config{RoutingKey: "  "}, "routing key is empty"},
		{"key with newline", Config{RoutingKey: testRoutingKey + "\n"}, "white space"},
		{"events url scheme", Config{RoutingKey: testRoutingKey, EventsURL: "events.pagerduty.com"}, "events URL: scheme"},
		{"client url host", Config{RoutingKey: testRoutingKey, ClientURL: "https://"}, "client URL: no host"},
		{"console url scheme", Config{RoutingKey: testRoutingKey, ConsoleURL: "javascript:x"}, "console URL: scheme"},
		// Item 14: the routing key must never travel in clear text.
		{"events url plain http", Config{RoutingKey: testRoutingKey, EventsURL: "http://events.pagerduty.com"}, "events URL: plain http"},
		{"events url http to a private address", Config{RoutingKey: testRoutingKey, EventsURL: "http://192.168.1.10:8080"}, "events URL: plain http"},
		{"events url http loopback", Config{RoutingKey: testRoutingKey, EventsURL: "http://127.0.0.1:4010"}, ""},
		{"events url http localhost", Config{RoutingKey: testRoutingKey, EventsURL: "http://localhost:4010"}, ""},
		{"events url http loopback v6", Config{RoutingKey: testRoutingKey, EventsURL: "http://[::1]:4010"}, ""},
		// Links shown to people carry no secret: http stays allowed there.
		{"client url http", Config{RoutingKey: testRoutingKey, ClientURL: "http://rootwatch.internal/"}, ""},
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

func TestConfigDefaults(t *testing.T) {
	s := newSink(t, Config{})
	if s.cfg.EventsURL != DefaultEventsURL || s.cfg.Timeout != DefaultTimeout || s.cfg.ClientName != DefaultClientName {
		t.Errorf("defaults not applied: %v", s.cfg)
	}
	s = newSink(t, Config{EventsURL: EUEventsURL + "/"})
	if s.cfg.EventsURL != EUEventsURL {
		t.Errorf("trailing slash kept: %q", s.cfg.EventsURL)
	}
}

func TestConfigPrintsNoSecret(t *testing.T) {
	cfg := Config{RoutingKey: testRoutingKey, EventsURL: EUEventsURL, Timeout: time.Second}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	zap.New(core).Info("config", zap.Any("pagerduty", cfg), zap.Stringer("str", cfg))
	var logged strings.Builder
	for _, e := range logs.All() {
		fmt.Fprintf(&logged, "%v", e.ContextMap())
	}
	s := newSink(t, cfg)
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", cfg), "%#v": fmt.Sprintf("%#v", cfg),
		"json": string(js), "zap": logged.String(), "sink": fmt.Sprint(s), "pointer": fmt.Sprintf("%v", &cfg),
	}
	for name, out := range outputs {
		assertNoSecret(t, name, out)
		if !strings.Contains(out, "REDACTED") {
			t.Errorf("%s: masked key missing: %s", name, out)
		}
	}
}

func TestClean(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"plain", 10, "plain"},
		{"a\nb\tc\rd", 10, "a b c d"},
		{"x\x00\u202ey", 10, "x\uFFFD\uFFFDy"},
		{"bad\xff", 10, "bad\uFFFD"},
		{"abcdef", 6, "abcdef"},
		{"abcdefg", 6, "abcde…"},
		{"日本語テキスト", 4, "日本語…"},
	}
	for _, tt := range tests {
		if got := clean(tt.in, tt.max); got != tt.want {
			t.Errorf("clean(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestNotifyTestCommand(t *testing.T) {
	rec := &alertRecorder{}
	slackSrv := rec.slackServer(t)
	pdSrv := rec.pagerDutyServer(t)
	base := map[string]string{
		"SLACK_BOT_TOKEN":       "xoxb-notify-test-secret",
		"SLACK_CHANNEL":         "C1",
		"SLACK_API_URL":         slackSrv.GetAPIURL(),
		"PAGERDUTY_ROUTING_KEY": "pd-notify-test-secret",
		"PAGERDUTY_EVENTS_URL":  pdSrv.URL,
		"ROOTWATCH_LOG_FORMAT":  "json",
	}
	tests := []struct {
		name     string
		env      map[string]string
		pdDown   bool
		wantCode int
		wantOut  []string
	}{
		{name: "every sink accepts", env: base, wantCode: exitOK, wantOut: []string{"slack", "pagerduty", "ok"}},
		{name: "pagerduty down", env: base, pdDown: true, wantCode: exitPartial, wantOut: []string{"pagerduty  FAILED", "slack      ok"}},
		{name: "no sink configured", env: map[string]string{}, wantCode: exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec.setPagerDutyDown(tt.pdDown)
			var out, errb bytes.Buffer
			code := run(context.Background(), []string{"notify", "test"}, func(k string) string { return tt.env[k] }, strings.NewReader(""), &out, &errb)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, out.String(), errb.String())
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			all := out.String() + errb.String()
			if strings.Contains(all, "notify-test-secret") {
				t.Errorf("secret in output:\n%s", all)
			}
		})
	}
	// The test alert is marked as such in Slack.
	rec.mu.Lock()
	defer rec.mu.Unlock()
	found := false
	for _, body := range rec.raw {
		if strings.Contains(body, "TEST+ALERT") || strings.Contains(body, "TEST ALERT") {
			found = true
		}
	}
	if !found {
		t.Error("no request carried a TEST ALERT marker")
	}
}

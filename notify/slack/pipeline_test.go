package slack

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify"
)

// TestRenderPipelineAlert: a pipeline alert renders as rootwatch's own
// condition (title with the reason, queue, since when), not as a CloudTrail
// event with empty fields; its all-clear says Resolved; both keep the
// "Rule · Event ID" context line; webhook follow-ups render the same.
func TestRenderPipelineAlert(t *testing.T) {
	r := renderer{now: fixedClock}
	base := detector.Detection{
		Rule: "rootwatch-queue-stalled", Level: detector.LevelHigh,
		Title:   "rootwatch cannot read its queue: AccessDenied",
		EventID: "queue-stalled/q/1", EventSource: detector.PipelineSource, EventType: detector.PipelineEventType,
		EventTime: time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC), AccountID: "111122223333",
		ErrorMessage: "AccessDenied", Source: "https://sqs.us-east-1.amazonaws.com/111122223333/rootwatch",
	}
	resolved := base
	resolved.Resolved = true
	resolved.Title = "rootwatch reads its queue rootwatch again (it could not for 5m0s)"
	trail := base
	trail.Rule, trail.Level, trail.EventID = "rootwatch-trail-unhealthy", detector.LevelCritical, "trail-unhealthy/org/TrailNotLogging/1"
	trail.Title, trail.ErrorMessage = "CloudTrail trail org: logging is off", "logging is off"
	trail.Source = "arn:aws:cloudtrail:us-east-1:111122223333:trail/org"
	gap := detector.Detection{
		Rule: "rootwatch-log-gap", Level: detector.LevelHigh,
		Title:   "no CloudTrail logs from 111122223333 us-east-1 for 31m0s (last object at 2026-11-26T18:00:00Z)",
		EventID: "log-gap/111122223333/us-east-1/1", EventSource: detector.PipelineSource, EventType: detector.PipelineEventType,
		EventTime: time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC), AccountID: "111122223333", Region: "us-east-1",
		ErrorMessage: "seen in the expect window", Source: "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/26/x.json.gz",
	}
	tests := []struct {
		name    string
		d       detector.Detection
		want    []string
		notWant []string
	}{
		{"alert", base, []string{"HIGH: rootwatch cannot read its queue: AccessDenied", "Reason", "Queue", "Rule `rootwatch-queue-stalled` · Event ID `queue-stalled/q/1`"}, []string{"Resolved", "MFA used"}},
		{"trail alert names the trail, not a queue", trail, []string{"CRITICAL: CloudTrail trail org: logging is off", "Trail", "arn:aws:cloudtrail:us-east-1:111122223333:trail/org"}, []string{"Queue", "Resolved"}},
		{"log gap", gap, []string{"no CloudTrail logs from 111122223333 us-east-1", "Last object", "AWSLogs/111122223333", "Region", "us-east-1", "Rule `rootwatch-log-gap`"}, []string{"Queue", "Resolved"}},
		{"all-clear", resolved, []string{"✅ Resolved: rootwatch reads its queue", "Rule `rootwatch-queue-stalled` · Event ID `queue-stalled/q/1`"}, []string{"Reason", "MFA used"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &notify.Alert{Detection: tt.d, Group: &notify.Group{Key: "k", Seq: 1, Count: 2}}
			for _, m := range []Message{r.Render(a), r.RenderFollowUp(a)} {
				b, err := json.Marshal(m)
				if err != nil {
					t.Fatal(err)
				}
				s := string(b)
				for _, w := range tt.want {
					if !strings.Contains(s, w) {
						t.Errorf("message lacks %q:\n%s", w, s)
					}
				}
				for _, w := range tt.notWant {
					if strings.Contains(s, w) {
						t.Errorf("message has %q:\n%s", w, s)
					}
				}
			}
		})
	}
}

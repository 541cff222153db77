package pagerduty

import (
	"fmt"

	"github.com/PagerDuty/go-pagerduty"
	"strings"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify"
)

func pipelineDetection(episode string, resolved bool) detector.Detection {
	return detector.Detection{
		Rule: "rootwatch-queue-stalled", Level: detector.LevelHigh,
		Title:   "rootwatch cannot read its queue: AccessDenied",
		EventID: "queue-stalled/" + episode, EventName: "ReceiveMessage",
		EventSource: detector.PipelineSource, EventType: detector.PipelineEventType,
		EventTime: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC), AccountID: "111122223333", Region: "us-east-1",
		ErrorMessage: "AccessDenied", Source: "https://sqs.us-east-1.amazonaws.com/111122223333/rootwatch",
		Resolved: resolved,
	}
}

// TestPipelineAlertTriggerAndResolve: through the Dispatcher (routing,
// dedupe ledger), a pipeline alert triggers once however often it is
// delivered, its all-clear resolves the same dedup key (dedupe does not
// swallow it), and the next episode opens a new incident.
func TestPipelineAlertTriggerAndResolve(t *testing.T) {
	pd := startPD(t)
	d, err := notify.NewDispatcher(notify.Config{
		Sinks: []notify.SinkConfig{{Sink: newSink(t, Config{EventsURL: pd.srv.URL}), Kind: notify.KindPaging}},
		Rules: []string{"rootwatch-queue-stalled"},
	})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		episode  string
		resolved bool
	}{
		{"q/1", false}, {"q/1", false}, {"q/1", true}, {"q/1", true}, {"q/2", false}, {"q/2", true},
	}
	for _, s := range steps {
		if err := d.Deliver(t.Context(), []detector.Detection{pipelineDetection(s.episode, s.resolved)}); err != nil {
			t.Fatalf("Deliver %+v: %v", s, err)
		}
	}
	var got []string
	for _, ev := range pd.Events() {
		got = append(got, fmt.Sprintf("%v %v", ev["event_action"], ev["dedup_key"]))
	}
	want := []string{
		"trigger rootwatch/pipeline/rootwatch-queue-stalled/queue-stalled/q/1",
		"resolve rootwatch/pipeline/rootwatch-queue-stalled/queue-stalled/q/1",
		"trigger rootwatch/pipeline/rootwatch-queue-stalled/queue-stalled/q/2",
		"resolve rootwatch/pipeline/rootwatch-queue-stalled/queue-stalled/q/2",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	ev := pd.Events()[0]
	p, _ := ev["payload"].(map[string]any)
	if p["summary"] != "rootwatch cannot read its queue: AccessDenied" || p["severity"] != "error" || p["class"] != "rootwatch-queue-stalled" {
		t.Errorf("trigger payload %v", p)
	}
	if _, ok := pd.Events()[1]["payload"]; ok {
		t.Errorf("resolve carries a payload: %v", pd.Events()[1])
	}
}

// TestPipelineEventNamesTheTrail: a trail alert's details name the trail
// under "trail", not "queue".
func TestPipelineEventNamesTheTrail(t *testing.T) {
	d := pipelineDetection("t/1", false)
	d.Rule, d.Source = "rootwatch-trail-unhealthy", "arn:aws:cloudtrail:us-east-1:111122223333:trail/org"
	ev := pipelineEvent(&pagerduty.V2Event{Payload: &pagerduty.V2Payload{}}, notify.NewView(&notify.Alert{Detection: d}, ""))
	details, _ := ev.Payload.Details.(map[string]any)
	if details["trail"] != d.Source || details["queue"] != nil {
		t.Errorf("details %v, want the trail under \"trail\"", details)
	}
}

// TestLogGapDetails: a rootwatch-log-gap trigger names the last object
// (not a queue), the account, region and since when.
func TestLogGapDetails(t *testing.T) {
	pd := startPD(t)
	d, err := notify.NewDispatcher(notify.Config{
		Sinks: []notify.SinkConfig{{Sink: newSink(t, Config{EventsURL: pd.srv.URL}), Kind: notify.KindPaging}},
	})
	if err != nil {
		t.Fatal(err)
	}
	det := pipelineDetection("x", false)
	det.Rule, det.EventID, det.EventName = "rootwatch-log-gap", "log-gap/111122223333/us-east-1/1", "LogDelivery"
	det.Source = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/12/01/x.json.gz"
	if err := d.Deliver(t.Context(), []detector.Detection{det}); err != nil {
		t.Fatal(err)
	}
	p, _ := pd.Events()[0]["payload"].(map[string]any)
	cd, _ := p["custom_details"].(map[string]any)
	if cd["last_object"] != det.Source || cd["account_id"] != "111122223333" || cd["region"] != "us-east-1" ||
		cd["since"] != "2026-12-01T08:00:00Z" || cd["queue"] != nil || p["class"] != "rootwatch-log-gap" {
		t.Errorf("trigger payload %v", p)
	}
}

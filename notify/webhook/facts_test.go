package webhook

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify/expect"
)

// TestBodyDetectionFields: the new detection fields reach webhook
// receivers in the embedded detection, as received; the view-level facts
// the detection does not hold (the expectation, the correlated events'
// console links) are in the alert part; all absent when not set.
func TestBodyDetectionFields(t *testing.T) {
	decode := func(t *testing.T, b []byte) (map[string]any, detector.Detection) {
		t.Helper()
		var p struct {
			Alert     map[string]any     `json:"alert"`
			Detection detector.Detection `json:"detection"`
		}
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		return p.Alert, p.Detection
	}
	b, err := Body(alert(), "")
	if err != nil {
		t.Fatal(err)
	}
	al, det := decode(t, b)
	if _, ok := al["expected"]; ok || al["correlated_console_urls"] != nil || det.AssumedRoot != nil || det.LinkUpdate || det.Correlated != nil {
		t.Errorf("fields that are not set: alert %v, detection %+v", al, det)
	}

	a := alert()
	issued := time.Date(2026, 11, 26, 18, 50, 0, 0, time.UTC)
	a.LevelReason, a.CredentialKind, a.CredentialSession, a.LinkUpdate = "reason <b>", "temporary_session", "assumed_root", true
	a.AssumedRoot = &detector.AssumedRootFacts{Linked: true, CallerARN: "arn:aws:sts::9:assumed-role/R/\u202ealice", IssuedAt: &issued, Note: "n"}
	for i := range 3 {
		a.Correlated = append(a.Correlated, detector.EventRef{EventID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), EventTime: issued, Rule: "r", EventName: "n"})
	}
	a.Record = json.RawMessage(`{"eventID":"00000000-0000-4000-8000-000000000002","awsRegion":"us-east-1"}`)
	a.Expected = &expect.Expectation{Reason: "SEC-9", By: "carol", Ends: issued}
	if b, err = Body(a, ""); err != nil {
		t.Fatal(err)
	}
	al, det = decode(t, b)
	if det.LevelReason != "reason <b>" || det.CredentialSession != "assumed_root" || !det.LinkUpdate || det.AssumedRoot == nil ||
		det.AssumedRoot.CallerARN != "arn:aws:sts::9:assumed-role/R/\u202ealice" || len(det.Correlated) != 3 {
		t.Errorf("detection = %+v", det)
	}
	if al["expected"] != "SEC-9 (declared by carol, ends at 2026-11-26T18:50:00Z)" {
		t.Errorf("alert.expected = %v", al["expected"])
	}
	urls, _ := al["correlated_console_urls"].(map[string]any)
	if len(urls) != 1 || urls["00000000-0000-4000-8000-000000000002"] != "https://us-east-1.console.aws.amazon.com/cloudtrailv2/home?region=us-east-1#/events/00000000-0000-4000-8000-000000000002" {
		t.Errorf("alert.correlated_console_urls = %v", urls)
	}
}

package sns

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/expect"
)

// TestMessageDetectionFields: the new detection fields reach SNS
// subscribers twice, as the message's cleaned view facts and in the
// embedded detection (the audit log's JSON), and are absent when the
// detection has none; a late link is tagged LINKED in the subject.
func TestMessageDetectionFields(t *testing.T) {
	issued := time.Date(2026, 11, 26, 18, 50, 0, 0, time.UTC)
	plain := detector.Detection{Rule: "root-api-call", Title: "Root API call", Level: detector.LevelHigh, EventID: "e-1",
		AccountID: "111122223333", Region: "us-east-1", EventTime: issued}
	b, _, err := body(alert(plain), notify.NewView(alert(plain), ""), "s", MaxMessageBytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"level_reason", "credential_kind", "credential_session", "assumed_root", "link_update", "correlated", "expected"} {
		if strings.Contains(string(b), `"`+k+`"`) {
			t.Errorf("message without the field carries %q:\n%s", k, b)
		}
	}

	d := plain
	d.Level, d.LevelReason = detector.LevelCritical, "outside the task policy's purpose\u202e"
	d.CredentialKind, d.CredentialSession = detector.CredentialTemporarySession, detector.SessionAssumedRoot
	d.LinkUpdate = true
	d.AssumedRoot = &detector.AssumedRootFacts{Linked: true, CallerARN: "arn:aws:sts::999900001111:assumed-role/R/alice\nx",
		IssuedAt: &issued, TaskPolicy: "S3UnlockBucketPolicy", Intent: detector.IntentOutside, Note: "outside"}
	for i := range 12 {
		d.Correlated = append(d.Correlated, detector.EventRef{EventID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
			EventTime: issued, Rule: "r", EventName: "ConsoleLogin"})
	}
	d.Record = json.RawMessage(`{"eventID":"00000000-0000-4000-8000-000000000011","awsRegion":"eu-west-1"}`)
	a := alert(d)
	a.Expected = &expect.Expectation{Reason: "SEC-1", By: "bob", Ends: issued.Add(time.Hour)}
	v := notify.NewView(a, "")
	if s := Subject(v); s != "rootwatch [LINKED CRITICAL] Root API call (111122223333)" {
		t.Errorf("Subject = %q", s)
	}
	b, _, err = body(a, v, Subject(v), MaxMessageBytes)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Message
		Detection detector.Detection `json:"detection"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.LevelReason != "outside the task policy's purpose\uFFFD" || m.CredentialKind != "temporary_session" || m.CredentialSession != "assumed_root" ||
		!m.LinkUpdate || m.Expected != "SEC-1 (declared by bob, ends at 2026-11-26T19:50:00Z)" {
		t.Errorf("view facts: %+v", m.Message)
	}
	if ar := m.AssumedRoot; ar == nil || !ar.Linked || ar.CallerARN != "arn:aws:sts::999900001111:assumed-role/R/alice x" ||
		ar.TaskPolicy != "S3UnlockBucketPolicy" || ar.IssuedAt == nil || !ar.IssuedAt.Equal(issued) || ar.Intent != "outside_purpose" {
		t.Errorf("assumed_root = %+v", ar)
	}
	if len(m.Correlated) != notify.MaxCorrelatedShown || m.CorrelatedCount != 12 {
		t.Errorf("correlated: %d shown of %d", len(m.Correlated), m.CorrelatedCount)
	}
	// The embedded detection keeps everything, raw.
	if m.Detection.LevelReason != d.LevelReason || !m.Detection.LinkUpdate || len(m.Detection.Correlated) != 12 ||
		m.Detection.AssumedRoot == nil || m.Detection.AssumedRoot.CallerARN != d.AssumedRoot.CallerARN || m.Detection.CredentialKind != d.CredentialKind {
		t.Errorf("embedded detection = %+v", m.Detection)
	}
}

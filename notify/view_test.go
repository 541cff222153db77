package notify

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/detector"
)

// TestViewDetectionFields: ViewOf carries the level reason, credential,
// assumed-root facts, link flag and correlated events of a detection; a
// correlated event gets a console link only when it is the record that
// completed the correlation (the only one whose region is known), and
// none when the record is absent or not JSON.
func TestViewDetectionFields(t *testing.T) {
	issued := time.Date(2026, 11, 26, 18, 50, 0, 0, time.UTC)
	d := &detector.Detection{Rule: "r", EventID: "corr", LevelReason: "why", CredentialKind: detector.CredentialTemporarySession,
		CredentialSession: detector.SessionAssumedRoot, LinkUpdate: true,
		AssumedRoot: &detector.AssumedRootFacts{Linked: true, CallerARN: "arn:c", TaskPolicyARN: "arn:aws:iam::aws:policy/root-task/X", IssuedAt: &issued, Intent: detector.IntentOutside},
		Correlated:  []detector.EventRef{{EventID: "11111111-1111-4111-8111-111111111111"}, {EventID: "22222222-2222-4222-8222-222222222222"}},
		Record:      json.RawMessage(`{"eventID":"22222222-2222-4222-8222-222222222222","awsRegion":"eu-west-1"}`)}
	v := ViewOf(d, "")
	if v.LevelReason != "why" || v.Credential() != "temporary session (assumed root)" || !v.LinkUpdate {
		t.Errorf("view = %+v", v)
	}
	if a := v.AssumedRoot; a == nil || !a.Outside() || a.Task() != "arn:aws:iam::aws:policy/root-task/X" || !a.IssuedAt.Equal(issued) {
		t.Errorf("assumed root = %+v", v.AssumedRoot)
	}
	if len(v.Correlated) != 2 || v.Correlated[0].ConsoleURL != "" ||
		v.Correlated[1].ConsoleURL != "https://eu-west-1.console.aws.amazon.com/cloudtrailv2/home?region=eu-west-1#/events/22222222-2222-4222-8222-222222222222" {
		t.Errorf("correlated = %+v", v.Correlated)
	}
	for _, rec := range []string{"", "not json", `{"eventID":"22222222-2222-4222-8222-222222222222","awsRegion":"../evil"}`} {
		d.Record = json.RawMessage(rec)
		if v := ViewOf(d, ""); v.Correlated[1].ConsoleURL != "" {
			t.Errorf("record %q: link %q", rec, v.Correlated[1].ConsoleURL)
		}
	}
	for kind, want := range map[string]string{"": "", detector.CredentialLongLivedKey: "long-lived access key", detector.CredentialNone: "none (sign-in)", "weird": "weird"} {
		if got := ViewOf(&detector.Detection{CredentialKind: kind}, "").Credential(); string(got) != want {
			t.Errorf("Credential(%q) = %q, want %q", kind, got, want)
		}
	}
}

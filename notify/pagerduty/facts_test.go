package pagerduty

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/expect"
)

var issued = time.Date(2026, 11, 26, 18, 50, 0, 0, time.UTC)

// assumedRoot returns a member-account root API call from an assumed-root
// session, linked to its AssumeRoot event outside the task policy's
// purpose (level raised to critical).
func assumedRoot(t *testing.T) *notify.Alert {
	t.Helper()
	a := fixture(t, "root-api-call")
	a.CredentialSession = detector.SessionAssumedRoot
	a.Level, a.LevelReason = detector.LevelCritical, "assumed-root action outside the task policy's purpose"
	a.AssumedRoot = &detector.AssumedRootFacts{
		Linked: true, CallerARN: "arn:aws:sts::999900001111:assumed-role/SecurityBreakGlass/alice", CallerAccountID: "999900001111",
		SourceIP: "198.51.100.9", IssuedAt: &issued, TaskPolicy: "S3UnlockBucketPolicy",
		TaskPolicyARN: "arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy", Intent: detector.IntentOutside,
		Note: "outside the purpose of S3UnlockBucketPolicy",
	}
	return a
}

// TestDetectionFieldsInTrigger: each new detection field reaches the
// trigger PagerDuty receives (custom details, and the summary where a
// responder must see it), and is absent when the detection has none.
func TestDetectionFieldsInTrigger(t *testing.T) {
	tests := []struct {
		name    string
		alert   func(*testing.T) *notify.Alert
		summary string
		details map[string]any
		absent  []string
	}{
		{"none", func(t *testing.T) *notify.Alert {
			a := fixture(t, "root-api-call")
			a.CredentialKind, a.CredentialSession = "", ""
			return a
		}, "[rootwatch] AWS Root User API Call in 111122223333 (prod) from 203.0.113.7", nil,
			[]string{"level_reason", "credential_kind", "credential_session", "assumed_root", "link_update", "correlated", "correlated_count", "expected"}},
		{"credential", func(t *testing.T) *notify.Alert { return fixture(t, "root-api-call") },
			"[rootwatch] AWS Root User API Call in 111122223333 (prod) from 203.0.113.7",
			map[string]any{"credential_kind": "temporary_session", "credential_session": "console"}, []string{"level_reason"}},
		{"assumed root linked, level raised", assumedRoot,
			"[rootwatch] AWS Root User API Call in 111122223333 (prod) from 203.0.113.7 — critical: assumed-root action outside the task policy's purpose" +
				" — assumed root obtained by arn:aws:sts::999900001111:assumed-role/SecurityBreakGlass/alice for task S3UnlockBucketPolicy",
			map[string]any{"level": "critical", "level_reason": "assumed-root action outside the task policy's purpose", "credential_session": "assumed_root",
				"assumed_root": map[string]any{"linked": true, "caller_arn": "arn:aws:sts::999900001111:assumed-role/SecurityBreakGlass/alice",
					"caller_account_id": "999900001111", "source_ip": "198.51.100.9", "issued_at": "2026-11-26T18:50:00Z",
					"task_policy": "S3UnlockBucketPolicy", "task_policy_arn": "arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy",
					"intent": "outside_purpose", "note": "outside the purpose of S3UnlockBucketPolicy"}}, []string{"link_update"}},
		{"assumed root unlinked", func(t *testing.T) *notify.Alert {
			a := fixture(t, "root-api-call")
			a.AssumedRoot = &detector.AssumedRootFacts{Note: "unlinked: the AssumeRoot event was not seen"}
			return a
		}, "[rootwatch] AWS Root User API Call in 111122223333 (prod) from 203.0.113.7 — assumed root, unlinked: the AssumeRoot event was not seen",
			map[string]any{"assumed_root": map[string]any{"linked": false, "note": "unlinked: the AssumeRoot event was not seen"}}, nil},
		{"link update", func(t *testing.T) *notify.Alert {
			a := assumedRoot(t)
			a.LinkUpdate = true
			return a
		}, "[rootwatch] linked: AWS Root User API Call in 111122223333 (prod) from 203.0.113.7 — critical:",
			map[string]any{"link_update": true}, nil},
		{"correlated", func(t *testing.T) *notify.Alert {
			a := fixture(t, "root-console-login-failure")
			a.Rule, a.Title, a.EventID = "root-login-brute-force", "Root sign-in brute force", "corr-1"
			for i := range 12 {
				a.Correlated = append(a.Correlated, detector.EventRef{EventID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
					EventTime: issued.Add(time.Duration(i) * time.Minute), Rule: "root-console-login-failure", EventName: "ConsoleLogin", SourceIP: "192.0.2.200"})
			}
			a.Record = json.RawMessage(`{"eventID":"00000000-0000-4000-8000-000000000000","awsRegion":"us-east-1"}`)
			return a
		}, "[rootwatch] Root sign-in brute force in 444455556666 from 192.0.2.200 — 12 correlated events",
			map[string]any{"correlated_count": float64(12), "correlated_more": float64(2)}, nil},
		{"expected, paging anyway", func(t *testing.T) *notify.Alert {
			a := fixture(t, "root-access-key-created")
			a.Expected = &expect.Expectation{ID: "e-1", Account: a.AccountID, Reason: "SEC-123 rotate", By: "alice",
				Start: issued, Ends: issued.Add(2 * time.Hour)}
			return a
		}, " — expected: SEC-123 rotate (declared by alice, ends at 2026-11-26T20:50:00Z)",
			map[string]any{"expected": "SEC-123 rotate (declared by alice, ends at 2026-11-26T20:50:00Z)"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startPD(t)
			s := newSink(t, Config{EventsURL: f.srv.URL})
			if err := s.Send(context.Background(), tt.alert(t)); err != nil {
				t.Fatal(err)
			}
			evs := f.Events()
			if len(evs) != 1 {
				t.Fatalf("%d events", len(evs))
			}
			p := evs[0]["payload"].(map[string]any)
			if sum := p["summary"].(string); !strings.Contains(sum, tt.summary) {
				t.Errorf("summary = %q, want it to contain %q", sum, tt.summary)
			}
			d := p["custom_details"].(map[string]any)
			for k, want := range tt.details {
				got, _ := json.Marshal(d[k])
				w, _ := json.Marshal(want)
				if string(got) != string(w) {
					t.Errorf("custom_details[%s] = %s, want %s", k, got, w)
				}
			}
			for _, k := range tt.absent {
				if v, ok := d[k]; ok {
					t.Errorf("custom_details[%s] = %v, want absent", k, v)
				}
			}
			if tt.name == "correlated" {
				list := d["correlated"].([]any)
				if len(list) != notify.MaxCorrelatedShown {
					t.Fatalf("%d correlated events in the details, want %d", len(list), notify.MaxCorrelatedShown)
				}
				first := list[0].(map[string]any)
				if first["console_url"] != "https://us-east-1.console.aws.amazon.com/cloudtrailv2/home?region=us-east-1#/events/00000000-0000-4000-8000-000000000000" {
					t.Errorf("first correlated event = %v", first)
				}
				if _, ok := list[1].(map[string]any)["console_url"]; ok {
					t.Errorf("a console link for an event whose region is not known: %v", list[1])
				}
			}
		})
	}
}

// TestLinkUpdateSameIncident: a late AssumeRoot link is sent on the dedup
// key of the alert it completes, whether the alert has a burst (through
// the Dispatcher: the session's incident key) or not (its rule and event
// id, not the link's own "/linked" key).
func TestLinkUpdateSameIncident(t *testing.T) {
	first := fixture(t, "root-api-call")
	link := assumedRoot(t)
	link.LinkUpdate = true
	first.Group, link.Group = nil, nil
	if got, want := DedupKey(link), DedupKey(first); got != want {
		t.Errorf("without a burst: link DedupKey = %q, want the original's %q", got, want)
	}

	f := startPD(t)
	s := newSink(t, Config{EventsURL: f.srv.URL})
	d, err := notify.NewDispatcher(notify.Config{Sinks: []notify.SinkConfig{{Sink: s, Kind: notify.KindPaging}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, det := range []detector.Detection{first.Detection, link.Detection} {
		if err := d.Deliver(context.Background(), []detector.Detection{det}); err != nil {
			t.Fatal(err)
		}
	}
	evs := f.Events()
	if len(evs) != 2 {
		t.Fatalf("got %d events, want 2 (the alert, then its link)", len(evs))
	}
	if evs[0]["dedup_key"] != evs[1]["dedup_key"] {
		t.Errorf("the link opened another incident: %v, then %v", evs[0]["dedup_key"], evs[1]["dedup_key"])
	}
	p := evs[1]["payload"].(map[string]any)
	if sum := p["summary"].(string); !strings.HasPrefix(sum, "[rootwatch] escalated to critical: linked: AWS Root User API Call") {
		t.Errorf("link summary = %q", sum)
	}
	if p["severity"] != "critical" {
		t.Errorf("link severity = %v, want critical (the link raised the level)", p["severity"])
	}
}

// TestCorrelationUpdateSameIncident: a correlation follow-up is sent on
// the dedup key of its incident's alert, whether it has a burst (through
// the Dispatcher) or not (the alert's rule and incident id, not its own
// "/+event" key), its summary says how many events joined, and its
// details list them.
func TestCorrelationUpdateSameIncident(t *testing.T) {
	first := fixture(t, "root-console-login-failure")
	first.Rule, first.Title, first.EventID = "root-login-brute-force", "Root sign-in brute force", "corr-0123"
	first.Level = detector.LevelCritical // pages
	for i := range 5 {
		first.Correlated = append(first.Correlated, detector.EventRef{EventID: fmt.Sprintf("ev-%d", i), Rule: "root-console-login-failure"})
	}
	up := *first
	up.Detection.Correlated = append(slices.Clone(first.Correlated), detector.EventRef{EventID: "ev-late", Rule: "root-console-login-failure", Joined: true})
	up.CorrelationUpdate, up.SourceIP = "ev-late", "198.51.100.1"
	first.Group, up.Group = nil, nil
	if got, want := DedupKey(&up), DedupKey(first); got != want {
		t.Errorf("without a burst: follow-up DedupKey = %q, want the alert's %q", got, want)
	}

	f := startPD(t)
	s := newSink(t, Config{EventsURL: f.srv.URL})
	d, err := notify.NewDispatcher(notify.Config{Sinks: []notify.SinkConfig{{Sink: s, Kind: notify.KindPaging}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, det := range []detector.Detection{first.Detection, up.Detection} {
		if err := d.Deliver(context.Background(), []detector.Detection{det}); err != nil {
			t.Fatal(err)
		}
	}
	evs := f.Events()
	if len(evs) != 2 {
		t.Fatalf("got %d events, want 2 (the alert, then its follow-up)", len(evs))
	}
	if evs[0]["dedup_key"] != evs[1]["dedup_key"] {
		t.Errorf("the follow-up opened another incident: %v, then %v", evs[0]["dedup_key"], evs[1]["dedup_key"])
	}
	p := evs[1]["payload"].(map[string]any)
	if sum := p["summary"].(string); !strings.HasPrefix(sum, "[rootwatch] 1 more joined: Root sign-in brute force") || !strings.Contains(sum, "6 correlated events") {
		t.Errorf("follow-up summary = %q", sum)
	}
	cd := p["custom_details"].(map[string]any)
	if j, _ := cd["joined"].([]any); cd["correlation_update"] != true || cd["joined_count"] != float64(1) || len(j) != 1 || j[0].(map[string]any)["event_id"] != "ev-late" {
		t.Errorf("follow-up details: %v", cd)
	}
}

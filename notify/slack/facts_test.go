package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify"
)

// hostileText holds what an attacker may put in an event value: a Slack
// broadcast mention, a link, backticks closing a code span, bidi controls
// and a line break.
const hostileText = "evil<!channel> <https://evil.example|AWS> `code` \u202egnp.exe\u2066 \u200f\nnext"

// issued is the AssumeRoot event time of the fixtures.
var issued = time.Date(2026, 11, 26, 18, 50, 0, 0, time.UTC)

// assumedRootAlert is a member-account root API call from an assumed-root
// session linked to its AssumeRoot event, outside the task policy's
// purpose; hostile puts attacker-controlled text in every event-derived
// string.
func assumedRootAlert(t *testing.T, hostile bool) *notify.Alert {
	t.Helper()
	a := fixture(t, "root-api-call")
	a.AccessKeyID = "ASIAQNOTREALEXAMPLE1"
	a.CredentialKind, a.CredentialSession = detector.CredentialTemporarySession, detector.SessionAssumedRoot
	a.Level = detector.LevelCritical
	a.LevelReason = "assumed-root action outside the task policy's purpose (S3UnlockBucketPolicy)"
	a.AssumedRoot = &detector.AssumedRootFacts{
		Linked: true, CallerARN: "arn:aws:sts::999900001111:assumed-role/SecurityBreakGlass/alice", CallerAccountID: "999900001111",
		SourceIP: "198.51.100.9", IssuedAt: &issued, TaskPolicyARN: "arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy",
		TaskPolicy: "S3UnlockBucketPolicy", AssumeRootEventID: "0a1b2c3d-0000-4000-8000-000000000001", Intent: detector.IntentOutside,
		Note: "s3:ListBuckets is outside the purpose of S3UnlockBucketPolicy",
	}
	if hostile {
		a.LevelReason = hostileText
		a.AssumedRoot.CallerARN = "arn:aws:sts::999900001111:assumed-role/x/" + hostileText
		a.AssumedRoot.TaskPolicy = hostileText
		a.AssumedRoot.Note = hostileText
		a.CredentialSession = hostileText
	}
	return a
}

// correlationAlert is a brute-force correlation of n failed sign-ins; the
// record is the last one's, whose region is known.
func correlationAlert(t *testing.T, n int, hostile bool) *notify.Alert {
	t.Helper()
	a := fixture(t, "root-console-login-failure")
	a.Rule, a.Title, a.Level = "root-login-brute-force", "Root sign-in brute force", detector.LevelHigh
	a.EventID = "corr-0123456789abcdef"
	for i := range n {
		ip := fmt.Sprintf("203.0.113.%d", i+1)
		if hostile {
			ip = hostileText
		}
		a.Correlated = append(a.Correlated, detector.EventRef{
			EventID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), EventTime: issued.Add(time.Duration(i) * time.Minute),
			Rule: "root-console-login-failure", EventName: "ConsoleLogin", SourceIP: ip, Source: "-",
		})
	}
	last := a.Correlated[n-1].EventID
	a.Record = json.RawMessage(`{"eventVersion":"1.09","eventID":"` + last + `","awsRegion":"us-east-1","eventName":"ConsoleLogin","eventSource":"signin.amazonaws.com"}`)
	return a
}

// TestRenderDetectionFields: each new detection field is shown in the
// full message and the fallback text when present, and absent otherwise.
func TestRenderDetectionFields(t *testing.T) {
	r := renderer{now: fixedClock}
	plainAlert := func(t *testing.T) *notify.Alert {
		a := fixture(t, "root-api-call")
		a.Level, a.LevelReason, a.CredentialKind, a.CredentialSession = detector.LevelHigh, "", "", ""
		return a
	}
	tests := []struct {
		name      string
		alert     func(*testing.T) *notify.Alert
		blocks    []string
		text      []string
		notBlocks []string
	}{
		{"none", plainAlert, nil, nil,
			[]string{"Credential*", "Why ", "Assumed root", "Events of this correlation", "Linked"}},
		{"credential kind", func(t *testing.T) *notify.Alert {
			a := plainAlert(t)
			a.CredentialKind = detector.CredentialLongLivedKey
			return a
		}, []string{"*Credential*\\n`long-lived access key`"}, nil, []string{"Why "}},
		{"level reason", func(t *testing.T) *notify.Alert {
			a := plainAlert(t)
			a.Level, a.LevelReason = detector.LevelCritical, "root API call with a long-lived root access key"
			return a
		}, []string{"⬆️ *Why CRITICAL*: `root API call with a long-lived root access key`"},
			[]string{" · CRITICAL because root API call with a long-lived root access key"}, nil},
		{"assumed root linked", func(t *testing.T) *notify.Alert { return assumedRootAlert(t, false) }, []string{
			"*Credential*\\n`temporary session (assumed root)`",
			"🔑 *Assumed root session* obtained by `arn:aws:sts::999900001111:assumed-role/SecurityBreakGlass/alice` (account `999900001111`) from `198.51.100.9` at 2026-11-26 18:50:00 UTC (10 minutes ago) for task `S3UnlockBucketPolicy`",
			"⚠️ *outside the task policy's purpose*",
			"`s3:ListBuckets is outside the purpose of S3UnlockBucketPolicy`",
		}, []string{" · assumed root obtained by arn:aws:sts::999900001111:assumed-role/SecurityBreakGlass/alice for task S3UnlockBucketPolicy"}, nil},
		{"assumed root unlinked", func(t *testing.T) *notify.Alert {
			a := plainAlert(t)
			a.AssumedRoot = &detector.AssumedRootFacts{Note: "unlinked: the AssumeRoot event was not seen"}
			return a
		}, []string{"🔑 *Assumed root session* *unlinked*: the AssumeRoot event was not seen (`unlinked: the AssumeRoot event was not seen`)"},
			[]string{" · assumed root, unlinked"}, []string{"obtained by"}},
		{"correlated", func(t *testing.T) *notify.Alert { return correlationAlert(t, 3, false) }, []string{
			"🧩 *Events of this correlation* (3):",
			"• 2026-11-26 18:50:00Z `root-console-login-failure` `ConsoleLogin` from `203.0.113.1` · `00000000-0000-4000-8000-000000000000`\\n",
			// Only the completing record's region is known: one link.
			"`00000000-0000-4000-8000-000000000002` · <https://us-east-1.console.aws.amazon.com/cloudtrailv2/home?region=us-east-1#/events/00000000-0000-4000-8000-000000000002|CloudTrail>",
		}, []string{" · 3 correlated events"}, []string{"and 0 more"}},
		{"correlated, bounded", func(t *testing.T) *notify.Alert { return correlationAlert(t, 25, false) }, []string{
			"(25):", "`00000000-0000-4000-8000-000000000009`", "\\n… and 15 more",
		}, nil, []string{"`00000000-0000-4000-8000-000000000010`"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := r.Render(tt.alert(t))
			got := string(marshalMessage(t, m))
			for _, w := range tt.blocks {
				if !strings.Contains(got, w) {
					t.Errorf("message lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tt.text {
				if !strings.Contains(m.Text, w) {
					t.Errorf("fallback text lacks %q: %q", w, m.Text)
				}
			}
			for _, w := range tt.notBlocks {
				if strings.Contains(got, w) {
					t.Errorf("message has %q:\n%s", w, got)
				}
			}
			for _, b := range m.Blocks {
				assertBlockLimits(t, b)
			}
		})
	}
}

// assertBlockLimits fails when a section's text is over Slack's 3000
// characters or a field over 2000.
func assertBlockLimits(t *testing.T, b any) {
	t.Helper()
	raw, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Type string `json:"type"`
		Text *struct {
			Text string `json:"text"`
		} `json:"text"`
		Fields []struct {
			Text string `json:"text"`
		} `json:"fields"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	if s.Type != "section" {
		return
	}
	if s.Text != nil && len([]rune(s.Text.Text)) > 3000 {
		t.Errorf("section text of %d characters", len([]rune(s.Text.Text)))
	}
	for _, f := range s.Fields {
		if len([]rune(f.Text)) > 2000 {
			t.Errorf("field of %d characters", len([]rune(f.Text)))
		}
	}
}

// TestRenderDetectionFieldsHostile: attacker-controlled text in the level
// reason, the AssumeRoot caller, task policy and note, the credential
// session and the correlated events' source IPs pings nobody, links
// nowhere, closes no code span and carries no bidi control or line break,
// in the blocks and the fallback text (not mrkdwn: no code spans to
// close there), of the full message and the link note.
func TestRenderDetectionFieldsHostile(t *testing.T) {
	r := renderer{now: fixedClock}
	link := assumedRootAlert(t, true)
	link.LinkUpdate = true
	for name, a := range map[string]*notify.Alert{
		"assumed root": assumedRootAlert(t, true),
		"link update":  link,
		"correlated":   correlationAlert(t, 12, true),
		"follow-up":    followUpAlert(t, 12, 3, true),
	} {
		t.Run(name, func(t *testing.T) {
			m := r.Render(a)
			for what, s := range map[string]string{"blocks": string(marshalMessage(t, Message{Blocks: m.Blocks})), "text": m.Text} {
				// JSON-encoded blocks: decode the strings back to check what Slack gets.
				if what == "blocks" {
					var v any
					if err := json.Unmarshal([]byte(s), &v); err != nil {
						t.Fatal(err)
					}
					s = strings.Join(stringsOf(v), "\n")
				}
				bad := []string{"<!channel>", "<https://evil.example", "\u202e", "\u2066", "\u200f"}
				if what == "blocks" {
					// The fallback text is not mrkdwn: only blocks have code spans.
					bad = append(bad, "`code`")
				}
				for _, b := range bad {
					if strings.Contains(s, b) {
						t.Errorf("%s carry %q:\n%s", what, b, s)
					}
				}
				if !strings.Contains(s, "&lt;!channel&gt;") && !(what == "text" && (name == "correlated" || name == "follow-up")) {
					t.Errorf("%s lack the escaped mention:\n%s", what, s)
				}
				if strings.Contains(s, "\nnext") {
					t.Errorf("%s let a value open a new line:\n%s", what, s)
				}
			}
		})
	}
}

// stringsOf returns every string in a decoded JSON value.
func stringsOf(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, stringsOf(e)...)
		}
		return out
	case map[string]any:
		var out []string
		for _, e := range x {
			out = append(out, stringsOf(e)...)
		}
		return out
	}
	return nil
}

// TestRenderLinkUpdate: a late AssumeRoot link is a note, not an alarm:
// no header, "🔗 Linked: this root session was obtained by … for task
// …", the level reason, and the alert it updates; the webhook's compact
// form is the same note.
func TestRenderLinkUpdate(t *testing.T) {
	r := renderer{now: fixedClock}
	a := assumedRootAlert(t, false)
	a.LinkUpdate = true
	a.Group.Seq, a.Group.Count = 1, 2
	for name, m := range map[string]Message{"full": r.Render(a), "follow-up": r.RenderFollowUp(a)} {
		got := string(marshalMessage(t, m))
		for _, w := range []string{
			"🔗 *Linked*: this root session was obtained by `arn:aws:sts::999900001111:assumed-role/SecurityBreakGlass/alice`",
			"for task `S3UnlockBucketPolicy`", "⬆️ *Why CRITICAL*",
			"Update of *AWS Root User API Call* in `111122223333` · Rule `root-api-call` · Event ID `7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d`",
		} {
			if !strings.Contains(got, w) {
				t.Errorf("%s: link note lacks %q:\n%s", name, w, got)
			}
		}
		if strings.Contains(got, `"type": "header"`) {
			t.Errorf("%s: a link note has an alarm header:\n%s", name, got)
		}
		if !strings.HasPrefix(m.Text, "🔗 Linked: 🚨 CRITICAL: AWS Root User API Call") {
			t.Errorf("%s: fallback text = %q", name, m.Text)
		}
	}
}

// TestLinkUpdateThroughDispatcher: a member-account root alert from an
// assumed-root session goes out unlinked; the late link (same rule and
// event, LinkUpdate) delivered by the Dispatcher is a reply in the
// original's thread, rendered as a link note, and does not count as one
// more event of the session on the first message. A link that raises the
// level (outside the task policy's purpose) is broadcast as an
// escalation and raises the first message.
func TestLinkUpdateThroughDispatcher(t *testing.T) {
	for _, outside := range []bool{false, true} {
		t.Run(fmt.Sprintf("outside=%v", outside), func(t *testing.T) {
			s, f := startSlack(t, Config{})
			d, err := notify.NewDispatcher(notify.Config{Sinks: []notify.SinkConfig{{Sink: s, Kind: notify.KindChat}}})
			if err != nil {
				t.Fatal(err)
			}
			linked := assumedRootAlert(t, false).Detection
			first := linked
			first.AssumedRoot = &detector.AssumedRootFacts{Note: "unlinked: the AssumeRoot event was not seen"}
			first.Level, first.LevelReason = detector.LevelHigh, ""
			linked.LinkUpdate = true
			if !outside {
				linked.Level, linked.LevelReason = detector.LevelHigh, ""
				linked.AssumedRoot.Intent = detector.IntentWithin
			}
			ctx := context.Background()
			if err := d.Deliver(ctx, []detector.Detection{first}); err != nil {
				t.Fatal(err)
			}
			if err := d.Deliver(ctx, []detector.Detection{linked}); err != nil {
				t.Fatal(err)
			}
			parents, replies := threadsOf(f.Calls())
			if len(parents) != 1 {
				t.Fatalf("%d top-level messages, want 1 (the link is a reply): %+v", len(parents), f.Calls())
			}
			var reply, update *apiCall
			for _, c := range f.Calls() {
				switch {
				case c.Method == "chat.postMessage" && c.ThreadTS != "":
					reply = &c
				case c.Method == "chat.update":
					update = &c
				}
			}
			if reply == nil || len(replies) != 1 {
				t.Fatalf("no reply in the original's thread: %+v", f.Calls())
			}
			if !strings.Contains(reply.Blocks, "🔗 *Linked*: this root session was obtained by") || strings.Contains(reply.Blocks, `"type":"header"`) {
				t.Errorf("reply is not a link note: %s", reply.Blocks)
			}
			if !strings.HasPrefix(reply.Text, "🔗 Linked: ") {
				t.Errorf("reply text = %q", reply.Text)
			}
			if !outside {
				if reply.Broadcast == "true" || update != nil {
					t.Errorf("a link within purpose was broadcast (%q) or edited the first message (%+v)", reply.Broadcast, update)
				}
				return
			}
			if reply.Broadcast != "true" || !strings.Contains(reply.Blocks, "Escalation") {
				t.Errorf("a link raising the level is not broadcast as an escalation: broadcast=%q %s", reply.Broadcast, reply.Blocks)
			}
			if update == nil || !strings.Contains(update.Blocks, "CRITICAL (escalated)") {
				t.Errorf("first message not raised: %+v", update)
			}
		})
	}
}

// followUpAlert is a follow-up of correlationAlert's incident: n events,
// the last joined of them new, raised by the last.
func followUpAlert(t *testing.T, n, joined int, hostile bool) *notify.Alert {
	t.Helper()
	a := correlationAlert(t, n, hostile)
	for i := n - joined; i < n; i++ {
		a.Correlated[i].Joined = true
	}
	a.CorrelationUpdate = a.Correlated[n-1].EventID
	return a
}

// TestRenderCorrelationUpdate: a correlation follow-up is a note, not an
// alarm: no header, "➕ N more events joined this incident" listing only
// the new events, the count in all, and the incident it updates; the
// webhook's compact form is the same note.
func TestRenderCorrelationUpdate(t *testing.T) {
	r := renderer{now: fixedClock}
	a := followUpAlert(t, 8, 2, false)
	a.Group.Seq, a.Group.Count = 1, 2
	for name, m := range map[string]Message{"full": r.Render(a), "follow-up": r.RenderFollowUp(a)} {
		got := string(marshalMessage(t, m))
		for _, w := range []string{
			"➕ *2 more events joined this incident* (8 in all):",
			"`00000000-0000-4000-8000-000000000006`", "`00000000-0000-4000-8000-000000000007`",
			"Update of *Root sign-in brute force* in `444455556666` · Rule `root-login-brute-force` · Incident `corr-0123456789abcdef`",
		} {
			if !strings.Contains(got, w) {
				t.Errorf("%s: follow-up note lacks %q:\n%s", name, w, got)
			}
		}
		if strings.Contains(got, "000000000005") || strings.Contains(got, `"type": "header"`) {
			t.Errorf("%s: a follow-up note lists old events or has an alarm header:\n%s", name, got)
		}
		if !strings.HasPrefix(m.Text, "➕ 2 more events joined: ") {
			t.Errorf("%s: fallback text = %q", name, m.Text)
		}
	}
}

// TestCorrelationUpdateThroughDispatcher: a correlation alert delivered
// by the Dispatcher is a message of its own; its follow-up is a reply in
// its thread, rendered as a "more events joined" note, neither broadcast
// nor counted as one more event on the first message.
func TestCorrelationUpdateThroughDispatcher(t *testing.T) {
	s, f := startSlack(t, Config{})
	d, err := notify.NewDispatcher(notify.Config{Sinks: []notify.SinkConfig{{Sink: s, Kind: notify.KindChat}}})
	if err != nil {
		t.Fatal(err)
	}
	first := correlationAlert(t, 5, false).Detection
	up := followUpAlert(t, 6, 1, false).Detection
	up.SourceIP = "198.51.100.1" // another address: still the incident's thread
	ctx := context.Background()
	for _, det := range []detector.Detection{first, up, up} {
		if err := d.Deliver(ctx, []detector.Detection{det}); err != nil {
			t.Fatal(err)
		}
	}
	parents, replies := threadsOf(f.Calls())
	if len(parents) != 1 || len(replies) != 1 {
		t.Fatalf("%d top-level messages and %d replies, want 1 and 1: %+v", len(parents), len(replies), f.Calls())
	}
	for _, c := range f.Calls() {
		switch {
		case c.Method == "chat.update":
			t.Errorf("a follow-up edited the first message: %+v", c)
		case c.Method == "chat.postMessage" && c.ThreadTS != "":
			if !strings.Contains(c.Blocks, "➕ *1 more event joined this incident* (6 in all)") || strings.Contains(c.Blocks, `"type":"header"`) || c.Broadcast == "true" {
				t.Errorf("reply is not a follow-up note: broadcast=%q %s", c.Broadcast, c.Blocks)
			}
		}
	}
}

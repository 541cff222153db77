package console

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/jsonl"
)

func hostile() *detector.Detection {
	no := false
	return &detector.Detection{
		Rule: "root-console-login", Level: detector.LevelHigh, Title: "Root sign-in\u202e",
		EventID: "9b47c5a4-b023-480d-856f-5fad176338d5", EventName: "ConsoleLogin", EventSource: "signin.amazonaws.com",
		EventTime: time.Date(2026, 11, 20, 8, 58, 2, 0, time.UTC), AccountID: "111122223333", Region: "us-east-1",
		SourceIP: "45.83.64.19", UserAgent: "Mozilla/5.0 \x1b[31m<b>&\u200e\u200f\u061c", Principal: "arn:aws:iam::111122223333:root",
		MFAUsed: &no, Outcome: "Failure", ErrorCode: "Denied", ErrorMessage: "line\nbreak", Source: "-",
	}
}

func TestRender(t *testing.T) {
	got := Render(notify.ViewOf(hostile(), ""), false)
	want := `HIGH  root-console-login  Root sign-in\u202e
    when     2026-11-20T08:58:02Z
    account  111122223333  region us-east-1
    who      arn:aws:iam::111122223333:root
    what     signin.amazonaws.com:ConsoleLogin  Failure  MFA: NO
    error    Denied: line\nbreak
    from     45.83.64.19  "Mozilla/5.0 \x1b[31m<b>&\u200e\u200f\u061c"
    event    9b47c5a4-b023-480d-856f-5fad176338d5
    source   -

`
	if got != want {
		t.Errorf("Render =\n%s\nwant\n%s", got, want)
	}
}

func TestRenderColorOnlyOnTheLevel(t *testing.T) {
	got := Render(notify.ViewOf(hostile(), ""), true)
	if !strings.HasPrefix(got, "\x1b[1;31mHIGH\x1b[0m  ") {
		t.Errorf("no colour on the level: %q", got[:20])
	}
	if strings.Count(got, "\x1b") != 2 {
		t.Errorf("escape characters beyond the level's colour: %q", got)
	}
}

// TestPrinterJSONIsTheAuditEncoding checks that scan's JSON lines and the
// stdout audit sink write the same bytes for the same detection.
func TestPrinterJSONIsTheAuditEncoding(t *testing.T) {
	d := hostile()
	var printed, audit bytes.Buffer
	NewPrinter(&printed, FormatJSON, false).Print(d)
	if err := jsonl.Encode(&audit, d); err != nil {
		t.Fatal(err)
	}
	if printed.String() != audit.String() || !strings.HasSuffix(printed.String(), "}\n") {
		t.Errorf("printer wrote %q, audit encoding %q", printed.String(), audit.String())
	}
}

func TestCheckFormat(t *testing.T) {
	for _, f := range Formats {
		if err := CheckFormat(f); err != nil {
			t.Errorf("CheckFormat(%q) = %v", f, err)
		}
	}
	if err := CheckFormat("xml"); err == nil || err.Error() != `invalid value "xml" (want text or json)` {
		t.Errorf("CheckFormat(xml) = %v", err)
	}
}

// TestRenderDetectionFields: the credential, the level reason, the
// assumed-root attribution, a late link, an expectation and a
// correlation's events each get their rows when present, with hostile
// values escaped; none of them when absent.
func TestRenderDetectionFields(t *testing.T) {
	issued := time.Date(2026, 11, 20, 8, 50, 0, 0, time.UTC)
	base := hostile()
	if got := Render(notify.ViewOf(base, ""), false); strings.Contains(got, "cred ") || strings.Contains(got, "assumed") ||
		strings.Contains(got, "why ") || strings.Contains(got, "events ") || strings.Contains(got, "update ") {
		t.Errorf("rows for absent fields:\n%s", got)
	}

	d := hostile()
	d.CredentialKind, d.CredentialSession = detector.CredentialTemporarySession, detector.SessionAssumedRoot
	d.LevelReason = "outside the task policy's purpose\x1b[2J"
	d.LinkUpdate = true
	d.AssumedRoot = &detector.AssumedRootFacts{Linked: true, CallerARN: "arn:aws:sts::999900001111:assumed-role/R/alice\u202e",
		CallerAccountID: "999900001111", SourceIP: "198.51.100.9", IssuedAt: &issued, TaskPolicy: "S3UnlockBucketPolicy",
		Intent: detector.IntentOutside, Note: "note\nline"}
	want := `    cred     temporary session (assumed root)
    why      outside the task policy's purpose\x1b[2J
    assumed  by arn:aws:sts::999900001111:assumed-role/R/alice\u202e  account 999900001111  from 198.51.100.9  at 2026-11-20T08:50:00Z  task S3UnlockBucketPolicy  OUTSIDE the task policy's purpose
             note\nline
    update   late AssumeRoot link: this alert was reported before without it
`
	if got := Render(notify.ViewOf(d, ""), false); !strings.Contains(got, want) {
		t.Errorf("Render =\n%s\nwant it to contain\n%s", got, want)
	}

	u := hostile()
	u.AssumedRoot = &detector.AssumedRootFacts{Note: "the AssumeRoot event was not seen"}
	if got := Render(notify.ViewOf(u, ""), false); !strings.Contains(got, "    assumed  unlinked: the AssumeRoot event was not seen\n") {
		t.Errorf("unlinked:\n%s", got)
	}

	c := hostile()
	for i := range 12 {
		c.Correlated = append(c.Correlated, detector.EventRef{EventID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
			EventTime: issued.Add(time.Duration(i) * time.Minute), Rule: "root-console-login-failure", EventName: "ConsoleLogin", SourceIP: "45.83.64.19\x1b]0;"})
	}
	c.Record = []byte(`{"eventID":"00000000-0000-4000-8000-000000000000","awsRegion":"us-east-1"}`)
	got := Render(notify.ViewOf(c, ""), false)
	for _, w := range []string{
		"    events   12 correlated\n",
		"      - 2026-11-20T08:50:00Z  root-console-login-failure  ConsoleLogin  from 45.83.64.19\\x1b]0;  00000000-0000-4000-8000-000000000000  https://us-east-1.console.aws.amazon.com/cloudtrailv2/home?region=us-east-1#/events/00000000-0000-4000-8000-000000000000\n",
		"      - 2026-11-20T08:51:00Z  root-console-login-failure  ConsoleLogin  from 45.83.64.19\\x1b]0;  00000000-0000-4000-8000-000000000001\n",
		"      … and 2 more\n",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("correlation lacks %q:\n%s", w, got)
		}
	}
	if strings.Contains(got, "000000000010") || strings.Contains(got, "\x1b") {
		t.Errorf("more than 10 events, or a raw escape:\n%s", got)
	}

	e := notify.ViewOf(hostile(), "")
	e.Expected = "SEC-123 close sandbox\u202e"
	if got := Render(e, false); !strings.Contains(got, "    expected SEC-123 close sandbox\\u202e\n") {
		t.Errorf("expected:\n%s", got)
	}
}

// TestRenderCorrelationUpdate: a correlation follow-up says how many
// events joined its incident and marks them "+" in the event list.
func TestRenderCorrelationUpdate(t *testing.T) {
	d := hostile()
	d.Rule, d.EventID = "root-login-brute-force", "corr-0123"
	d.Correlated = []detector.EventRef{{EventID: "ev-1", Rule: "r", EventName: "ConsoleLogin"}, {EventID: "ev-2", Rule: "r", EventName: "ConsoleLogin", Joined: true}}
	d.CorrelationUpdate = "ev-2"
	got := Render(notify.ViewOf(d, ""), false)
	for _, w := range []string{"    update   1 more event(s) joined this incident (marked +)\n", "      - unknown  r  ConsoleLogin  ev-1\n", "      + unknown  r  ConsoleLogin  ev-2\n"} {
		if !strings.Contains(got, w) {
			t.Errorf("Render =\n%s\nwant it to contain %q", got, w)
		}
	}
}

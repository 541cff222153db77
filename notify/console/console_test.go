package console

import (
	"bytes"
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

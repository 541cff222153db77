package slack

import (
	"github.com/rootwatch/rootwatch/notify/untrusted"

	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current rendering")

// fixedNow is the clock of every rendering test.
var fixedNow = time.Date(2026, 11, 26, 19, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return fixedNow }

// builtinRules are the built-in rule names; each has a realistic detection
// in testdata/detections/<rule>.json and a golden message in
// testdata/golden/<rule>.json.
var builtinRules = []string{
	"root-console-login",
	"root-console-login-no-mfa",
	"root-console-login-failure",
	"root-api-call",
	"root-access-key-created",
	"root-mfa-change",
	"root-password-change",
	"root-account-settings-change",
	"assume-root",
}

// accountNames is the account-name mapping routing would apply.
var accountNames = map[string]string{"111122223333": "prod", "999900001111": "security"}

// loadAlert reads a detection fixture into an alert of a new burst.
func loadAlert(t *testing.T, path string) *notify.Alert {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d detector.Detection
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &notify.Alert{
		Detection:   d,
		AccountName: accountNames[d.AccountID],
		Group:       &notify.Group{Key: d.AccountID + "/" + d.SourceIP, Seq: 0, Count: 1, Started: d.EventTime},
	}
}

func marshalMessage(t *testing.T, m Message) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRenderGolden(t *testing.T) {
	r := renderer{now: fixedClock}
	for _, name := range append(builtinRules, "test-alert") {
		t.Run(name, func(t *testing.T) {
			rule := name
			if name == "test-alert" {
				rule = notify.TestRule
			}
			var a *notify.Alert
			if name == "test-alert" {
				// What `rootwatch notify test` sends.
				a = notify.TestAlert(fixedNow)
			} else {
				a = loadAlert(t, filepath.Join("testdata", "detections", rule+".json"))
			}
			if a.Rule != rule {
				t.Fatalf("fixture rule = %q, want %q", a.Rule, rule)
			}
			rule = name
			got := marshalMessage(t, r.Render(a))
			golden := filepath.Join("testdata", "golden", rule+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("rendering of %s differs from %s (go test -update rewrites it):\n%s", rule, golden, got)
			}
		})
	}
}

// TestRenderContent checks the facts a responder needs are in the message.
func TestRenderContent(t *testing.T) {
	r := renderer{now: fixedClock}
	tests := []struct {
		rule string
		want []string
	}{
		{"root-console-login-no-mfa", []string{
			"🚨 CRITICAL: AWS Root User Console Sign-In Without MFA",
			"`111122223333` (`prod`)", "`us-east-1`", "`arn:aws:iam::111122223333:root`",
			"`signin.amazonaws.com:ConsoleLogin`", "`198.51.100.23`",
			"2026-11-26 18:53:41 UTC\\n(6 minutes ago)", "*no* ⚠️", "✅ success",
			"Event ID `a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d`", "Rule `root-console-login-no-mfa`",
			"<https://us-east-1.console.aws.amazon.com/cloudtrailv2/home?region=us-east-1#/events/a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d|",
			`"color": "#D40E0D"`,
		}},
		{"root-console-login-failure", []string{"🟠 MEDIUM", "❌ `Failure`: `Failed authentication`", "(1 hour ago)", `"color": "#FBBD08"`}},
		{"root-mfa-change", []string{"❌ failed: `AccessDenied`: `User: arn:aws:iam::777788889999:root is not authorized", "(2 days ago)", "MFA used*\\nunknown"}},
		{"assume-root", []string{"`arn:aws:iam::222233334444:root`\\nby `arn:aws:sts::999900001111:assumed-role/SecurityBreakGlass/alice`", "`999900001111` (`security`)", "region=eu-central-1#/events/"}},
		{"root-api-call", []string{"🔴 HIGH", "`s3.amazonaws.com:ListBuckets`", "just now", `"color": "#F2711C"`}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			got := string(marshalMessage(t, r.Render(loadAlert(t, filepath.Join("testdata", "detections", tt.rule+".json")))))
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("message lacks %q:\n%s", w, got)
				}
			}
		})
	}
}

// rawControlSequences are Slack control sequences that must never reach
// Slack unescaped from event data.
var rawControlSequences = []string{"<!channel>", "<!here>", "<!everyone>", "<@U123>", "<#C999>", "<!subteam", "<https://evil"}

func TestRenderEscapesInjection(t *testing.T) {
	r := renderer{now: fixedClock}
	a := loadAlert(t, filepath.Join("testdata", "injection.json"))
	tests := []struct {
		name    string
		m       Message
		escaped []string
	}{
		{"full", r.Render(a), []string{"&lt;!channel&gt;", "&lt;@U123&gt;", "&lt;!here&gt;"}},
		{"follow-up", r.RenderFollowUp(a), []string{"&lt;!here&gt;"}},
	}
	for _, tt := range tests {
		m := tt.m
		t.Run(tt.name, func(t *testing.T) {
			// Compare on the decoded strings Slack will read, not on the JSON
			// encoding (which escapes < and > itself).
			var texts []string
			collectStrings(t, m, &texts)
			all := strings.Join(texts, "\n")
			for _, raw := range rawControlSequences {
				if strings.Contains(all, raw) {
					t.Errorf("raw %q reached the message", raw)
				}
			}
			for _, w := range tt.escaped {
				if !strings.Contains(all, w) {
					t.Errorf("escaped %q missing", w)
				}
			}
			if strings.Contains(all, "\u202e") {
				t.Error("bidi override reached the message")
			}
			if strings.Contains(all, "\n> quoted") {
				t.Error("a line break in an event value reached the message")
			}
		})
	}
	full := r.Render(a)
	var texts []string
	collectStrings(t, full, &texts)
	all := strings.Join(texts, "\n")
	for _, w := range []string{
		"&lt;https://evil.example/phish|AWS Console&gt;",
		"`arn:aws:iam::111122223333:rootˋ&lt;!everyone&gt;ˋ`",
		"&amp;amp; &amp; done",
		"AAAA…`",
	} {
		if !strings.Contains(all, w) {
			t.Errorf("message lacks %q", w)
		}
	}
}

// collectStrings appends every string value in m's JSON form to out.
func collectStrings(t *testing.T, m Message, out *[]string) {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			*out = append(*out, x)
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
}

func TestRenderTestAlert(t *testing.T) {
	r := renderer{now: fixedClock}
	a := loadAlert(t, filepath.Join("testdata", "detections", "root-console-login.json"))
	a.Test = true
	for name, m := range map[string]Message{"full": r.Render(a), "follow-up": r.RenderFollowUp(a)} {
		t.Run(name, func(t *testing.T) {
			if !strings.HasPrefix(m.Text, "["+TestHeader+"]") {
				t.Errorf("fallback text %q does not start with the test marker", m.Text)
			}
			b := string(marshalMessage(t, m))
			if !strings.Contains(b, "TEST ALERT — not a real detection") {
				t.Errorf("no test marker in blocks:\n%s", b)
			}
		})
	}
}

func TestWithMoreCount(t *testing.T) {
	r := renderer{now: fixedClock}
	parent := r.Render(loadAlert(t, filepath.Join("testdata", "detections", "root-api-call.json")))
	n := len(parent.Blocks)
	tests := []struct {
		more int
		want string
	}{
		{1, "… and *1* more event in this root session"},
		{41, "… and *41* more events in this root session"},
	}
	for _, tt := range tests {
		got := WithMoreCount(parent, tt.more)
		if len(parent.Blocks) != n {
			t.Fatal("WithMoreCount modified its argument")
		}
		if b := string(marshalMessage(t, got)); !strings.Contains(b, tt.want) {
			t.Errorf("more=%d: lacks %q", tt.more, tt.want)
		}
	}
}

func TestCode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "`plain`"},
		{"", "_none_"},
		{"   ", "_none_"},
		{"<!channel>", "`&lt;!channel&gt;`"},
		{"a`b", "`aˋb`"},
		{"*x* _y_ ~z~", "`*x* _y_ ~z~`"},
		{"a&b", "`a&amp;b`"},
		{"line1\nline2\r\tx", "`line1 line2  x`"},
		{"\x00\x07", "`\uFFFD\uFFFD`"},
		{"abc\u202Edef\u2066", "`abc\uFFFDdef\uFFFD`"},
		{"bad\xffutf8", "`bad\uFFFDutf8`"},
		{strings.Repeat("é", 300), "`" + strings.Repeat("é", 255) + "…`"},
		{strings.Repeat("<", 300), "`" + strings.Repeat("&lt;", 150) + "…`"},
		{strings.Repeat("&", 300), "`" + strings.Repeat("&amp;", 120) + "…`"},
		{strings.Repeat("語", 300), "`" + strings.Repeat("語", 200) + "…`"},
	}
	for _, tt := range tests {
		if got := code(untrusted.Text(tt.in)); got != tt.want {
			t.Errorf("code(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTruncateRunes(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "ab…"},
		{"日本語テキスト", 4, "日本語…"},
		{"", 5, ""},
	}
	for _, tt := range tests {
		if got := truncateRunes(tt.in, tt.max); got != tt.want {
			t.Errorf("truncateRunes(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

func TestAgo(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "just now"},
		{59 * time.Second, "just now"},
		{time.Minute, "1 minute ago"},
		{12*time.Minute + 30*time.Second, "12 minutes ago"},
		{90 * time.Minute, "1 hour ago"},
		{47 * time.Hour, "47 hours ago"},
		{72 * time.Hour, "3 days ago"},
		{-5 * time.Minute, "5 minutes from now"},
	}
	for _, tt := range tests {
		if got := ago(fixedNow, fixedNow.Add(-tt.d)); got != tt.want {
			t.Errorf("ago(%s) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestStyleFor(t *testing.T) {
	tests := []struct {
		level        detector.Level
		emoji, color string
	}{
		{detector.LevelCritical, "🚨", "#D40E0D"},
		{detector.LevelHigh, "🔴", "#F2711C"},
		{detector.LevelMedium, "🟠", "#FBBD08"},
		{detector.LevelLow, "🔵", "#2185D0"},
		{detector.LevelInformational, "🔵", "#2185D0"},
	}
	for _, tt := range tests {
		if s := styleFor(tt.level); s.Emoji != tt.emoji || s.Color != tt.color {
			t.Errorf("%s: got %s %s, want %s %s", tt.level, s.Emoji, s.Color, tt.emoji, tt.color)
		}
	}
}

// TestRenderWithinSlackLimits renders a detection whose every event value
// is as long and as escape-heavy as possible and checks Slack's limits
// (header 150 characters, section text 3000, field 2000, at most 10
// fields), so a crafted event cannot get its alert rejected.
func TestRenderWithinSlackLimits(t *testing.T) {
	worst := strings.Repeat("&", 5000)
	mfa := false
	a := &notify.Alert{
		Detection: detector.Detection{
			Rule: "root-api-call", Level: detector.LevelHigh, Title: strings.Repeat("T", 400),
			EventID: worst, EventName: worst, EventSource: worst, EventTime: fixedNow, AccountID: worst,
			Region: worst, SourceIP: worst, UserAgent: worst, Principal: worst, InvokedBy: worst,
			MFAUsed: &mfa, Outcome: worst, ErrorCode: worst, ErrorMessage: worst, Target: worst,
		},
		AccountName: worst,
		Group:       &notify.Group{Key: "k", Seq: 3, Count: 4},
	}
	r := renderer{now: fixedClock}
	for name, m := range map[string]Message{"full": r.Render(a), "follow-up": r.RenderFollowUp(a), "parent": WithMoreCount(r.Render(a), 99)} {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var msg struct {
			Blocks []struct {
				Type   string
				Text   *struct{ Text string }
				Fields []struct{ Text string }
			}
		}
		if err := json.Unmarshal(b, &msg); err != nil {
			t.Fatal(err)
		}
		for i, blk := range msg.Blocks {
			limit := 3000
			if blk.Type == "header" {
				limit = 150
			}
			if blk.Text != nil && len([]rune(blk.Text.Text)) > limit {
				t.Errorf("%s block %d (%s): text has %d characters, limit %d", name, i, blk.Type, len([]rune(blk.Text.Text)), limit)
			}
			if len(blk.Fields) > 10 {
				t.Errorf("%s block %d: %d fields", name, i, len(blk.Fields))
			}
			for j, f := range blk.Fields {
				if len(f.Text) > 2000 {
					t.Errorf("%s block %d field %d: %d bytes", name, i, j, len(f.Text))
				}
			}
		}
		if len(m.Text) > 4000 {
			t.Errorf("%s: fallback text is %d bytes", name, len(m.Text))
		}
	}
}

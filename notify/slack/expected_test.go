package slack

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/notify/expect"
)

// TestRenderExpected: an alert covered by a declaration of planned root
// use carries one context line "expected: REASON (declared by X, ends at
// T)", with the reason and author escaped (they are typed by people, and
// may hold Slack control sequences or backticks); others carry none.
func TestRenderExpected(t *testing.T) {
	r := renderer{now: fixedClock}
	a := loadAlert(t, filepath.Join("testdata", "detections", "root-console-login.json"))
	if got := string(marshalMessage(t, r.Render(a))); strings.Contains(got, "expected:") {
		t.Fatalf("an ordinary alert is marked expected:\n%s", got)
	}
	a.Expected = &expect.Expectation{ID: "e-1", Account: a.AccountID, Reason: "SEC-123 close sandbox <!channel> `x`", By: "alice <@U123>",
		Start: time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC), Ends: time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)}
	got := string(marshalMessage(t, r.Render(a)))
	want := `expected: ` + "`" + `SEC-123 close sandbox \u0026lt;!channel\u0026gt; ˋxˋ (declared by alice \u0026lt;@U123\u0026gt;, ends at 2026-11-26T20:00:00Z)` + "`"
	if !strings.Contains(got, want) {
		t.Errorf("message lacks %q:\n%s", want, got)
	}
	for _, raw := range []string{"<!channel>", "<@U123>"} {
		if strings.Contains(got, raw) {
			t.Errorf("message carries %q unescaped", raw)
		}
	}
}

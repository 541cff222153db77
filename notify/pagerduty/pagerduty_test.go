package pagerduty

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PagerDuty/go-pagerduty"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/notifytest"
)

const testRoutingKey = "R0UT1NGKEYsecret0123456789abcdef"

// fakePD records Events API posts and answers from a script: each post
// takes the next scripted reply, and is accepted once the script is used up.
type fakePD struct {
	mu      sync.Mutex
	events  []map[string]any
	raw     [][]byte
	paths   []string
	ctypes  []string
	script  []func(http.ResponseWriter, *http.Request)
	release chan struct{}
	srv     *httptest.Server
}

func startPD(t *testing.T) *fakePD {
	t.Helper()
	f := &fakePD{release: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var raw json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		var ev map[string]any
		_ = json.Unmarshal(raw, &ev)
		f.mu.Lock()
		f.events = append(f.events, ev)
		f.raw = append(f.raw, raw)
		f.paths = append(f.paths, r.Method+" "+r.URL.Path)
		f.ctypes = append(f.ctypes, r.Header.Get("Content-Type"))
		var reply func(http.ResponseWriter, *http.Request)
		if len(f.script) > 0 {
			reply, f.script = f.script[0], f.script[1:]
		}
		f.mu.Unlock()
		if reply != nil {
			reply(w, r)
			return
		}
		notifytest.WriteJSON(w, http.StatusAccepted, map[string]any{"status": "success", "message": "Event processed", "dedup_key": ev["dedup_key"]})
	}))
	t.Cleanup(func() {
		close(f.release)
		f.srv.Close()
	})
	return f
}

func (f *fakePD) Events() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.events...)
}

func newSink(t *testing.T, cfg Config, opts ...Option) *Sink {
	t.Helper()
	if cfg.RoutingKey == "" {
		cfg.RoutingKey = testRoutingKey
	}
	s, err := New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var accountNames = map[string]string{"111122223333": "prod", "999900001111": "security"}

func fixture(t *testing.T, rule string) *notify.Alert {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", rule+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var d detector.Detection
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return &notify.Alert{
		Detection:   d,
		AccountName: accountNames[d.AccountID],
		Group:       &notify.Group{Key: d.AccountID + "/" + d.SourceIP, Seq: 0, Count: 1, Started: d.EventTime},
	}
}

func assertNoSecret(t *testing.T, what, s string) {
	t.Helper()
	notifytest.AssertNoSecret(t, what, s, testRoutingKey)
}

func TestSendTriggers(t *testing.T) {
	tests := []struct {
		rule, severity, summary string
		details                 map[string]any
	}{
		{"root-console-login-no-mfa", "critical",
			"[rootwatch] AWS Root User Console Sign-In Without MFA in 111122223333 (prod) from 198.51.100.23",
			map[string]any{"mfa_used": "no", "result": "success", "outcome": "Success", "account_name": "prod",
				"user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
				"event_time": "2026-11-26T18:53:41Z", "principal": "arn:aws:iam::111122223333:root", "identity_type": "Root"}},
		{"root-console-login", "error",
			"[rootwatch] AWS Root User Console Sign-In in 111122223333 (prod) from 203.0.113.7",
			map[string]any{"mfa_used": "yes", "level": "high"}},
		{"root-console-login-failure", "warning",
			"[rootwatch] AWS Root User Console Sign-In Failure in 444455556666 from 192.0.2.200",
			map[string]any{"result": "failure: Failure", "error_message": "Failed authentication"}},
		{"root-mfa-change", "error",
			"[rootwatch] AWS Root User MFA Device Changed in 777788889999 from 198.51.100.99",
			map[string]any{"mfa_used": "unknown", "result": "failure: AccessDenied", "error_code": "AccessDenied"}},
		{"assume-root", "error",
			"[rootwatch] Privileged Root Session Assumed (sts:AssumeRoot) in 999900001111 (security) targeting arn:aws:iam::222233334444:root from 10.20.30.40",
			map[string]any{"target": "arn:aws:iam::222233334444:root", "access_key_id": "ASIAXXXXXXXXEXAMPLE"}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			f := startPD(t)
			s := newSink(t, Config{EventsURL: f.srv.URL + "/"})
			a := fixture(t, tt.rule)
			if err := s.Send(context.Background(), a); err != nil {
				t.Fatalf("Send: %v", err)
			}
			evs := f.Events()
			if len(evs) != 1 || f.paths[0] != "POST /v2/enqueue" || f.ctypes[0] != "application/json" {
				t.Fatalf("got %d events %v %v, want 1 JSON POST /v2/enqueue", len(evs), f.paths, f.ctypes)
			}
			ev := evs[0]
			payload := ev["payload"].(map[string]any)
			console := "https://" + a.Region + ".console.aws.amazon.com/cloudtrailv2/home?region=" + a.Region + "#/events/" + a.EventID
			checks := map[string][2]any{
				"routing_key":  {ev["routing_key"], testRoutingKey},
				"event_action": {ev["event_action"], "trigger"},
				"dedup_key":    {ev["dedup_key"], "rootwatch/session/" + a.AccountID + "/" + a.SourceIP},
				"client":       {ev["client"], "rootwatch"},
				"client_url":   {ev["client_url"], console},
				"severity":     {payload["severity"], tt.severity},
				"summary":      {payload["summary"], tt.summary},
				"timestamp":    {payload["timestamp"], a.EventTime.UTC().Format(time.RFC3339)},
				"component":    {payload["component"], a.EventSource},
				"group":        {payload["group"], a.Region},
				"class":        {payload["class"], a.Rule},
			}
			for name, c := range checks {
				if c[0] != c[1] {
					t.Errorf("%s = %v, want %v", name, c[0], c[1])
				}
			}
			links := ev["links"].([]any)
			if l := links[0].(map[string]any); len(links) != 1 || l["href"] != console {
				t.Errorf("links = %v, want the console link %s", links, console)
			}
			details := payload["custom_details"].(map[string]any)
			base := map[string]any{"rule": a.Rule, "event_id": a.EventID, "event_name": a.EventName,
				"event_source": a.EventSource, "account_id": a.AccountID, "region": a.Region,
				"source_ip": a.SourceIP, "console_url": console, "session_seq": 0.0, "session_count": 1.0,
				"record_source": a.Source, "title": a.Title}
			for k, want := range tt.details {
				base[k] = want
			}
			for k, want := range base {
				if details[k] != want {
					t.Errorf("custom_details[%s] = %v, want %v", k, details[k], want)
				}
			}
		})
	}
}

func TestSeverity(t *testing.T) {
	tests := []struct {
		level detector.Level
		want  string
	}{
		{detector.LevelCritical, "critical"},
		{detector.LevelHigh, "error"},
		{detector.LevelMedium, "warning"},
		{detector.LevelLow, "info"},
		{detector.LevelInformational, "info"},
		{detector.LevelUnknown, "error"},
	}
	for _, tt := range tests {
		if got := severity(tt.level); got != tt.want {
			t.Errorf("severity(%s) = %q, want %q", tt.level, got, tt.want)
		}
	}
}

func TestDedupKey(t *testing.T) {
	det := detector.Detection{Rule: "root-api-call", EventID: "e1"}
	long := strings.Repeat("k", 300)
	tests := []struct {
		name string
		a    *notify.Alert
		want string
	}{
		{"no group", &notify.Alert{Detection: det}, "rootwatch/root-api-call/e1"},
		{"empty group key", &notify.Alert{Detection: det, Group: &notify.Group{}}, "rootwatch/root-api-call/e1"},
		{"group", &notify.Alert{Detection: det, Group: &notify.Group{Key: "111122223333/AKIA1", Seq: 3}}, "rootwatch/session/111122223333/AKIA1"},
		{"test alert", &notify.Alert{Detection: det, Test: true, Group: &notify.Group{Key: "g"}}, "rootwatch-test/root-api-call/e1"},
		{"long key hashed", &notify.Alert{Detection: det, Group: &notify.Group{Key: long}}, "rootwatch/sha256/"},
		{"control characters hashed", &notify.Alert{Detection: detector.Detection{Rule: "r", EventID: "e\n1"}}, "rootwatch/sha256/"},
		{"dispatcher group key", &notify.Alert{Detection: det, Group: &notify.Group{Key: "rw-0123456789abcdef01234567"}}, "rootwatch/session/rw-0123456789abcdef01234567"},
		{"incident key wins over the per-replica burst key", &notify.Alert{Detection: det, Group: &notify.Group{Key: "rw-0123", IncidentKey: "rw-i-4567"}}, "rootwatch/session/rw-i-4567"},
	}
	for _, tt := range tests {
		got := DedupKey(tt.a)
		if !strings.HasPrefix(got, tt.want) || len(got) > 255 {
			t.Errorf("%s: DedupKey = %q, want %q", tt.name, got, tt.want)
		}
	}
	if DedupKey(&notify.Alert{Detection: det, Group: &notify.Group{Key: long}}) == DedupKey(&notify.Alert{Detection: det, Group: &notify.Group{Key: long + "x"}}) {
		t.Error("hashed keys collide")
	}
}

// TestBurstFoldsIntoOneIncident checks that a burst shares one dedup key,
// the first trigger is complete and later ones carry the count in the
// summary (the only field PagerDuty updates).
func TestBurstFoldsIntoOneIncident(t *testing.T) {
	f := startPD(t)
	s := newSink(t, Config{EventsURL: f.srv.URL})
	first := fixture(t, "root-console-login-no-mfa")
	second := fixture(t, "root-access-key-created")
	second.Group = &notify.Group{Key: first.Group.Key, Seq: 1, Count: 2}
	for _, a := range []*notify.Alert{first, second} {
		if err := s.Send(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	evs := f.Events()
	if evs[0]["dedup_key"] != evs[1]["dedup_key"] {
		t.Errorf("dedup keys differ: %v %v", evs[0]["dedup_key"], evs[1]["dedup_key"])
	}
	sum := evs[1]["payload"].(map[string]any)["summary"].(string)
	if !strings.HasSuffix(sum, "(2 events in this root session, latest iam.amazonaws.com:CreateAccessKey)") {
		t.Errorf("second summary = %q", sum)
	}
}

// TestEscalationRaisesSeverity is issue 7 item 5 for PagerDuty: the
// burst is one incident (one dedup key); a later trigger on it carries the
// session's highest severity, so that a critical event after a high one
// raises the alert and a later high one does not lower it again, and the
// escalating trigger says so in the summary (PagerDuty appends a trigger on
// an open dedup key to the alert's log and shows its summary).
func TestEscalationRaisesSeverity(t *testing.T) {
	f := startPD(t)
	s := newSink(t, Config{EventsURL: f.srv.URL})
	var alerts []*notify.Alert
	for seq, rule := range []string{"root-console-login", "root-access-key-created", "root-password-change"} {
		a := fixture(t, rule)
		a.Group = &notify.Group{Key: "burst", IncidentKey: "rw-i-0123", Seq: seq, Count: seq + 1}
		alerts = append(alerts, a)
	}
	for _, a := range alerts {
		if err := s.Send(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	evs := f.Events()
	if len(evs) != 3 {
		t.Fatalf("got %d events, want 3 (none suppressed)", len(evs))
	}
	var sev, keys, sums []string
	for _, ev := range evs {
		p := ev["payload"].(map[string]any)
		sev = append(sev, p["severity"].(string))
		keys = append(keys, ev["dedup_key"].(string))
		sums = append(sums, p["summary"].(string))
	}
	if want := []string{"error", "critical", "critical"}; fmt.Sprint(sev) != fmt.Sprint(want) {
		t.Errorf("severities = %v, want %v", sev, want)
	}
	if keys[0] != keys[1] || keys[1] != keys[2] {
		t.Errorf("dedup keys differ: %v", keys)
	}
	if !strings.Contains(sums[1], "escalated to critical") || strings.Contains(sums[0], "escalated") || strings.Contains(sums[2], "escalated") {
		t.Errorf("summaries = %q", sums)
	}
	details := evs[2]["payload"].(map[string]any)["custom_details"].(map[string]any)
	if details["level"] != "high" || details["session_highest_level"] != "critical" {
		t.Errorf("details level = %v, session_highest_level = %v; want high and critical", details["level"], details["session_highest_level"])
	}
}

// TestEscalationThroughDispatcher checks end to end that the Dispatcher
// sends the later, more severe alert of a burst to PagerDuty (nothing
// folds or suppresses it) under the burst's dedup key.
func TestEscalationThroughDispatcher(t *testing.T) {
	f := startPD(t)
	s := newSink(t, Config{EventsURL: f.srv.URL})
	d, err := notify.NewDispatcher(notify.Config{Sinks: []notify.SinkConfig{{Sink: s, Kind: notify.KindPaging}}})
	if err != nil {
		t.Fatal(err)
	}
	login := fixture(t, "root-console-login").Detection
	key := fixture(t, "root-access-key-created").Detection
	// The same root session, a minute later.
	key.SourceIP, key.AccessKeyID, key.EventTime = login.SourceIP, login.AccessKeyID, login.EventTime.Add(time.Minute)
	for _, det := range []detector.Detection{login, key} {
		if err := d.Deliver(context.Background(), []detector.Detection{det}); err != nil {
			t.Fatal(err)
		}
	}
	evs := f.Events()
	if len(evs) != 2 {
		t.Fatalf("got %d events, want 2", len(evs))
	}
	if evs[0]["dedup_key"] != evs[1]["dedup_key"] {
		t.Errorf("the burst is two incidents: %v %v", evs[0]["dedup_key"], evs[1]["dedup_key"])
	}
	if sev := evs[1]["payload"].(map[string]any)["severity"]; sev != "critical" {
		t.Errorf("second trigger severity = %v, want critical", sev)
	}
}

func TestTestAlert(t *testing.T) {
	f := startPD(t)
	s := newSink(t, Config{EventsURL: f.srv.URL, ClientName: "rootwatch-prod", ClientURL: "https://runbooks.example/rootwatch"})
	a := fixture(t, "root-console-login-no-mfa")
	a.Test = true
	if err := s.Send(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	ev := f.Events()[0]
	p := ev["payload"].(map[string]any)
	if !strings.HasPrefix(p["summary"].(string), "[rootwatch TEST ALERT — not a real detection] ") || p["severity"] != "info" {
		t.Errorf("test alert summary %q severity %v", p["summary"], p["severity"])
	}
	if ev["client"] != "rootwatch-prod" || ev["client_url"] != "https://runbooks.example/rootwatch" {
		t.Errorf("client %v %v", ev["client"], ev["client_url"])
	}
	if d := p["custom_details"].(map[string]any); d["test"] != true {
		t.Errorf("details test = %v", d["test"])
	}
}

func TestSummaryIsCleanedAndCapped(t *testing.T) {
	a := fixture(t, "root-api-call")
	a.SourceIP = "203.0.113.9\n[rootwatch] all clear\u202e"
	a.Title = strings.Repeat("T", 2000)
	got := summary(notify.NewView(a, ""), "")
	if strings.ContainsAny(got, "\n\u202e") {
		t.Errorf("summary keeps a line break or bidi control: %q", got)
	}
	a.Title = "ok"
	a.Target = strings.Repeat("x", 5000)
	got = summary(notify.NewView(a, ""), "")
	if n := len([]rune(got)); n > MaxSummaryRunes {
		t.Errorf("summary has %d runes", n)
	}
	if !strings.Contains(got, strings.Repeat("x", 255)+"…") {
		t.Errorf("long value not cut with a marker: %q", got)
	}
}

func TestLargeEventDropsRecord(t *testing.T) {
	f := startPD(t)
	core, logs := observer.New(zap.WarnLevel)
	s := newSink(t, Config{EventsURL: f.srv.URL}, WithLogger(zap.New(core)))
	small := fixture(t, "root-api-call")
	small.Record = json.RawMessage(`{"eventID":"7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d","requestParameters":{"x":1}}`)
	big := fixture(t, "root-api-call")
	big.Record = json.RawMessage(`{"pad":"` + strings.Repeat("a", 600000) + `"}`)
	huge := fixture(t, "root-api-call")
	huge.UserAgent = strings.Repeat("u", 300000)
	huge.ErrorMessage = strings.Repeat("m", 300000)
	for _, a := range []*notify.Alert{small, big, huge} {
		if err := s.Send(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	f.mu.Lock()
	raw := f.raw
	f.mu.Unlock()
	for i, r := range raw {
		if len(r) > MaxEventBytes {
			t.Errorf("event %d is %d bytes", i, len(r))
		}
	}
	evs := f.Events()
	if d := evs[0]["payload"].(map[string]any)["custom_details"].(map[string]any); d["record"] == nil {
		t.Error("small event lost its record")
	}
	d := evs[1]["payload"].(map[string]any)["custom_details"].(map[string]any)
	if d["record"] != nil || d["event_id"] != big.EventID {
		t.Errorf("big event: record kept or details lost: %v", d["event_id"])
	}
	d = evs[2]["payload"].(map[string]any)["custom_details"].(map[string]any)
	if ua := d["user_agent"].(string); len([]rune(ua)) != maxDetailRunes || !strings.HasSuffix(ua, "…") {
		t.Errorf("huge user agent not cut to %d runes: %d", maxDetailRunes, len([]rune(ua)))
	}
	if logs.Len() == 0 {
		t.Error("no warning for the dropped record")
	}
}

func TestErrorClassification(t *testing.T) {
	tests := []struct {
		name      string
		reply     func(http.ResponseWriter, *http.Request)
		permanent bool
		after     time.Duration
		contains  string
	}{
		{"400 invalid event", func(w http.ResponseWriter, _ *http.Request) {
			notifytest.WriteJSON(w, 400, map[string]any{"status": "invalid event", "message": "Event object is invalid",
				"errors": []string{"Length of 'routing_key' is incorrect (should be 32 characters)"}})
		}, true, 0, "HTTP 400 (invalid event: Event object is invalid: Length of 'routing_key' is incorrect"},
		{"400 not json", notifytest.Reply(400, nil, "bad request"), true, 0, "HTTP 400 (bad request)"},
		{"403", notifytest.Reply(403, nil, ""), true, 0, "HTTP 403"},
		{"404", notifytest.Reply(404, nil, "not found"), true, 0, "HTTP 404"},
		{"413", notifytest.Reply(413, nil, ""), true, 0, "HTTP 413"},
		{"429 with retry-after", notifytest.Reply(429, map[string]string{"Retry-After": "12"}, ""), false, 12 * time.Second, "rate limited"},
		{"429 without retry-after", func(w http.ResponseWriter, _ *http.Request) {
			notifytest.WriteJSON(w, 429, map[string]any{"status": "throttle event", "message": "Requests for this service are arriving too quickly."})
		}, false, 0, "rate limited (HTTP 429) (throttle event"},
		{"408", notifytest.Reply(408, nil, ""), false, 0, "HTTP 408"},
		{"500", notifytest.Reply(500, nil, "oops"), false, 0, "HTTP 500 (oops)"},
		{"502", notifytest.Reply(502, nil, "<html>bad gateway</html>"), false, 0, "HTTP 502"},
		{"503 with retry-after", notifytest.Reply(503, map[string]string{"Retry-After": "5"}, ""), false, 5 * time.Second, "HTTP 503"},
		{"echoes routing key", notifytest.Reply(400, nil, `{"status":"invalid event","message":"bad key `+testRoutingKey+`"}`), true, 0, "bad key <redacted>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startPD(t)
			f.script = append(f.script, tt.reply)
			s := newSink(t, Config{EventsURL: f.srv.URL})
			err := s.Send(context.Background(), fixture(t, "root-console-login"))
			notifytest.CheckFailure(t, err, tt.permanent, tt.after, tt.contains, testRoutingKey)
		})
	}
}

func TestServerErrorThenRecovery(t *testing.T) {
	f := startPD(t)
	f.script = append(f.script, notifytest.Reply(500, nil, ""))
	s := newSink(t, Config{EventsURL: f.srv.URL})
	a := fixture(t, "root-console-login")
	if err := s.Send(context.Background(), a); err == nil || notify.IsPermanent(err) {
		t.Fatalf("first Send = %v, want retryable", err)
	}
	if err := s.Send(context.Background(), a); err != nil {
		t.Fatalf("second Send = %v", err)
	}
	evs := f.Events()
	if len(evs) != 2 || evs[0]["dedup_key"] != evs[1]["dedup_key"] {
		t.Errorf("want the same event twice, got %d", len(evs))
	}
}

func TestNetworkFailures(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(t *testing.T) (url string, timeout time.Duration)
		contains string
	}{
		{"timeout", func(t *testing.T) (string, time.Duration) {
			f := startPD(t)
			f.script = append(f.script, notifytest.Hang(f.release))
			return f.srv.URL, 50 * time.Millisecond
		}, "timed out"},
		{"connection refused", func(t *testing.T) (string, time.Duration) {
			f := startPD(t)
			u := f.srv.URL
			f.srv.Close()
			return u, time.Second
		}, "request failed"},
		{"connection closed", func(t *testing.T) (string, time.Duration) {
			f := startPD(t)
			f.script = append(f.script, notifytest.Drop)
			return f.srv.URL, time.Second
		}, "request failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, timeout := tt.setup(t)
			s := newSink(t, Config{EventsURL: u, Timeout: timeout})
			err := s.Send(context.Background(), fixture(t, "root-console-login"))
			if err == nil || notify.IsPermanent(err) {
				t.Fatalf("Send = %v, want retryable", err)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error %q lacks %q", err, tt.contains)
			}
			assertNoSecret(t, "error", fmt.Sprintf("%v %+v %#v", err, err, err))
		})
	}
}

func TestCallerContextCancelled(t *testing.T) {
	f := startPD(t)
	s := newSink(t, Config{EventsURL: f.srv.URL})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Send(ctx, fixture(t, "root-console-login"))
	if err == nil || notify.IsPermanent(err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v, want retryable wrapping context.Canceled", err)
	}
}

func TestAcceptedWithUnreadableResponse(t *testing.T) {
	f := startPD(t)
	f.script = append(f.script, notifytest.Reply(202, nil, "not json"))
	s := newSink(t, Config{EventsURL: f.srv.URL})
	if err := s.Send(context.Background(), fixture(t, "root-console-login")); err != nil {
		t.Fatalf("Send = %v, want nil for an accepted event", err)
	}
}

// TestClientErrorType pins down what go-pagerduty v1.8.0's
// (*Client).ManageEventWithContext returns on an HTTP error: APIError (not
// EventsAPIV2Error), which carries the status but not the response
// headers. The sink does not depend on it (it records responses itself);
// this test shows why.
func TestClientErrorType(t *testing.T) {
	f := startPD(t)
	f.script = append(f.script, notifytest.Reply(429, map[string]string{"Retry-After": "9"}, ""))
	c := pagerduty.NewClient("", pagerduty.WithV2EventsAPIEndpoint(f.srv.URL))
	c.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	_, err := c.ManageEventWithContext(context.Background(), &pagerduty.V2Event{RoutingKey: testRoutingKey, Action: "trigger"})
	var apiErr pagerduty.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || !apiErr.RateLimited() {
		t.Fatalf("err = %T %v, want pagerduty.APIError with status 429", err, err)
	}
	var v2Err pagerduty.EventsAPIV2Error
	if errors.As(err, &v2Err) {
		t.Errorf("err is an EventsAPIV2Error; the sink's assumptions changed")
	}
}

func TestSendNilAlert(t *testing.T) {
	s := newSink(t, Config{})
	if err := s.Send(context.Background(), nil); !notify.IsPermanent(err) {
		t.Errorf("Send(nil) = %v, want permanent", err)
	}
}

// TestNotifyTestAlert sends what `rootwatch notify test` sends.
func TestNotifyTestAlert(t *testing.T) {
	f := startPD(t)
	s := newSink(t, Config{EventsURL: f.srv.URL})
	a := notify.TestAlert(time.Date(2026, 11, 26, 19, 0, 0, 0, time.UTC))
	if err := s.Send(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	ev := f.Events()[0]
	p := ev["payload"].(map[string]any)
	want := "[rootwatch TEST ALERT — not a real detection] rootwatch test alert: not a real detection"
	if p["summary"] != want || p["severity"] != "info" || p["source"] != "unknown AWS account" {
		t.Errorf("summary %q severity %v source %v", p["summary"], p["severity"], p["source"])
	}
	if ev["dedup_key"] != "rootwatch-test/"+a.Key() || ev["links"] != nil {
		t.Errorf("dedup_key %v links %v", ev["dedup_key"], ev["links"])
	}
}

func TestNoRedirects(t *testing.T) {
	redirect, checkNotFollowed := notifytest.RedirectTo(t)
	f := startPD(t)
	f.script = append(f.script, redirect)
	s := newSink(t, Config{EventsURL: f.srv.URL})
	err := s.Send(context.Background(), fixture(t, "root-console-login"))
	if !notify.IsPermanent(err) || !strings.Contains(err.Error(), "HTTP 307") {
		t.Errorf("Send = %v, want a permanent HTTP 307 error", err)
	}
	checkNotFollowed()
}

package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack/slacktest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/notifytest"
)

// The slacktest server keeps package-global state, so these tests do not
// use t.Parallel.

const (
	testToken   = "xoxb-1111111111-2222222222-SeCrEtBoTtOkEnVaLuE"
	webhookPath = "/services/T0000000/B0000000/SeCrEtWeBhOoKpAtH"
)

// apiCall is one chat.postMessage or chat.update the fake Slack received.
type apiCall struct {
	Method      string
	Token       string
	Channel     string
	Text        string
	Blocks      string
	Attachments string
	ThreadTS    string
	TS          string
	Unfurl      string
	Broadcast   string
}

// fakeSlack records Web API calls and answers them from a script: each
// call takes the next scripted reply, and answers ok once the script is
// used up.
type fakeSlack struct {
	mu      sync.Mutex
	calls   []apiCall
	script  []func(http.ResponseWriter, *http.Request)
	nextTS  int
	release chan struct{}
	// apiURL is the fake's Web API base URL.
	apiURL string
}

func (f *fakeSlack) handler(method string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		tok := r.PostForm.Get("token")
		if tok == "" {
			tok = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		}
		f.mu.Lock()
		f.calls = append(f.calls, apiCall{
			Method: method, Token: tok, Channel: r.PostForm.Get("channel"), Text: r.PostForm.Get("text"),
			Blocks: r.PostForm.Get("blocks"), Attachments: r.PostForm.Get("attachments"),
			ThreadTS: r.PostForm.Get("thread_ts"), TS: r.PostForm.Get("ts"), Unfurl: r.PostForm.Get("unfurl_links"),
			Broadcast: r.PostForm.Get("reply_broadcast"),
		})
		var reply func(http.ResponseWriter, *http.Request)
		if len(f.script) > 0 {
			reply, f.script = f.script[0], f.script[1:]
		}
		f.nextTS++
		ts := fmt.Sprintf("1764183600.%06d", f.nextTS)
		if method == "chat.update" {
			ts = r.PostForm.Get("ts")
		}
		f.mu.Unlock()
		if reply != nil {
			reply(w, r)
			return
		}
		notifytest.WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "channel": "C1", "ts": ts})
	}
}

func (f *fakeSlack) Calls() []apiCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apiCall(nil), f.calls...)
}

func replyAPIError(code string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		notifytest.WriteJSON(w, http.StatusOK, map[string]any{"ok": false, "error": code})
	}
}

// startSlack starts a slacktest server whose chat.postMessage and
// chat.update are answered by a fakeSlack, and a sink using it.
func startSlack(t *testing.T, cfg Config, opts ...Option) (*Sink, *fakeSlack) {
	t.Helper()
	f := &fakeSlack{release: make(chan struct{})}
	srv := slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", f.handler("chat.postMessage"))
		c.Handle("/chat.update", f.handler("chat.update"))
	})
	srv.Start()
	t.Cleanup(func() {
		close(f.release)
		srv.Stop()
	})
	cfg.BotToken = testToken
	cfg.Channel = "#security-alerts"
	cfg.APIURL = srv.GetAPIURL()
	f.apiURL = cfg.APIURL
	s, err := New(cfg, append([]Option{WithClock(fixedClock)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s, f
}

func fixture(t *testing.T, rule string) *notify.Alert {
	t.Helper()
	return loadAlert(t, filepath.Join("testdata", "detections", rule+".json"))
}

// secrets are every secret the tests configure.
var secrets = []string{testToken, "SeCrEtBoTtOkEnVaLuE", webhookPath, "SeCrEtWeBhOoKpAtH"}

// assertNoSecret fails if any of the sink's secrets appears in s.
func assertNoSecret(t *testing.T, what, s string) {
	t.Helper()
	notifytest.AssertNoSecret(t, what, s, secrets...)
}

func TestBotPostsRenderedAlert(t *testing.T) {
	s, f := startSlack(t, Config{})
	a := loadAlert(t, filepath.Join("testdata", "injection.json"))
	if err := s.Send(context.Background(), a); err != nil {
		t.Fatalf("Send: %v", err)
	}
	calls := f.Calls()
	if len(calls) != 1 {
		t.Fatalf("got %d calls, want 1", len(calls))
	}
	c := calls[0]
	if c.Method != "chat.postMessage" || c.Channel != "#security-alerts" || c.ThreadTS != "" || c.Token != testToken {
		t.Errorf("unexpected call %+v", c)
	}
	if c.Unfurl != "false" {
		t.Errorf("unfurl_links = %q, want false", c.Unfurl)
	}
	var blocks []map[string]any
	if err := json.Unmarshal([]byte(c.Blocks), &blocks); err != nil {
		t.Fatalf("blocks are not JSON: %v", err)
	}
	received := c.Text + "\n" + c.Blocks + "\n" + c.Attachments
	// json.Marshal in slack-go escapes < and > as \u003c: decode every
	// string to see what Slack reads.
	var decoded []string
	for _, raw := range []string{c.Blocks, c.Attachments} {
		var v any
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(v)
		decoded = append(decoded, strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(string(b)))
	}
	all := c.Text + "\n" + strings.Join(decoded, "\n")
	for _, raw := range rawControlSequences {
		if strings.Contains(all, raw) {
			t.Errorf("Slack received raw %q", raw)
		}
	}
	for _, w := range []string{"&lt;!channel&gt;", "&lt;@U123&gt;", "&lt;https://evil.example/phish|AWS Console&gt;", "&lt;!here&gt; 203.0.113.66"} {
		if !strings.Contains(all, w) {
			t.Errorf("Slack did not receive escaped %q", w)
		}
	}
	if !strings.Contains(c.Text, "&lt;!here&gt;") {
		t.Errorf("fallback text not escaped: %q", c.Text)
	}
	if !strings.Contains(received, "#D40E0D") {
		t.Errorf("attachment colour missing: %s", c.Attachments)
	}
}

func TestBotThreadsBurst(t *testing.T) {
	s, f := startSlack(t, Config{})
	ctx := context.Background()
	first := fixture(t, "root-console-login-no-mfa")
	key := first.Group.Key
	second := fixture(t, "root-api-call")
	second.Group = &notify.Group{Key: key, Seq: 1, Count: 2}
	third := fixture(t, "root-access-key-created")
	third.Group = &notify.Group{Key: key, Seq: 2, Count: 3}
	other := fixture(t, "root-console-login-failure") // a different burst

	for _, a := range []*notify.Alert{first, second, third, other} {
		if err := s.Send(ctx, a); err != nil {
			t.Fatalf("Send %s: %v", a.Rule, err)
		}
	}
	calls := f.Calls()
	want := []struct{ method, threadTS, ts, contains string }{
		{"chat.postMessage", "", "", "AWS Root User Console Sign-In Without MFA"},
		{"chat.postMessage", "1764183600.000001", "", "s3.amazonaws.com:ListBuckets"},
		{"chat.update", "", "1764183600.000001", "and *1* more event in this root session"},
		{"chat.postMessage", "1764183600.000001", "", "iam.amazonaws.com:CreateAccessKey"},
		{"chat.update", "", "1764183600.000001", "and *2* more events in this root session"},
		{"chat.postMessage", "", "", "AWS Root User Console Sign-In Failure"},
	}
	if len(calls) != len(want) {
		t.Fatalf("got %d calls, want %d: %+v", len(calls), len(want), calls)
	}
	for i, w := range want {
		c := calls[i]
		if c.Method != w.method || c.ThreadTS != w.threadTS || c.TS != w.ts || !strings.Contains(c.Blocks, w.contains) {
			t.Errorf("call %d = %s thread_ts=%q ts=%q, want %s thread_ts=%q ts=%q containing %q",
				i, c.Method, c.ThreadTS, c.TS, w.method, w.threadTS, w.ts, w.contains)
		}
	}
	// The update keeps the parent's content (channel id from the post's answer).
	if calls[2].Channel != "C1" || !strings.Contains(calls[2].Blocks, "AWS Root User Console Sign-In Without MFA") {
		t.Errorf("update lost the parent: %+v", calls[2])
	}
	if !strings.Contains(calls[1].Blocks, "event 2 of this root session") {
		t.Errorf("reply does not say its place in the burst: %s", calls[1].Blocks)
	}
}

// escalatingBurst is a burst whose third alert is more severe than
// everything before it: a high sign-in, a high API call, a critical root
// access key creation, then a high password change.
func escalatingBurst(t *testing.T) []*notify.Alert {
	t.Helper()
	var out []*notify.Alert
	for seq, rule := range []string{"root-console-login", "root-api-call", "root-access-key-created", "root-password-change"} {
		a := fixture(t, rule)
		a.Group = &notify.Group{Key: "burst-escalates", Seq: seq, Count: seq + 1}
		out = append(out, a)
	}
	return out
}

// TestBotEscalationIsBroadcastAndRaisesParent is issue 7 item 5: a
// follow-up more severe than everything posted so far in its thread is
// broadcast to the channel (reply_broadcast), and the thread's first
// message is updated to the highest level seen; other follow-ups stay in
// the thread.
func TestBotEscalationIsBroadcastAndRaisesParent(t *testing.T) {
	s, f := startSlack(t, Config{})
	for _, a := range escalatingBurst(t) {
		if err := s.Send(context.Background(), a); err != nil {
			t.Fatalf("Send %s: %v", a.Rule, err)
		}
	}
	var broadcast []bool
	var updates []apiCall
	for _, c := range f.Calls() {
		switch {
		case c.Method == "chat.postMessage" && c.ThreadTS != "":
			broadcast = append(broadcast, c.Broadcast == "true")
		case c.Method == "chat.update":
			updates = append(updates, c)
		}
	}
	if want := []bool{false, true, false}; fmt.Sprint(broadcast) != fmt.Sprint(want) {
		t.Errorf("replies broadcast = %v, want %v (only the escalation to critical)", broadcast, want)
	}
	if len(updates) == 0 {
		t.Fatal("the thread's first message was never updated")
	}
	for i, u := range updates[1:] { // from the escalation on
		if !strings.Contains(u.Blocks, "CRITICAL") || !strings.Contains(u.Blocks, "AWS Root User Access Key Created") ||
			!strings.Contains(u.Attachments, "#D40E0D") {
			t.Errorf("update %d does not show the session's highest level (critical, access key created): blocks %s attachments %s",
				i+2, u.Blocks, u.Attachments)
		}
	}
	if first := updates[0]; strings.Contains(first.Blocks, "CRITICAL") {
		t.Errorf("update before the escalation already says critical: %s", first.Blocks)
	}
	last := updates[len(updates)-1]
	if !strings.Contains(last.Blocks, "AWS Root User Console Sign-In") || !strings.Contains(last.Blocks, "and *3* more events") {
		t.Errorf("last update lost the first alert or the count: %s", last.Blocks)
	}
}

// TestWebhookEscalationPostsFullMessage: a webhook cannot thread, so an
// escalating follow-up is posted as a full message, not a compact line.
func TestWebhookEscalationPostsFullMessage(t *testing.T) {
	w := startWebhook(t)
	s := newWebhookSink(t, Config{WebhookURL: w.URL()})
	for _, a := range escalatingBurst(t) {
		if err := s.Send(context.Background(), a); err != nil {
			t.Fatalf("Send %s: %v", a.Rule, err)
		}
	}
	bodies := w.Bodies()
	if len(bodies) != 4 {
		t.Fatalf("got %d posts, want 4", len(bodies))
	}
	for i, wantFull := range []bool{true, false, true, false} {
		blocks, _ := json.Marshal(bodies[i]["blocks"])
		if full := strings.Contains(string(blocks), `"header"`); full != wantFull {
			t.Errorf("post %d full message = %v, want %v: %s", i, full, wantFull, blocks)
		}
	}
	blocks, _ := json.Marshal(bodies[2]["blocks"])
	if !strings.Contains(string(blocks), "CRITICAL") || !strings.Contains(string(blocks), "scalat") {
		t.Errorf("escalation post does not say it escalates the session: %s", blocks)
	}
}

func TestBotLaterAlertWithoutKnownParentStartsThread(t *testing.T) {
	s, f := startSlack(t, Config{})
	ctx := context.Background()
	a := fixture(t, "root-api-call")
	a.Group = &notify.Group{Key: "k-restarted", Seq: 4, Count: 5}
	b := fixture(t, "root-mfa-change")
	b.Group = &notify.Group{Key: "k-restarted", Seq: 5, Count: 6}
	for _, x := range []*notify.Alert{a, b} {
		if err := s.Send(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	calls := f.Calls()
	if len(calls) != 3 {
		t.Fatalf("got %d calls, want post, reply, update: %+v", len(calls), calls)
	}
	if calls[0].ThreadTS != "" || calls[1].ThreadTS != "1764183600.000001" || calls[2].Method != "chat.update" {
		t.Errorf("unexpected calls %+v", calls)
	}
	if !strings.Contains(calls[2].Blocks, "and *5* more events") {
		t.Errorf("count not from the group: %s", calls[2].Blocks)
	}
}

func TestBotUpdateFailureDoesNotFailSend(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	s, f := startSlack(t, Config{}, WithLogger(zap.New(core)))
	ctx := context.Background()
	first := fixture(t, "root-console-login")
	second := fixture(t, "root-api-call")
	second.Group = &notify.Group{Key: first.Group.Key, Seq: 1, Count: 2}
	if err := s.Send(ctx, first); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.script = []func(http.ResponseWriter, *http.Request){
		func(w http.ResponseWriter, _ *http.Request) { // the reply is accepted
			notifytest.WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "channel": "C1", "ts": "1764183600.999999"})
		},
		replyAPIError("cant_update_message"), // the count update is not
	}
	f.mu.Unlock()
	if err := s.Send(ctx, second); err != nil {
		t.Fatalf("Send failed although the reply was posted: %v", err)
	}
	entries := logs.FilterMessageSnippet("could not update").All()
	if len(entries) != 1 {
		t.Fatalf("got %d warnings, want 1", len(entries))
	}
	var b strings.Builder
	for _, e := range logs.All() {
		fmt.Fprintf(&b, "%s %v\n", e.Message, e.ContextMap())
	}
	assertNoSecret(t, "log", b.String())
	if !strings.Contains(b.String(), "cant_update_message") {
		t.Errorf("warning does not say why: %s", b.String())
	}
}

func TestBotErrorClassification(t *testing.T) {
	tests := []struct {
		name      string
		reply     func(http.ResponseWriter, *http.Request)
		permanent bool
		after     time.Duration
		contains  string
	}{
		{"500", notifytest.Reply(500, nil, "<html>oops</html>"), false, 0, "HTTP 500"},
		{"502", notifytest.Reply(502, nil, ""), false, 0, "HTTP 502"},
		{"503 with retry-after", notifytest.Reply(503, map[string]string{"Retry-After": "3"}, ""), false, 3 * time.Second, "HTTP 503"},
		{"429 with retry-after", notifytest.Reply(429, map[string]string{"Retry-After": "7"}, ""), false, 7 * time.Second, "rate limited"},
		{"429 without retry-after", notifytest.Reply(429, nil, ""), false, 0, "rate limited"},
		{"429 unreadable retry-after", notifytest.Reply(429, map[string]string{"Retry-After": "soon"}, ""), false, 0, "rate limited"},
		{"404", notifytest.Reply(404, nil, "not found"), true, 0, "HTTP 404"},
		{"invalid_auth", replyAPIError("invalid_auth"), true, 0, "invalid_auth"},
		{"not_authed", replyAPIError("not_authed"), true, 0, "not_authed"},
		{"token_revoked", replyAPIError("token_revoked"), true, 0, "token_revoked"},
		{"channel_not_found", replyAPIError("channel_not_found"), true, 0, "channel_not_found"},
		{"not_in_channel", replyAPIError("not_in_channel"), true, 0, "not_in_channel"},
		{"is_archived", replyAPIError("is_archived"), true, 0, "is_archived"},
		{"invalid_blocks", replyAPIError("invalid_blocks"), true, 0, "invalid_blocks"},
		{"unknown ok:false code", replyAPIError("some_new_error"), true, 0, "some_new_error"},
		{"ratelimited ok:false", replyAPIError("ratelimited"), false, 0, "ratelimited"},
		{"internal_error ok:false", replyAPIError("internal_error"), false, 0, "internal_error"},
		{"garbage 200", notifytest.Reply(200, nil, "not json"), false, 0, "reading response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, f := startSlack(t, Config{})
			f.script = append(f.script, tt.reply)
			err := s.Send(context.Background(), fixture(t, "root-console-login"))
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			if got := notify.IsPermanent(err); got != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v (%v)", got, tt.permanent, err)
			}
			var r *notify.RetryableError
			if !tt.permanent && !errors.As(err, &r) {
				t.Errorf("not a RetryableError: %v", err)
			}
			if got := notify.RetryAfter(err); got != tt.after {
				t.Errorf("RetryAfter = %s, want %s", got, tt.after)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error %q lacks %q", err, tt.contains)
			}
			assertNoSecret(t, "error", err.Error())
			assertNoSecret(t, "error %+v", fmt.Sprintf("%+v %#v", err, err))
		})
	}
}

func TestBotServerErrorThenRecovery(t *testing.T) {
	s, f := startSlack(t, Config{})
	f.script = append(f.script, notifytest.Reply(500, nil, ""))
	a := fixture(t, "root-password-change")
	err := s.Send(context.Background(), a)
	if err == nil || notify.IsPermanent(err) {
		t.Fatalf("first Send = %v, want a retryable error", err)
	}
	if err := s.Send(context.Background(), a); err != nil {
		t.Fatalf("second Send = %v, want success", err)
	}
	if calls := f.Calls(); len(calls) != 2 || !strings.Contains(calls[1].Blocks, "PasswordUpdated") {
		t.Errorf("unexpected calls %+v", calls)
	}
}

func TestBotTimeout(t *testing.T) {
	s, f := startSlack(t, Config{Timeout: 50 * time.Millisecond})
	f.script = append(f.script, notifytest.Hang(f.release))
	err := s.Send(context.Background(), fixture(t, "root-console-login"))
	if err == nil || notify.IsPermanent(err) {
		t.Fatalf("Send = %v, want a retryable error", err)
	}
	if !strings.Contains(err.Error(), "request failed") {
		t.Errorf("error %q does not say the request failed", err)
	}
	assertNoSecret(t, "error", err.Error())
}

func TestBotCallerContextCancelled(t *testing.T) {
	s, _ := startSlack(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Send(ctx, fixture(t, "root-console-login"))
	if err == nil || notify.IsPermanent(err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v, want a retryable error wrapping context.Canceled", err)
	}
}

// webhookServer records webhook posts and answers from a script.
type webhookServer struct {
	mu      sync.Mutex
	bodies  []map[string]any
	paths   []string
	script  []func(http.ResponseWriter, *http.Request)
	release chan struct{}
	srv     *httptest.Server
}

func startWebhook(t *testing.T) *webhookServer {
	t.Helper()
	w := &webhookServer{release: make(chan struct{})}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(rw, "invalid_payload", http.StatusBadRequest)
			return
		}
		w.mu.Lock()
		w.bodies = append(w.bodies, body)
		w.paths = append(w.paths, r.URL.Path)
		var reply func(http.ResponseWriter, *http.Request)
		if len(w.script) > 0 {
			reply, w.script = w.script[0], w.script[1:]
		}
		w.mu.Unlock()
		if reply != nil {
			reply(rw, r)
			return
		}
		_, _ = rw.Write([]byte("ok"))
	}))
	t.Cleanup(func() {
		close(w.release)
		w.srv.Close()
	})
	return w
}

func (w *webhookServer) URL() string { return w.srv.URL + webhookPath }

func (w *webhookServer) Bodies() []map[string]any {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]map[string]any(nil), w.bodies...)
}

func newWebhookSink(t *testing.T, cfg Config, opts ...Option) *Sink {
	t.Helper()
	s, err := New(cfg, append([]Option{WithClock(fixedClock)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestWebhookPostsRenderedAlert(t *testing.T) {
	w := startWebhook(t)
	s := newWebhookSink(t, Config{WebhookURL: w.URL()})
	if err := s.Send(context.Background(), loadAlert(t, filepath.Join("testdata", "injection.json"))); err != nil {
		t.Fatal(err)
	}
	bodies := w.Bodies()
	if len(bodies) != 1 || w.paths[0] != webhookPath {
		t.Fatalf("got %d posts (%v), want 1 to the webhook path", len(bodies), w.paths)
	}
	b := bodies[0]
	if b["unfurl_links"] != false || b["unfurl_media"] != false {
		t.Errorf("unfurling not disabled: %v %v", b["unfurl_links"], b["unfurl_media"])
	}
	raw, _ := json.Marshal(b)
	all := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(string(raw))
	for _, rawSeq := range rawControlSequences {
		if strings.Contains(all, rawSeq) {
			t.Errorf("webhook received raw %q", rawSeq)
		}
	}
	for _, want := range []string{"&lt;!channel&gt;", "&lt;@U123&gt;", "CRITICAL", "#D40E0D", "cloudtrailv2/home?region=us-east-1#/events/f0e1d2c3-b4a5-4968-8776-655443322110|"} {
		if !strings.Contains(all, want) {
			t.Errorf("webhook body lacks %q", want)
		}
	}
}

func TestWebhookBurst(t *testing.T) {
	w := startWebhook(t)
	s := newWebhookSink(t, Config{WebhookURL: w.URL()})
	key := "111122223333/203.0.113.7"
	for seq := range 4 {
		a := fixture(t, "root-api-call")
		a.EventID = fmt.Sprintf("00000000-0000-4000-8000-00000000000%d", seq)
		a.Group = &notify.Group{Key: key, Seq: seq, Count: seq + 1}
		if err := s.Send(context.Background(), a); err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
	}
	bodies := w.Bodies()
	if len(bodies) != 4 {
		t.Fatalf("got %d posts, want the first and 3 follow-ups", len(bodies))
	}
	first, _ := json.Marshal(bodies[0]["blocks"])
	if !strings.Contains(string(first), `"header"`) {
		t.Errorf("first post is not the full message: %s", first)
	}
	for i, want := range []string{"event 2 of this root session", "event 3 of this root session", "event 4 of this root session"} {
		blocks, _ := json.Marshal(bodies[i+1]["blocks"])
		if strings.Contains(string(blocks), `"header"`) || !strings.Contains(string(blocks), want) {
			t.Errorf("follow-up %d is not the compact line %q: %s", i+1, want, blocks)
		}
	}
}

// TestWebhookLongBurstSendsEveryAlert is issue 7 item 2: past 20
// follow-ups in a burst the webhook path returned success without posting,
// so the alerts were recorded as delivered and their message deleted.
// Every alert Send accepts must have been posted.
func TestWebhookLongBurstSendsEveryAlert(t *testing.T) {
	w := startWebhook(t)
	s := newWebhookSink(t, Config{WebhookURL: w.URL()})
	const n = 30
	key := "111122223333/203.0.113.7"
	var ids []string
	for seq := range n {
		a := fixture(t, "root-api-call")
		a.EventID = fmt.Sprintf("00000000-0000-4000-8000-%012d", seq)
		a.Group = &notify.Group{Key: key, Seq: seq, Count: seq + 1}
		if err := s.Send(context.Background(), a); err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		ids = append(ids, a.EventID)
	}
	bodies := w.Bodies()
	if len(bodies) != n {
		t.Errorf("Send accepted %d alerts but %d were posted", n, len(bodies))
	}
	all, _ := json.Marshal(bodies)
	for _, id := range ids {
		if !strings.Contains(string(all), id) {
			t.Errorf("alert %s was accepted but never posted", id)
		}
	}
}

// TestWebhookLongBurstThroughDispatcher delivers a 25-alert burst through
// the Dispatcher: Deliver may return nil (the SQS message is deleted) only
// if every alert was posted.
func TestWebhookLongBurstThroughDispatcher(t *testing.T) {
	w := startWebhook(t)
	s := newWebhookSink(t, Config{WebhookURL: w.URL()})
	d, err := notify.NewDispatcher(notify.Config{Sinks: []notify.SinkConfig{{Sink: s, Kind: notify.KindChat}}})
	if err != nil {
		t.Fatal(err)
	}
	base := fixture(t, "root-api-call").Detection
	var ds []detector.Detection
	for i := range 25 {
		det := base
		det.EventID = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		ds = append(ds, det)
	}
	if err := d.Deliver(context.Background(), ds); err != nil {
		t.Fatal(err)
	}
	if got := len(w.Bodies()); got != len(ds) {
		t.Errorf("Deliver returned nil (message deleted) but only %d of %d alerts were posted", got, len(ds))
	}
}

func TestWebhookErrorClassification(t *testing.T) {
	tests := []struct {
		name      string
		reply     func(http.ResponseWriter, *http.Request)
		permanent bool
		after     time.Duration
		contains  string
	}{
		{"404 no_service", notifytest.Reply(404, nil, "no_service"), true, 0, "HTTP 404 (no_service)"},
		{"403 invalid_token", notifytest.Reply(403, nil, "invalid_token"), true, 0, "HTTP 403 (invalid_token)"},
		{"400 invalid_payload", notifytest.Reply(400, nil, "invalid_payload"), true, 0, "HTTP 400 (invalid_payload)"},
		{"410 channel_is_archived", notifytest.Reply(410, nil, "channel_is_archived"), true, 0, "HTTP 410"},
		{"500 rollup_error", notifytest.Reply(500, nil, "rollup_error"), false, 0, "HTTP 500 (rollup_error)"},
		{"503", notifytest.Reply(503, nil, ""), false, 0, "HTTP 503"},
		{"429 with retry-after", notifytest.Reply(429, map[string]string{"Retry-After": "30"}, "rate_limited"), false, 30 * time.Second, "rate limited"},
		{"429 without retry-after", notifytest.Reply(429, nil, ""), false, 0, "rate limited"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := startWebhook(t)
			w.script = append(w.script, tt.reply)
			s := newWebhookSink(t, Config{WebhookURL: w.URL()})
			err := s.Send(context.Background(), fixture(t, "root-console-login"))
			notifytest.CheckFailure(t, err, tt.permanent, tt.after, tt.contains, secrets...)
		})
	}
}

// TestWebhookNetworkErrorsLeakNoSecret checks, as Alertmanager's
// AssertNotifyLeaksNoSecret does, that failures whose Go errors carry the
// request URL (a *url.Error) do not put the webhook URL in the error.
func TestWebhookNetworkErrorsLeakNoSecret(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) (url string, timeout time.Duration)
	}{
		{"connection refused", func(t *testing.T) (string, time.Duration) {
			w := startWebhook(t)
			u := w.URL()
			w.srv.Close()
			return u, time.Second
		}},
		{"timeout", func(t *testing.T) (string, time.Duration) {
			w := startWebhook(t)
			w.script = append(w.script, notifytest.Hang(w.release))
			return w.URL(), 50 * time.Millisecond
		}},
		{"server closes connection", func(t *testing.T) (string, time.Duration) {
			w := startWebhook(t)
			w.script = append(w.script, notifytest.Drop)
			return w.URL(), time.Second
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, timeout := tt.setup(t)
			core, logs := observer.New(zap.DebugLevel)
			s := newWebhookSink(t, Config{WebhookURL: u, Timeout: timeout}, WithLogger(zap.New(core)))
			err := s.Send(context.Background(), fixture(t, "root-console-login"))
			if err == nil || notify.IsPermanent(err) {
				t.Fatalf("Send = %v, want a retryable error", err)
			}
			if !strings.Contains(err.Error(), "request failed") {
				t.Errorf("error %q does not say the request failed", err)
			}
			assertNoSecret(t, "error", fmt.Sprintf("%v %+v %#v", err, err, err))
			for _, e := range logs.All() {
				assertNoSecret(t, "log", fmt.Sprintf("%s %v", e.Message, e.ContextMap()))
			}
		})
	}
}

// TestBothDestinationsPartialFailure checks that a retry after the webhook
// failed does not post to the channel again.
func TestBothDestinationsPartialFailure(t *testing.T) {
	w := startWebhook(t)
	w.script = append(w.script, notifytest.Reply(503, nil, ""))
	s, f := startSlack(t, Config{WebhookURL: w.URL()})
	a := fixture(t, "root-console-login")
	err := s.Send(context.Background(), a)
	if err == nil || notify.IsPermanent(err) {
		t.Fatalf("first Send = %v, want retryable", err)
	}
	if err := s.Send(context.Background(), a); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if n := len(f.Calls()); n != 1 {
		t.Errorf("channel got %d posts, want 1", n)
	}
	if n := len(w.Bodies()); n != 2 {
		t.Errorf("webhook got %d posts, want 2", n)
	}
}

func TestBothDestinationsClassification(t *testing.T) {
	tests := []struct {
		name         string
		bot, webhook func(http.ResponseWriter, *http.Request)
		permanent    bool
	}{
		{"both permanent", replyAPIError("channel_not_found"), notifytest.Reply(404, nil, "no_service"), true},
		{"one permanent one retryable", replyAPIError("channel_not_found"), notifytest.Reply(500, nil, ""), false},
		{"one retryable one ok", notifytest.Reply(500, nil, ""), nil, false},
		{"one permanent one ok", replyAPIError("invalid_auth"), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := startWebhook(t)
			if tt.webhook != nil {
				w.script = append(w.script, tt.webhook)
			}
			s, f := startSlack(t, Config{WebhookURL: w.URL()})
			f.script = append(f.script, tt.bot)
			err := s.Send(context.Background(), fixture(t, "root-console-login"))
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			if got := notify.IsPermanent(err); got != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v (%v)", got, tt.permanent, err)
			}
			assertNoSecret(t, "error", err.Error())
		})
	}
}

func TestSendNilAlert(t *testing.T) {
	w := startWebhook(t)
	s := newWebhookSink(t, Config{WebhookURL: w.URL()})
	if err := s.Send(context.Background(), nil); !notify.IsPermanent(err) {
		t.Errorf("Send(nil) = %v, want a permanent error", err)
	}
}

// TestBotConcurrentSends sends alerts of several bursts at once (run with
// -race): each burst gets one top-level message and its replies.
func TestBotConcurrentSends(t *testing.T) {
	s, f := startSlack(t, Config{})
	const bursts, perBurst = 4, 3
	// First alerts first, so that every later one finds its parent.
	for b := range bursts {
		a := fixture(t, "root-api-call")
		a.EventID = fmt.Sprintf("00000000-0000-4000-8000-0000000000%d0", b)
		a.Group = &notify.Group{Key: fmt.Sprintf("burst-%d", b), Seq: 0, Count: 1}
		if err := s.Send(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, bursts*perBurst)
	for b := range bursts {
		for seq := 1; seq < perBurst; seq++ {
			a := fixture(t, "root-api-call")
			a.EventID = fmt.Sprintf("00000000-0000-4000-8000-0000000000%d%d", b, seq)
			a.Group = &notify.Group{Key: fmt.Sprintf("burst-%d", b), Seq: seq, Count: seq + 1}
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- s.Send(context.Background(), a)
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	top, replies := 0, 0
	for _, c := range f.Calls() {
		switch {
		case c.Method == "chat.postMessage" && c.ThreadTS == "":
			top++
		case c.Method == "chat.postMessage":
			replies++
		}
	}
	if top != bursts || replies != bursts*(perBurst-1) {
		t.Errorf("got %d top-level posts and %d replies, want %d and %d", top, replies, bursts, bursts*(perBurst-1))
	}
}

// TestBotParentDeleted checks that a reply to a deleted first message is
// retryable and that the retry starts a new message.
func TestBotParentDeleted(t *testing.T) {
	s, f := startSlack(t, Config{})
	ctx := context.Background()
	first := fixture(t, "root-console-login")
	if err := s.Send(ctx, first); err != nil {
		t.Fatal(err)
	}
	second := fixture(t, "root-api-call")
	second.Group = &notify.Group{Key: first.Group.Key, Seq: 1, Count: 2}
	f.mu.Lock()
	f.script = append(f.script, replyAPIError("thread_not_found"))
	f.mu.Unlock()
	err := s.Send(ctx, second)
	if err == nil || notify.IsPermanent(err) {
		t.Fatalf("Send = %v, want retryable", err)
	}
	if err := s.Send(ctx, second); err != nil {
		t.Fatalf("retry: %v", err)
	}
	calls := f.Calls()
	if len(calls) != 3 || calls[1].ThreadTS == "" || calls[2].ThreadTS != "" {
		t.Errorf("want post, failed reply, new top-level post; got %+v", calls)
	}
}

// TestNoRedirects checks that neither destination follows a redirect,
// which would resend the token or the alert to another server.
func TestNoRedirects(t *testing.T) {
	redirect, checkNotFollowed := notifytest.RedirectTo(t)
	w := startWebhook(t)
	w.script = append(w.script, redirect)
	s, f := startSlack(t, Config{WebhookURL: w.URL()})
	f.script = append(f.script, redirect)
	err := s.Send(context.Background(), fixture(t, "root-console-login"))
	if !notify.IsPermanent(err) || !strings.Contains(err.Error(), "HTTP 307") {
		t.Errorf("Send = %v, want a permanent HTTP 307 error", err)
	}
	checkNotFollowed()
}

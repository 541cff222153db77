package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/jsonl"
	"github.com/rootwatch/rootwatch/notify/notifytest"
	"github.com/rootwatch/rootwatch/notify/route"
)

const (
	testSecret    = "whsec-0123456789abcdef0123456789abcdef"
	oldSecret     = "whsec-old-fedcba9876543210fedcba9876543210"
	testURLSecret = "tok3n-in-the-path"
)

func yes() *bool { b := true; return &b }

// hostile is a detection whose event strings try everything: Slack and
// HTML markup, quotes, control characters, line separators, bidi
// overrides and invalid UTF-8.
func hostile() detector.Detection {
	return detector.Detection{
		Rule: "root-console-login", Level: detector.LevelHigh, Title: "Root console sign-in",
		EventID: "ev-1\r\nX-Injected: 1", EventName: "ConsoleLogin", EventSource: "signin.amazonaws.com",
		EventTime: time.Date(2026, 11, 26, 19, 0, 0, 0, time.UTC), AccountID: "111122223333", Region: "us-east-1",
		SourceIP: "203.0.113.7", UserAgent: "<!channel> \x1b[31m\u202egnp.exe \u2028\"q\" & \xff</script>",
		Principal: "arn:aws:iam::111122223333:root", MFAUsed: yes(), Outcome: "Success",
		ErrorMessage: "line1\nline2\u2029", Source: "s3://bucket/AWSLogs/x.json.gz",
	}
}

func alert() *notify.Alert {
	d := hostile()
	d.EventID = "3f1c2a4e-0000-4000-8000-000000000001"
	return &notify.Alert{
		Detection: d, AccountName: "prod <payments>",
		Group: &notify.Group{Key: "111122223333/AKIA", IncidentKey: "inc-1", Seq: 1, Count: 2, Started: time.Date(2026, 11, 26, 18, 59, 0, 0, time.UTC)},
	}
}

// verifyIndependently checks a request's signature without this package's
// code: parse "t=..,v1=..", recompute the HMAC, compare in constant time,
// check the age. It returns the matching secret's index.
func verifyIndependently(h http.Header, body []byte, secrets []string, now time.Time) (int, error) {
	var ts string
	var sigs []string
	for _, part := range strings.Split(h.Get("Rootwatch-Signature"), ",") {
		switch {
		case strings.HasPrefix(part, "t="):
			ts = part[2:]
		case strings.HasPrefix(part, "v1="):
			sigs = append(sigs, part[3:])
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return -1, fmt.Errorf("timestamp %q", ts)
	}
	if age := now.Sub(time.Unix(sec, 0)); age > 5*time.Minute || age < -5*time.Minute {
		return -1, fmt.Errorf("timestamp %s old", age)
	}
	for i, secret := range secrets {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(ts + "." + string(body)))
		want := m.Sum(nil)
		for _, s := range sigs {
			got, err := hex.DecodeString(s)
			if err == nil && hmac.Equal(got, want) {
				return i, nil
			}
		}
	}
	return -1, fmt.Errorf("no signature matches (%d given)", len(sigs))
}

// delivery is one request the receiver accepted as authentic.
type delivery struct {
	header http.Header
	body   []byte
}

// receiver is an httptest webhook receiver that verifies every request's
// signature (independently and with Verify) and answers from its script,
// then 204.
type receiver struct {
	t       *testing.T
	srv     *httptest.Server
	secrets []string
	release chan struct{}

	mu     sync.Mutex
	script []http.HandlerFunc
	got    []delivery
	forged int
}

func startReceiver(t *testing.T, secrets ...string) *receiver {
	t.Helper()
	if len(secrets) == 0 {
		secrets = []string{testSecret}
	}
	r := &receiver{t: t, secrets: secrets, release: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(func() { close(r.release); r.srv.Close() })
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	_, err1 := verifyIndependently(req.Header, body, r.secrets, time.Now())
	var err2 error = ErrSignature
	for _, s := range r.secrets {
		if err2 = Verify(s, req.Header.Get(HeaderSignature), body, time.Now(), 0); err2 == nil {
			break
		}
	}
	r.mu.Lock()
	if err1 != nil || err2 != nil {
		r.forged++
		r.mu.Unlock()
		r.t.Errorf("receiver: bad signature: independent %v, Verify %v", err1, err2)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	r.got = append(r.got, delivery{req.Header.Clone(), body})
	var h http.HandlerFunc
	if len(r.script) > 0 {
		h, r.script = r.script[0], r.script[1:]
	}
	r.mu.Unlock()
	if h != nil {
		h(w, req)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) reply(h ...http.HandlerFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.script = append(r.script, h...)
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

func newSink(t *testing.T, url string, mod ...func(*Config)) *Sink {
	t.Helper()
	cfg := Config{URL: url + "/hook/" + testURLSecret, Secrets: []string{testSecret}}
	for _, m := range mod {
		m(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSendSigned checks an accepted delivery: the signature verifies, the
// headers are set, the body is the documented schema, its detection is
// jsonl's bytes, and hostile strings are valid, escaped JSON.
func TestSendSigned(t *testing.T) {
	r := startReceiver(t)
	s := newSink(t, r.srv.URL)
	a := alert()
	if err := s.Send(context.Background(), a); err != nil {
		t.Fatalf("Send = %v", err)
	}
	got := r.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d deliveries", len(got))
	}
	h, body := got[0].header, got[0].body
	if h.Get("Content-Type") != "application/json" || h.Get(HeaderVersion) != "1" || h.Get(HeaderDelivery) != a.Key() {
		t.Errorf("headers %v", h)
	}
	if !json.Valid(body) || !bytes.Equal(bytes.TrimSpace(body), body) {
		t.Fatalf("body not valid JSON: %q", body)
	}
	// encoding/json escapes control characters and the line separators;
	// bidi characters stay (valid JSON; receivers escape for their medium).
	for _, raw := range []string{"\x1b", "\u2028", "\u2029", "\n", "\r", "\xff"} {
		if bytes.Contains(body, []byte(raw)) {
			t.Errorf("body holds raw %q", raw)
		}
	}
	var p Payload
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Version != 1 || p.ID != a.Key() || p.Alert.Level != "high" || p.Alert.Title != "Root console sign-in" ||
		p.Alert.AccountName != "prod <payments>" || p.Alert.Group == nil || p.Alert.Group.Count != 2 ||
		p.Alert.Group.IncidentKey != "inc-1" || !strings.HasPrefix(p.Alert.ConsoleURL, "https://us-east-1.console.aws.amazon.com/") {
		t.Errorf("payload %+v group %+v", p, p.Alert.Group)
	}
	var line bytes.Buffer
	if err := jsonl.Encode(&line, &a.Detection); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.Detection, bytes.TrimSuffix(line.Bytes(), []byte("\n"))) {
		t.Errorf("detection differs from the audit line:\n got %s\nwant %s", p.Detection, line.Bytes())
	}
	var d detector.Detection
	if err := json.Unmarshal(p.Detection, &d); err != nil {
		t.Fatal(err)
	}
	want := hostile()
	if d.UserAgent != strings.ToValidUTF8(want.UserAgent, "\uFFFD") || d.ErrorMessage != want.ErrorMessage {
		t.Errorf("hostile strings changed meaning: %q %q", d.UserAgent, d.ErrorMessage)
	}
}

// TestHostileEventIDHeader checks that an event id with CR LF cannot
// inject a header: the delivery id is hashed, the same in header and body.
func TestHostileEventIDHeader(t *testing.T) {
	r := startReceiver(t)
	s := newSink(t, r.srv.URL)
	a := &notify.Alert{Detection: hostile()}
	if err := s.Send(context.Background(), a); err != nil {
		t.Fatalf("Send = %v", err)
	}
	got := r.deliveries()[0]
	id := got.header.Get(HeaderDelivery)
	var p Payload
	_ = json.Unmarshal(got.body, &p)
	if !strings.HasPrefix(id, "sha256:") || p.ID != id || got.header.Get("X-Injected") != "" {
		t.Errorf("delivery id %q body id %q injected %q", id, p.ID, got.header.Get("X-Injected"))
	}
	if id != DeliveryID(a) {
		t.Errorf("id not stable")
	}
}

// TestRotationSignsWithBoth checks that with two secrets each receiver,
// holding either, accepts the delivery.
func TestRotationSignsWithBoth(t *testing.T) {
	for _, held := range []string{testSecret, oldSecret} {
		r := startReceiver(t, held)
		s := newSink(t, r.srv.URL, func(c *Config) { c.Secrets = []string{testSecret, oldSecret} })
		if err := s.Send(context.Background(), alert()); err != nil {
			t.Fatalf("receiver with one secret: Send = %v", err)
		}
		if n := strings.Count(r.deliveries()[0].header.Get(HeaderSignature), "v1="); n != 2 {
			t.Errorf("%d v1 signatures, want 2", n)
		}
	}
}

// TestErrorClassification runs one Send per answer of the receiver.
func TestErrorClassification(t *testing.T) {
	tests := []struct {
		name      string
		reply     http.HandlerFunc
		permanent bool
		after     time.Duration
		contains  string
	}{
		{"429 with retry-after", notifytest.Reply(429, map[string]string{"Retry-After": "7"}, "slow down"), false, 7 * time.Second, "rate limited (HTTP 429) (slow down)"},
		{"408", notifytest.Reply(408, nil, ""), false, 0, "HTTP 408"},
		{"500", notifytest.Reply(500, nil, "oops"), false, 0, "HTTP 500 (oops)"},
		{"503 with retry-after", notifytest.Reply(503, map[string]string{"Retry-After": "3"}, ""), false, 3 * time.Second, "HTTP 503"},
		{"400", notifytest.Reply(400, nil, "bad payload"), true, 0, "rejected: HTTP 400 (bad payload)"},
		{"401", notifytest.Reply(401, nil, ""), true, 0, "HTTP 401"},
		{"404 echoes the URL", notifytest.Reply(404, nil, "no route /hook/"+testURLSecret), true, 0, "no route <redacted>"},
		{"error body is cleaned", notifytest.Reply(400, nil, "a\x1b[2Jb\nc"), true, 0, "(a [2Jb c)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startReceiver(t)
			r.reply(tt.reply)
			err := newSink(t, r.srv.URL).Send(context.Background(), alert())
			notifytest.CheckFailure(t, err, tt.permanent, tt.after, tt.contains, testSecret, testURLSecret, r.srv.URL+"/hook")
		})
	}
}

// TestNoRedirects checks that a redirect is a permanent failure and that
// the signed alert never reaches the redirect's target.
func TestNoRedirects(t *testing.T) {
	redirect, checkNotFollowed := notifytest.RedirectTo(t)
	r := startReceiver(t)
	r.reply(redirect)
	err := newSink(t, r.srv.URL).Send(context.Background(), alert())
	notifytest.CheckFailure(t, err, true, 0, "HTTP 307", testSecret, testURLSecret)
	checkNotFollowed()
}

// TestNetworkFailures: timeouts, refused and dropped connections are
// retryable and quote no secret.
func TestNetworkFailures(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(t *testing.T) (url string, timeout time.Duration)
		contains string
	}{
		{"timeout", func(t *testing.T) (string, time.Duration) {
			r := startReceiver(t)
			r.reply(notifytest.Hang(r.release))
			return r.srv.URL, 50 * time.Millisecond
		}, "timed out"},
		{"connection refused", func(t *testing.T) (string, time.Duration) {
			srv := httptest.NewServer(http.NotFoundHandler())
			u := srv.URL
			srv.Close()
			return u, time.Second
		}, "request failed"},
		{"connection closed", func(t *testing.T) (string, time.Duration) {
			r := startReceiver(t)
			r.reply(notifytest.Drop)
			return r.srv.URL, time.Second
		}, "request failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, timeout := tt.setup(t)
			s := newSink(t, u, func(c *Config) { c.Timeout = timeout })
			err := s.Send(context.Background(), alert())
			notifytest.CheckFailure(t, err, false, 0, tt.contains, testSecret, testURLSecret)
		})
	}
}

// TestLargeResponseBodyIsCapped checks that an accepted answer with an
// endless body does not hang Send.
func TestLargeResponseBodyIsCapped(t *testing.T) {
	r := startReceiver(t)
	r.reply(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		chunk := bytes.Repeat([]byte("x"), 32<<10)
		for i := 0; i < 1024; i++ { // 32 MiB, far past the cap
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	if err := newSink(t, r.srv.URL).Send(context.Background(), alert()); err != nil {
		t.Fatalf("Send = %v", err)
	}
}

func TestCallerContextCancelled(t *testing.T) {
	r := startReceiver(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := newSink(t, r.srv.URL).Send(ctx, alert())
	if err == nil || notify.IsPermanent(err) || !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("Send = %v, want retryable naming the cancellation", err)
	}
}

// fakeClock makes the Dispatcher's waits instant and records them.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

func dispatcher(t *testing.T, s *Sink, routes *route.Config) (*notify.Dispatcher, *fakeClock) {
	t.Helper()
	clk := &fakeClock{now: time.Now()}
	d, err := notify.NewDispatcher(notify.Config{
		Sinks:  []notify.SinkConfig{{Sink: s, Kind: Def.Kind}},
		Routes: routes, Now: clk.Now, Sleep: clk.Sleep, Rand: func() float64 { return 0.5 },
	})
	if err != nil {
		t.Fatal(err)
	}
	return d, clk
}

// TestThroughDispatcher delivers detections through notify.Dispatcher: a
// 429 with Retry-After is waited out then accepted, a 500 is retried, a
// 400 is not retried, and an accepted alert is not sent again.
func TestThroughDispatcher(t *testing.T) {
	tests := []struct {
		name      string
		script    []http.HandlerFunc
		wantErr   bool
		requests  int
		wantSleep time.Duration
	}{
		{"accepted", nil, false, 1, 0},
		{"429 then accepted", []http.HandlerFunc{notifytest.Reply(429, map[string]string{"Retry-After": "4"}, "")}, false, 2, 4 * time.Second},
		{"500 twice then accepted", []http.HandlerFunc{notifytest.Reply(500, nil, ""), notifytest.Reply(502, nil, "")}, false, 3, 0},
		{"400 is permanent", []http.HandlerFunc{notifytest.Reply(400, nil, "schema")}, true, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startReceiver(t)
			r.reply(tt.script...)
			d, clk := dispatcher(t, newSink(t, r.srv.URL), nil)
			det := alert().Detection
			err := d.Deliver(context.Background(), []detector.Detection{det})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Deliver = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr && !notify.IsPermanent(err) {
				t.Errorf("Deliver = %v, want permanent", err)
			}
			got := r.deliveries()
			if len(got) != tt.requests {
				t.Fatalf("%d requests, want %d", len(got), tt.requests)
			}
			for _, g := range got {
				if g.header.Get(HeaderDelivery) != got[0].header.Get(HeaderDelivery) {
					t.Errorf("delivery id changed between attempts")
				}
			}
			if tt.wantSleep != 0 && (len(clk.sleeps) == 0 || clk.sleeps[0] != tt.wantSleep) {
				t.Errorf("sleeps %v, want first %s", clk.sleeps, tt.wantSleep)
			}
			if !tt.wantErr {
				// Redelivery of the same detection: the ledger says done.
				if err := d.Deliver(context.Background(), []detector.Detection{det}); err != nil {
					t.Fatal(err)
				}
				if n := len(r.deliveries()); n != tt.requests {
					t.Errorf("redelivery sent again: %d requests", n)
				}
			}
		})
	}
}

// TestDefaultRoutesAndRoutesFile checks that without a routes file every
// level reaches the webhook (a chat sink) and that a routes file can name
// it.
func TestDefaultRoutesAndRoutesFile(t *testing.T) {
	r := startReceiver(t)
	d, _ := dispatcher(t, newSink(t, r.srv.URL), nil)
	low := alert().Detection
	low.Level = detector.LevelInformational
	if got := d.Route(&low); len(got) != 1 || got[0] != "webhook" {
		t.Errorf("default route of an informational detection = %v", got)
	}
	rc, err := route.Parse("routes.yml", []byte("routes:\n  - match: {levels: [critical]}\n    sinks: [webhook]\ndefault_sinks: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	d, _ = dispatcher(t, newSink(t, r.srv.URL), rc)
	crit := alert().Detection
	crit.Level = detector.LevelCritical
	if got := d.Route(&crit); len(got) != 1 || got[0] != "webhook" {
		t.Errorf("critical routed to %v", got)
	}
	if got := d.Route(&low); len(got) != 0 {
		t.Errorf("informational routed to %v", got)
	}
}

// TestNotifyTest sends `rootwatch notify test`'s alert: it is marked as a
// test in the payload.
func TestNotifyTest(t *testing.T) {
	r := startReceiver(t)
	d, _ := dispatcher(t, newSink(t, r.srv.URL), nil)
	if err := d.SendTest(context.Background()); err != nil {
		t.Fatal(err)
	}
	var p Payload
	if err := json.Unmarshal(r.deliveries()[0].body, &p); err != nil {
		t.Fatal(err)
	}
	if !p.Alert.Test || !strings.Contains(string(p.Detection), notify.TestRule) {
		t.Errorf("test payload %s", r.deliveries()[0].body)
	}
}

package notify_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/slack-go/slack/slacktest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/expect"
	"github.com/rootwatch/rootwatch/notify/notifytest"
	"github.com/rootwatch/rootwatch/notify/pagerduty"
	"github.com/rootwatch/rootwatch/notify/route"
	"github.com/rootwatch/rootwatch/notify/slack"
)

// recorder records the Slack posts (their blocks) and the PagerDuty
// events received by real local servers.
type recorder struct {
	mu    sync.Mutex
	slack []string // blocks JSON of each chat.postMessage
	pd    []string // event_action and dedup_key summary of each event
}

func (r *recorder) posts() ([]string, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.slack...), append([]string(nil), r.pd...)
}

// policyHarness is a Dispatcher with the real Slack sink on slacktest and
// the real PagerDuty sink on an httptest server.
type policyHarness struct {
	rec  *recorder
	d    *notify.Dispatcher
	reg  *prometheus.Registry
	logs *observer.ObservedLogs
}

func newPolicyHarness(t *testing.T, routes string, p notify.Policy, now time.Time) *policyHarness {
	t.Helper()
	h := &policyHarness{rec: &recorder{}, reg: prometheus.NewRegistry()}
	ss := slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			h.rec.mu.Lock()
			h.rec.slack = append(h.rec.slack, r.PostForm.Get("blocks"))
			n := len(h.rec.slack)
			h.rec.mu.Unlock()
			notifytest.WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "channel": "C1", "ts": "1700000000.00000" + string(rune('0'+n))})
		})
	})
	ss.Start()
	t.Cleanup(ss.Stop)
	pd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev map[string]any
		_ = json.NewDecoder(r.Body).Decode(&ev)
		h.rec.mu.Lock()
		h.rec.pd = append(h.rec.pd, ev["event_action"].(string))
		h.rec.mu.Unlock()
		notifytest.WriteJSON(w, http.StatusAccepted, map[string]any{"status": "success", "dedup_key": ev["dedup_key"]})
	}))
	t.Cleanup(pd.Close)
	sl, err := slack.New(slack.Config{BotToken: "xoxb-test", Channel: "C1", APIURL: ss.GetAPIURL()})
	if err != nil {
		t.Fatal(err)
	}
	pg, err := pagerduty.New(pagerduty.Config{RoutingKey: "0123456789abcdef0123456789abcdef", EventsURL: pd.URL})
	if err != nil {
		t.Fatal(err)
	}
	var rc *route.Config
	if routes != "" {
		if rc, err = route.Parse("routes.yml", []byte(routes)); err != nil {
			t.Fatal(err)
		}
	}
	core, logs := observer.New(zap.InfoLevel)
	h.logs = logs
	h.d, err = notify.NewDispatcher(notify.Config{
		Sinks:      []notify.SinkConfig{{Sink: sl, Kind: notify.KindChat}, {Sink: pg, Kind: notify.KindPaging}},
		Routes:     rc,
		Policy:     p,
		Logger:     zap.New(core),
		Registerer: h.reg,
		Now:        func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

var policyT0 = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

func rootDet(rule string, level detector.Level, account, id string) detector.Detection {
	return detector.Detection{
		Rule: rule, Level: level, Title: rule, EventID: id, EventName: "ConsoleLogin", EventSource: "signin.amazonaws.com",
		EventTime: policyT0.Add(10 * time.Minute), AccountID: account, Region: "us-east-1", SourceIP: "203.0.113.7",
		Principal: "arn:aws:iam::" + account + ":root", IdentityType: "Root", Source: "-",
	}
}

// TestExpectedRootUse: a detection covered by a declaration reaches Slack
// marked "expected: SEC-123 ... (declared by alice, ends at ...)" and
// PagerDuty's server receives nothing; a critical rule configured to page
// anyway (root-console-login-no-mfa, by default) still pages, marked
// expected in Slack; the same rule in another account pages as usual.
func TestExpectedRootUse(t *testing.T) {
	ctx := context.Background()
	store := expect.NewMemory()
	e, err := expect.Declare(policyT0, "111122223333", 2*time.Hour, "SEC-123 close sandbox", "alice", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Add(ctx, e); err != nil {
		t.Fatal(err)
	}
	now := policyT0.Add(11 * time.Minute)
	reg := prometheus.NewRegistry()
	m := expect.NewMatcher(store, expect.Options{Registerer: reg, Now: func() time.Time { return now }})
	h := newPolicyHarness(t, "", notify.Policy{Expectations: m}, now)

	// Expected, high: Slack only.
	if err := h.d.Deliver(ctx, []detector.Detection{rootDet("root-console-login", detector.LevelHigh, "111122223333", "ev-1")}); err != nil {
		t.Fatal(err)
	}
	slackPosts, pd := h.rec.posts()
	if len(slackPosts) != 1 || len(pd) != 0 {
		t.Fatalf("expected high alert: %d Slack posts, %d PagerDuty events; want 1 and 0", len(slackPosts), len(pd))
	}
	want := "expected: `SEC-123 close sandbox (declared by alice, ends at 2026-11-20T11:00:00Z)`"
	if !strings.Contains(slackPosts[0], want) {
		t.Errorf("Slack post lacks %q:\n%s", want, slackPosts[0])
	}
	if h.logs.FilterMessage("expected root use: not paging").FilterField(zap.String("sink", "pagerduty")).Len() != 1 {
		t.Errorf("the suppressed page is not logged")
	}

	// Expected, but a rule that pages anyway.
	if err := h.d.Deliver(ctx, []detector.Detection{rootDet("root-console-login-no-mfa", detector.LevelCritical, "111122223333", "ev-2")}); err != nil {
		t.Fatal(err)
	}
	slackPosts, pd = h.rec.posts()
	if len(slackPosts) != 2 || len(pd) != 1 {
		t.Fatalf("critical page-anyway alert: %d Slack posts, %d PagerDuty events; want 2 and 1", len(slackPosts), len(pd))
	}
	if !strings.Contains(slackPosts[1], want) {
		t.Errorf("page-anyway Slack post is not marked expected:\n%s", slackPosts[1])
	}

	// Not covered (another account): pages as usual, not marked.
	if err := h.d.Deliver(ctx, []detector.Detection{rootDet("root-console-login", detector.LevelHigh, "444455556666", "ev-3")}); err != nil {
		t.Fatal(err)
	}
	slackPosts, pd = h.rec.posts()
	if len(slackPosts) != 3 || len(pd) != 2 || strings.Contains(slackPosts[2], "expected:") {
		t.Fatalf("uncovered alert: %d Slack posts, %d PagerDuty events (want 3 and 2); last post: %s", len(slackPosts), len(pd), slackPosts[2])
	}
}

// TestExpectedPageRulesSetting: with ExpectedPageRules empty, even a
// critical rule does not page when expected; with a rule listed, it does.
func TestExpectedPageRulesSetting(t *testing.T) {
	ctx := context.Background()
	store := expect.NewMemory()
	e, _ := expect.Declare(policyT0, "111122223333", time.Hour, "SEC-9 account closure", "alice", []string{"root-account-settings-change"}, []string{"203.0.113.0/24"})
	if err := store.Add(ctx, e); err != nil {
		t.Fatal(err)
	}
	now := policyT0.Add(11 * time.Minute)
	for _, tc := range []struct {
		name  string
		rules []string
		pages int
	}{{"none page", []string{}, 0}, {"listed rule pages", []string{"root-account-settings-change"}, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			m := expect.NewMatcher(store, expect.Options{Now: func() time.Time { return now }})
			h := newPolicyHarness(t, "", notify.Policy{Expectations: m, ExpectedPageRules: tc.rules}, now)
			if err := h.d.Deliver(ctx, []detector.Detection{rootDet("root-account-settings-change", detector.LevelCritical, "111122223333", "ev-1")}); err != nil {
				t.Fatal(err)
			}
			slackPosts, pd := h.rec.posts()
			if len(slackPosts) != 1 || len(pd) != tc.pages {
				t.Errorf("%d Slack posts, %d PagerDuty events; want 1 and %d", len(slackPosts), len(pd), tc.pages)
			}
		})
	}
}

const exclusionRoutes = `
exclusions:
  - rules: [root-console-login]
    principals: ["arn:aws:iam::111122223333:*"]
    source_cidrs: [203.0.113.0/24]
    reason: inventory job (OPS-42)
  - rules: [root-console-login]
    accounts: ["444455556666"]
    source_cidrs: [203.0.113.0/24]
    reason: retired runbook test
    expires: 2026-11-01
`

// TestExclusionsNotDelivered: a detection an exclusion matches reaches no
// sink and is logged and counted with its rule and reason; one matching
// only an expired exclusion is delivered as usual, with a warning (and
// the expired exclusion is warned about at start).
func TestExclusionsNotDelivered(t *testing.T) {
	ctx := context.Background()
	now := policyT0.Add(11 * time.Minute)
	h := newPolicyHarness(t, exclusionRoutes, notify.Policy{}, now)
	if h.logs.FilterMessage("routes file exclusion has expired and is ignored").FilterField(zap.String("where", "routes.yml:7")).Len() != 1 {
		t.Errorf("the expired exclusion is not warned about at start: %v", h.logs.All())
	}
	if err := h.d.Deliver(ctx, []detector.Detection{rootDet("root-console-login", detector.LevelHigh, "111122223333", "ev-1")}); err != nil {
		t.Fatal(err)
	}
	slackPosts, pd := h.rec.posts()
	if len(slackPosts) != 0 || len(pd) != 0 {
		t.Fatalf("excluded detection delivered: %d Slack posts, %d PagerDuty events", len(slackPosts), len(pd))
	}
	if got := counter(t, h.reg, "rootwatch_detections_excluded_total", map[string]string{"rule": "root-console-login", "reason": "inventory job (OPS-42)"}); got != 1 {
		t.Errorf("excluded counter = %v, want 1", got)
	}
	if h.logs.FilterMessage("detection excluded as known-good automation; not delivered").FilterField(zap.String("event_id", "ev-1")).Len() != 1 {
		t.Errorf("exclusion not logged")
	}
	if err := h.d.Deliver(ctx, []detector.Detection{rootDet("root-console-login", detector.LevelHigh, "444455556666", "ev-2")}); err != nil {
		t.Fatal(err)
	}
	slackPosts, pd = h.rec.posts()
	if len(slackPosts) != 1 || len(pd) != 1 {
		t.Fatalf("detection under an expired exclusion: %d Slack posts, %d PagerDuty events; want 1 and 1", len(slackPosts), len(pd))
	}
	if h.logs.FilterMessage("detection matches an expired exclusion; delivered as usual").Len() != 1 {
		t.Errorf("expired exclusion use not warned")
	}
}

// counter reads a counter with the given labels from reg.
func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// TestExcludedDetectionOpensNoBurst: an excluded detection takes no place
// in its session's burst, so the next detection of the session is the
// burst's first message (not "event 2 of this root session" in a thread
// that was never posted).
func TestExcludedDetectionOpensNoBurst(t *testing.T) {
	ctx := context.Background()
	now := policyT0.Add(11 * time.Minute)
	h := newPolicyHarness(t, exclusionRoutes, notify.Policy{}, now)
	excluded := rootDet("root-console-login", detector.LevelHigh, "111122223333", "ev-1")
	next := rootDet("root-api-call", detector.LevelHigh, "111122223333", "ev-2")
	if err := h.d.Deliver(ctx, []detector.Detection{excluded, next}); err != nil {
		t.Fatal(err)
	}
	slackPosts, _ := h.rec.posts()
	if len(slackPosts) != 1 || strings.Contains(slackPosts[0], "of this root session") {
		t.Fatalf("want one first-of-burst post, got %d: %v", len(slackPosts), slackPosts)
	}
}

package notify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify/dedupe"
	"github.com/rootwatch/rootwatch/notify/route"
)

func TestMain(m *testing.M) {
	// The Slack sink's thread memories are expirable LRUs (golang-lru v2.0.7),
	// whose expiry goroutine never exits by design (the library has no Close);
	// one per memory per Slack sink, built once per process in the service.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/hashicorp/golang-lru/v2/expirable.NewLRU[...].func1"))
}

// fakeClock is the injected clock; its Sleep records the delay and moves
// the clock forward instead of waiting.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 26, 19, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.t = c.t.Add(d)
	return nil
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sleeps)
}

// scriptSink is an in-test Sink whose behaviour per call is scripted.
type scriptSink struct {
	name  string
	mu    sync.Mutex
	calls int
	sent  []Alert
	fn    func(ctx context.Context, call int, a *Alert) error // nil: accept
}

func newSink(name string) *scriptSink { return &scriptSink{name: name} }

func (s *scriptSink) Name() string { return s.name }

func (s *scriptSink) Send(ctx context.Context, a *Alert) error {
	s.mu.Lock()
	s.calls++
	n, fn := s.calls, s.fn
	s.mu.Unlock()
	if fn != nil {
		if err := fn(ctx, n, a); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.sent = append(s.sent, *a)
	s.mu.Unlock()
	return nil
}

func (s *scriptSink) set(fn func(ctx context.Context, call int, a *Alert) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fn = fn
}

func (s *scriptSink) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func (s *scriptSink) Sent() []Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sent)
}

var errUnavailable = errors.New("503 service unavailable")

// failFirst fails the first n calls with err, then accepts.
func failFirst(n int, err error) func(context.Context, int, *Alert) error {
	return func(_ context.Context, call int, _ *Alert) error {
		if call <= n {
			return err
		}
		return nil
	}
}

func always(err error) func(context.Context, int, *Alert) error {
	return func(context.Context, int, *Alert) error { return err }
}

func det(i int, level detector.Level) detector.Detection {
	return detector.Detection{
		Rule: "root-api-call", Level: level, Title: "Root API call",
		EventID: fmt.Sprintf("ev-%03d", i), EventName: "ListBuckets", EventSource: "s3.amazonaws.com",
		AccountID: "111122223333", Region: "us-east-1", SourceIP: "203.0.113.7",
		AccessKeyID: "ASIAROOTSESSION1", Principal: "arn:aws:iam::111122223333:root",
	}
}

func dets(n int, level detector.Level) []detector.Detection {
	out := make([]detector.Detection, n)
	for i := range out {
		out[i] = det(i, level)
	}
	return out
}

type harness struct {
	d     *Dispatcher
	clock *fakeClock
	logs  *observer.ObservedLogs
}

// newHarness builds a Dispatcher on a fake clock with fixed jitter (0.5).
func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	clk := newClock()
	core, logs := observer.New(zap.DebugLevel)
	cfg.Logger = zap.New(core)
	if cfg.Now == nil {
		cfg.Now = clk.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = clk.Sleep
	}
	cfg.Rand = func() float64 { return 0.5 }
	cfg.Registerer = prometheus.NewRegistry()
	d, err := NewDispatcher(cfg)
	if err != nil {
		t.Fatalf("NewDispatcher: %v", err)
	}
	return &harness{d: d, clock: clk, logs: logs}
}

func counter(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func (h *harness) failed(t *testing.T, sink, reason string) float64 {
	return counter(t, h.d.metrics.Failed.WithLabelValues(sink, reason))
}

func TestRetry(t *testing.T) {
	permanent := Permanent(errors.New("invalid_auth"))
	tests := []struct {
		name        string
		fn          func(context.Context, int, *Alert) error
		maxAttempts int
		wantErr     bool
		wantCalls   int
		wantSleeps  []time.Duration // with jitter fixed at 0.5
		wantReason  string
	}{
		{"succeeds first time", nil, 5, false, 1, nil, ""},
		{"retryable twice then ok", failFirst(2, Retryable(errUnavailable, 0)), 5, false, 3,
			[]time.Duration{250 * time.Millisecond, 500 * time.Millisecond}, ""},
		{"unclassified errors are retried", failFirst(1, errUnavailable), 5, false, 2,
			[]time.Duration{250 * time.Millisecond}, ""},
		{"budget of 3 attempts exhausted", always(errUnavailable), 3, true, 3,
			[]time.Duration{250 * time.Millisecond, 500 * time.Millisecond}, ReasonError},
		{"backoff doubles up to the cap", always(errUnavailable), 8, true, 8,
			[]time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second,
				4 * time.Second, 7500 * time.Millisecond, 7500 * time.Millisecond}, ReasonError},
		{"permanent is not retried", always(permanent), 5, true, 1, nil, ReasonPermanent},
		{"429 honours Retry-After", failFirst(2, Retryable(errors.New("429"), 7*time.Second)), 5, false, 3,
			[]time.Duration{7 * time.Second, 7 * time.Second}, ""},
		{"Retry-After past the elapsed budget gives up at once", always(Retryable(errors.New("429"), 2*time.Minute)), 5, true, 1,
			nil, ReasonRateLimited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink("slack")
			s.set(tt.fn)
			h := newHarness(t, Config{Sinks: []SinkConfig{{Sink: s, Retry: RetryPolicy{MaxAttempts: tt.maxAttempts}}}})
			err := h.d.Deliver(context.Background(), dets(1, detector.LevelHigh))
			if (err != nil) != tt.wantErr {
				t.Fatalf("Deliver = %v, wantErr %v", err, tt.wantErr)
			}
			if got := s.Calls(); got != tt.wantCalls {
				t.Errorf("calls = %d, want %d", got, tt.wantCalls)
			}
			if got := h.clock.Sleeps(); !slices.Equal(got, tt.wantSleeps) {
				t.Errorf("sleeps = %v, want %v", got, tt.wantSleeps)
			}
			if got := counter(t, h.d.metrics.Retries.WithLabelValues("slack")); got != float64(len(tt.wantSleeps)) {
				t.Errorf("retries metric = %v, want %d", got, len(tt.wantSleeps))
			}
			if got := counter(t, h.d.metrics.Notifications.WithLabelValues("slack")); got != 1 {
				t.Errorf("notifications metric = %v, want 1", got)
			}
			if tt.wantReason != "" {
				if got := h.failed(t, "slack", tt.wantReason); got != 1 {
					t.Errorf("failed{reason=%s} = %v, want 1", tt.wantReason, got)
				}
				if !strings.Contains(err.Error(), "slack") || !strings.Contains(err.Error(), "root-api-call/ev-000") {
					t.Errorf("error %q does not name the sink and alert", err)
				}
			}
			if IsPermanent(err) != (tt.wantReason == ReasonPermanent) {
				t.Errorf("IsPermanent(%v) = %v", err, IsPermanent(err))
			}
		})
	}
}

func TestPerCallTimeout(t *testing.T) {
	s := newSink("pagerduty")
	hung := make(chan struct{})
	s.set(func(ctx context.Context, _ int, _ *Alert) error {
		hung <- struct{}{}
		<-ctx.Done() // a server that never answers
		return fmt.Errorf("post event: %w", ctx.Err())
	})
	h := newHarness(t, Config{Sinks: []SinkConfig{{
		Sink: s, Kind: KindPaging, Timeout: time.Millisecond, Retry: RetryPolicy{MaxAttempts: 2},
	}}})
	done := make(chan error, 1)
	go func() { done <- h.d.Deliver(context.Background(), dets(1, detector.LevelCritical)) }()
	<-hung
	<-hung
	err := <-done
	if err == nil {
		t.Fatal("Deliver to a hanging sink succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out after 1ms") {
		t.Errorf("error %q is not a per-call timeout", err)
	}
	if got := h.failed(t, "pagerduty", ReasonTimeout); got != 1 {
		t.Errorf("failed{reason=timeout} = %v, want 1", got)
	}
}

// TestOneSinkDown: PagerDuty down while Slack is up. Deliver fails (the
// message is not deleted); on redelivery Slack is not sent the alerts
// again and PagerDuty, recovered, gets each once.
func TestOneSinkDown(t *testing.T) {
	tests := []struct {
		name      string
		down      error
		wantCalls int // PagerDuty calls during the outage
		permanent bool
	}{
		// The first alert exhausts the budget; the other two are not attempted.
		{"retryable outage", Retryable(errUnavailable, 0), 3, false},
		// Permanent errors concern one alert: each is tried once.
		{"permanent failure", Permanent(errors.New("invalid routing key")), 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			slack, pd := newSink("slack"), newSink("pagerduty")
			pd.set(always(tt.down))
			h := newHarness(t, Config{Sinks: []SinkConfig{
				{Sink: slack, Kind: KindChat},
				{Sink: pd, Kind: KindPaging, Retry: RetryPolicy{MaxAttempts: 3}},
			}})
			ds := dets(3, detector.LevelCritical)
			err := h.d.Deliver(context.Background(), ds)
			if err == nil {
				t.Fatal("Deliver succeeded with PagerDuty down")
			}
			if IsPermanent(err) != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v (%v)", IsPermanent(err), tt.permanent, err)
			}
			if !strings.Contains(err.Error(), "pagerduty") || strings.Contains(err.Error(), "slack") {
				t.Errorf("error %q should name pagerduty only", err)
			}
			if got := len(slack.Sent()); got != 3 {
				t.Fatalf("slack got %d alerts, want 3", got)
			}
			if got := pd.Calls(); got != tt.wantCalls {
				t.Errorf("pagerduty calls during outage = %d, want %d", got, tt.wantCalls)
			}

			pd.set(nil)                      // recovered
			h.clock.Advance(DefaultCooldown) // the message comes back after a visibility backoff
			before := pd.Calls()
			if err := h.d.Deliver(context.Background(), ds); err != nil {
				t.Fatalf("redelivery: %v", err)
			}
			if got := slack.Calls(); got != 3 {
				t.Errorf("slack calls after redelivery = %d, want 3 (no resend)", got)
			}
			if got := pd.Calls() - before; got != 3 {
				t.Errorf("pagerduty calls after recovery = %d, want 3", got)
			}
			if got := counter(t, h.d.metrics.Deduplicated.WithLabelValues("slack")); got != 3 {
				t.Errorf("slack deduplicated = %v, want 3", got)
			}
			// A third delivery sends nothing anywhere.
			if err := h.d.Deliver(context.Background(), ds); err != nil {
				t.Fatal(err)
			}
			if slack.Calls() != 3 || pd.Calls()-before != 3 {
				t.Errorf("third delivery resent: slack %d, pagerduty %d", slack.Calls(), pd.Calls()-before)
			}
		})
	}
}

func TestAbortedAfterBudget(t *testing.T) {
	s := newSink("slack")
	s.set(always(errUnavailable))
	h := newHarness(t, Config{Sinks: []SinkConfig{{Sink: s, Retry: RetryPolicy{MaxAttempts: 2}}}})
	err := h.d.Deliver(context.Background(), dets(5, detector.LevelLow))
	if err == nil || !strings.Contains(err.Error(), "4 more alerts not attempted") {
		t.Fatalf("Deliver = %v, want the rest reported as not attempted", err)
	}
	if got := h.failed(t, "slack", ReasonAborted); got != 4 {
		t.Errorf("failed{reason=aborted} = %v, want 4", got)
	}
}

func TestGrouping(t *testing.T) {
	s := newSink("slack")
	h := newHarness(t, Config{Sinks: []SinkConfig{{Sink: s}}})
	ctx := context.Background()
	burst := dets(50, detector.LevelHigh)
	if err := h.d.Deliver(ctx, burst); err != nil {
		t.Fatal(err)
	}
	sent := s.Sent()
	if len(sent) != 50 {
		t.Fatalf("sent %d, want 50", len(sent))
	}
	key := sent[0].Group.Key
	for i, a := range sent {
		if a.Group.Key != key || a.Group.Seq != i || a.Group.Count != i+1 || !a.Group.Started.Equal(h.clock.Now()) {
			t.Fatalf("alert %d group = %+v, want key %s seq %d count %d", i, *a.Group, key, i, i+1)
		}
		if a.EventID != burst[i].EventID {
			t.Fatalf("alert %d is %s, want %s (order kept)", i, a.EventID, burst[i].EventID)
		}
	}
	if !strings.HasPrefix(key, "rw-") || strings.Contains(key, "ASIA") {
		t.Errorf("group key %q should be an opaque id", key)
	}

	later := func(i int, mutate func(*detector.Detection)) *Group {
		t.Helper()
		d := det(i, detector.LevelHigh)
		if mutate != nil {
			mutate(&d)
		}
		n := len(s.Sent())
		if err := h.d.Deliver(ctx, []detector.Detection{d}); err != nil {
			t.Fatal(err)
		}
		got := s.Sent()
		if len(got) != n+1 {
			t.Fatalf("detection %d not sent", i)
		}
		return got[n].Group
	}
	h.clock.Advance(DefaultGroupWindow - time.Second)
	if g := later(50, nil); g.Key != key || g.Seq != 50 || g.Count != 51 {
		t.Errorf("inside the window: %+v, want key %s seq 50", *g, key)
	}
	if g := later(51, func(d *detector.Detection) { d.AccessKeyID = "ASIAOTHER" }); g.Key == key || g.Seq != 0 {
		t.Errorf("other access key joined the burst: %+v", *g)
	}
	if g := later(52, func(d *detector.Detection) { d.AccountID = "444455556666" }); g.Key == key || g.Seq != 0 {
		t.Errorf("other account joined the burst: %+v", *g)
	}
	ipKey := later(53, func(d *detector.Detection) { d.AccessKeyID = "" }).Key
	if g := later(54, func(d *detector.Detection) { d.AccessKeyID = "" }); g.Key != ipKey || g.Seq != 1 {
		t.Errorf("source-IP burst: %+v, want key %s seq 1", *g, ipKey)
	}
	h.clock.Advance(time.Second)
	g := later(55, nil)
	if g.Key == key || g.Seq != 0 || g.Count != 1 || !g.Started.Equal(h.clock.Now()) {
		t.Errorf("after the window: %+v, want a new burst", *g)
	}
}

func TestGroupSeqStableOnRepeat(t *testing.T) {
	g := newGrouper(time.Minute, nil)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a, b := det(1, detector.LevelHigh), det(2, detector.LevelHigh)
	ga, gb, ga2 := mustAssign(t, g, &a, now), mustAssign(t, g, &b, now), mustAssign(t, g, &a, now.Add(time.Second))
	if ga.Seq != 0 || gb.Seq != 1 || ga2.Seq != 0 || ga2.Count != 2 {
		t.Fatalf("seqs %d %d %d (count %d), want 0 1 0 (2)", ga.Seq, gb.Seq, ga2.Seq, ga2.Count)
	}
}

func TestDedupe(t *testing.T) {
	slack, audit := newSink("slack"), newSink("stdout")
	h := newHarness(t, Config{Sinks: []SinkConfig{{Sink: slack}, {Sink: audit, Kind: KindAudit}}})
	ctx := context.Background()
	ds := dets(4, detector.LevelMedium)
	ds = append(ds, ds[0], ds[1]) // the same event twice in one batch
	for range 3 {
		if err := h.d.Deliver(ctx, ds); err != nil {
			t.Fatal(err)
		}
	}
	if got := slack.Calls(); got != 4 {
		t.Errorf("slack calls = %d, want 4", got)
	}
	if got := counter(t, h.d.metrics.Deduplicated.WithLabelValues("slack")); got != 8 {
		t.Errorf("slack deduplicated = %v, want 8", got)
	}
	// The audit sink records every hand-off (once per batch per event).
	if got := audit.Calls(); got != 12 {
		t.Errorf("audit calls = %d, want 12", got)
	}
	// An expired ledger entry lets the alert through again.
	h.clock.Advance(dedupe.DefaultTTL + time.Second)
	if err := h.d.Deliver(ctx, ds[:1]); err != nil {
		t.Fatal(err)
	}
	if got := slack.Calls(); got != 5 {
		t.Errorf("slack calls after TTL = %d, want 5", got)
	}
}

func TestNoEventIDNeverDeduped(t *testing.T) {
	s := newSink("slack")
	h := newHarness(t, Config{Sinks: []SinkConfig{{Sink: s}}})
	d := det(0, detector.LevelHigh)
	d.EventID = ""
	for range 2 {
		if err := h.d.Deliver(context.Background(), []detector.Detection{d, d}); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Calls(); got != 4 {
		t.Errorf("calls = %d, want 4: without an event id nothing is folded", got)
	}
}

func TestRouting(t *testing.T) {
	routes, err := route.Load("testdata/routes.yml")
	if err != nil {
		t.Fatal(err)
	}
	slack, pd, audit := newSink("slack"), newSink("pagerduty"), newSink("stdout")
	h := newHarness(t, Config{
		Sinks:  []SinkConfig{{Sink: slack}, {Sink: pd, Kind: KindPaging}, {Sink: audit, Kind: KindAudit}},
		Routes: routes,
	})
	ds := []detector.Detection{det(0, detector.LevelCritical), det(1, detector.LevelMedium), det(2, detector.LevelInformational)}
	ds[2].Rule = "root-noisy"
	if err := h.d.Deliver(context.Background(), ds); err != nil {
		t.Fatal(err)
	}
	ids := func(s *scriptSink) []string {
		var out []string
		for _, a := range s.Sent() {
			out = append(out, a.EventID)
		}
		return out
	}
	tests := []struct {
		sink *scriptSink
		want []string
	}{
		{slack, []string{"ev-000", "ev-001"}},
		{pd, []string{"ev-000"}},
		{audit, []string{"ev-000", "ev-001", "ev-002"}},
	}
	for _, tt := range tests {
		if got := ids(tt.sink); !slices.Equal(got, tt.want) {
			t.Errorf("%s got %v, want %v", tt.sink.name, got, tt.want)
		}
	}
	if got := slack.Sent()[0].AccountName; got != "prod-payments" {
		t.Errorf("AccountName = %q, want prod-payments", got)
	}
	if got := h.d.Route(&ds[2]); !slices.Equal(got, []string{"stdout"}) {
		t.Errorf("Route(muted) = %v, want [stdout]", got)
	}
}

func TestPacing(t *testing.T) {
	s := newSink("slack")
	h := newHarness(t, Config{Sinks: []SinkConfig{{Sink: s, MinInterval: time.Second}}})
	if err := h.d.Deliver(context.Background(), dets(3, detector.LevelLow)); err != nil {
		t.Fatal(err)
	}
	if got, want := h.clock.Sleeps(), []time.Duration{time.Second, time.Second}; !slices.Equal(got, want) {
		t.Errorf("pacing sleeps = %v, want %v", got, want)
	}
}

// failingLedger fails every operation, as a DynamoDB outage would.
type failingLedger struct{}

var errLedgerDown = errors.New("dynamodb unavailable")

func (failingLedger) Claim(context.Context, string, string, time.Duration) (dedupe.Claim, error) {
	return dedupe.Claim{}, errLedgerDown
}

func (failingLedger) MarkDelivered(context.Context, string, string, string, time.Duration) error {
	return errLedgerDown
}

func (failingLedger) Release(context.Context, string, string, string) error { return errLedgerDown }

func TestLedgerDownFailsOpen(t *testing.T) {
	s := newSink("slack")
	h := newHarness(t, Config{Sinks: []SinkConfig{{Sink: s}}, Ledger: failingLedger{}})
	if err := h.d.Deliver(context.Background(), dets(1, detector.LevelHigh)); err != nil {
		t.Fatalf("Deliver with the ledger down = %v, want nil (fail open)", err)
	}
	if s.Calls() != 1 {
		t.Errorf("calls = %d, want 1", s.Calls())
	}
	for _, op := range []string{"claim", "mark"} {
		if got := counter(t, h.d.metrics.LedgerErrors.WithLabelValues(op)); got != 1 {
			t.Errorf("ledger errors{op=%s} = %v, want 1", op, got)
		}
	}
}

func TestSinkPanicIsPermanent(t *testing.T) {
	s := newSink("slack")
	s.set(func(context.Context, int, *Alert) error { panic("nil map") })
	h := newHarness(t, Config{Sinks: []SinkConfig{{Sink: s}}})
	err := h.d.Deliver(context.Background(), dets(1, detector.LevelHigh))
	if !IsPermanent(err) || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("Deliver = %v, want a permanent panic error", err)
	}
}

func TestCanceledDuringBackoff(t *testing.T) {
	s := newSink("slack")
	ctx, cancel := context.WithCancel(context.Background())
	s.set(func(context.Context, int, *Alert) error {
		cancel() // shutdown arrives while the sink is failing
		return errUnavailable
	})
	h := newHarness(t, Config{Sinks: []SinkConfig{{Sink: s}}})
	err := h.d.Deliver(ctx, dets(2, detector.LevelHigh))
	if err == nil || s.Calls() != 1 {
		t.Fatalf("Deliver = %v after %d calls, want an error after 1", err, s.Calls())
	}
	if got := h.failed(t, "slack", ReasonCanceled); got != 1 {
		t.Errorf("failed{reason=canceled} = %v, want 1", got)
	}
	// The lease was released: a later delivery sends at once.
	s.set(nil)
	if err := h.d.Deliver(context.Background(), dets(1, detector.LevelHigh)); err != nil || s.Calls() != 2 {
		t.Fatalf("redelivery = %v with %d calls, want nil with 2", err, s.Calls())
	}
}

// TestConcurrentDeliver: several workers deliver overlapping batches (the
// same events by S3 and EventBridge) at once; each alert reaches each sink
// exactly once, whoever wins the claim. Run with -race.
func TestConcurrentDeliver(t *testing.T) {
	slack, pd := newSink("slack"), newSink("pagerduty")
	h := newHarness(t, Config{
		Sinks: []SinkConfig{
			{Sink: slack, Retry: RetryPolicy{MaxAttempts: 1 << 20, MaxElapsed: 1 << 62}},
			{Sink: pd, Kind: KindPaging, Retry: RetryPolicy{MaxAttempts: 1 << 20, MaxElapsed: 1 << 62}},
		},
		Now: time.Now,
		// A worker that finds an alert leased by another waits for it; a
		// short real sleep lets the lease holder finish.
		Sleep: func(ctx context.Context, _ time.Duration) error { return sleepCtx(ctx, 50*time.Microsecond) },
	})
	all := dets(40, detector.LevelCritical)
	const workers = 8
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lo := (w * 5) % 30
			errs[w] = h.d.Deliver(context.Background(), all[lo:lo+10])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	t.Logf("claims that found the alert in flight and waited: slack %v, pagerduty %v",
		counter(t, h.d.metrics.Retries.WithLabelValues("slack")), counter(t, h.d.metrics.Retries.WithLabelValues("pagerduty")))
	for _, s := range []*scriptSink{slack, pd} {
		seen := map[string]int{}
		for _, a := range s.Sent() {
			seen[a.EventID]++
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("%s got %s %d times", s.name, id, n)
			}
		}
	}
}

func TestSendTest(t *testing.T) {
	slack, pd, audit := newSink("slack"), newSink("pagerduty"), newSink("stdout")
	pd.set(always(Permanent(errors.New("invalid routing key"))))
	h := newHarness(t, Config{Sinks: []SinkConfig{{Sink: slack}, {Sink: pd, Kind: KindPaging}, {Sink: audit, Kind: KindAudit}}})
	err := h.d.SendTest(context.Background())
	if err == nil || !strings.Contains(err.Error(), "sink pagerduty") || strings.Contains(err.Error(), "sink slack") {
		t.Fatalf("SendTest = %v, want only pagerduty's error", err)
	}
	for _, s := range []*scriptSink{slack, audit} {
		sent := s.Sent()
		if len(sent) != 1 || !sent[0].Test || sent[0].Rule != TestRule || sent[0].Group == nil {
			t.Fatalf("%s got %+v, want one test alert", s.name, sent)
		}
	}
	// Test alerts bypass the ledger: a second test goes out again.
	pd.set(nil)
	if err := h.d.SendTest(context.Background()); err != nil {
		t.Fatalf("second SendTest: %v", err)
	}
	res := h.d.TestAll(context.Background())
	if len(res) != 3 || res[0].Sink != "slack" || res[1].Sink != "pagerduty" || res[2].Sink != "stdout" {
		t.Fatalf("TestAll = %+v", res)
	}
	if slack.Calls() != 3 || pd.Calls() != 3 {
		t.Errorf("calls slack %d pagerduty %d, want 3 each", slack.Calls(), pd.Calls())
	}
	empty := newHarness(t, Config{})
	if err := empty.d.SendTest(context.Background()); err == nil {
		t.Error("SendTest with no sinks succeeded")
	}
}

func TestNewDispatcherErrors(t *testing.T) {
	bad, err := route.Parse("routes.yml", []byte("default_sinks: [email]\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"nil sink", Config{Sinks: []SinkConfig{{}}}, "sink 0 is nil"},
		{"empty name", Config{Sinks: []SinkConfig{{Sink: newSink("")}}}, "empty name"},
		{"duplicate", Config{Sinks: []SinkConfig{{Sink: newSink("slack")}, {Sink: newSink("slack")}}}, `two sinks named "slack"`},
		{"unknown kind", Config{Sinks: []SinkConfig{{Sink: newSink("x"), Kind: 9}}}, "unknown kind"},
		{"route to unconfigured sink", Config{Sinks: []SinkConfig{{Sink: newSink("slack")}}, Routes: bad}, `sink "email" is not configured`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewDispatcher(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewDispatcher = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestGiveUpLog(t *testing.T) {
	s := newSink("pagerduty")
	s.set(always(Permanent(errors.New("invalid routing key"))))
	h := newHarness(t, Config{Sinks: []SinkConfig{{Sink: s, Kind: KindPaging}}})
	_ = h.d.Deliver(context.Background(), dets(1, detector.LevelCritical))
	entries := h.logs.FilterMessage("alert not delivered").All()
	if len(entries) != 1 {
		t.Fatalf("%d give-up log entries, want 1", len(entries))
	}
	f := entries[0].ContextMap()
	if f["sink"] != "pagerduty" || f["reason"] != ReasonPermanent || f["event_id"] != "ev-000" || f["rule"] != "root-api-call" {
		t.Errorf("give-up log fields = %v", f)
	}
}

// ctxLedger is a Memory ledger that honours contexts like a remote store.
type ctxLedger struct {
	*dedupe.Memory
	failMarks int // MarkDelivered calls to fail, as a crash after send would
}

func (l *ctxLedger) Claim(ctx context.Context, sink, key string, lease time.Duration) (dedupe.Claim, error) {
	if err := ctx.Err(); err != nil {
		return dedupe.Claim{}, err
	}
	return l.Memory.Claim(ctx, sink, key, lease)
}

func (l *ctxLedger) MarkDelivered(ctx context.Context, sink, key, token string, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if l.failMarks > 0 {
		l.failMarks--
		return errLedgerDown
	}
	return l.Memory.MarkDelivered(ctx, sink, key, token, ttl)
}

func TestMarkedEvenWhenCanceledAfterSend(t *testing.T) {
	clk := newClock()
	ledger := &ctxLedger{Memory: dedupe.NewMemory(dedupe.WithClock(clk.Now))}
	s := newSink("slack")
	ctx, cancel := context.WithCancel(context.Background())
	s.set(func(context.Context, int, *Alert) error {
		cancel() // SIGTERM right after Slack accepted
		return nil
	})
	h := newHarness(t, Config{Sinks: []SinkConfig{{Sink: s}}, Ledger: ledger, Now: clk.Now, Sleep: clk.Sleep})
	if err := h.d.Deliver(ctx, dets(1, detector.LevelHigh)); err != nil {
		t.Fatalf("Deliver = %v, want nil: the sink accepted", err)
	}
	s.set(nil)
	if err := h.d.Deliver(context.Background(), dets(1, detector.LevelHigh)); err != nil {
		t.Fatal(err)
	}
	if s.Calls() != 1 {
		t.Errorf("calls = %d, want 1: the delivery must be recorded despite the cancel", s.Calls())
	}
}

// TestCrashBetweenSendAndMark: the record of a delivery is lost (as if the
// process died after the send). Until the lease ends the alert counts as
// in flight and its message is not deleted; after it, the alert is sent
// again, once. Never lost.
func TestCrashBetweenSendAndMark(t *testing.T) {
	clk := newClock()
	ledger := &ctxLedger{Memory: dedupe.NewMemory(dedupe.WithClock(clk.Now)), failMarks: 1}
	s := newSink("slack")
	h := newHarness(t, Config{
		Sinks:  []SinkConfig{{Sink: s, Timeout: 10 * time.Second, Retry: RetryPolicy{MaxAttempts: 2}}},
		Ledger: ledger, Now: clk.Now, Sleep: clk.Sleep,
	})
	ctx := context.Background()
	if err := h.d.Deliver(ctx, dets(1, detector.LevelHigh)); err != nil {
		t.Fatal(err)
	}
	// Inside the lease (10s timeout + 30s margin): in flight, not delivered.
	clk.Advance(20 * time.Second)
	err := h.d.Deliver(ctx, dets(1, detector.LevelHigh))
	if err == nil || !strings.Contains(err.Error(), "in_flight") {
		t.Fatalf("Deliver inside the lease = %v, want an in-flight error", err)
	}
	if s.Calls() != 1 {
		t.Fatalf("calls = %d inside the lease, want 1", s.Calls())
	}
	clk.Advance(30 * time.Second)
	for range 2 {
		if err := h.d.Deliver(ctx, dets(1, detector.LevelHigh)); err != nil {
			t.Fatal(err)
		}
	}
	if s.Calls() != 2 {
		t.Errorf("calls = %d after the lease, want 2 (one resend)", s.Calls())
	}
}

// TestCooldown: after a sink exhausted its retry budget, further alerts to
// it fail at once without a Send (and say when to come back) while the
// other sinks carry on; after the cooldown a delivery probes it again.
func TestCooldown(t *testing.T) {
	slack, pd := newSink("slack"), newSink("pagerduty")
	pd.set(always(Retryable(errUnavailable, 0)))
	h := newHarness(t, Config{Sinks: []SinkConfig{
		{Sink: slack},
		{Sink: pd, Kind: KindPaging, Retry: RetryPolicy{MaxAttempts: 2}, Cooldown: time.Minute},
	}})
	ctx := context.Background()
	if err := h.d.Deliver(ctx, dets(1, detector.LevelCritical)); err == nil {
		t.Fatal("Deliver succeeded with PagerDuty down")
	}
	if pd.Calls() != 2 {
		t.Fatalf("pagerduty calls = %d, want 2", pd.Calls())
	}
	h.clock.Advance(10 * time.Second)
	err := h.d.Deliver(ctx, []detector.Detection{det(1, detector.LevelCritical), det(2, detector.LevelCritical)})
	if err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "is down") {
		t.Fatalf("Deliver during cooldown = %v, want a retryable sink-down error", err)
	}
	if got := RetryAfter(err); got != 50*time.Second {
		t.Errorf("RetryAfter = %v, want the rest of the cooldown (50s)", got)
	}
	if pd.Calls() != 2 {
		t.Errorf("pagerduty calls during cooldown = %d, want still 2", pd.Calls())
	}
	if got := h.failed(t, "pagerduty", ReasonSinkDown); got != 1 {
		t.Errorf("failed{reason=sink_down} = %v, want 1", got)
	}
	if got := len(slack.Sent()); got != 3 {
		t.Errorf("slack got %d alerts, want 3 (unaffected)", got)
	}
	// The test alert ignores the cooldown.
	pd.set(nil)
	if err := h.d.SendTest(ctx); err != nil {
		t.Fatalf("SendTest during cooldown: %v", err)
	}
	h.clock.Advance(time.Minute)
	if err := h.d.Deliver(ctx, dets(3, detector.LevelCritical)); err != nil {
		t.Fatalf("Deliver after cooldown: %v", err)
	}
	if got := pd.Calls(); got != 6 {
		t.Errorf("pagerduty calls = %d, want 6 (2 failed, 1 test, 3 delivered)", got)
	}
}

func TestCooldownDisabled(t *testing.T) {
	pd := newSink("pagerduty")
	pd.set(always(Retryable(errUnavailable, 0)))
	h := newHarness(t, Config{Sinks: []SinkConfig{{Sink: pd, Kind: KindPaging, Retry: RetryPolicy{MaxAttempts: 2}, Cooldown: -1}}})
	for range 2 {
		_ = h.d.Deliver(context.Background(), dets(1, detector.LevelCritical))
	}
	if pd.Calls() != 4 {
		t.Errorf("pagerduty calls = %d, want 4 (no cooldown)", pd.Calls())
	}
}

// TestInFlightWaitsThenDedupes: worker B gets an alert that worker A is
// sending right now (same event by S3 and EventBridge). B waits instead of
// sending it too, then finds it delivered and succeeds without a send.
func TestInFlightWaitsThenDedupes(t *testing.T) {
	s := newSink("slack")
	started, release := make(chan struct{}), make(chan struct{})
	s.set(func(_ context.Context, call int, _ *Alert) error {
		if call == 1 {
			close(started)
			<-release
		}
		return nil
	})
	aDone := make(chan error, 1)
	var once sync.Once
	waits := 0
	h := newHarness(t, Config{
		Sinks: []SinkConfig{{Sink: s}},
		// B's wait: let A finish, then look again.
		Sleep: func(context.Context, time.Duration) error {
			waits++
			once.Do(func() { close(release) })
			err := <-aDone
			aDone <- err // keep it for the test
			return nil
		},
	})
	ds := dets(1, detector.LevelHigh)
	go func() { aDone <- h.d.Deliver(context.Background(), ds) }()
	<-started
	if err := h.d.Deliver(context.Background(), ds); err != nil {
		t.Fatalf("worker B: %v", err)
	}
	if err := <-aDone; err != nil {
		t.Fatalf("worker A: %v", err)
	}
	if s.Calls() != 1 || waits != 1 {
		t.Errorf("calls %d, waits %d; want 1 send and 1 wait", s.Calls(), waits)
	}
	if got := counter(t, h.d.metrics.Deduplicated.WithLabelValues("slack")); got != 1 {
		t.Errorf("deduplicated = %v, want 1", got)
	}
}

// TestLinkUpdateFollowsItsAlert is notify's side of the AssumeRoot
// late-link contract (detector/attribution): an update of an alert
// (LinkUpdate, same rule and event) is delivered once, whatever the
// redeliveries, apart from the alert it updates, and lands in the same
// burst after it (a thread reply in Slack).
func TestLinkUpdateFollowsItsAlert(t *testing.T) {
	s := newSink("slack")
	h := newHarness(t, Config{Sinks: []SinkConfig{{Sink: s}}})
	ctx := context.Background()
	first := det(1, detector.LevelHigh)
	first.AssumedRoot = &detector.AssumedRootFacts{Note: "unlinked: the AssumeRoot event was not seen (other trail?)"}
	up := det(1, detector.LevelCritical)
	up.LinkUpdate = true
	up.AssumedRoot = &detector.AssumedRootFacts{Linked: true, TaskPolicy: "S3UnlockBucketPolicy", Intent: detector.IntentOutside}
	for _, batch := range [][]detector.Detection{{first}, {up}, {up, first}} {
		h.clock.Advance(time.Minute)
		if err := h.d.Deliver(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	sent := s.Sent()
	if len(sent) != 2 || sent[0].LinkUpdate || !sent[1].LinkUpdate {
		t.Fatalf("sent %d alerts, want the alert then its update once", len(sent))
	}
	if g0, g1 := sent[0].Group, sent[1].Group; g1.Key != g0.Key || g1.Seq != 1 {
		t.Errorf("update group %+v, want the alert's burst %s at seq 1", *g1, g0.Key)
	}
	if !sent[1].AssumedRoot.Linked || sent[1].Level != detector.LevelCritical {
		t.Errorf("update: %s %+v", sent[1].Level, sent[1].AssumedRoot)
	}
}

// corrDet is a correlation alert (n events) of the account of det, raised
// by the event of det(i).
func corrDet(i, n int) detector.Detection {
	d := det(i, detector.LevelHigh)
	d.Rule, d.Title, d.EventID = "root-login-brute-force", "Root sign-in brute force", "corr-0123"
	d.EventTime = time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
	for j := range n {
		d.Correlated = append(d.Correlated, detector.EventRef{EventID: fmt.Sprintf("ev-%03d", j), Rule: "root-console-login-failure"})
	}
	return d
}

// TestCorrelationUpdateFollowsItsAlert: a correlation alert opens a burst
// of its own (not the root session's of its events), and its follow-ups
// (CorrelationUpdate, same rule and incident id, events an hour later
// from another address) are each delivered once, whatever the
// redeliveries, in the alert's burst after it, with the same incident key.
func TestCorrelationUpdateFollowsItsAlert(t *testing.T) {
	s := newSink("slack")
	h := newHarness(t, Config{Sinks: []SinkConfig{{Sink: s}}})
	ctx := context.Background()
	base := det(4, detector.LevelMedium)
	alert := corrDet(4, 5)
	up := corrDet(60, 6)
	up.SourceIP, up.AccessKeyID = "198.51.100.1", ""
	up.CorrelationUpdate = "ev-060"
	up2 := corrDet(70, 7)
	up2.CorrelationUpdate = "ev-070"
	for _, batch := range [][]detector.Detection{{base, alert}, {up}, {up, alert}, {up2, up}} {
		h.clock.Advance(time.Minute)
		if err := h.d.Deliver(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	sent := s.Sent()
	if len(sent) != 4 || sent[1].CorrelationUpdate != "" || sent[2].CorrelationUpdate != "ev-060" || sent[3].CorrelationUpdate != "ev-070" {
		t.Fatalf("sent %d alerts, want the base event, the alert, then each follow-up once", len(sent))
	}
	if sent[1].Group.Key == sent[0].Group.Key || sent[1].Group.Seq != 0 {
		t.Errorf("correlation alert in the burst of its session's event: %+v", *sent[1].Group)
	}
	for i, f := range sent[2:] {
		if g, g0 := f.Group, sent[1].Group; g.Key != g0.Key || g.Seq != i+1 || g.IncidentKey != g0.IncidentKey || g.IncidentKey == "" {
			t.Errorf("follow-up %s group %+v, want the alert's burst %s (incident %s) at seq %d", f.Key(), *g, g0.Key, g0.IncidentKey, i+1)
		}
	}
}

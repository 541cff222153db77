package expect

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// clock is a virtual clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newTestMatcher(t *testing.T, s Store, c *clock) (*Matcher, *observer.ObservedLogs, *prometheus.Registry) {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	reg := prometheus.NewRegistry()
	return NewMatcher(s, Options{Refresh: time.Minute, Logger: zap.New(core), Registerer: reg, Now: c.Now}), logs, reg
}

func count(t *testing.T, m *Matcher, event string) int {
	t.Helper()
	return int(value(t, m.events.WithLabelValues(event)))
}

func value(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var out dto.Metric
	if err := c.Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.GetCounter().GetValue()
}

// TestMatcher: declarations are logged and counted when first seen and
// when ended; a use is logged with the detection and counted; a detection
// after the end is alerted as usual, with a warning; new declarations are
// seen after the refresh interval, not before.
func TestMatcher(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: t0}
	s := NewMemory()
	e, _ := Declare(t0, "111122223333", time.Hour, "SEC-123 close sandbox", "alice", nil, nil)
	if err := s.Add(ctx, e); err != nil {
		t.Fatal(err)
	}
	m, logs, _ := newTestMatcher(t, s, c)
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if count(t, m, EventDeclared) != 1 || logs.FilterMessage("planned root use declared").FilterField(zap.String("reason", "SEC-123 close sandbox")).Len() != 1 {
		t.Fatalf("declaration not logged/counted: %v", logs.All())
	}
	c.Add(10 * time.Minute)
	got := m.Match(ctx, det("root-api-call", "111122223333", "203.0.113.9", c.Now()))
	if got == nil || got.ID != e.ID {
		t.Fatalf("Match = %v", got)
	}
	use := logs.FilterMessage("detection matches planned root use: chat only, no page unless its rule pages anyway").FilterField(zap.String("event_id", "ev-root-api-call"))
	if count(t, m, EventUsed) != 1 || use.Len() != 1 {
		t.Errorf("use not logged/counted")
	}
	// A declaration added now is not seen before the refresh interval.
	e2, _ := Declare(c.Now(), "444455556666", time.Hour, "SEC-124 drill", "bob", nil, nil)
	if err := s.Add(ctx, e2); err != nil {
		t.Fatal(err)
	}
	if m.Match(ctx, det("root-api-call", "444455556666", "", c.Now())) != nil {
		t.Error("matched before the refresh")
	}
	c.Add(time.Minute)
	if got := m.Match(ctx, det("root-api-call", "444455556666", "", c.Now())); got == nil || got.ID != e2.ID {
		t.Errorf("after the refresh: %v", got)
	}
	// Ended early by another process: seen at the next refresh.
	if _, err := s.End(ctx, e.ID, c.Now(), "carol"); err != nil {
		t.Fatal(err)
	}
	c.Add(time.Minute)
	if m.Match(ctx, det("root-api-call", "111122223333", "", c.Now())) != nil {
		t.Error("matched after the end")
	}
	if count(t, m, EventEnded) != 1 || logs.FilterMessage("planned root use ended early").FilterField(zap.String("ended_by", "carol")).Len() != 1 {
		t.Error("end not logged/counted")
	}
	if count(t, m, EventIgnored) != 1 || logs.FilterMessage("detection matches a planned root use that had ended; alerted as usual").Len() != 1 {
		t.Error("use of an ended declaration not warned/counted")
	}
	if count(t, m, EventDeclared) != 2 {
		t.Errorf("declared = %d, want 2", count(t, m, EventDeclared))
	}
}

// TestMatcherReloadsFile: a declarations file changed on disk is read
// again at the next refresh; a broken file is logged and counted, and the
// last good declarations stay in use.
func TestMatcherReloadsFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "expectations.yml")
	c := &clock{t: t0.Add(time.Minute)}
	m, logs, _ := newTestMatcher(t, NewFile(path), c)
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	d := det("root-console-login", "111122223333", "203.0.113.9", c.Now())
	if m.Match(ctx, d) != nil {
		t.Fatal("matched with no file")
	}
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	good := "expectations:\n  - {id: e-1, account: \"111122223333\", reason: SEC-123, by: alice, start: 2026-11-20T09:00:00Z, for: 2h, source_cidrs: [203.0.113.0/24]}\n"
	write(good)
	c.Add(time.Minute)
	if got := m.Match(ctx, d); got == nil || got.ID != "e-1" {
		t.Fatalf("after writing the file: %v", got)
	}
	write(good + "  - {id: e-2, account: \"111122223333\", reason: x, by: y, start: 2026-11-20T09:00:00Z, source_cidrs: [203.0.113.0/99], for: 1h}\n")
	c.Add(time.Minute)
	if got := m.Match(ctx, d); got == nil || got.ID != "e-1" {
		t.Errorf("with a broken file the last good list should stay: %v", got)
	}
	errs := logs.FilterMessage("cannot read the declarations of planned root use; the last good ones stay in use")
	if errs.Len() != 1 || value(t, m.loadErrors) != 1 {
		t.Fatalf("load error not logged/counted once: %v", logs.All())
	}
	if msg := errs.All()[0].ContextMap()["error"]; msg == nil || !strings.Contains(msg.(string), path+":3:") {
		t.Errorf("error %v does not name the file and line", msg)
	}
	write("expectations: []\n")
	c.Add(time.Minute)
	if got := m.Match(ctx, d); got != nil {
		t.Errorf("after emptying the file: %v", got)
	}
}

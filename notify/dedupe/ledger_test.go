package dedupe

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for expiry tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
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

const (
	lease = 30 * time.Second
	ttl   = time.Hour
)

// step is one ledger operation in a conformance scenario.
type step struct {
	op      string // claim, mark, release, release-stale, advance
	advance time.Duration
	want    State // for claim
}

// conformance holds the scenarios every Ledger must pass.
var conformance = []struct {
	name  string
	steps []step
}{
	{"first claim wins, second is busy", []step{
		{op: "claim", want: Claimed},
		{op: "claim", want: Busy},
	}},
	{"delivered after mark", []step{
		{op: "claim", want: Claimed},
		{op: "mark"},
		{op: "claim", want: Delivered},
		{op: "advance", advance: ttl - time.Second},
		{op: "claim", want: Delivered},
	}},
	{"delivered entry expires after ttl", []step{
		{op: "claim", want: Claimed},
		{op: "mark"},
		{op: "advance", advance: ttl + 2*time.Second},
		{op: "claim", want: Claimed},
	}},
	{"release lets the next claim through", []step{
		{op: "claim", want: Claimed},
		{op: "release"},
		{op: "claim", want: Claimed},
	}},
	{"crash after send: lease expires and the alert is sent again", []step{
		{op: "claim", want: Claimed},
		{op: "advance", advance: lease - time.Second},
		{op: "claim", want: Busy},
		{op: "advance", advance: 3 * time.Second},
		{op: "claim", want: Claimed},
	}},
	{"stale release does not drop another worker's lease", []step{
		{op: "claim", want: Claimed},
		{op: "advance", advance: lease + 2*time.Second},
		{op: "claim", want: Claimed},
		{op: "release-stale"},
		{op: "claim", want: Busy},
	}},
	{"release after mark keeps delivered", []step{
		{op: "claim", want: Claimed},
		{op: "mark"},
		{op: "release"},
		{op: "claim", want: Delivered},
	}},
	{"mark without a claim (lease lost) still records delivery", []step{
		{op: "mark"},
		{op: "claim", want: Delivered},
	}},
}

func runConformance(t *testing.T, newLedger func(t *testing.T, now func() time.Time) Ledger) {
	ctx := context.Background()
	for i, sc := range conformance {
		t.Run(sc.name, func(t *testing.T) {
			clk := newClock()
			l := newLedger(t, clk.Now)
			key := "root-console-login/ev-" + strconv.Itoa(i)
			var tokens []string
			for j, s := range sc.steps {
				switch s.op {
				case "claim":
					c, err := l.Claim(ctx, "slack", key, lease)
					if err != nil {
						t.Fatalf("step %d: Claim: %v", j, err)
					}
					if c.State != s.want {
						t.Fatalf("step %d: Claim = %s, want %s", j, c.State, s.want)
					}
					if (c.Token != "") != (c.State == Claimed) {
						t.Fatalf("step %d: token %q with state %s", j, c.Token, c.State)
					}
					if c.State == Claimed {
						tokens = append(tokens, c.Token)
					}
				case "mark":
					tok := ""
					if len(tokens) > 0 {
						tok = tokens[len(tokens)-1]
					}
					if err := l.MarkDelivered(ctx, "slack", key, tok, ttl); err != nil {
						t.Fatalf("step %d: MarkDelivered: %v", j, err)
					}
				case "release":
					if err := l.Release(ctx, "slack", key, tokens[len(tokens)-1]); err != nil {
						t.Fatalf("step %d: Release: %v", j, err)
					}
				case "release-stale":
					if err := l.Release(ctx, "slack", key, tokens[0]); err != nil {
						t.Fatalf("step %d: Release(stale): %v", j, err)
					}
				case "advance":
					clk.Advance(s.advance)
				}
			}
			// Another sink's entry for the same key is independent.
			c, err := l.Claim(ctx, "pagerduty", key, lease)
			if err != nil || c.State != Claimed {
				t.Fatalf("other sink Claim = %v, %v; want claimed", c.State, err)
			}
		})
	}
	t.Run("concurrent claims: exactly one wins", func(t *testing.T) {
		l := newLedger(t, newClock().Now)
		const n = 8
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			claimed int
		)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := l.Claim(ctx, "pagerduty", "root-api-call/concurrent", lease)
				if err != nil {
					t.Error(err)
					return
				}
				if c.State == Claimed {
					mu.Lock()
					claimed++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if claimed != 1 {
			t.Fatalf("%d claims won, want 1", claimed)
		}
	})
	t.Run("invalid arguments", func(t *testing.T) {
		l := newLedger(t, newClock().Now)
		if _, err := l.Claim(ctx, "", "k", lease); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Claim(empty sink) = %v", err)
		}
		if _, err := l.Claim(ctx, "s", "k", 0); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Claim(zero lease) = %v", err)
		}
		if err := l.MarkDelivered(ctx, "s", "", "", ttl); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("MarkDelivered(empty key) = %v", err)
		}
	})
}

func TestMemoryConformance(t *testing.T) {
	runConformance(t, func(_ *testing.T, now func() time.Time) Ledger {
		return NewMemory(WithClock(now))
	})
}

func TestMemoryBounded(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	m := NewMemory(WithClock(clk.Now), WithMaxEntries(3))
	for i := range 5 {
		if err := m.MarkDelivered(ctx, "slack", "k"+strconv.Itoa(i), "", ttl); err != nil {
			t.Fatal(err)
		}
	}
	if m.Len() != 3 {
		t.Fatalf("Len = %d, want 3", m.Len())
	}
	tests := []struct {
		key  string
		want State
	}{
		{"k0", Claimed}, // evicted: the worst case is a resend
		{"k3", Delivered},
		{"k4", Delivered},
	}
	for _, tt := range tests {
		c, err := m.Claim(ctx, "slack", tt.key, lease)
		if err != nil || c.State != tt.want {
			t.Errorf("Claim(%s) = %s, %v; want %s", tt.key, c.State, err, tt.want)
		}
	}
}

func TestMemoryDropsExpired(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	m := NewMemory(WithClock(clk.Now))
	for i := range 3 {
		if err := m.MarkDelivered(ctx, "slack", "old"+strconv.Itoa(i), "", time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(2 * time.Minute)
	if err := m.MarkDelivered(ctx, "slack", "new", "", time.Minute); err != nil {
		t.Fatal(err)
	}
	if m.Len() != 1 {
		t.Fatalf("Len = %d after expiry, want 1", m.Len())
	}
}

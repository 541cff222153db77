package notify

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/detector"
)

// simClock is a virtual clock for tests of pacing and leases: Sleep blocks
// until the test moves the clock past the sleeper's deadline (step), so
// minutes of pacing run in milliseconds and in a fixed order, whatever the
// machine's speed.
type simClock struct {
	mu       sync.Mutex
	t        time.Time
	sleepers []*simSleeper
}

type simSleeper struct {
	until time.Time
	wake  chan struct{}
}

func newSimClock() *simClock { return &simClock{t: time.Date(2026, 11, 26, 19, 0, 0, 0, time.UTC)} }

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *simClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	c.mu.Lock()
	s := &simSleeper{until: c.t.Add(d), wake: make(chan struct{})}
	c.sleepers = append(c.sleepers, s)
	c.mu.Unlock()
	select {
	case <-s.wake:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, o := range c.sleepers {
			if o == s {
				c.sleepers = append(c.sleepers[:i], c.sleepers[i+1:]...)
				break
			}
		}
		return ctx.Err()
	}
}

// sleeping returns the number of blocked sleepers.
func (c *simClock) sleeping() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sleepers)
}

// next returns the earliest sleeper's deadline.
func (c *simClock) next() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var at time.Time
	for _, s := range c.sleepers {
		if at.IsZero() || s.until.Before(at) {
			at = s.until
		}
	}
	return at, !at.IsZero()
}

// advanceTo moves the clock to t (never back) and wakes the sleepers due.
func (c *simClock) advanceTo(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.t) {
		c.t = t
	}
	kept := c.sleepers[:0]
	for _, s := range c.sleepers {
		if s.until.After(c.t) {
			kept = append(kept, s)
			continue
		}
		close(s.wake)
	}
	c.sleepers = kept
}

// workers runs Deliver calls and knows when all of them are blocked in the
// simulated clock (or done), so that the test moves time only then.
type workers struct {
	t       *testing.T
	d       *Dispatcher
	clk     *simClock
	running atomic.Int64
	wg      sync.WaitGroup
	mu      sync.Mutex
	errs    []error
}

func (w *workers) deliver(ds ...detector.Detection) {
	w.running.Add(1)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer w.running.Add(-1)
		err := w.d.Deliver(context.Background(), ds)
		w.mu.Lock()
		w.errs = append(w.errs, err)
		w.mu.Unlock()
	}()
}

// settle waits until every running delivery is asleep on the clock.
func (w *workers) settle() {
	w.t.Helper()
	deadline := time.Now().Add(30 * time.Second) // a hang guard, not a timing assertion
	for int64(w.clk.sleeping()) != w.running.Load() {
		if time.Now().After(deadline) {
			w.t.Fatalf("deliveries never settled: %d running, %d asleep", w.running.Load(), w.clk.sleeping())
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// TestPacingDoesNotOutliveLease is issue 7 item 6: the dedupe lease was
// claimed before the pacing wait, so with ~40 posts queued for a paced
// sink the lease expired while the alert waited its turn; a second worker
// delivering the same event (S3 and EventBridge) claimed it too and both
// sent it. Virtual time: a 1 s per-call timeout (a 31 s lease), one post
// per second, 40 posts queued.
func TestPacingDoesNotOutliveLease(t *testing.T) {
	clk := newSimClock()
	sink := newSink("slack")
	h := newHarness(t, Config{
		Sinks: []SinkConfig{{Sink: sink, Kind: KindChat, Timeout: time.Second, MinInterval: time.Second}},
		Now:   clk.Now,
		Sleep: clk.Sleep,
	})
	lease := time.Second + leaseMargin
	w := &workers{t: t, d: h.d, clk: clk}
	t0 := clk.Now()

	// 40 other alerts queue up for the pacer.
	for i := range 40 {
		w.deliver(det(i, detector.LevelHigh))
	}
	w.settle()
	// Worker 1 takes the event from the EventBridge copy...
	x := det(100, detector.LevelCritical)
	w.deliver(x)
	w.settle()
	// ...and worker 2 from the S3 copy, once worker 1's lease would have
	// expired had it been taken before the wait.
	second := false
	for w.running.Load() > 0 {
		at, ok := clk.next()
		if !ok {
			t.Fatalf("%d deliveries running but none asleep", w.running.Load())
		}
		if !second && at.After(t0.Add(lease)) {
			clk.advanceTo(t0.Add(lease + 4*time.Second))
			w.deliver(x)
			second = true
			w.settle()
			continue
		}
		clk.advanceTo(at)
		w.settle()
	}
	w.wg.Wait()
	if !second {
		t.Fatal("the pacing queue drained before the lease expired: the scenario did not run")
	}
	for _, err := range w.errs {
		if err != nil {
			t.Errorf("Deliver: %v", err)
		}
	}
	sent := 0
	for _, a := range sink.Sent() {
		if a.EventID == x.EventID {
			sent++
		}
	}
	if sent != 1 {
		t.Errorf("event %s was sent %d times, want once (lease %s, %d posts queued before it)", x.EventID, sent, lease, 40)
	}
	if got := len(sink.Sent()); got != 41 {
		t.Errorf("sink got %d alerts, want 41", got)
	}
}

// TestPacerGivesBackUnusedSlot: a turn taken for an alert that is then
// not sent (already delivered, leased elsewhere) is not lost to the queue.
func TestPacerGivesBackUnusedSlot(t *testing.T) {
	clk := newClock()
	p := &pacer{interval: time.Second}
	ctx := context.Background()
	if _, err := p.take(ctx, clk.Now, clk.Sleep); err != nil {
		t.Fatal(err)
	}
	unused, err := p.take(ctx, clk.Now, clk.Sleep) // waits 1 s
	if err != nil {
		t.Fatal(err)
	}
	unused()
	if _, err := p.take(ctx, clk.Now, clk.Sleep); err != nil { // the given-back turn: no wait
		t.Fatal(err)
	}
	if got, want := clk.Sleeps(), []time.Duration{time.Second}; !slices.Equal(got, want) {
		t.Errorf("sleeps = %v, want %v", got, want)
	}
}

package notify

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/detector"
)

// TestNotifyRecovered: the listeners hear of a sink that exhausted its
// retry budget once it accepts an alert again, not of ordinary successes;
// and the give-up error says when the sink will be tried again (the rest of
// its cooldown), so that the SQS message waits that long.
func TestNotifyRecovered(t *testing.T) {
	tests := []struct {
		name       string
		script     func(context.Context, int, *Alert) error
		cooldown   time.Duration
		wantFail   bool
		wantAfter  time.Duration // RetryAfter of the failed Deliver
		wantEvents int           // recoveries heard after the second Deliver
	}{
		{name: "always fine: no recovery", script: nil, cooldown: time.Minute, wantEvents: 0},
		{name: "budget exhausted, then accepted", script: failFirst(2, Retryable(errUnavailable, 0)), cooldown: time.Minute,
			wantFail: true, wantAfter: time.Minute, wantEvents: 1},
		// The wait would pass MaxElapsed: given up after one attempt.
		{name: "Retry-After longer than the cooldown", script: failFirst(1, Retryable(errUnavailable, 90*time.Second)), cooldown: time.Minute,
			wantFail: true, wantAfter: 90 * time.Second, wantEvents: 1},
		{name: "no cooldown: no hint, still a recovery", script: failFirst(2, Retryable(errUnavailable, 0)), cooldown: -1,
			wantFail: true, wantAfter: 0, wantEvents: 1},
		{name: "retried within the budget: no recovery", script: failFirst(1, Retryable(errUnavailable, 0)), cooldown: time.Minute,
			wantEvents: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pd := newSink("pagerduty")
			pd.set(tt.script)
			h := newHarness(t, Config{Sinks: []SinkConfig{
				{Sink: pd, Kind: KindPaging, Retry: RetryPolicy{MaxAttempts: 2}, Cooldown: tt.cooldown},
			}})
			var heard atomic.Int32
			h.d.NotifyRecovered(func() { heard.Add(1) })
			ctx := context.Background()
			err := h.d.Deliver(ctx, dets(1, detector.LevelCritical))
			if (err != nil) != tt.wantFail {
				t.Fatalf("first Deliver = %v, want failure %t", err, tt.wantFail)
			}
			if got := RetryAfter(err); got != tt.wantAfter {
				t.Errorf("RetryAfter = %s, want %s", got, tt.wantAfter)
			}
			// ingest knows only the method.
			var hint interface{ RetryAfter() time.Duration }
			if tt.wantAfter > 0 && (!errors.As(err, &hint) || hint.RetryAfter() != tt.wantAfter) {
				t.Errorf("the error does not carry the hint %s through its RetryAfter method", tt.wantAfter)
			}
			if heard.Load() != 0 {
				t.Fatalf("recovery heard before any success")
			}
			h.clock.Advance(2 * time.Minute)
			if err := h.d.Deliver(ctx, []detector.Detection{det(7, detector.LevelCritical)}); err != nil {
				t.Fatalf("second Deliver: %v", err)
			}
			if got := int(heard.Load()); got != tt.wantEvents {
				t.Errorf("recoveries heard = %d, want %d", got, tt.wantEvents)
			}
		})
	}
}

package dedupe_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/internal/mototest"
	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/dedupe"
)

// remote stands for one remote service (a Slack channel, a PagerDuty
// service) shared by every replica.
type remote struct {
	name string
	mu   sync.Mutex
	got  map[string]int // alert key -> accepted sends
	down bool
}

func (r *remote) Name() string { return r.name }

func (r *remote) Send(_ context.Context, a *notify.Alert) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down {
		return notify.Retryable(errors.New("503 service unavailable"), 0)
	}
	r.got[a.Key()]++
	return nil
}

func (r *remote) setDown(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = down
}

func (r *remote) counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.got))
	for k, v := range r.got {
		out[k] = v
	}
	return out
}

func replica(t *testing.T, ledger dedupe.Ledger, retry notify.RetryPolicy, sinks ...notify.Sink) *notify.Dispatcher {
	t.Helper()
	cfg := notify.Config{
		Ledger: ledger,
		// Waiting for another replica's lease: a short real pause.
		Sleep: func(ctx context.Context, _ time.Duration) error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(5 * time.Millisecond):
				return nil
			}
		},
	}
	for _, s := range sinks {
		kind := notify.KindChat
		if s.Name() == "pagerduty" {
			kind = notify.KindPaging
		}
		cfg.Sinks = append(cfg.Sinks, notify.SinkConfig{
			Sink: s, Kind: kind, Timeout: 5 * time.Second, Retry: retry,
		})
	}
	d, err := notify.NewDispatcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func detections(n int) []detector.Detection {
	out := make([]detector.Detection, n)
	for i := range out {
		out[i] = detector.Detection{
			Rule: "root-api-call", Level: detector.LevelCritical, EventID: fmt.Sprintf("ev-%02d", i),
			AccountID: "123456789012", AccessKeyID: "ASIAROOT",
		}
	}
	return out
}

// TestReplicasAlertOnce: two replicas behind one queue, sharing the
// DynamoDB ledger, receive the same events (S3 and EventBridge paths) at
// the same time; each alert reaches each sink once. Then PagerDuty goes
// down while replica A handles a message; replica B gets the redelivered
// message and sends PagerDuty only, once it is back.
func TestReplicasAlertOnce(t *testing.T) {
	client := dedupe.LedgerClient(t)
	table := mototest.LedgerTable(t, client)
	newLedger := func() dedupe.Ledger {
		l, err := dedupe.NewDynamoDB(client, table)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	slack := &remote{name: "slack", got: map[string]int{}}
	pd := &remote{name: "pagerduty", got: map[string]int{}}
	patient := notify.RetryPolicy{MaxAttempts: 1000, MaxElapsed: time.Hour}
	a := replica(t, newLedger(), patient, slack, pd)
	b := replica(t, newLedger(), patient, slack, pd)
	ctx := context.Background()

	ds := detections(10)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, r := range []*notify.Dispatcher{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.Deliver(ctx, ds)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*remote{slack, pd} {
		c := r.counts()
		if len(c) != len(ds) {
			t.Errorf("%s got %d distinct alerts, want %d", r.name, len(c), len(ds))
		}
		for k, n := range c {
			if n != 1 {
				t.Errorf("%s got %s %d times", r.name, k, n)
			}
		}
	}

	// PagerDuty down while replica A handles a new message.
	more := detections(12)[10:]
	pd.setDown(true)
	impatient := replica(t, newLedger(), notify.RetryPolicy{MaxAttempts: 2}, slack, pd)
	if err := impatient.Deliver(ctx, more); err == nil {
		t.Fatal("Deliver succeeded with PagerDuty down")
	}
	pd.setDown(false)
	if err := b.Deliver(ctx, more); err != nil {
		t.Fatalf("redelivery on replica B: %v", err)
	}
	for _, r := range []*remote{slack, pd} {
		for _, d := range more {
			if n := r.counts()[d.Key()]; n != 1 {
				t.Errorf("%s got %s %d times, want 1", r.name, d.Key(), n)
			}
		}
	}
}

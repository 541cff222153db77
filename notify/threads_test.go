package notify

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify/burst"
)

// downStore is a shared burst store that is unreachable.
type downStore struct{}

var errStoreDown = errors.New("dial tcp: connection refused")

func (downStore) Join(context.Context, string, string, time.Time, time.Duration) (burst.Membership, error) {
	return burst.Membership{}, errStoreDown
}

func (downStore) ClaimThread(context.Context, string, time.Duration) (burst.ThreadClaim, error) {
	return burst.ThreadClaim{}, errStoreDown
}

func (downStore) SetThread(context.Context, string, string, burst.Anchor, time.Duration) error {
	return errStoreDown
}

func (downStore) ReleaseThread(context.Context, string, string) error { return errStoreDown }

func (downStore) ForgetThread(context.Context, string, string) error { return errStoreDown }

// sharingSink is a sink that shares threads, recording the store it got.
type sharingSink struct {
	*scriptSink
	threads burst.Threads
}

func (s *sharingSink) ShareThreads(t burst.Threads) { s.threads = t }

// TestBurstStoreDownFailsOpen: with the shared store down, alerts are still
// delivered, grouped in the process's memory (a burst of two), and the
// failures are counted per operation, for grouping and for the sinks'
// thread claims alike.
func TestBurstStoreDownFailsOpen(t *testing.T) {
	reg := prometheus.NewRegistry()
	sink := &sharingSink{scriptSink: newSink("slack")}
	d, err := NewDispatcher(Config{
		Sinks:  []SinkConfig{{Sink: sink, Kind: KindChat}},
		Bursts: downStore{}, Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	if sink.threads == nil {
		t.Fatal("NewDispatcher did not share the threads store with a ThreadSharer sink")
	}
	ds := []detector.Detection{det(1, detector.LevelHigh), det(2, detector.LevelHigh)}
	if err := d.Deliver(context.Background(), ds); err != nil {
		t.Fatalf("Deliver with the burst store down: %v", err)
	}
	sent := sink.Sent()
	if len(sent) != 2 || sent[0].Group.Key != sent[1].Group.Key || sent[1].Group.Seq != 1 || sent[1].Group.Count != 2 {
		t.Fatalf("sent %d alerts, groups %+v; want 2 in one in-memory burst", len(sent), sent)
	}
	if _, err := sink.threads.ClaimThread(context.Background(), "slack#C1#rw-1", time.Second); !errors.Is(err, errStoreDown) {
		t.Fatalf("claim through the shared store: %v, want the store's error", err)
	}
	for op, want := range map[string]float64{"join": 2, "claim": 1} {
		if got := counter(t, d.metrics.BurstStoreErrors.WithLabelValues(op)); got != want {
			t.Errorf("rootwatch_burst_store_errors_total{op=%q} = %v, want %v", op, got, want)
		}
	}
}

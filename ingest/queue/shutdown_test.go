package queue_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/rootwatch/rootwatch/ingest/queue"
	"github.com/rootwatch/rootwatch/internal/mototest"
)

// shutdownAPI is the moto client with the failure modes of a real stop:
// a ReceiveMessage whose context is cancelled after SQS handed it messages
// (handedOver), and slow visibility and delete calls (latency).
type shutdownAPI struct {
	queue.API
	handedOver bool
	latency    time.Duration
	receiving  chan struct{} // closed when the first receive is in flight
	once       sync.Once
}

func (a *shutdownAPI) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, o ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	if !a.handedOver {
		return a.API.ReceiveMessage(ctx, in, o...)
	}
	a.once.Do(func() { close(a.receiving) })
	// SQS completes the long poll whatever the client does; a client whose
	// context ended meanwhile drops the answer.
	out, err := a.API.ReceiveMessage(context.WithoutCancel(ctx), in, o...)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return out, err
}

func (a *shutdownAPI) sleep() { time.Sleep(a.latency) }

func (a *shutdownAPI) ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, o ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	a.sleep()
	return a.API.ChangeMessageVisibilityBatch(ctx, in, o...)
}

func (a *shutdownAPI) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, o ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	a.sleep()
	return a.API.DeleteMessageBatch(ctx, in, o...)
}

// waitVisible waits up to within for the queue to show want visible
// messages and reports whether it did.
func waitVisible(t *testing.T, q *mototest.Queue, c *sqs.Client, want int, within time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if v, _ := q.Counts(t, c); v == want {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stopping (SIGTERM) is not a failure: messages whose handlers were
// cancelled are released at once, without the retry delay; a receive in
// flight when the stop begins is not abandoned, so the messages SQS handed
// it are not hidden for the visibility timeout; and the whole stop, drain
// plus release plus delete flush, stays within the stop budget.
func TestConsumerShutdown(t *testing.T) {
	srv := mototest.Require(t)
	client := srv.SQS(t)
	blockUntilCancelled := func(ctx context.Context, _ queue.Message) queue.Outcome {
		<-ctx.Done()
		return queue.Retry
	}
	tests := []struct {
		name    string
		api     *shutdownAPI
		budget  time.Duration
		handler queue.Handler
		// sendAfterStop sends the message once the stop began (with a
		// receive in flight) rather than before the start.
		sendAfterStop bool
		wait          time.Duration // long-poll wait
		wantStopUnder time.Duration // 0: not checked
	}{
		{name: "cancelled handler released at once", api: &shutdownAPI{}, budget: 2 * time.Second, wait: time.Second,
			handler: blockUntilCancelled},
		{name: "receive in flight at the stop", api: &shutdownAPI{handedOver: true, receiving: make(chan struct{})}, budget: 10 * time.Second,
			wait: 5 * time.Second, handler: func(context.Context, queue.Message) queue.Outcome { return queue.Retry }, sendAfterStop: true},
		// Each visibility change or delete takes 1s: the 6s budget has to
		// cover the drain and the release.
		{name: "slow release and flush stay within the budget", api: &shutdownAPI{latency: time.Second}, budget: 6 * time.Second,
			wait: time.Second, handler: blockUntilCancelled, wantStopUnder: 6*time.Second + 500*time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakCheck(t)
			q := mototest.CreateQueue(t, client, "stop", nil)
			tt.api.API = client
			if !tt.sendAfterStop {
				q.Send(t, client, "in flight at the stop")
			}
			var handled atomic.Int32
			rec := newRecorder(func(ctx context.Context, m queue.Message, _ int) queue.Outcome {
				handled.Add(1)
				return tt.handler(ctx, m)
			})
			// A 30s visibility and a 30s retry delay: anything not released
			// at once stays hidden far longer than the checks below wait.
			_, stop := start(t, tt.api, queue.Config{QueueURL: q.URL, Handler: rec.handle, WaitTime: tt.wait,
				VisibilityTimeout: 30 * time.Second, RetryBase: 30 * time.Second, RetryMax: 30 * time.Second,
				DrainTimeout: tt.budget})
			if tt.sendAfterStop {
				<-tt.api.receiving
				time.Sleep(200 * time.Millisecond) // the long poll is waiting at SQS
			} else {
				rec.waitFor(t, "message in flight", func(ms []queue.Message) bool { return len(ms) == 1 })
			}
			stopped := make(chan error, 1)
			began := time.Now()
			go func() { stopped <- stop() }()
			if tt.sendAfterStop {
				time.Sleep(200 * time.Millisecond)
				q.Send(t, client, "sent while the stop waits for the long poll")
			}
			if err := <-stopped; err != nil {
				t.Fatalf("Run: %v", err)
			}
			took := time.Since(began)
			if tt.wantStopUnder > 0 && took > tt.wantStopUnder {
				t.Errorf("stop took %s, want within the %s budget", took.Round(time.Millisecond), tt.budget)
			}
			if !waitVisible(t, q, client, 1, 3*time.Second) {
				v, f := q.Counts(t, client)
				t.Errorf("after the stop: %d visible, %d hidden; want the message visible again at once (handled %d times)", v, f, handled.Load())
			}
		})
	}
}

// holdingAPI holds the first heartbeat extension (a visibility change to
// the full timeout) until the next release (any other visibility) was
// sent, or for hold at most, to reproduce a heartbeat racing a release.
type holdingAPI struct {
	queue.API
	timeout   int32
	hold      time.Duration
	extending chan struct{} // closed when the first extension is in flight
	released  chan struct{} // closed after the first release was sent
	extOnce   sync.Once
	relOnce   sync.Once
}

func (a *holdingAPI) ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, o ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	if len(in.Entries) > 0 && in.Entries[0].VisibilityTimeout == a.timeout {
		first := false
		a.extOnce.Do(func() { first = true; close(a.extending) })
		if first {
			select {
			case <-a.released:
			case <-time.After(a.hold):
			}
		}
		return a.API.ChangeMessageVisibilityBatch(ctx, in, o...)
	}
	out, err := a.API.ChangeMessageVisibilityBatch(ctx, in, o...)
	a.relOnce.Do(func() { close(a.released) })
	return out, err
}

// A heartbeat extension in flight when the handler releases its message
// must not undo the release: the message comes back after its retry delay
// (1s), not after a fresh visibility timeout (12s).
func TestConsumerHeartbeatDoesNotUndoRelease(t *testing.T) {
	srv := mototest.Require(t)
	leakCheck(t)
	client := srv.SQS(t)
	q := mototest.CreateQueue(t, client, "undo", nil)
	id := q.Send(t, client, "released while its heartbeat is in flight")
	api := &holdingAPI{API: client, timeout: 12, hold: 2 * time.Second, extending: make(chan struct{}), released: make(chan struct{})}
	var releasedAt atomic.Int64
	rec := newRecorder(func(ctx context.Context, _ queue.Message, n int) queue.Outcome {
		if n > 1 {
			return queue.Ack
		}
		select {
		case <-api.extending:
		case <-ctx.Done():
		}
		releasedAt.Store(time.Now().UnixNano())
		return queue.Retry
	})
	_, stop := start(t, api, queue.Config{QueueURL: q.URL, Handler: rec.handle, WaitTime: time.Second,
		VisibilityTimeout: 12 * time.Second, RetryBase: time.Second, RetryMax: time.Second})
	rec.waitFor(t, "redelivery", func(ms []queue.Message) bool { return len(ms) == 2 })
	gap := time.Since(time.Unix(0, releasedAt.Load()))
	q.Wait(t, client, "queue empty", func(v, f int) bool { return v == 0 && f == 0 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := rec.snapshot(); got[1].ID != id {
		t.Fatalf("redelivered %s, want %s", got[1].ID, id)
	}
	if gap > 8*time.Second {
		t.Errorf("redelivered %s after a release with a 1s retry delay: the heartbeat extended it again", gap.Round(time.Millisecond))
	}
}

// A receive that hangs (a network black hole) when the stop begins must
// not spend the whole stop budget: it is given up in time for the release
// of the cancelled messages and the last delete flush, which would
// otherwise fail with the budget and leave messages hidden for their
// visibility timeout (or, acked, to be handled again).
func TestConsumerShutdownWithHungReceive(t *testing.T) {
	srv := mototest.Require(t)
	tests := []struct {
		name    string
		handler queue.Handler
		// wantVisible: the message is visible again at once (released);
		// else it is gone (deleted by the last flush).
		wantVisible bool
	}{
		{name: "cancelled handler released", wantVisible: true,
			handler: func(ctx context.Context, _ queue.Message) queue.Outcome { <-ctx.Done(); return queue.Retry }},
		{name: "acked message deleted by the last flush", wantVisible: false,
			handler: func(context.Context, queue.Message) queue.Outcome { return queue.Ack }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakCheck(t)
			admin := srv.SQS(t)
			proxy := srv.NewFaultProxy(t)
			client := sqs.NewFromConfig(srv.Config(t), func(o *sqs.Options) { o.BaseEndpoint = aws.String(proxy.URL) })
			q := mototest.CreateQueue(t, admin, "stophang", nil)
			q.Send(t, admin, "in flight at the stop")
			rec := newRecorder(func(ctx context.Context, m queue.Message, _ int) queue.Outcome { return tt.handler(ctx, m) })
			const budget = 6 * time.Second
			// The hung receive would time out after 1s + 10s (APITimeout),
			// past the budget. Deletes wait for the last flush.
			_, stop := start(t, client, queue.Config{QueueURL: q.URL, Handler: rec.handle, WaitTime: time.Second,
				VisibilityTimeout: 30 * time.Second, RetryBase: 30 * time.Second, RetryMax: 30 * time.Second,
				FlushInterval: time.Hour, APITimeout: 10 * time.Second, ShutdownTimeout: budget, DrainTimeout: 3 * time.Second})
			rec.waitFor(t, "message handled", func(ms []queue.Message) bool { return len(ms) == 1 })
			proxy.Hang("ReceiveMessage")
			eventually(t, 10*time.Second, "a receive held unanswered", func() bool { return proxy.Holding("ReceiveMessage") > 0 })

			began := time.Now()
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if took := time.Since(began); took > budget+time.Second {
				t.Errorf("stop took %s, want within the %s budget", took.Round(time.Millisecond), budget)
			}
			if tt.wantVisible {
				if !waitVisible(t, q, admin, 1, 3*time.Second) {
					v, f := q.Counts(t, admin)
					t.Errorf("after the stop: %d visible, %d hidden; want the cancelled message released at once", v, f)
				}
				return
			}
			if v, f := q.Counts(t, admin); v != 0 || f != 0 {
				t.Errorf("after the stop: %d visible, %d hidden; want the acked message deleted", v, f)
			}
		})
	}
}

package queue_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/rootwatch/rootwatch/ingest/queue"
	"github.com/rootwatch/rootwatch/internal/mototest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// leakCheck verifies at the end of the test that the test started no
// goroutine that is still running (idle HTTP keep-alive connections of the
// SDK client aside).
func leakCheck(t *testing.T) {
	t.Helper()
	opts := []goleak.Option{
		goleak.IgnoreCurrent(),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	}
	t.Cleanup(func() { goleak.VerifyNone(t, opts...) })
}

// recorder is a Handler that records every call and answers with the
// outcome its decide function returns.
type recorder struct {
	mu     sync.Mutex
	calls  []queue.Message
	decide func(ctx context.Context, m queue.Message, n int) queue.Outcome
	cond   chan struct{} // closed and replaced on every call
}

func newRecorder(decide func(ctx context.Context, m queue.Message, n int) queue.Outcome) *recorder {
	return &recorder{decide: decide, cond: make(chan struct{})}
}

// ackWhenReleased decides Ack once release is closed, or Retry if the
// handler's context ends first (shutdown, drain deadline).
func ackWhenReleased(release <-chan struct{}) func(context.Context, queue.Message, int) queue.Outcome {
	return func(ctx context.Context, _ queue.Message, _ int) queue.Outcome {
		select {
		case <-release:
			return queue.Ack
		case <-ctx.Done():
			return queue.Retry
		}
	}
}

func (r *recorder) handle(ctx context.Context, m queue.Message) queue.Outcome {
	r.mu.Lock()
	n := 0
	for _, c := range r.calls {
		if c.ID == m.ID {
			n++
		}
	}
	r.calls = append(r.calls, m)
	close(r.cond)
	r.cond = make(chan struct{})
	r.mu.Unlock()
	return r.decide(ctx, m, n+1)
}

// waitFor waits until pred holds on the calls so far, failing the test
// after a generous deadline.
func (r *recorder) waitFor(t *testing.T, what string, pred func([]queue.Message) bool) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		r.mu.Lock()
		ok, ch := pred(r.calls), r.cond
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (r *recorder) snapshot() []queue.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]queue.Message(nil), r.calls...)
}

// start runs a Consumer in the background; stop cancels it and returns
// Run's error.
func start(t *testing.T, api queue.API, cfg queue.Config) (c *queue.Consumer, stop func() error) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t)
	}
	c, err := queue.New(api, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return c, stop
}

func TestConsumerAcksAndDeletes(t *testing.T) {
	srv := mototest.Require(t)
	leakCheck(t)
	client := srv.SQS(t)
	q := mototest.CreateQueue(t, client, "ack", nil)
	const n = 25
	sent := map[string]string{}
	for i := range n {
		body := "message " + strconv.Itoa(i)
		sent[q.Send(t, client, body)] = body
	}
	rec := newRecorder(func(context.Context, queue.Message, int) queue.Outcome { return queue.Ack })
	reg := prometheus.NewRegistry()
	metrics := queue.NewMetrics(reg)
	c, stop := start(t, client, queue.Config{QueueURL: q.URL, Handler: rec.handle, Workers: 4, WaitTime: time.Second,
		VisibilityTimeout: 30 * time.Second, Metrics: metrics})

	rec.waitFor(t, "all messages handled", func(ms []queue.Message) bool { return len(ms) >= n })
	q.Wait(t, client, "queue empty", func(v, f int) bool { return v == 0 && f == 0 })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := rec.snapshot()
	if len(got) != n {
		t.Fatalf("handled %d messages, want %d (each once)", len(got), n)
	}
	for _, m := range got {
		if sent[m.ID] != string(m.Body) {
			t.Errorf("message %s: body %q, want %q", m.ID, m.Body, sent[m.ID])
		}
		if m.ReceiveCount != 1 || m.SentAt.IsZero() || m.QueueURL != q.URL {
			t.Errorf("message %s: receive count %d, sent at %v, queue %q", m.ID, m.ReceiveCount, m.SentAt, m.QueueURL)
		}
	}
	if c.LastReceive().IsZero() {
		t.Error("LastReceive is zero after successful receives")
	}
	if err := queue.Ready(time.Now(), time.Minute, c); err != nil {
		t.Errorf("Ready: %v", err)
	}
	if got := metricSum(t, reg, "rootwatch_messages_deleted_total"); got != n {
		t.Errorf("messages_deleted_total = %v, want %d", got, n)
	}
	if c.InFlight() != 0 {
		t.Errorf("InFlight = %d after shutdown", c.InFlight())
	}
}

// metricSum returns the sum over all label values of a counter or gauge
// family in reg.
func metricSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// A message handled for longer than the visibility timeout must stay
// invisible: a second consumer on the same queue never sees it.
func TestConsumerHeartbeatKeepsSlowMessageInvisible(t *testing.T) {
	srv := mototest.Require(t)
	leakCheck(t)
	client := srv.SQS(t)
	q := mototest.CreateQueue(t, client, "heartbeat", nil)
	id := q.Send(t, client, "slow")

	release := make(chan struct{})
	slow := newRecorder(ackWhenReleased(release))
	reg := prometheus.NewRegistry()
	_, stopSlow := start(t, client, queue.Config{QueueURL: q.URL, Handler: slow.handle, WaitTime: time.Second,
		VisibilityTimeout: 2 * time.Second, Metrics: queue.NewMetrics(reg)})
	slow.waitFor(t, "slow message received", func(ms []queue.Message) bool { return len(ms) == 1 })

	other := newRecorder(func(context.Context, queue.Message, int) queue.Outcome { return queue.Ack })
	_, stopOther := start(t, client, queue.Config{QueueURL: q.URL, Handler: other.handle, WaitTime: time.Second,
		VisibilityTimeout: 2 * time.Second})
	// Hold the message for three visibility timeouts.
	waitMetric(t, reg, "rootwatch_visibility_extensions_total", 4)
	close(release)
	q.Wait(t, client, "queue empty", func(v, f int) bool { return v == 0 && f == 0 })
	if err := stopOther(); err != nil {
		t.Fatal(err)
	}
	if err := stopSlow(); err != nil {
		t.Fatal(err)
	}
	if got := other.snapshot(); len(got) != 0 {
		t.Fatalf("second consumer received %d messages (first %s): visibility was not extended", len(got), got[0].ID)
	}
	if got := slow.snapshot(); len(got) != 1 || got[0].ID != id {
		t.Fatalf("slow consumer handled %v, want exactly %s once", got, id)
	}
}

// waitMetric waits until the named metric's sum reaches at least want.
func waitMetric(t *testing.T, reg *prometheus.Registry, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for metricSum(t, reg, name) < want {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s >= %v", name, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Retry makes the message visible again after a backoff, with a higher
// receive count; the next Ack deletes it.
func TestConsumerRetryReleasesWithBackoff(t *testing.T) {
	srv := mototest.Require(t)
	leakCheck(t)
	client := srv.SQS(t)
	q := mototest.CreateQueue(t, client, "retry", nil)
	id := q.Send(t, client, "flaky")
	rec := newRecorder(func(_ context.Context, _ queue.Message, n int) queue.Outcome {
		if n < 3 {
			return queue.Retry
		}
		return queue.Ack
	})
	_, stop := start(t, client, queue.Config{QueueURL: q.URL, Handler: rec.handle, WaitTime: time.Second,
		VisibilityTimeout: 30 * time.Second, RetryBase: time.Second, RetryMax: 2 * time.Second})
	rec.waitFor(t, "third delivery", func(ms []queue.Message) bool { return len(ms) >= 3 })
	q.Wait(t, client, "queue empty", func(v, f int) bool { return v == 0 && f == 0 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	got := rec.snapshot()
	if len(got) != 3 {
		t.Fatalf("handled %d times, want 3", len(got))
	}
	for i, m := range got {
		if m.ID != id || m.ReceiveCount != i+1 {
			t.Errorf("delivery %d: id %s receive count %d, want %s and %d", i, m.ID, m.ReceiveCount, id, i+1)
		}
	}
}

// DeadLetter moves the message to the queue's dead-letter queue at once,
// with the reason as attributes, and deletes it. Without a redrive policy,
// or through an API that cannot send to the dead-letter queue, the message
// is left: it comes back after its visibility timeout.
func TestConsumerDeadLetter(t *testing.T) {
	srv := mototest.Require(t)
	client := srv.SQS(t)
	tests := []struct {
		name      string
		dlq       bool
		api       func(queue.API) queue.API
		wantCalls int // handler calls before the check
		wantInDLQ bool
	}{
		{name: "moved at once", dlq: true, wantCalls: 1, wantInDLQ: true},
		{name: "no redrive policy: left", wantCalls: 2},
		{name: "API without SendMessage: left for the redrive policy", dlq: true,
			api: func(a queue.API) queue.API { return struct{ queue.API }{a} }, wantCalls: 2, wantInDLQ: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakCheck(t)
			var q *mototest.Queue
			if tt.dlq {
				q = mototest.CreateQueueWithDLQ(t, client, "dead", 2)
			} else {
				q = mototest.CreateQueue(t, client, "dead", nil)
			}
			id := q.Send(t, client, "poison")
			var api queue.API = client
			if tt.api != nil {
				api = tt.api(client)
			}
			rec := newRecorder(func(context.Context, queue.Message, int) queue.Outcome { return queue.DeadLetter })
			reg := prometheus.NewRegistry()
			_, stop := start(t, api, queue.Config{QueueURL: q.URL, Handler: rec.handle, WaitTime: time.Second,
				VisibilityTimeout: 2 * time.Second, Metrics: queue.NewMetrics(reg)})
			if tt.wantInDLQ {
				q.DLQ.Wait(t, client, "message in the DLQ", func(v, _ int) bool { return v == 1 })
			} else {
				rec.waitFor(t, "redelivery", func(ms []queue.Message) bool { return len(ms) >= tt.wantCalls })
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if got := rec.snapshot(); len(got) != tt.wantCalls {
				t.Errorf("handled %d times, want %d", len(got), tt.wantCalls)
			}
			if !tt.wantInDLQ {
				return
			}
			out, err := client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.DLQ.URL),
				MessageAttributeNames: []string{"All"}})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Messages) != 1 || aws.ToString(out.Messages[0].Body) != "poison" {
				t.Fatalf("DLQ holds %v, want the poison message", out.Messages)
			}
			attrs := out.Messages[0].MessageAttributes
			if tt.wantCalls == 1 {
				if got := aws.ToString(attrs[queue.AttrMessageID].StringValue); got != id {
					t.Errorf("%s = %q, want %s", queue.AttrMessageID, got, id)
				}
				if got := aws.ToString(attrs[queue.AttrReason].StringValue); got != "unspecified" {
					t.Errorf("%s = %q, want unspecified (a plain Handler gives no reason)", queue.AttrReason, got)
				}
				if v := metricSum(t, reg, "rootwatch_messages_dead_lettered_total"); v != 1 {
					t.Errorf("messages_dead_lettered_total = %v, want 1", v)
				}
				if v, f := q.Counts(t, client); v+f != 0 {
					t.Errorf("source queue holds %d+%d messages, want it deleted", v, f)
				}
			} else if len(attrs) != 0 {
				t.Errorf("moved by the redrive policy, yet has attributes %v", attrs)
			}
		})
	}
}

// Shutdown with messages in flight: receiving stops, in-flight handlers
// finish within the drain deadline and their acks are flushed.
func TestConsumerGracefulShutdownDrains(t *testing.T) {
	srv := mototest.Require(t)
	leakCheck(t)
	client := srv.SQS(t)
	q := mototest.CreateQueue(t, client, "drain", nil)
	for i := range 3 {
		q.Send(t, client, "in flight "+strconv.Itoa(i))
	}
	release := make(chan struct{})
	rec := newRecorder(ackWhenReleased(release))
	// Three workers, all busy: the receive loop waits for a free one, so
	// the late message below cannot be received before shutdown begins.
	_, stop := start(t, client, queue.Config{QueueURL: q.URL, Handler: rec.handle, WaitTime: time.Second, Workers: 3,
		VisibilityTimeout: 30 * time.Second, DrainTimeout: time.Minute})
	rec.waitFor(t, "3 messages in flight", func(ms []queue.Message) bool { return len(ms) == 3 })

	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	// Messages sent after the stop signal must not be received.
	late := q.Send(t, client, "late")
	select {
	case err := <-stopped:
		t.Fatalf("Run returned (%v) while handlers were still running", err)
	default:
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, m := range rec.snapshot() {
		if m.ID == late {
			t.Errorf("message sent after shutdown began was handled")
		}
	}
	if v, f := q.Counts(t, client); v+f != 1 {
		t.Errorf("queue holds %d visible + %d in flight, want only the late message", v, f)
	}
}

// Past the drain deadline the handlers are cancelled and their messages
// released, never deleted.
func TestConsumerShutdownDeadlineReleases(t *testing.T) {
	srv := mototest.Require(t)
	leakCheck(t)
	client := srv.SQS(t)
	q := mototest.CreateQueue(t, client, "deadline", nil)
	id := q.Send(t, client, "stuck")
	rec := newRecorder(func(ctx context.Context, _ queue.Message, n int) queue.Outcome {
		if n > 1 {
			return queue.Ack
		}
		<-ctx.Done()
		return queue.Retry
	})
	_, stop := start(t, client, queue.Config{QueueURL: q.URL, Handler: rec.handle, WaitTime: time.Second,
		VisibilityTimeout: 30 * time.Second, DrainTimeout: 200 * time.Millisecond, RetryBase: time.Second, RetryMax: time.Second})
	rec.waitFor(t, "message in flight", func(ms []queue.Message) bool { return len(ms) == 1 })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	// Released with a 1 s visibility: a new consumer gets it well before
	// the 30 s visibility of the first receive would lapse.
	_, stop2 := start(t, client, queue.Config{QueueURL: q.URL, Handler: rec.handle, WaitTime: time.Second,
		VisibilityTimeout: 30 * time.Second})
	rec.waitFor(t, "redelivery", func(ms []queue.Message) bool { return len(ms) == 2 })
	q.Wait(t, client, "queue empty", func(v, f int) bool { return v == 0 && f == 0 })
	if err := stop2(); err != nil {
		t.Fatal(err)
	}
	if got := rec.snapshot(); got[1].ID != id || got[1].ReceiveCount != 2 {
		t.Errorf("redelivery: %s count %d, want %s count 2", got[1].ID, got[1].ReceiveCount, id)
	}
}

// A queue that does not exist stops Run with an error.
func TestConsumerMissingQueue(t *testing.T) {
	srv := mototest.Require(t)
	leakCheck(t)
	client := srv.SQS(t)
	c, err := queue.New(client, queue.Config{QueueURL: srv.Endpoint + "/123456789012/" + mototest.Name("missing"),
		Handler: func(context.Context, queue.Message) queue.Outcome { return queue.Ack }, WaitTime: time.Second,
		Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Run(context.Background()); err == nil {
		t.Fatal("Run on a missing queue returned nil")
	}
	if err := queue.Ready(time.Now(), time.Minute, c); err == nil {
		t.Error("Ready reports a consumer that never polled as ready")
	}
}

// A Consumer whose workers are all busy is ready even though it is not
// polling; HandlerTimeout then cancels the stalled handler, whose message
// is released and handled again.
func TestConsumerSaturatedReadyAndHandlerTimeout(t *testing.T) {
	srv := mototest.Require(t)
	leakCheck(t)
	client := srv.SQS(t)
	q := mototest.CreateQueue(t, client, "saturated", nil)
	id := q.Send(t, client, "stalls")
	proceed := make(chan struct{})
	rec := newRecorder(func(ctx context.Context, _ queue.Message, n int) queue.Outcome {
		if n > 1 {
			return queue.Ack
		}
		<-proceed
		<-ctx.Done()
		return queue.Retry
	})
	c, stop := start(t, client, queue.Config{QueueURL: q.URL, Handler: rec.handle, Workers: 1, WaitTime: time.Second,
		VisibilityTimeout: 30 * time.Second, HandlerTimeout: 3 * time.Second, RetryBase: time.Second, RetryMax: time.Second})
	rec.waitFor(t, "message in flight", func(ms []queue.Message) bool { return len(ms) == 1 })
	// The only worker is busy: the loop waits for it instead of polling.
	deadline := time.Now().Add(30 * time.Second)
	for queue.Ready(time.Now().Add(time.Hour), time.Minute, c) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("saturated consumer not ready: %v", queue.Ready(time.Now().Add(time.Hour), time.Minute, c))
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(proceed)
	rec.waitFor(t, "redelivery after the handler timeout", func(ms []queue.Message) bool { return len(ms) == 2 })
	q.Wait(t, client, "queue empty", func(v, f int) bool { return v == 0 && f == 0 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := rec.snapshot(); got[1].ID != id || got[1].ReceiveCount != 2 {
		t.Errorf("second delivery: %s count %d", got[1].ID, got[1].ReceiveCount)
	}
	if err := queue.Ready(time.Now().Add(time.Hour), time.Minute, c); err == nil {
		t.Error("a stopped consumer that last polled an hour ago is ready")
	}
}

// corruptingAPI replaces the receipt handles of the first deletes and/or
// all visibility extensions with invalid ones, so that SQS (moto) answers
// with per-entry Failed results and a nil error.
type corruptingAPI struct {
	queue.API
	badDeletes atomic.Int32 // delete calls still to corrupt
	badExtends atomic.Bool
}

func (c *corruptingAPI) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, o ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	if c.badDeletes.Add(-1) >= 0 {
		for i := range in.Entries {
			in.Entries[i].ReceiptHandle = aws.String("invalid-" + aws.ToString(in.Entries[i].ReceiptHandle))
		}
	}
	return c.API.DeleteMessageBatch(ctx, in, o...)
}

func (c *corruptingAPI) ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, o ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	if c.badExtends.Load() {
		for i := range in.Entries {
			in.Entries[i].ReceiptHandle = aws.String("invalid-" + aws.ToString(in.Entries[i].ReceiptHandle))
		}
	}
	return c.API.ChangeMessageVisibilityBatch(ctx, in, o...)
}

// A delete that fails per entry (nil error, Failed set) is counted and the
// message is not lost: it comes back and is deleted the second time.
func TestConsumerFailedDeleteEntryRedelivers(t *testing.T) {
	srv := mototest.Require(t)
	leakCheck(t)
	client := srv.SQS(t)
	q := mototest.CreateQueue(t, client, "faildelete", nil)
	id := q.Send(t, client, "delete me twice")
	api := &corruptingAPI{API: client}
	api.badDeletes.Store(1)
	rec := newRecorder(func(context.Context, queue.Message, int) queue.Outcome { return queue.Ack })
	reg := prometheus.NewRegistry()
	_, stop := start(t, api, queue.Config{QueueURL: q.URL, Handler: rec.handle, WaitTime: time.Second,
		VisibilityTimeout: 2 * time.Second, Metrics: queue.NewMetrics(reg)})
	rec.waitFor(t, "second delivery", func(ms []queue.Message) bool { return len(ms) == 2 })
	q.Wait(t, client, "queue empty", func(v, f int) bool { return v == 0 && f == 0 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := rec.snapshot(); got[0].ID != id || got[1].ID != id {
		t.Errorf("deliveries %v, want %s twice", got, id)
	}
	if v := metricSum(t, reg, "rootwatch_sqs_errors_total"); v != 1 {
		t.Errorf("sqs_errors_total = %v, want 1 (the failed delete entry)", v)
	}
	if v := metricSum(t, reg, "rootwatch_messages_deleted_total"); v != 1 {
		t.Errorf("messages_deleted_total = %v, want 1", v)
	}
}

// When extensions fail per entry the message is redelivered while its
// handler still runs: the Consumer does not start a second handler, and
// the running one deletes the message with the newest receipt handle.
func TestConsumerRedeliveryWhileInFlightUsesNewestHandle(t *testing.T) {
	srv := mototest.Require(t)
	leakCheck(t)
	client := srv.SQS(t)
	q := mototest.CreateQueue(t, client, "newest", nil)
	q.Send(t, client, "slow, and its heartbeat fails")
	api := &corruptingAPI{API: client}
	api.badExtends.Store(true)
	release := make(chan struct{})
	rec := newRecorder(ackWhenReleased(release))
	reg := prometheus.NewRegistry()
	c, stop := start(t, api, queue.Config{QueueURL: q.URL, Handler: rec.handle, WaitTime: time.Second,
		VisibilityTimeout: 2 * time.Second, Metrics: queue.NewMetrics(reg)})
	rec.waitFor(t, "first delivery", func(ms []queue.Message) bool { return len(ms) == 1 })
	// The visibility lapses and the same consumer receives the message again.
	waitMetric(t, reg, "rootwatch_messages_received_total", 2)
	close(release)
	q.Wait(t, client, "queue empty", func(v, f int) bool { return v == 0 && f == 0 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := rec.snapshot(); len(got) != 1 {
		t.Errorf("handler ran %d times, want once", len(got))
	}
	if v := metricSum(t, reg, "rootwatch_sqs_errors_total"); v < 1 {
		t.Errorf("sqs_errors_total = %v, want the failed extensions counted", v)
	}
	if c.InFlight() != 0 {
		t.Errorf("InFlight = %d", c.InFlight())
	}
}

// RunAll runs one Consumer per queue: a missing queue fails its Consumer
// (and RunAll's result) without stopping the others.
func TestRunAllKeepsHealthyQueues(t *testing.T) {
	srv := mototest.Require(t)
	leakCheck(t)
	client := srv.SQS(t)
	good := mototest.CreateQueue(t, client, "good", nil)
	rec := newRecorder(func(context.Context, queue.Message, int) queue.Outcome { return queue.Ack })
	log := zaptest.NewLogger(t)
	mk := func(url string) *queue.Consumer {
		c, err := queue.New(client, queue.Config{QueueURL: url, Handler: rec.handle, WaitTime: time.Second, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	healthy, missing := mk(good.URL), mk(srv.Endpoint+"/123456789012/"+mototest.Name("absent"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- queue.RunAll(ctx, healthy, missing) }()
	id := good.Send(t, client, "still consumed")
	rec.waitFor(t, "message on the healthy queue", func(ms []queue.Message) bool { return len(ms) == 1 })
	if err := queue.Ready(time.Now(), time.Minute, healthy); err != nil {
		t.Errorf("healthy consumer not ready: %v", err)
	}
	// Wait until the missing queue's consumer has failed its receive.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := queue.Ready(time.Now(), time.Minute, healthy, missing)
		if err != nil && strings.Contains(err.Error(), "polling fails") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ready = %v, want the missing queue's polling failure", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "absent") {
		t.Errorf("RunAll = %v, want the missing queue's error", err)
	}
	if got := rec.snapshot(); got[0].ID != id {
		t.Errorf("handled %s, want %s", got[0].ID, id)
	}
}

// The dead-letter queue is looked up when Run starts; when that lookup
// fails for a passing reason (throttling, a network blip, an IAM change
// being rolled out), it must be looked up again when a message is to be
// dead-lettered, not leave every permanent failure to be received again
// until maxReceiveCount for the life of the process.
func TestConsumerDeadLetterLookupRetried(t *testing.T) {
	srv := mototest.Require(t)
	admin := srv.SQS(t)
	tests := []struct {
		name string
		deny string // the SQS operation failing while Run starts
	}{
		{name: "redrive policy unreadable at start", deny: "GetQueueAttributes"},
		{name: "dead-letter queue URL unreadable at start", deny: "GetQueueUrl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakCheck(t)
			proxy := srv.NewFaultProxy(t)
			client := sqs.NewFromConfig(srv.Config(t), func(o *sqs.Options) { o.BaseEndpoint = aws.String(proxy.URL) })
			q := mototest.CreateQueueWithDLQ(t, admin, "dlqlookup", 16)
			proxy.Deny(tt.deny)
			rec := newRecorder(func(context.Context, queue.Message, int) queue.Outcome { return queue.DeadLetter })
			reg := prometheus.NewRegistry()
			_, stop := start(t, client, queue.Config{QueueURL: q.URL, Handler: rec.handle, WaitTime: time.Second,
				VisibilityTimeout: 2 * time.Second, Metrics: queue.NewMetrics(reg)})
			deadline := time.Now().Add(30 * time.Second)
			for proxy.Seen(tt.deny) == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("Run never called %s", tt.deny)
				}
				time.Sleep(20 * time.Millisecond)
			}
			proxy.Allow()
			q.Send(t, admin, "poison")
			rec.waitFor(t, "message handled", func(ms []queue.Message) bool { return len(ms) >= 1 })
			q.DLQ.Wait(t, admin, "message in the DLQ", func(v, _ int) bool { return v == 1 })
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if got := rec.snapshot(); len(got) != 1 {
				t.Errorf("handled %d times, want once", len(got))
			}
			if v := metricSum(t, reg, "rootwatch_messages_dead_lettered_total"); v != 1 {
				t.Errorf("messages_dead_lettered_total = %v, want 1", v)
			}
		})
	}
}

package queue_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rootwatch/rootwatch/ingest/queue"
	"github.com/rootwatch/rootwatch/internal/mototest"
)

// stallRecorder is a StallReporter that records every report; it fails
// the first failFirst calls, as a sink outage would.
type stallRecorder struct {
	mu        sync.Mutex
	reports   []queue.Stall
	failFirst int
	calls     int
}

func (r *stallRecorder) ReportStall(_ context.Context, s queue.Stall) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.calls <= r.failFirst {
		return errors.New("sink down")
	}
	r.reports = append(r.reports, s)
	return nil
}

func (r *stallRecorder) snapshot() []queue.Stall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]queue.Stall(nil), r.reports...)
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestConsumerStall: receives refused (IAM) for longer than StallAfter
// make the Consumer not ready, set rootwatch_sqs_stalled and report one
// stall with the reason; when receives work again it is ready, the metric
// is 0 and the all-clear of the same episode is reported. A failure shorter
// than StallAfter is ridden out silently, and a reporter that fails is
// called again until it succeeds.
func TestConsumerStall(t *testing.T) {
	tests := []struct {
		name       string
		stallAfter time.Duration
		fault      time.Duration
		failFirst  int
		wantStall  bool
	}{
		// Receive retries back off 1s, 2s, ...: a 1s fault is over by the
		// second retry, 3s after it began.
		{name: "short failure is ridden out", stallAfter: 4 * time.Second, fault: 1 * time.Second, wantStall: false},
		{name: "stall reported and resolved", stallAfter: 2 * time.Second, fault: 5 * time.Second, wantStall: true},
		{name: "reporter failing at first", stallAfter: 2 * time.Second, fault: 5 * time.Second, failFirst: 2, wantStall: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := mototest.Require(t)
			leakCheck(t)
			proxy := srv.NewFaultProxy(t)
			client := sqs.NewFromConfig(srv.Config(t), func(o *sqs.Options) { o.BaseEndpoint = aws.String(proxy.URL) })
			q := mototest.CreateQueue(t, srv.SQS(t), "stall", nil)
			reg := prometheus.NewRegistry()
			rep := &stallRecorder{failFirst: tt.failFirst}
			c, err := queue.New(client, queue.Config{QueueURL: q.URL, WaitTime: time.Second, StallAfter: tt.stallAfter,
				Handler: func(context.Context, queue.Message) queue.Outcome { return queue.Ack },
				Metrics: queue.NewMetrics(reg), StallReporter: rep})
			if err != nil {
				t.Fatal(err)
			}
			// Ready right after the access check, before any long poll.
			if err := c.Ready(time.Now(), time.Minute); err == nil {
				t.Error("ready before anything read the queue")
			}
			if err := c.CheckAccess(t.Context()); err != nil {
				t.Fatalf("CheckAccess: %v", err)
			}
			if err := c.Ready(time.Now(), time.Minute); err != nil {
				t.Errorf("not ready after CheckAccess: %v", err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			defer func() { cancel(); <-done }()
			stalled := func() float64 { return gaugeValue(t, reg, "rootwatch_sqs_stalled") }

			proxy.Deny("ReceiveMessage")
			faultStart := time.Now()
			if tt.wantStall {
				eventually(t, 10*time.Second, "stall reported", func() bool { return len(rep.snapshot()) == 1 })
				if err := c.Ready(time.Now(), time.Minute); err == nil || !strings.Contains(err.Error(), "stalled") {
					t.Errorf("Ready while stalled = %v", err)
				}
				if v := stalled(); v != 1 {
					t.Errorf("rootwatch_sqs_stalled = %v, want 1", v)
				}
				s := rep.snapshot()[0]
				if !strings.Contains(s.Reason, "AccessDenied") || s.Episode == "" || !s.Recovered.IsZero() || s.QueueURL != q.URL {
					t.Errorf("stall report %+v", s)
				}
				if d := s.Detected.Sub(s.Since); d < tt.stallAfter {
					t.Errorf("stall declared %s after the last read, before StallAfter", d)
				}
			}
			time.Sleep(time.Until(faultStart.Add(tt.fault)))
			if !tt.wantStall {
				if err := c.Ready(time.Now(), time.Minute); err != nil {
					t.Errorf("not ready during a failure shorter than StallAfter: %v", err)
				}
			}
			proxy.Allow()
			if tt.wantStall {
				eventually(t, 10*time.Second, "all-clear reported", func() bool { return len(rep.snapshot()) == 2 })
				r := rep.snapshot()
				if r[1].Recovered.IsZero() || r[1].Episode != r[0].Episode {
					t.Errorf("all-clear %+v does not close episode %s", r[1], r[0].Episode)
				}
			} else {
				time.Sleep(tt.stallAfter)
				if r := rep.snapshot(); len(r) != 0 {
					t.Errorf("a %s failure was reported as a stall: %+v", tt.fault, r)
				}
			}
			eventually(t, 5*time.Second, "ready again", func() bool { return c.Ready(time.Now(), time.Minute) == nil })
			if v := stalled(); v != 0 {
				t.Errorf("rootwatch_sqs_stalled after recovery = %v, want 0", v)
			}
			if _, open := c.Stalled(); open {
				t.Error("stall episode still open after recovery")
			}
		})
	}
}

// TestCheckAccess: the start-up check fails at once, naming the cause,
// for a missing queue and for a denied call.
func TestCheckAccess(t *testing.T) {
	srv := mototest.Require(t)
	q := mototest.CreateQueue(t, srv.SQS(t), "access", nil)
	tests := []struct {
		name, url, deny, want string
	}{
		{name: "ok", url: q.URL},
		{name: "missing queue", url: q.URL + "-gone", want: "does not exist"},
		{name: "denied", url: q.URL, deny: "GetQueueAttributes", want: "AccessDenied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proxy := srv.NewFaultProxy(t)
			if tt.deny != "" {
				proxy.Deny(tt.deny)
			}
			client := sqs.NewFromConfig(srv.Config(t), func(o *sqs.Options) { o.BaseEndpoint = aws.String(proxy.URL) })
			c, err := queue.New(client, queue.Config{QueueURL: tt.url, Handler: func(context.Context, queue.Message) queue.Outcome { return queue.Ack }})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = c.CheckAccess(t.Context())
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("CheckAccess: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("CheckAccess = %v, want an error with %q", err, tt.want)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("CheckAccess took %s: a permanent error must not be retried", d)
			}
			if n := proxy.Seen("GetQueueAttributes"); n != 1 {
				t.Errorf("%d GetQueueAttributes calls, want 1", n)
			}
		})
	}
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not found (or not one series)", name)
	return 0
}

// TestConsumerStallOnHungReceive: a ReceiveMessage that never answers (a
// network black hole) times out after the long-poll wait plus APITimeout;
// that timeout is a failed receive like a refusal, so a hang longer than
// StallAfter makes the queue stalled (not ready, metric 1, stall
// reported), and the Consumer recovers when receives are answered again.
// A hang shorter than StallAfter is ridden out.
func TestConsumerStallOnHungReceive(t *testing.T) {
	tests := []struct {
		name       string
		stallAfter time.Duration
		hang       time.Duration
		wantStall  bool
	}{
		{name: "hang longer than StallAfter stalls", stallAfter: 3 * time.Second, hang: 8 * time.Second, wantStall: true},
		{name: "short hang is ridden out", stallAfter: 8 * time.Second, hang: 1 * time.Second, wantStall: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := mototest.Require(t)
			leakCheck(t)
			proxy := srv.NewFaultProxy(t)
			client := sqs.NewFromConfig(srv.Config(t), func(o *sqs.Options) { o.BaseEndpoint = aws.String(proxy.URL) })
			q := mototest.CreateQueue(t, srv.SQS(t), "hang", nil)
			reg := prometheus.NewRegistry()
			rep := &stallRecorder{}
			c, err := queue.New(client, queue.Config{QueueURL: q.URL, WaitTime: time.Second, APITimeout: time.Second,
				StallAfter: tt.stallAfter, Handler: func(context.Context, queue.Message) queue.Outcome { return queue.Ack },
				Metrics: queue.NewMetrics(reg), StallReporter: rep})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.CheckAccess(t.Context()); err != nil {
				t.Fatalf("CheckAccess: %v", err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			defer func() { cancel(); <-done }()
			eventually(t, 10*time.Second, "a successful receive", func() bool { return !c.LastReceive().IsZero() })

			proxy.Hang("ReceiveMessage")
			hangStart := time.Now()
			eventually(t, 10*time.Second, "a receive held unanswered", func() bool { return proxy.Holding("ReceiveMessage") > 0 })
			if tt.wantStall {
				eventually(t, 20*time.Second, "stall reported for a hung receive", func() bool { return len(rep.snapshot()) == 1 })
				if err := c.Ready(time.Now(), time.Minute); err == nil || !strings.Contains(err.Error(), "stalled") {
					t.Errorf("Ready while receives hang = %v, want stalled", err)
				}
				if v := gaugeValue(t, reg, "rootwatch_sqs_stalled"); v != 1 {
					t.Errorf("rootwatch_sqs_stalled = %v, want 1", v)
				}
				if s := rep.snapshot()[0]; !strings.Contains(s.Reason, "deadline exceeded") {
					t.Errorf("stall reason %q does not say the receive timed out", s.Reason)
				}
			}
			time.Sleep(time.Until(hangStart.Add(tt.hang)))
			if !tt.wantStall {
				if err := c.Ready(time.Now(), time.Minute); err != nil {
					t.Errorf("not ready during a hang shorter than StallAfter: %v", err)
				}
			}
			proxy.Allow()
			lastOK := c.LastReceive()
			eventually(t, 20*time.Second, "a receive succeeds after the hang", func() bool { return c.LastReceive().After(lastOK) })
			if tt.wantStall {
				eventually(t, 10*time.Second, "all-clear reported", func() bool { return len(rep.snapshot()) == 2 })
				if r := rep.snapshot(); r[1].Recovered.IsZero() || r[1].Episode != r[0].Episode {
					t.Errorf("all-clear %+v does not close episode %s", r[1], r[0].Episode)
				}
			} else if r := rep.snapshot(); len(r) != 0 {
				t.Errorf("a %s hang was reported as a stall: %+v", tt.hang, r)
			}
			eventually(t, 10*time.Second, "ready again", func() bool { return c.Ready(time.Now(), time.Minute) == nil })
			if v := gaugeValue(t, reg, "rootwatch_sqs_stalled"); v != 0 {
				t.Errorf("rootwatch_sqs_stalled after recovery = %v, want 0", v)
			}
		})
	}
}

// TestConsumerQueueDeletedWhileRunning: when the queue disappears while
// the Consumer runs (its receives answer QueueDoesNotExist), Run returns
// the error and the Consumer consumes nothing more, so it must not look
// ready for up to StallAfter: Ready fails at once, rootwatch_sqs_stalled
// is 1 and the stall is reported (there is no recovery to wait for).
func TestConsumerQueueDeletedWhileRunning(t *testing.T) {
	tests := []struct {
		name     string
		reporter bool
	}{
		{name: "with a stall reporter", reporter: true},
		{name: "without a stall reporter", reporter: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := mototest.Require(t)
			leakCheck(t)
			client := srv.SQS(t)
			q := mototest.CreateQueue(t, client, "deleted", nil)
			reg := prometheus.NewRegistry()
			rep := &stallRecorder{}
			cfg := queue.Config{QueueURL: q.URL, WaitTime: time.Second, StallAfter: time.Hour,
				Handler: func(context.Context, queue.Message) queue.Outcome { return queue.Ack },
				Metrics: queue.NewMetrics(reg)}
			if tt.reporter {
				cfg.StallReporter = rep
			}
			c, err := queue.New(client, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.CheckAccess(t.Context()); err != nil {
				t.Fatalf("CheckAccess: %v", err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			eventually(t, 10*time.Second, "a successful receive", func() bool { return !c.LastReceive().IsZero() })
			if _, err := client.DeleteQueue(t.Context(), &sqs.DeleteQueueInput{QueueUrl: aws.String(q.URL)}); err != nil {
				t.Fatalf("delete queue: %v", err)
			}
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "NonExistentQueue") && !strings.Contains(err.Error(), "does not exist") {
					t.Errorf("Run = %v, want the missing queue's error", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return after its queue was deleted")
			}
			if err := c.Ready(time.Now(), time.Minute); err == nil {
				t.Error("Ready = nil for a Consumer whose queue is gone and which stopped consuming")
			}
			if v := gaugeValue(t, reg, "rootwatch_sqs_stalled"); v != 1 {
				t.Errorf("rootwatch_sqs_stalled = %v, want 1", v)
			}
			if !tt.reporter {
				return
			}
			r := rep.snapshot()
			if len(r) != 1 || !r[0].Recovered.IsZero() || r[0].Episode == "" {
				t.Fatalf("stall reports %+v, want one open stall", r)
			}
			if !strings.Contains(r[0].Reason, "NonExistentQueue") && !strings.Contains(r[0].Reason, "does not exist") {
				t.Errorf("stall reason %q does not say the queue does not exist", r[0].Reason)
			}
		})
	}
}

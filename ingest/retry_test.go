package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"go.uber.org/zap/zaptest"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/ingest"
	"github.com/rootwatch/rootwatch/internal/mototest"
	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/pagerduty"
)

// A permanently failed message goes to the dead-letter queue after its
// first receive, with the reason as message attributes, once the readable
// part's alerts were delivered; its detections are counted once.
func TestServicePermanentFailureDeadLetteredAtOnce(t *testing.T) {
	srv := mototest.Require(t)
	sqsc, s3c := srv.SQS(t), srv.S3(t)
	bucket := mototest.Name("permanent")
	createBucket(t, s3c, bucket)
	big, corruptIDs := logObject(t, "corrupt", 4000, 0, 1)
	corruptKey := keyPlain + "-corrupt.json.gz"
	putObject(t, s3c, bucket, corruptKey, truncate(big, 0.5))
	invalidKey := keyPlain + "-invalid.json"
	putObject(t, s3c, bucket, invalidKey, []byte(record(t, "root_api_call", "inv-1")+"\n"+
		`{"eventName":"x","userIdentity":{"type":tru}}`+"\n"+record(t, "root_api_call", "inv-3")+"\n"))

	tests := []struct {
		name       string
		body       string
		wantReason string
		wantKeys   []string
	}{
		{"truncated gzip", body(t, "eventbridge_s3.json", bucket, []string{corruptKey}, nil), "object_permanent", apiCalls(corruptIDs...)},
		{"missing object", body(t, "eventbridge_s3.json", bucket, []string{keyPlain + "-missing.json.gz"}, nil), "object_permanent", nil},
		{"invalid record", body(t, "eventbridge_s3.json", bucket, []string{invalidKey}, nil), "invalid_record", apiCalls("inv-1", "inv-3")},
		{"unknown body", body(t, "unknown.json", bucket, nil, nil), "unknown_format", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A redrive policy of 5 receives: the old behaviour reads the
			// message 5 times before SQS moves it.
			q := mototest.CreateQueueWithDLQ(t, sqsc, "permanent", 5)
			s := startService(t, srv, q.URL, serviceOptions{visibility: 2 * time.Second})
			id := q.Send(t, sqsc, tt.body)
			q.DLQ.Wait(t, sqsc, "the message in the DLQ", func(v, _ int) bool { return v == 1 })
			q.Wait(t, sqsc, "main queue empty", empty)
			if err := s.stop(); err != nil {
				t.Fatal(err)
			}
			if v := metricValue(t, s.reg, "rootwatch_messages_received_total"); v != 1 {
				t.Errorf("messages_received_total = %v, want 1 (dead-lettered on the first receive)", v)
			}
			want := slices.Clone(tt.wantKeys)
			slices.Sort(want)
			if got := s.del.keys(); !slices.Equal(got, want) {
				t.Errorf("delivered %v, want %v (each once)", got, want)
			}
			if v := metricValue(t, s.reg, "rootwatch_detections_total"); v != float64(len(tt.wantKeys)) {
				t.Errorf("detections_total = %v, want %d", v, len(tt.wantKeys))
			}
			out, err := sqsc.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
				QueueUrl: aws.String(q.DLQ.URL), MessageAttributeNames: []string{"All"},
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Messages) != 1 {
				t.Fatalf("DLQ returned %d messages", len(out.Messages))
			}
			m := out.Messages[0]
			if aws.ToString(m.Body) != tt.body {
				t.Errorf("DLQ body %q, want the original", aws.ToString(m.Body))
			}
			attr := func(name string) string {
				a, ok := m.MessageAttributes[name]
				if !ok {
					return ""
				}
				return aws.ToString(a.StringValue)
			}
			for name, want := range map[string]string{
				"rootwatch.reason":        tt.wantReason,
				"rootwatch.message_id":    id,
				"rootwatch.source_queue":  q.URL,
				"rootwatch.receive_count": "1",
			} {
				if got := attr(name); got != want {
					t.Errorf("DLQ attribute %s = %q, want %q", name, got, want)
				}
			}
			if e := attr("rootwatch.error"); e == "" || len(e) > 1024 {
				t.Errorf("DLQ attribute rootwatch.error = %q, want the error text, at most 1 KiB", e)
			}
		})
	}
}

// hintError is a delivery failure carrying a Retry-After hint the way
// notify's errors do, without importing notify.
type hintError struct{ after time.Duration }

func (e hintError) Error() string             { return fmt.Sprintf("rate limited, retry after %s", e.after) }
func (e hintError) RetryAfter() time.Duration { return e.after }

// hintDeliverer fails its first failFirst calls with err and records when
// each call happened.
type hintDeliverer struct {
	mu        sync.Mutex
	calls     []time.Time
	failFirst int
	err       error
}

func (d *hintDeliverer) Deliver(context.Context, []detector.Detection) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, time.Now())
	if len(d.calls) <= d.failFirst {
		return d.err
	}
	return nil
}

func (d *hintDeliverer) times() []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

// A sink's Retry-After reaches the visibility of the message: it is not
// redelivered before the sink asked, even when the consumer's own backoff
// is shorter; the longest hint of several failing sinks wins.
func TestServiceRetryAfterSetsVisibility(t *testing.T) {
	srv := mototest.Require(t)
	sqsc := srv.SQS(t)
	tests := []struct {
		name string
		err  error
		want time.Duration
	}{
		{"one sink", fmt.Errorf("deliver: %w", hintError{6 * time.Second}), 6 * time.Second},
		{"joined sinks, the longest hint", errors.Join(
			fmt.Errorf("slack: %w", hintError{3 * time.Second}),
			fmt.Errorf("pagerduty: %w", hintError{7 * time.Second}),
			errors.New("stdout: fine")), 7 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := mototest.CreateQueue(t, sqsc, "hint", nil)
			del := &hintDeliverer{failFirst: 1, err: tt.err}
			// The consumer's own retry delay is 1s.
			s := startService(t, srv, q.URL, serviceOptions{deliverer: del})
			q.Send(t, sqsc, body(t, "eventbridge_cloudtrail.json", "", nil, nil))
			// Wait for the redelivery itself: the queue's approximate counts
			// can read 0/0 for a moment when a message's visibility lapses,
			// before it is visible again.
			deadline := time.Now().Add(tt.want + 30*time.Second)
			for len(del.times()) < 2 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			q.Wait(t, sqsc, "queue empty", empty)
			if err := s.stop(); err != nil {
				t.Fatal(err)
			}
			calls := del.times()
			if len(calls) != 2 {
				t.Fatalf("Deliver called %d times, want 2", len(calls))
			}
			if gap := calls[1].Sub(calls[0]); gap < tt.want-500*time.Millisecond {
				t.Errorf("redelivered %s after the failure, want at least the sink's Retry-After %s", gap.Round(time.Millisecond), tt.want)
			}
		})
	}
}

// pdOutage is a PagerDuty Events API stand-in that answers 503 while down.
type pdOutage struct {
	mu       sync.Mutex
	down     bool
	refused  int
	accepted map[string]bool // event ids
}

func (p *pdOutage) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

func (p *pdOutage) counts() (refused, accepted int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused, len(p.accepted)
}

func (p *pdOutage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		p.refused++
		http.Error(w, `{"status":"error","message":"service unavailable"}`, http.StatusServiceUnavailable)
		return
	}
	p.accepted[strconv.Itoa(len(p.accepted))] = true
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprint(w, `{"status":"success","message":"Event processed","dedup_key":"k"}`)
}

// After a sink outage, the messages waiting for it are retried promptly
// once it accepts alerts again, instead of each waiting out its own
// doubling retry delay (10s, 20s, 40s, ... as in production), and the sink
// is not hammered while it is down.
func TestServiceDrainsPromptlyAfterSinkRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("sink outage of about 30s: skipped with -short")
	}
	srv := mototest.Require(t)
	sqsc, s3c := srv.SQS(t), srv.S3(t)
	bucket := mototest.Name("outage")
	createBucket(t, s3c, bucket)
	const n = 3
	var keys []string
	for i := range n {
		obj, _ := logObject(t, "outage-"+strconv.Itoa(i), 10, 5)
		key := keyPlain + "-" + strconv.Itoa(i) + ".json.gz"
		putObject(t, s3c, bucket, key, obj)
		keys = append(keys, key)
	}

	pd := &pdOutage{down: true, accepted: map[string]bool{}}
	ts := httptest.NewServer(pd)
	t.Cleanup(ts.Close)
	sink, err := pagerduty.New(pagerduty.Config{RoutingKey: "outage-test-key", EventsURL: ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	const cooldown = 3 * time.Second
	disp, err := notify.NewDispatcher(notify.Config{
		Sinks: []notify.SinkConfig{{Sink: sink, Kind: notify.KindPaging, Timeout: 2 * time.Second, Cooldown: cooldown,
			Retry: notify.RetryPolicy{MaxAttempts: 2, InitialBackoff: 50 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, MaxElapsed: 2 * time.Second}}},
		Logger: zaptest.NewLogger(t).Named("notify"),
	})
	if err != nil {
		t.Fatal(err)
	}
	q := mototest.CreateQueue(t, sqsc, "outage", nil)
	// The production retry delays: 10s doubling up to 15 min.
	s := startService(t, srv, q.URL, serviceOptions{deliverer: disp, retryBase: 10 * time.Second, retryMax: 15 * time.Minute})
	outageStart := time.Now()
	for _, k := range keys {
		q.Send(t, sqsc, body(t, "eventbridge_s3.json", bucket, []string{k}, nil))
	}
	// Each message has failed three times (the old retry delay now is
	// 32-40s), and the outage lasted 30s at least.
	waitMetric(t, s.reg, "rootwatch_messages_released_total", 3*n)
	time.Sleep(max(30*time.Second-time.Since(outageStart), 0) + 2*time.Second)
	pd.setDown(false)
	recovered := time.Now()
	outage := recovered.Sub(outageStart)
	refused, _ := pd.counts()

	deadline := recovered.Add(90 * time.Second)
	for {
		_, accepted := pd.counts()
		if v, f := q.Counts(t, sqsc); accepted >= n && v == 0 && f == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("backlog not drained 90s after the sink recovered (accepted %d of %d)", accepted, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	drain := time.Since(recovered)
	t.Logf("outage %s, %d requests refused during it; backlog of %d drained %s after recovery",
		outage.Round(time.Millisecond), refused, n, drain.Round(time.Millisecond))
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if drain > 15*time.Second {
		t.Errorf("backlog drained %s after the sink recovered, want within 15s (the retry delay at that point is 32-40s)", drain.Round(time.Millisecond))
	}
	// Not hammered: at most one probe (2 attempts) per cooldown, plus the
	// first concurrent attempts of each message.
	if limit := 2*(int(outage/cooldown)+1) + 2*n; refused > limit {
		t.Errorf("%d requests to the sink during a %s outage, want at most %d", refused, outage.Round(time.Second), limit)
	}
}

func TestRetryAfterWalksErrorTree(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want time.Duration
	}{
		{"nil", nil, 0},
		{"no hint", errors.New("boom"), 0},
		{"direct", hintError{time.Second}, time.Second},
		{"wrapped", fmt.Errorf("deliver 3 detections: %w", hintError{2 * time.Second}), 2 * time.Second},
		{"joined, the longest", errors.Join(hintError{time.Second}, fmt.Errorf("pd: %w", hintError{5 * time.Second}), errors.New("x")), 5 * time.Second},
		{"wrapped join", fmt.Errorf("deliver: %w", errors.Join(errors.New("x"), hintError{3 * time.Second})), 3 * time.Second},
		{"notify's retryable error", fmt.Errorf("deliver: %w", notify.Retryable(errors.New("429"), 12*time.Second)), 12 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ingest.RetryAfter(tt.err); got != tt.want {
				t.Errorf("RetryAfter(%v) = %s, want %s", tt.err, got, tt.want)
			}
		})
	}
}

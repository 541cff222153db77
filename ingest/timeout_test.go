package ingest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/ingest"
	"github.com/rootwatch/rootwatch/ingest/queue"
	"github.com/rootwatch/rootwatch/ingest/s3object"
	"github.com/rootwatch/rootwatch/internal/mototest"
	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/pagerduty"
)

// A sink that never answers (its Send runs into the dispatcher's per-call
// timeout, an error wrapping context.DeadlineExceeded) is a delivery
// failure, whether the detections came from an S3 object or inline from
// EventBridge: reason "delivery" and AwaitRecovery, so that the message is
// retried as soon as the sink recovers. It is not a cancellation: the
// message's own context is alive.
func TestPipelineSinkTimeoutIsDeliveryFailure(t *testing.T) {
	const bucket = "trail-logs"
	obj, _ := logObject(t, "timeout", 10, 0)
	client := mototest.FakeS3(t)
	createBucket(t, client, bucket)
	putObject(t, client, bucket, keyPlain, obj)
	tests := []struct {
		name string
		body string
		keys []string
	}{
		{name: "detections from an S3 object", body: "eventbridge_s3.json", keys: []string{keyPlain}},
		{name: "inline EventBridge record", body: "eventbridge_cloudtrail.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Answers nothing until the client gives up or the test ends.
			over := make(chan struct{})
			hung := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-over:
				}
			}))
			t.Cleanup(hung.Close)
			t.Cleanup(func() { close(over) }) // before Close, which waits for the handlers
			sink, err := pagerduty.New(pagerduty.Config{RoutingKey: "timeout-test-key", EventsURL: hung.URL})
			if err != nil {
				t.Fatal(err)
			}
			disp, err := notify.NewDispatcher(notify.Config{
				Sinks: []notify.SinkConfig{{Sink: sink, Kind: notify.KindPaging, Timeout: 200 * time.Millisecond,
					Retry: notify.RetryPolicy{MaxAttempts: 1, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 10 * time.Millisecond, MaxElapsed: time.Second}}},
				PageMinLevel: detector.LevelInformational,
				Logger:       zaptest.NewLogger(t).Named("notify"),
			})
			if err != nil {
				t.Fatal(err)
			}
			reg := prometheus.NewRegistry()
			p, err := ingest.NewPipeline(ingest.Config{Matcher: newEngine(t), Deliverer: disp,
				Opener: s3object.NewOpener(client, 0), Logger: zaptest.NewLogger(t), Metrics: ingest.NewMetrics(reg)})
			if err != nil {
				t.Fatal(err)
			}
			msg := queue.Message{ID: "msg-timeout", Body: []byte(body(t, tt.body, bucket, tt.keys, []int{len(obj)})), ReceiveCount: 1}
			res := p.Process(context.Background(), msg)
			if res.Outcome != queue.Retry || res.Reason != "delivery" || !res.AwaitRecovery {
				t.Errorf("Process = {outcome %s, reason %q, await recovery %t, err %v}, want a retry for delivery awaiting the sink's recovery",
					res.Outcome, res.Reason, res.AwaitRecovery, res.Err)
			}
			if v := metricValue(t, reg, "rootwatch_messages_failed_total", "reason", "delivery"); v != 1 {
				t.Errorf("messages_failed_total{reason=delivery} = %v, want 1 (cancelled: %v)", v,
					metricValue(t, reg, "rootwatch_messages_failed_total", "reason", "cancelled"))
			}
		})
	}
}

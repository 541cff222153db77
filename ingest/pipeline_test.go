package ingest_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/rootwatch/rootwatch/ingest"
	"github.com/rootwatch/rootwatch/ingest/queue"
	"github.com/rootwatch/rootwatch/ingest/s3object"
	"github.com/rootwatch/rootwatch/internal/mototest"
)

// truncate returns the first frac of b.
func truncate(b []byte, frac float64) []byte { return b[:int(float64(len(b))*frac)] }

// TestPipelineHandle runs Pipeline.Handle on one message per case against
// an in-process S3 and the real engine with the built-in rules.
func TestPipelineHandle(t *testing.T) {
	const bucket = "trail-logs"
	objA, idsA := logObject(t, "a", 100, 0, 57)
	objB, idsB := logObject(t, "b", 100, 99)
	objMany, idsMany := logObject(t, "many", 250, seq(250)...)
	big, idsBig := logObject(t, "big", 4000, 0, 1, 2)
	corrupt := truncate(big, 0.5)
	invalidRecord := []byte(record(t, "root_api_call", "jl-1") + "\n" + `{"eventName":"x","userIdentity":{"type":tru}}` + "\n" +
		record(t, "root_api_call", "jl-3") + "\n")

	// Not CloudTrail at a log key (issue 7 item 3), and lookup-events
	// output, which is.
	wrapper := []byte(record(t, "root_api_call", "wr-1") + "\n" + `{"event":` + record(t, "root_api_call", "wr-2") + "}\n")
	digest := []byte(`{"awsAccountId":"123456789012","digestStartTime":"2026-11-26T18:00:00Z","digestEndTime":"2026-11-26T19:00:00Z","logFiles":[]}`)
	lookupRec, _ := json.Marshal(record(t, "root_api_call", "lk-1"))
	lookup := []byte(`{"Events":[{"EventId":"lk-1","EventName":"ListBuckets","CloudTrailEvent":` + string(lookupRec) + `}],"NextToken":"t"}`)

	objects := map[string][]byte{
		keyPlain + ".wrapper.json":    wrapper,
		keyPlain + ".digest.json":     digest,
		keyPlain + ".lookup.json":     lookup,
		keyWithSpaces:                 objA,
		keyOrgTrail:                   objB,
		keyPlain:                      objMany,
		keyPlain + ".corrupt.json.gz": corrupt,
		keyPlain + ".jsonl.json":      invalidRecord,
	}
	tests := []struct {
		name        string
		body        string // file in testdata/bodies, or literal when it starts with "{"
		keys        []string
		failDeliver int // Deliver calls that fail first
		want        queue.Outcome
		wantKeys    []string
		wantBatches []int  // when not nil, the sizes of the successful Deliver calls
		wantFailed  string // messages_failed_total reason, when not Ack
	}{
		{name: "S3 event in SNS, URL-encoded key with spaces", body: "sns_s3_event.json", keys: []string{keyWithSpaces},
			want: queue.Ack, wantKeys: apiCalls(idsA...)},
		{name: "S3 event naming two objects, one of an org trail", body: "s3_event_multi.json", keys: []string{keyWithSpaces, keyOrgTrail},
			want: queue.Ack, wantKeys: apiCalls(append(slices.Clone(idsA), idsB...)...)},
		{name: "CloudTrail SNS notification with two keys", body: "cloudtrail_sns.json", keys: []string{keyOrgTrail, keyWithSpaces},
			want: queue.Ack, wantKeys: apiCalls(append(slices.Clone(idsA), idsB...)...)},
		{name: "EventBridge S3 Object Created, org trail", body: "eventbridge_s3.json", keys: []string{keyOrgTrail},
			want: queue.Ack, wantKeys: apiCalls(idsB...)},
		{name: "EventBridge CloudTrail event evaluated inline", body: "eventbridge_cloudtrail.json",
			want: queue.Ack, wantKeys: []string{"root-console-login-no-mfa/" + inlineEventID, "root-console-login/" + inlineEventID}},
		{name: "s3:TestEvent acknowledged", body: "s3_test_event.json", want: queue.Ack},
		{name: "digest and Insights keys skipped without reading", body: "s3_event_multi.json", keys: []string{keyDigest, keyInsights},
			want: queue.Ack},
		{name: "250 detections delivered in batches of 100", body: "eventbridge_s3.json", keys: []string{keyPlain},
			want: queue.Ack, wantKeys: apiCalls(idsMany...), wantBatches: []int{100, 100, 50}},
		{name: "unknown body format left for the DLQ", body: "unknown.json", want: queue.Leave, wantFailed: "unknown_format"},
		{name: "malformed body left for the DLQ", body: "malformed.txt", want: queue.Leave, wantFailed: "malformed"},
		{name: "missing object (NoSuchKey) left for the DLQ", body: "eventbridge_s3.json", keys: []string{keyPlain + ".missing.json.gz"},
			want: queue.Leave, wantFailed: "object_permanent"},
		{name: "truncated gzip: readable records alerted, message left", body: "eventbridge_s3.json", keys: []string{keyPlain + ".corrupt.json.gz"},
			want: queue.Leave, wantKeys: apiCalls(idsBig...), wantFailed: "object_permanent"},
		{name: "invalid record: the others alerted, message left", body: "eventbridge_s3.json", keys: []string{keyPlain + ".jsonl.json"},
			want: queue.Leave, wantKeys: apiCalls("jl-1", "jl-3"), wantFailed: "invalid_record"},
		{name: "object that is not CloudTrail: the records alerted, message left", body: "eventbridge_s3.json", keys: []string{keyPlain + ".wrapper.json"},
			want: queue.Leave, wantKeys: apiCalls("wr-1"), wantFailed: "not_cloudtrail"},
		{name: "digest content at a log key left for the DLQ", body: "eventbridge_s3.json", keys: []string{keyPlain + ".digest.json"},
			want: queue.Leave, wantFailed: "not_cloudtrail"},
		{name: "lookup-events output read", body: "eventbridge_s3.json", keys: []string{keyPlain + ".lookup.json"},
			want: queue.Ack, wantKeys: apiCalls("lk-1")},
		{name: "one object of two missing: the other alerted, message left", body: "s3_event_multi.json", keys: []string{keyWithSpaces, keyPlain + ".missing.json.gz"},
			want: queue.Leave, wantKeys: apiCalls(idsA...), wantFailed: "object_permanent"},
		{name: "delivery failure retried", body: "eventbridge_s3.json", keys: []string{keyWithSpaces}, failDeliver: 1,
			want: queue.Retry, wantFailed: "delivery"},
		{name: "inline delivery failure retried", body: "eventbridge_cloudtrail.json", failDeliver: 1,
			want: queue.Retry, wantFailed: "delivery"},
	}
	client := mototest.FakeS3(t)
	createBucket(t, client, bucket)
	for k, v := range objects {
		putObject(t, client, bucket, k, v)
	}
	eng := newEngine(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			del := newRecordingDeliverer()
			del.failFirst = tt.failDeliver
			reg := prometheus.NewRegistry()
			p, err := ingest.NewPipeline(ingest.Config{
				Matcher: eng, Deliverer: del, Opener: s3object.NewOpener(client, 0),
				Logger: zaptest.NewLogger(t), Metrics: ingest.NewMetrics(reg),
			})
			if err != nil {
				t.Fatal(err)
			}
			sizes := make([]int, len(tt.keys))
			for i, k := range tt.keys {
				sizes[i] = len(objects[k])
			}
			msg := queue.Message{ID: "msg-1", Body: []byte(body(t, tt.body, bucket, tt.keys, sizes)), ReceiveCount: 1}
			got := p.Handle(context.Background(), msg)
			if got != tt.want {
				t.Errorf("outcome = %s, want %s", got, tt.want)
			}
			want := slices.Clone(tt.wantKeys)
			slices.Sort(want)
			if gotKeys := del.keys(); !slices.Equal(gotKeys, want) {
				t.Errorf("detections:\n got %v\nwant %v", gotKeys, want)
			}
			if tt.wantBatches != nil && !slices.Equal(del.batches, tt.wantBatches) {
				t.Errorf("deliver batches = %v, want %v", del.batches, tt.wantBatches)
			}
			if tt.wantFailed != "" {
				if v := metricValue(t, reg, "rootwatch_messages_failed_total", "reason", tt.wantFailed); v != 1 {
					t.Errorf("messages_failed_total{reason=%q} = %v, want 1", tt.wantFailed, v)
				}
			} else if v := metricValue(t, reg, "rootwatch_messages_failed_total"); v != 0 {
				t.Errorf("messages_failed_total = %v, want 0", v)
			}
			for _, d := range del.snapshot() {
				if d.Source == "" || (!strings.HasPrefix(d.Source, "s3://"+bucket+"/") && !strings.HasPrefix(d.Source, "eventbridge:")) {
					t.Errorf("detection %s has source %q", d.Key(), d.Source)
				}
			}
		})
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// TestPipelineMetrics checks the per-object accounting: records, bytes,
// skipped classes, detections by rule and the event lag.
func TestPipelineMetrics(t *testing.T) {
	const bucket = "metrics"
	client := mototest.FakeS3(t)
	createBucket(t, client, bucket)
	obj, ids := logObject(t, "m", 100, 3, 4)
	putObject(t, client, bucket, keyPlain, obj)
	reg := prometheus.NewRegistry()
	del := newRecordingDeliverer()
	p, err := ingest.NewPipeline(ingest.Config{Matcher: newEngine(t), Deliverer: del,
		Opener: s3object.NewOpener(client, 0), Metrics: ingest.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{keyPlain, keyDigest, keyInsights, "some/other/key.txt"}
	b := body(t, "s3_event_multi.json", bucket, keys, []int{len(obj)})
	// s3_event_multi names two objects; add two more records by hand.
	b = strings.Replace(b, "]}", `,{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"`+bucket+
		`"},"object":{"key":"`+keyInsights+`"}}},{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"`+bucket+
		`"},"object":{"key":"some/other/key.txt"}}}]}`, 1)
	if got := p.Handle(context.Background(), queue.Message{ID: "m", Body: []byte(b)}); got != queue.Ack {
		t.Fatalf("outcome %s", got)
	}
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"rootwatch_records_processed_total", nil, 100},
		{"rootwatch_object_bytes_read_total", nil, float64(len(obj))},
		{"rootwatch_objects_processed_total", []string{"result", "ok"}, 1},
		{"rootwatch_objects_skipped_total", []string{"class", "digest"}, 1},
		{"rootwatch_objects_skipped_total", []string{"class", "insights"}, 1},
		{"rootwatch_objects_skipped_total", []string{"class", "other"}, 1},
		{"rootwatch_detections_total", []string{"rule", "root-api-call"}, float64(len(ids))},
		{"rootwatch_event_lag_seconds", nil, float64(len(ids))},
		{"rootwatch_processing_duration_seconds", []string{"stage", "object"}, 1},
		{"rootwatch_processing_duration_seconds", []string{"stage", "message"}, 1},
	}
	for _, c := range checks {
		if got := metricValue(t, reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// A cancelled context (shutdown) makes the message a Retry, not a Leave.
func TestPipelineCancelledIsRetried(t *testing.T) {
	client := mototest.FakeS3(t)
	createBucket(t, client, "cancel")
	obj, _ := logObject(t, "c", 10, 1)
	putObject(t, client, "cancel", keyPlain, obj)
	p, err := ingest.NewPipeline(ingest.Config{Matcher: newEngine(t), Deliverer: newRecordingDeliverer(),
		Opener: s3object.NewOpener(client, 0)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := body(t, "eventbridge_s3.json", "cancel", []string{keyPlain}, nil)
	if got := p.Handle(ctx, queue.Message{ID: "c", Body: []byte(b)}); got != queue.Retry {
		t.Fatalf("outcome %s, want retry", got)
	}
}

// An object over the Opener's size limit is permanent.
func TestPipelineObjectTooLarge(t *testing.T) {
	client := mototest.FakeS3(t)
	createBucket(t, client, "large")
	obj, _ := logObject(t, "l", 100, 1)
	putObject(t, client, "large", keyPlain, obj)
	p, err := ingest.NewPipeline(ingest.Config{Matcher: newEngine(t), Deliverer: newRecordingDeliverer(),
		Opener: s3object.NewOpener(client, int64(len(obj)/2))})
	if err != nil {
		t.Fatal(err)
	}
	b := body(t, "eventbridge_s3.json", "large", []string{keyPlain}, nil)
	start := time.Now()
	if got := p.Handle(context.Background(), queue.Message{ID: "l", Body: []byte(b)}); got != queue.Leave {
		t.Fatalf("outcome %s after %s, want leave", got, time.Since(start))
	}
}

func TestNewPipelineRequiresParts(t *testing.T) {
	eng := newEngine(t)
	del := newRecordingDeliverer()
	op := s3object.NewOpener(nil, 0)
	tests := []struct {
		name string
		cfg  ingest.Config
		want string
	}{
		{"no matcher", ingest.Config{Deliverer: del, Opener: op}, "Matcher"},
		{"no deliverer", ingest.Config{Matcher: eng, Opener: op}, "Deliverer"},
		{"no opener", ingest.Config{Matcher: eng, Deliverer: del}, "Opener"},
		{"negative batch", ingest.Config{Matcher: eng, Deliverer: del, Opener: op, DeliverBatch: -1}, "DeliverBatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ingest.NewPipeline(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one naming %s", err, tt.want)
			}
		})
	}
}

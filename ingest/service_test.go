package ingest_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/rootwatch/rootwatch/ingest"
	"github.com/rootwatch/rootwatch/ingest/envelope"
	"github.com/rootwatch/rootwatch/ingest/queue"
	"github.com/rootwatch/rootwatch/ingest/s3object"
	"github.com/rootwatch/rootwatch/internal/mototest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// service is the consumer and pipeline as `rootwatch run` wires them, on
// moto, with a recording Deliverer.
type service struct {
	del  *recordingDeliverer
	reg  *prometheus.Registry
	stop func() error
}

type serviceOptions struct {
	visibility time.Duration
	drain      time.Duration
	api        queue.API                         // default: the moto SQS client
	wrapOpener func(ingest.Opener) ingest.Opener // optional
	deliverer  ingest.Deliverer                  // default: a recordingDeliverer
	retryBase  time.Duration                     // default 1s
	retryMax   time.Duration                     // default 2s
	linker     ingest.Linker                     // optional (AssumeRoot attribution)
}

func startService(t *testing.T, srv *mototest.Server, queueURL string, o serviceOptions) *service {
	t.Helper()
	if o.visibility == 0 {
		o.visibility = 30 * time.Second
	}
	if o.api == nil {
		o.api = srv.SQS(t)
	}
	var opener ingest.Opener = s3object.NewOpener(srv.S3(t), 0)
	if o.wrapOpener != nil {
		opener = o.wrapOpener(opener)
	}
	if o.retryBase == 0 {
		o.retryBase, o.retryMax = time.Second, 2*time.Second
	}
	s := &service{del: newRecordingDeliverer(), reg: prometheus.NewRegistry()}
	var del ingest.Deliverer = s.del
	if o.deliverer != nil {
		del = o.deliverer
	}
	log := zaptest.NewLogger(t)
	p, err := ingest.NewPipeline(ingest.Config{Matcher: newEngine(t), Deliverer: del, Opener: opener,
		Logger: log, Metrics: ingest.NewMetrics(s.reg), Linker: o.linker})
	if err != nil {
		t.Fatal(err)
	}
	c, err := queue.New(o.api, queue.Config{QueueURL: queueURL, ResultHandler: p.Process, Workers: 4, WaitTime: time.Second,
		VisibilityTimeout: o.visibility, DrainTimeout: o.drain, RetryBase: o.retryBase, RetryMax: o.retryMax,
		Logger: log, Metrics: queue.NewMetrics(s.reg)})
	if err != nil {
		t.Fatal(err)
	}
	// As rootwatch run wires them: a sink's recovery redrives the messages
	// waiting for it.
	if rn, ok := del.(ingest.RecoveryNotifier); ok {
		rn.NotifyRecovered(c.Redrive)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	var runErr error
	s.stop = func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { _ = s.stop() })
	return s
}

func empty(v, f int) bool { return v == 0 && f == 0 }

// notifyQueue makes S3 send ObjectCreated notifications of bucket to q, as
// a real trail bucket does.
func notifyQueue(t *testing.T, c *s3.Client, bucket string, q *mototest.Queue) {
	t.Helper()
	_, err := c.PutBucketNotificationConfiguration(context.Background(), &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String(bucket),
		NotificationConfiguration: &s3types.NotificationConfiguration{
			QueueConfigurations: []s3types.QueueConfiguration{{
				QueueArn: aws.String(q.ARN),
				Events:   []s3types.Event{"s3:ObjectCreated:*"},
			}},
		},
	})
	if err != nil {
		t.Fatalf("put bucket notification: %v", err)
	}
}

// countKeys returns how many times each detection key was delivered.
func countKeys(keys []string) map[string]int {
	m := map[string]int{}
	for _, k := range keys {
		m[k]++
	}
	return m
}

// Real S3 bucket notifications (S3 event format, as S3 sends it, test
// event included): URL-encoded key with spaces, an org-trail key, and
// digest and Insights objects that are skipped.
func TestServiceBucketNotifications(t *testing.T) {
	srv := mototest.Require(t)
	sqsc, s3c := srv.SQS(t), srv.S3(t)
	q := mototest.CreateQueue(t, sqsc, "notify", nil)
	bucket := mototest.Name("trail")
	createBucket(t, s3c, bucket)
	notifyQueue(t, s3c, bucket, q)
	s := startService(t, srv, q.URL, serviceOptions{})

	objA, idsA := logObject(t, "notify-a", 100, 10)
	objB, idsB := logObject(t, "notify-b", 100, 20, 21)
	putObject(t, s3c, bucket, keyWithSpaces, objA)
	putObject(t, s3c, bucket, keyOrgTrail, objB)
	putObject(t, s3c, bucket, keyDigest, []byte(`{"awsAccountId":"123456789012"}`))
	putObject(t, s3c, bucket, keyInsights, objA)

	want := apiCalls(append(idsA, idsB...)...)
	slices.Sort(want)
	s.del.waitKeys(t, want)
	q.Wait(t, sqsc, "queue empty", empty)
	waitMetric(t, s.reg, "rootwatch_messages_deleted_total", 5) // test event + 4 objects
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if got := s.del.keys(); !slices.Equal(got, want) {
		t.Errorf("detections:\n got %v\nwant %v", got, want)
	}
	for _, class := range []string{"digest", "insights"} {
		if v := metricValue(t, s.reg, "rootwatch_objects_skipped_total", "class", class); v != 1 {
			t.Errorf("objects_skipped_total{class=%s} = %v, want 1", class, v)
		}
	}
	if v := metricValue(t, s.reg, "rootwatch_messages_failed_total"); v != 0 {
		t.Errorf("messages_failed_total = %v, want 0", v)
	}
}

// waitMetric waits until the metric's value reaches at least want.
func waitMetric(t *testing.T, reg *prometheus.Registry, name string, want float64, labels ...string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for metricValue(t, reg, name, labels...) < want {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s%v >= %v (at %v)", name, labels, want, metricValue(t, reg, name, labels...))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Each body format sent to the queue as SNS, CloudTrail and EventBridge
// deliver it.
func TestServiceBodyFormats(t *testing.T) {
	srv := mototest.Require(t)
	sqsc, s3c := srv.SQS(t), srv.S3(t)
	q := mototest.CreateQueue(t, sqsc, "formats", nil)
	bucket := mototest.Name("formats")
	createBucket(t, s3c, bucket)
	objA, idsA := logObject(t, "fmt-a", 100, 0)
	objB, idsB := logObject(t, "fmt-b", 100, 50)
	objC, idsC := logObject(t, "fmt-c", 100, 99)
	putObject(t, s3c, bucket, keyWithSpaces, objA)
	putObject(t, s3c, bucket, keyOrgTrail, objB)
	putObject(t, s3c, bucket, keyPlain, objC)
	s := startService(t, srv, q.URL, serviceOptions{})

	sends := []struct {
		file string
		keys []string
		want []string
	}{
		{"sns_s3_event.json", []string{keyWithSpaces}, apiCalls(idsA...)},
		{"cloudtrail_sns.json", []string{keyOrgTrail, keyWithSpaces}, apiCalls(append(slices.Clone(idsB), idsA...)...)},
		{"eventbridge_s3.json", []string{keyPlain}, apiCalls(idsC...)},
		{"eventbridge_cloudtrail.json", nil, []string{"root-console-login/" + inlineEventID, "root-console-login-no-mfa/" + inlineEventID}},
		{"s3_test_event.json", nil, nil},
	}
	var want []string
	for _, snd := range sends {
		q.Send(t, sqsc, body(t, snd.file, bucket, snd.keys, nil))
		want = append(want, snd.want...)
	}
	slices.Sort(want)
	s.del.waitKeys(t, want)
	q.Wait(t, sqsc, "queue empty", empty)
	waitMetric(t, s.reg, "rootwatch_messages_deleted_total", float64(len(sends)))
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if got := s.del.keys(); !slices.Equal(got, want) {
		t.Errorf("detections:\n got %v\nwant %v", got, want)
	}
}

// A corrupt object and a missing one: the readable records are alerted,
// and both messages go to the dead-letter queue after their first
// receive. An unknown body too.
func TestServiceFailuresReachDeadLetterQueue(t *testing.T) {
	srv := mototest.Require(t)
	sqsc, s3c := srv.SQS(t), srv.S3(t)
	q := mototest.CreateQueueWithDLQ(t, sqsc, "fail", 2)
	bucket := mototest.Name("fail")
	createBucket(t, s3c, bucket)
	big, ids := logObject(t, "corrupt", 4000, 0, 1)
	corruptKey := keyPlain + "-corrupt.json.gz"
	putObject(t, s3c, bucket, corruptKey, truncate(big, 0.5))
	s := startService(t, srv, q.URL, serviceOptions{visibility: 2 * time.Second})

	corruptID := q.Send(t, sqsc, body(t, "eventbridge_s3.json", bucket, []string{corruptKey}, nil))
	missingID := q.Send(t, sqsc, body(t, "eventbridge_s3.json", bucket, []string{keyPlain + "-missing.json.gz"}, nil))
	unknownID := q.Send(t, sqsc, body(t, "unknown.json", bucket, nil, nil))

	s.del.waitKeys(t, apiCalls(ids...))
	q.DLQ.Wait(t, sqsc, "3 messages in the DLQ", func(v, _ int) bool { return v == 3 })
	q.Wait(t, sqsc, "main queue empty", empty)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	// Deleted from the source queue once copied to the DLQ.
	if v := metricValue(t, s.reg, "rootwatch_messages_deleted_total"); v != 3 {
		t.Errorf("messages_deleted_total = %v, want 3", v)
	}
	// Each message was received once: moved to the DLQ at once.
	if v := metricValue(t, s.reg, "rootwatch_messages_failed_total", "reason", "object_permanent"); v != 2 {
		t.Errorf("messages_failed_total{object_permanent} = %v, want 2", v)
	}
	if v := metricValue(t, s.reg, "rootwatch_messages_dead_lettered_total"); v != 3 {
		t.Errorf("messages_dead_lettered_total = %v, want 3", v)
	}
	for k, n := range countKeys(s.del.keys()) {
		if n > 1 {
			t.Errorf("%s delivered %d times for 1 receive", k, n)
		}
	}
	var inDLQ []string
	for len(inDLQ) < 3 {
		out, err := sqsc.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.DLQ.URL), MaxNumberOfMessages: 10,
			MessageAttributeNames: []string{queue.AttrMessageID}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			break
		}
		for _, m := range out.Messages {
			// The copy names the original message.
			inDLQ = append(inDLQ, aws.ToString(m.MessageAttributes[queue.AttrMessageID].StringValue))
		}
	}
	slices.Sort(inDLQ)
	want := []string{corruptID, missingID, unknownID}
	slices.Sort(want)
	if !slices.Equal(inDLQ, want) {
		t.Errorf("DLQ holds %v, want %v", inDLQ, want)
	}
}

// crashableAPI is the SQS client of a process that can die: once crashed,
// every call fails, so the dying process neither deletes nor releases.
type crashableAPI struct {
	queue.API
	crashed atomic.Bool
}

var errCrashed = errors.New("process crashed")

func (c *crashableAPI) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, o ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	if c.crashed.Load() {
		return nil, errCrashed
	}
	return c.API.ReceiveMessage(ctx, in, o...)
}

func (c *crashableAPI) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, o ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	if c.crashed.Load() {
		return nil, errCrashed
	}
	return c.API.DeleteMessageBatch(ctx, in, o...)
}

func (c *crashableAPI) ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, o ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	if c.crashed.Load() {
		return nil, errCrashed
	}
	return c.API.ChangeMessageVisibilityBatch(ctx, in, o...)
}

// stallingOpener opens objects whose stream stops after the first bytes
// until the read's context is cancelled or release is closed; midObject
// is closed when the first stream stalls.
type stallingOpener struct {
	ingest.Opener
	release   chan struct{}
	midObject chan struct{}
	once      sync.Once
}

func (o *stallingOpener) Open(ctx context.Context, ref envelope.ObjectRef) (io.ReadCloser, error) {
	rc, err := o.Opener.Open(ctx, ref)
	if err != nil {
		return nil, err
	}
	return &stallingReader{ctx: ctx, rc: rc, r: bufio.NewReader(rc), o: o, left: 64}, nil
}

type stallingReader struct {
	ctx  context.Context
	rc   io.ReadCloser
	r    *bufio.Reader
	o    *stallingOpener
	left int
}

func (s *stallingReader) Read(p []byte) (int, error) {
	if s.left > 0 {
		n, err := s.r.Read(p[:min(len(p), s.left)])
		s.left -= n
		return n, err
	}
	s.o.once.Do(func() { close(s.o.midObject) })
	select {
	case <-s.ctx.Done():
		return 0, s.ctx.Err()
	case <-s.o.release:
		return s.r.Read(p)
	}
}

func (s *stallingReader) Close() error { return s.rc.Close() }

// A consumer dies in the middle of an object (no delete, no release): the
// message comes back after its visibility timeout and the detection
// arrives from the next consumer.
func TestServiceRedeliveryAfterCrash(t *testing.T) {
	srv := mototest.Require(t)
	sqsc, s3c := srv.SQS(t), srv.S3(t)
	q := mototest.CreateQueue(t, sqsc, "crash", nil)
	bucket := mototest.Name("crash")
	createBucket(t, s3c, bucket)
	obj, ids := logObject(t, "crash", 100, 70)
	putObject(t, s3c, bucket, keyPlain, obj)

	api := &crashableAPI{API: sqsc}
	stall := &stallingOpener{release: make(chan struct{}), midObject: make(chan struct{})}
	first := startService(t, srv, q.URL, serviceOptions{visibility: 3 * time.Second, drain: time.Millisecond, api: api,
		wrapOpener: func(o ingest.Opener) ingest.Opener { stall.Opener = o; return stall }})
	q.Send(t, sqsc, body(t, "eventbridge_s3.json", bucket, []string{keyPlain}, nil))
	select {
	case <-stall.midObject:
	case <-time.After(60 * time.Second):
		t.Fatal("timed out waiting for the first consumer to start reading the object")
	}
	api.crashed.Store(true)
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}
	if got := first.del.keys(); len(got) != 0 {
		t.Fatalf("the crashed consumer delivered %v", got)
	}
	if v, f := q.Counts(t, sqsc); v+f != 1 {
		t.Fatalf("queue holds %d+%d messages after the crash, want the message (not deleted)", v, f)
	}

	second := startService(t, srv, q.URL, serviceOptions{})
	second.del.waitKeys(t, apiCalls(ids...))
	q.Wait(t, sqsc, "queue empty", empty)
	if err := second.stop(); err != nil {
		t.Fatal(err)
	}
}

// Shutdown with a message in the middle of its object: the consumer stops
// receiving, lets the object finish, delivers and deletes.
func TestServiceGracefulShutdownFinishesInFlight(t *testing.T) {
	srv := mototest.Require(t)
	sqsc, s3c := srv.SQS(t), srv.S3(t)
	q := mototest.CreateQueue(t, sqsc, "graceful", nil)
	bucket := mototest.Name("graceful")
	createBucket(t, s3c, bucket)
	obj, ids := logObject(t, "graceful", 100, 99)
	putObject(t, s3c, bucket, keyPlain, obj)
	stall := &stallingOpener{release: make(chan struct{}), midObject: make(chan struct{})}
	s := startService(t, srv, q.URL, serviceOptions{drain: time.Minute,
		wrapOpener: func(o ingest.Opener) ingest.Opener { stall.Opener = o; return stall }})
	q.Send(t, sqsc, body(t, "eventbridge_s3.json", bucket, []string{keyPlain}, nil))
	select {
	case <-stall.midObject:
	case <-time.After(60 * time.Second):
		t.Fatal("timed out waiting for the object to be in flight")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- s.stop() }()
	close(stall.release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if got, want := s.del.keys(), apiCalls(ids...); !slices.Equal(got, want) {
		t.Errorf("detections %v, want %v", got, want)
	}
	if v, f := q.Counts(t, sqsc); v+f != 0 {
		t.Errorf("queue holds %d+%d messages after a graceful shutdown, want 0", v, f)
	}
}

// Accounting: N generated objects with known root events plus the bundled
// sample (its expected.jsonl), all through real bucket notifications:
// exactly the expected detections come out, each once, and the queue ends
// empty.
func TestServiceAccounting(t *testing.T) {
	srv := mototest.Require(t)
	sqsc, s3c := srv.SQS(t), srv.S3(t)
	q := mototest.CreateQueue(t, sqsc, "accounting", nil)
	bucket := mototest.Name("accounting")
	createBucket(t, s3c, bucket)
	notifyQueue(t, s3c, bucket, q)
	s := startService(t, srv, q.URL, serviceOptions{})

	var want []string
	const n = 40
	for i := range n {
		obj, ids := logObject(t, "acct-"+strings.Repeat("x", i%3)+string(rune('a'+i%26)), 100, i%100, (i*37+11)%100)
		key := strings.Replace(keyPlain, "Pl41nK3y", "Obj"+string(rune('A'+i%26))+string(rune('a'+i/26)), 1)
		putObject(t, s3c, bucket, key, obj)
		want = append(want, apiCalls(ids...)...)
	}
	objects := 0
	sample := filepath.Join("..", "testdata", "sample")
	err := filepath.WalkDir(filepath.Join(sample, "AWSLogs"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(sample, path)
		putObject(t, s3c, bucket, filepath.ToSlash(rel), b)
		objects++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	expected, err := os.ReadFile(filepath.Join(sample, "expected.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(expected)) {
		var rule, id string
		for _, part := range strings.Split(strings.Trim(strings.TrimSpace(line), "{}"), `","`) {
			kv := strings.SplitN(strings.Trim(part, `"`), `":"`, 2)
			switch kv[0] {
			case "rule":
				rule = kv[1]
			case "event_id":
				id = kv[1]
			}
		}
		if rule == "" || id == "" {
			t.Fatalf("unparsed expected.jsonl line %q", line)
		}
		want = append(want, rule+"/"+id)
	}
	slices.Sort(want)

	s.del.waitKeys(t, want)
	q.Wait(t, sqsc, "queue empty", empty)
	waitMetric(t, s.reg, "rootwatch_messages_deleted_total", float64(n+objects+1)) // + s3:TestEvent
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	got := s.del.keys()
	if !slices.Equal(got, want) {
		gotN, wantN := countKeys(got), countKeys(want)
		for k, c := range gotN {
			if wantN[k] != c {
				t.Errorf("%s delivered %d times, want %d", k, c, wantN[k])
			}
		}
		t.Fatalf("got %d detections, want %d", len(got), len(want))
	}
	if r, d := metricValue(t, s.reg, "rootwatch_messages_received_total"), metricValue(t, s.reg, "rootwatch_messages_deleted_total"); r != d {
		t.Errorf("received %v messages, deleted %v", r, d)
	}
	if v := metricValue(t, s.reg, "rootwatch_records_processed_total"); v < n*100 {
		t.Errorf("records_processed_total = %v, want at least %d", v, n*100)
	}
}

package ingest_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rootwatch/rootwatch/ingest"
	"github.com/rootwatch/rootwatch/ingest/envelope"
	"github.com/rootwatch/rootwatch/ingest/queue"
	"github.com/rootwatch/rootwatch/ingest/s3object"
	"github.com/rootwatch/rootwatch/internal/mototest"
)

// errReadTooFar is returned by bombReader past its cap: a pipeline that
// reads that far did not refuse the bomb early.
var errReadTooFar = errors.New("test: read past the cap of the bomb's compressed bytes")

// bombReader yields a gzip stream of a record, then member (64 MiB of
// whitespace) n times, lazily, and counts the bytes read; past cap it fails.
type bombReader struct {
	head, member []byte
	n            int
	cap, read    int64
	cur          []byte
	closed       bool
}

func (b *bombReader) Read(p []byte) (int, error) {
	if b.read >= b.cap {
		return 0, errReadTooFar
	}
	for len(b.cur) == 0 {
		switch {
		case b.head != nil:
			b.cur, b.head = b.head, nil
		case b.n > 0:
			b.cur = b.member
			b.n--
		default:
			return 0, io.EOF
		}
	}
	n := copy(p[:min(int64(len(p)), b.cap-b.read)], b.cur)
	b.cur = b.cur[n:]
	b.read += int64(n)
	return n, nil
}

func (b *bombReader) Close() error { b.closed = true; return nil }

// bombOpener opens a 10 GiB whitespace bomb (about 10 MB of gzip) for
// bombKey and delegates every other key.
type bombOpener struct {
	next ingest.Opener
	mu   sync.Mutex
	last *bombReader
}

const bombKey = "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/26/123456789012_CloudTrail_us-east-1_20261126T1920Z_B0mbB0mbB0mbB0mb.json.gz"

func gzBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func (o *bombOpener) Open(ctx context.Context, ref envelope.ObjectRef) (io.ReadCloser, error) {
	if ref.Key != bombKey {
		return o.next.Open(ctx, ref)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last, nil
}

// TestPipelineRefusesGzipBomb checks that a 10 GiB whitespace bomb is
// refused after a bounded amount of input, as a permanent failure with its
// own reason (left for the dead-letter queue), while another message is
// handled meanwhile.
func TestPipelineRefusesGzipBomb(t *testing.T) {
	const bucket = "bomb"
	client := mototest.FakeS3(t)
	createBucket(t, client, bucket)
	obj, ids := logObject(t, "ok", 50, 7)
	putObject(t, client, bucket, keyPlain, obj)

	member := gzBytes(t, bytes.Repeat([]byte{' '}, 64<<20))
	bomb := &bombReader{head: gzBytes(t, []byte(`{"Records":[`+record(t, "root_api_call", "before-bomb")+",")),
		member: member, n: 160, cap: 1 << 20}
	op := &bombOpener{next: s3object.NewOpener(client, 0), last: bomb}
	del := newRecordingDeliverer()
	reg := prometheus.NewRegistry()
	core, logs := observer.New(zapcore.InfoLevel)
	p, err := ingest.NewPipeline(ingest.Config{Matcher: newEngine(t), Deliverer: del, Opener: op,
		Logger: zap.New(core), Metrics: ingest.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	bombMsg := queue.Message{ID: "bomb", Body: []byte(body(t, "eventbridge_s3.json", bucket, []string{bombKey}, []int{10 << 20})), ReceiveCount: 1}
	okMsg := queue.Message{ID: "ok", Body: []byte(body(t, "eventbridge_s3.json", bucket, []string{keyPlain}, []int{len(obj)})), ReceiveCount: 1}

	var (
		wg     sync.WaitGroup
		okOut  queue.Outcome
		okTime time.Duration
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		okOut = p.Handle(context.Background(), okMsg)
		okTime = time.Since(start)
	}()
	start := time.Now()
	got := p.Handle(context.Background(), bombMsg)
	elapsed := time.Since(start)
	wg.Wait()

	if got != queue.Leave {
		t.Errorf("bomb outcome = %s after %s and %d compressed bytes, want leave", got, elapsed, bomb.read)
	}
	if bomb.read >= 256<<10 {
		t.Errorf("read %d compressed bytes of the bomb, want under 256 KiB (refused early)", bomb.read)
	}
	if elapsed > 5*time.Second {
		t.Errorf("the bomb held the worker for %s", elapsed)
	}
	if okOut != queue.Ack || okTime > 5*time.Second {
		t.Errorf("the other message: outcome %s after %s, want ack", okOut, okTime)
	}
	want := append(apiCalls("before-bomb"), apiCalls(ids...)...)
	del.waitKeys(t, want)
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"rootwatch_messages_failed_total", []string{"reason", "object_refused"}, 1},
		{"rootwatch_objects_processed_total", []string{"result", "object_refused"}, 1},
		{"rootwatch_objects_processed_total", []string{"result", "ok"}, 1},
	}
	for _, c := range checks {
		if v := metricValue(t, reg, c.name, c.labels...); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	if n := logs.FilterField(zap.String("reason", "object_refused")).FilterMessageSnippet("refused").Len(); n == 0 {
		t.Errorf("no log line says the object was refused; logs: %v", logs.All())
	}
}

// TestPipelineObjectWithoutRecords checks that an object yielding no
// record at all is acknowledged (nothing to retry) but flagged: a warning
// log line and a metric.
func TestPipelineObjectWithoutRecords(t *testing.T) {
	const bucket = "empty"
	client := mototest.FakeS3(t)
	createBucket(t, client, bucket)
	tests := []struct {
		name string
		obj  []byte
	}{
		{"empty Records array", gzBytes(t, []byte(`{"Records":[]}`))},
		{"whitespace only", gzBytes(t, bytes.Repeat([]byte{' ', '\n'}, 1<<16))},
		{"empty object file", []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			putObject(t, client, bucket, keyPlain, tt.obj)
			reg := prometheus.NewRegistry()
			core, logs := observer.New(zapcore.InfoLevel)
			p, err := ingest.NewPipeline(ingest.Config{Matcher: newEngine(t), Deliverer: newRecordingDeliverer(),
				Opener: s3object.NewOpener(client, 0), Logger: zap.New(core), Metrics: ingest.NewMetrics(reg)})
			if err != nil {
				t.Fatal(err)
			}
			msg := queue.Message{ID: "e", Body: []byte(body(t, "eventbridge_s3.json", bucket, []string{keyPlain}, []int{len(tt.obj)}))}
			if got := p.Handle(context.Background(), msg); got != queue.Ack {
				t.Errorf("outcome = %s, want ack", got)
			}
			if v := metricValue(t, reg, "rootwatch_objects_without_records_total"); v != 1 {
				t.Errorf("objects_without_records_total = %v, want 1", v)
			}
			if n := logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("no CloudTrail record").Len(); n != 1 {
				t.Errorf("%d warnings about an object without records, want 1; logs: %v", n, logs.All())
			}
		})
	}
}

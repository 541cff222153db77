package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/ingest"
	"github.com/rootwatch/rootwatch/ingest/queue"
	"github.com/rootwatch/rootwatch/ingest/s3object"
	"github.com/rootwatch/rootwatch/internal/mototest"
	"github.com/rootwatch/rootwatch/internal/trailtest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

const (
	recordsPerObject = 100
	poolObjects      = 100 // distinct objects, named round-robin by the messages
)

// countingDeliverer counts detections.
type countingDeliverer struct{ n atomic.Int64 }

func (d *countingDeliverer) Deliver(_ context.Context, ds []detector.Detection) error {
	d.n.Add(int64(len(ds)))
	return nil
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// object returns a gzipped log object of recordsPerObject records, one of
// them a root API call (which fires exactly root-api-call).
func object(t *testing.T, i int, root, benign string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(`{"Records":[`))
	now := time.Now().UTC().Format(time.RFC3339)
	rng := rand.NewChaCha8([32]byte{byte(i), byte(i >> 8)})
	for r := range recordsPerObject {
		if r > 0 {
			zw.Write([]byte{','})
		}
		tmpl := benign
		if r == (i*7)%recordsPerObject {
			tmpl = root
		}
		// Random request ids, as real records carry (with session tokens
		// and x-amz-id-2), keep the compression ratio realistic.
		var noise [48]byte
		rng.Read(noise[:])
		zw.Write([]byte(strings.NewReplacer("EVENT_ID", fmt.Sprintf("load-%d-%d", i, r), "EVENT_TIME", now,
			"REQ-", "REQ-"+hex.EncodeToString(noise[:])+"-").Replace(tmpl)))
	}
	zw.Write([]byte(`]}`))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// cpuTime returns the user+system CPU time this process used so far.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestLoad pushes objects through moto at a steady rate for
// ROOTWATCH_LOAD (a duration) and reports throughput and the latency from
// SendMessage to the message's detections delivered. Skipped unless
// ROOTWATCH_LOAD is set.
func TestLoad(t *testing.T) {
	spec := os.Getenv("ROOTWATCH_LOAD")
	if spec == "" {
		t.Skip("load test: set ROOTWATCH_LOAD=60s to run it (see package doc)")
	}
	duration, err := time.ParseDuration(spec)
	if err != nil {
		t.Fatalf("ROOTWATCH_LOAD=%q: %v", spec, err)
	}
	rate := envInt(t, "ROOTWATCH_LOAD_RATE", 50)
	workers := envInt(t, "ROOTWATCH_LOAD_WORKERS", 8)
	srv := mototest.Require(t)
	sqsc, s3c := srv.SQS(t), srv.S3(t)
	s3Backend := "moto"
	if os.Getenv("ROOTWATCH_LOAD_S3") == "inprocess" {
		// gofakes3 in this process: isolates the cost of moto's S3.
		s3Backend = "gofakes3 in process"
		s3c = mototest.FakeS3(t)
	}
	ctx := context.Background()

	bucket := mototest.Name("load")
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	root, benign := trailtest.Template("root_api_call"), trailtest.Template("benign_call")
	keys := make([]string, poolObjects)
	var objBytes int
	for i := range keys {
		keys[i] = fmt.Sprintf("AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/26/123456789012_CloudTrail_us-east-1_20261126T1905Z_load%05d.json.gz", i)
		b := object(t, i, root, benign)
		objBytes += len(b)
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(keys[i]), Body: bytes.NewReader(b)}); err != nil {
			t.Fatal(err)
		}
	}
	q := mototest.CreateQueue(t, sqsc, "load", nil)

	eng := trailtest.BuiltinEngine(t)
	del := &countingDeliverer{}
	reg := prometheus.NewRegistry()
	p, err := ingest.NewPipeline(ingest.Config{Matcher: eng, Deliverer: del, Opener: s3object.NewOpener(s3c, 0),
		Logger: zap.NewNop(), Metrics: ingest.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu       sync.Mutex
		sentAt   = map[string]time.Time{} // message id -> just before SendMessage
		doneAt   = map[string]time.Time{} // message id -> detections delivered, message acked
		notAcked atomic.Int64
	)
	handler := func(ctx context.Context, m queue.Message) queue.Outcome {
		out := p.Handle(ctx, m)
		done := time.Now()
		if out != queue.Ack {
			notAcked.Add(1)
			return out
		}
		mu.Lock()
		doneAt[m.ID] = done
		mu.Unlock()
		return out
	}
	finished := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(doneAt) + int(notAcked.Load())
	}
	c, err := queue.New(sqsc, queue.Config{QueueURL: q.URL, Handler: handler, Workers: workers,
		VisibilityTimeout: 30 * time.Second, Logger: zap.NewNop(), Metrics: queue.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- c.Run(runCtx) }()

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	cpuBefore, motoBefore := cpuTime(t), srv.CPUTime()

	// Producer: message i is sent at start + i/rate, by up to 4 senders
	// at once, so a slow SendMessage does not slow the schedule.
	interval := time.Second / time.Duration(rate)
	total := int(duration / interval)
	senders := make(chan struct{}, 4)
	var sendWG sync.WaitGroup
	var sendErr atomic.Value
	var heapSamples []uint64
	start := time.Now()
	for i := range total {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		senders <- struct{}{}
		sendWG.Go(func() {
			defer func() { <-senders }()
			body := fmt.Sprintf(`{"version":"0","id":"load-%d","detail-type":"Object Created","source":"aws.s3","account":"123456789012",`+
				`"time":"2026-11-26T19:05:12Z","region":"us-east-1","resources":[],"detail":{"version":"0","bucket":{"name":%q},`+
				`"object":{"key":%q,"size":0},"reason":"PutObject"}}`, i, bucket, keys[i%poolObjects])
			t0 := time.Now()
			out, err := sqsc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.URL), MessageBody: aws.String(body)})
			if err != nil {
				sendErr.Store(err)
				return
			}
			mu.Lock()
			sentAt[aws.ToString(out.MessageId)] = t0
			mu.Unlock()
		})
		if i > 0 && i%(rate*10) == 0 {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			heapSamples = append(heapSamples, ms.HeapInuse>>20)
		}
	}
	sendWG.Wait()
	sendDone := time.Since(start)
	if err, _ := sendErr.Load().(error); err != nil {
		t.Fatalf("send: %v", err)
	}
	sent := total
	deadline := time.Now().Add(2 * time.Minute)
	for finished() < sent && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	elapsed := time.Since(start)
	stop()
	if err := <-runDone; err != nil {
		t.Fatal(err)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	cpu, motoCPU := cpuTime(t)-cpuBefore, srv.CPUTime()-motoBefore

	mu.Lock()
	defer mu.Unlock()
	latencies := make([]time.Duration, 0, len(doneAt))
	for id, d := range doneAt {
		if s, ok := sentAt[id]; ok {
			latencies = append(latencies, d.Sub(s))
		}
	}
	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]
	}
	n := int64(len(doneAt))
	t.Logf("S3: %s; SQS: moto", s3Backend)
	t.Logf("sent %d messages in %s (target %d/s, %d workers); handled %d (not acked %d) in %s",
		sent, sendDone.Round(time.Millisecond), rate, workers, n, notAcked.Load(), elapsed.Round(time.Millisecond))
	t.Logf("throughput: %.1f objects/s, %.0f records/s, %.1f MB/s compressed; detections %d",
		float64(n)/elapsed.Seconds(), float64(n*recordsPerObject)/elapsed.Seconds(),
		float64(n)*float64(objBytes)/poolObjects/elapsed.Seconds()/1e6, del.n.Load())
	t.Logf("latency send->delivered: p50 %s p90 %s p99 %s max %s",
		pct(0.50).Round(time.Millisecond), pct(0.90).Round(time.Millisecond), pct(0.99).Round(time.Millisecond),
		pct(1).Round(time.Millisecond))
	t.Logf("heap in use: %d MiB before, samples every 10 s %v MiB, %d MiB after; total alloc %d MiB",
		before.HeapInuse>>20, heapSamples, after.HeapInuse>>20, (after.TotalAlloc-before.TotalAlloc)>>20)
	t.Logf("CPU of this process (consumer, pipeline, engine, producer, SDK clients): %s, %.2f ms per object",
		cpu.Round(time.Millisecond), float64(cpu.Microseconds())/1000/float64(max(n, 1)))
	t.Logf("CPU of moto_server (SQS and S3 emulation): %s, %.2f ms per object",
		motoCPU.Round(time.Millisecond), float64(motoCPU.Microseconds())/1000/float64(max(n, 1)))
	if n != int64(sent) || del.n.Load() != int64(sent) {
		t.Errorf("handled %d of %d messages, %d detections (want one per message)", n, sent, del.n.Load())
	}
}

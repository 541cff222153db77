package ingest_test

import (
	"context"
	"testing"

	"github.com/rootwatch/rootwatch/ingest"
	"github.com/rootwatch/rootwatch/ingest/queue"
	"github.com/rootwatch/rootwatch/ingest/s3object"
	"github.com/rootwatch/rootwatch/internal/mototest"
)

// BenchmarkPipelineHandle measures one message naming one 100-record
// gzipped object, end to end in process: envelope, GetObject from an
// in-process S3 (gofakes3), decode, the built-in rules, delivery.
//
//	go test -run '^$' -bench PipelineHandle -benchtime 2s ./ingest
func BenchmarkPipelineHandle(b *testing.B) {
	client := mototest.FakeS3(b)
	createBucket(b, client, "bench")
	obj, _ := logObject(b, "bench", 100, 42)
	putObject(b, client, "bench", keyPlain, obj)
	p, err := ingest.NewPipeline(ingest.Config{Matcher: newEngine(b), Deliverer: newRecordingDeliverer(),
		Opener: s3object.NewOpener(client, 0)})
	if err != nil {
		b.Fatal(err)
	}
	msg := queue.Message{ID: "bench", Body: []byte(body(b, "eventbridge_s3.json", "bench", []string{keyPlain}, nil))}
	ctx := context.Background()
	b.SetBytes(int64(len(obj)))
	b.ReportAllocs()
	for b.Loop() {
		if out := p.Handle(ctx, msg); out != queue.Ack {
			b.Fatalf("outcome %s", out)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/object")
}

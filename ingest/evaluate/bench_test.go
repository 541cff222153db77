package evaluate_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/detector/engine"
	"github.com/rootwatch/rootwatch/detector/rules"
	"github.com/rootwatch/rootwatch/ingest/cloudtrail"
	"github.com/rootwatch/rootwatch/ingest/evaluate"
	"github.com/rootwatch/rootwatch/internal/benchlog"
)

// BenchmarkDecodeMatch is the whole hot path of `rootwatch scan` and of the
// service on one object, through evaluate.Read as both run it: gunzip (own
// goroutine), split records, extract the fields the built-in rules read,
// match, deliver. Compare with ingest/cloudtrail's BenchmarkGunzipOnly and
// BenchmarkDecode (same object, same bytes). MB/s are of decompressed JSON.
func BenchmarkDecodeMatch(b *testing.B) {
	gzipped, plain := benchlog.Load(b)
	rs, err := rules.Builtin()
	if err != nil {
		b.Fatal(err)
	}
	eng, err := engine.New(rs)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	detections := 0
	cfg := evaluate.Config{
		Matcher: eng,
		Decoder: cloudtrail.Options{Source: "bench"},
		Batch:   100,
		Deliver: func(_ context.Context, ds []detector.Detection) error {
			detections += len(ds)
			return nil
		},
	}
	clock := benchlog.StartCPU(b, int64(len(plain)))
	records := 0
	for range b.N {
		st, err := evaluate.Read(ctx, bytes.NewReader(gzipped), cfg)
		if err != nil {
			b.Fatal(err)
		}
		records += st.Records
	}
	clock.Stop()
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
	if records != b.N*benchlog.Count || detections == 0 {
		b.Fatalf("%d records, %d detections", records, detections)
	}
}

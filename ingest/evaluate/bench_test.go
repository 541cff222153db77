package evaluate_test

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/detector/correlate"
	"github.com/rootwatch/rootwatch/detector/engine"
	"github.com/rootwatch/rootwatch/detector/rules"
	"github.com/rootwatch/rootwatch/detector/sigma"
	"github.com/rootwatch/rootwatch/ingest/cloudtrail"
	"github.com/rootwatch/rootwatch/ingest/evaluate"
	"github.com/rootwatch/rootwatch/internal/benchlog"
)

// BenchmarkDecodeMatch is the whole hot path of `rootwatch scan` and of the
// service on one object, through evaluate.Read as both run it: gunzip (own
// goroutine), split records, extract the fields the built-in rules read,
// match, deliver. Compare with ingest/cloudtrail's BenchmarkGunzipOnly and
// BenchmarkDecode (same object, same bytes). MB/s are of decompressed JSON.
// It runs the built-in detection rules without the correlation rules (and
// their hidden helpers), as before correlation existed;
// BenchmarkDecodeMatchCorrelated adds them.
func BenchmarkDecodeMatch(b *testing.B) { benchDecodeMatch(b, false) }

// BenchmarkDecodeMatchCorrelated is BenchmarkDecodeMatch with the built-in
// correlation rules loaded and every batch of detections passed through
// the correlator (in-memory state), as the service and scan do. Ordinary
// records cost nothing more: state is touched only when a referred rule
// fires.
func BenchmarkDecodeMatchCorrelated(b *testing.B) { benchDecodeMatch(b, true) }

func benchDecodeMatch(b *testing.B, correlated bool) {
	gzipped, plain := benchlog.Load(b)
	rs, err := rules.Builtin()
	if err != nil {
		b.Fatal(err)
	}
	if !correlated {
		rs = slices.DeleteFunc(rs, func(r *sigma.Rule) bool { return r.Correlation != nil || r.Hidden })
	}
	eng, err := engine.New(rs)
	if err != nil {
		b.Fatal(err)
	}
	corr, err := correlate.New(rs, correlate.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if correlated != (corr.Len() > 0) {
		b.Fatalf("%d correlation rules", corr.Len())
	}
	ctx := context.Background()
	detections := 0
	cfg := evaluate.Config{
		Matcher: eng,
		Decoder: cloudtrail.Options{Source: "bench"},
		Batch:   100,
		Deliver: func(ctx context.Context, ds []detector.Detection) error {
			if correlated {
				var err error
				if ds, err = corr.Correlate(ctx, ds); err != nil {
					return err
				}
			}
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

package cloudtrail

import (
	"bytes"
	"context"
	"io"
	"slices"
	"testing"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/detector/correlate"
	"github.com/rootwatch/rootwatch/detector/engine"
	"github.com/rootwatch/rootwatch/detector/rules"
	"github.com/rootwatch/rootwatch/detector/sigma"
)

// BenchmarkDecodeMatch is the whole hot path of `rootwatch scan` and of the
// service on one object: gunzip (own goroutine), split records, extract the
// fields the built-in rules read, match. Compare with BenchmarkGunzipOnly
// and BenchmarkGunzipStdlib in the same run (same object, same bytes).
// MB/s are of decompressed JSON. It runs the built-in detection rules
// without the correlation rules (and their hidden helpers), as before
// correlation existed; BenchmarkDecodeMatchCorrelated adds them.
func BenchmarkDecodeMatch(b *testing.B) { benchDecodeMatch(b, false) }

// BenchmarkDecodeMatchCorrelated is BenchmarkDecodeMatch with the
// built-in correlation rules loaded and every record's detections passed
// through the correlator (in-memory state), as the service and scan do.
// Ordinary records cost nothing more: state is touched only when a
// referred rule fires.
func BenchmarkDecodeMatchCorrelated(b *testing.B) { benchDecodeMatch(b, true) }

func benchDecodeMatch(b *testing.B, correlated bool) {
	gzipped, plain := loadBench(b)
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
	clock := startCPU(b, int64(len(plain)))
	records, detections := 0, 0
	var dets []detector.Detection
	for range b.N {
		d := NewDecoder(bytes.NewReader(gzipped), Options{Source: "bench"})
		for {
			rec, err := d.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			records++
			if dets, err = eng.Match(rec, "bench", dets[:0]); err != nil {
				b.Fatal(err)
			}
			if correlated {
				if dets, err = corr.Correlate(ctx, dets); err != nil {
					b.Fatal(err)
				}
			}
			detections += len(dets)
		}
		d.Close()
	}
	clock.stop()
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
	if records != b.N*benchCount || detections == 0 {
		b.Fatalf("%d records, %d detections", records, detections)
	}
}

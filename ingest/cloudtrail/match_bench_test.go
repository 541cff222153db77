package cloudtrail

import (
	"bytes"
	"io"
	"testing"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/detector/engine"
	"github.com/rootwatch/rootwatch/detector/rules"
)

// BenchmarkDecodeMatch is the whole hot path of `rootwatch scan` and of the
// service on one object: gunzip (own goroutine), split records, extract the
// fields the built-in rules read, match. Compare with BenchmarkGunzipOnly
// and BenchmarkGunzipStdlib in the same run (same object, same bytes).
// MB/s are of decompressed JSON.
func BenchmarkDecodeMatch(b *testing.B) {
	gzipped, plain := loadBench(b)
	rs, err := rules.Builtin()
	if err != nil {
		b.Fatal(err)
	}
	eng, err := engine.New(rs)
	if err != nil {
		b.Fatal(err)
	}
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

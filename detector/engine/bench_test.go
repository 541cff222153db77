package engine

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/valyala/fastjson"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/detector/sigma"
)

// benchRecords loads the benchmark log (see testdata/bench/README.md) and
// splits it into records.
func benchRecords(b *testing.B) ([]json.RawMessage, int64) {
	b.Helper()
	path := os.Getenv("ROOTWATCH_BENCH_RECORDS")
	if path == "" {
		path = "testdata/bench/records-1000.json.gz"
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	if len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			b.Fatal(err)
		}
	}
	var log struct{ Records []json.RawMessage }
	if err := json.Unmarshal(data, &log); err != nil {
		b.Fatalf("%s: %v", path, err)
	}
	var n int64
	for _, r := range log.Records {
		n += int64(len(r))
	}
	return log.Records, n
}

// BenchmarkMatch measures Match over a generated CloudTrail log with the
// nine root rules, beside baselines over the same records in the same run:
// extraction alone (the engine's field set, no rules) and a full fastjson
// parse (the fastest general parser measured in notes/perf.md). One op is
// one pass over all records.
func BenchmarkMatch(b *testing.B) {
	recs, size := benchRecords(b)
	root := loadRules(b, "testdata/rules/*.yml")
	run := func(b *testing.B, fn func(rec []byte) int) {
		b.SetBytes(size)
		b.ReportAllocs()
		hits := 0
		for b.Loop() {
			for _, r := range recs {
				hits += fn(r)
			}
		}
		b.ReportMetric(float64(len(recs))*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		b.ReportMetric(float64(hits)/float64(b.N), "detections/op")
	}
	engine := func(rules []*sigma.Rule, opts options) func(*testing.B) {
		return func(b *testing.B) {
			e, err := newEngine(rules, opts)
			if err != nil {
				b.Fatal(err)
			}
			var dst []detector.Detection
			run(b, func(rec []byte) int {
				dst, err = e.Match(rec, "bench", dst[:0])
				if err != nil {
					b.Fatal(err)
				}
				return len(dst)
			})
		}
	}
	b.Run("root-rules", engine(root, options{}))
	b.Run("root-rules-noindex", engine(root, options{noIndex: true}))
	b.Run("all-test-rules", engine(propertyRules(b), options{}))
	b.Run("baseline-extract-only", func(b *testing.B) {
		e, err := New(root)
		if err != nil {
			b.Fatal(err)
		}
		x := e.paths.NewExtractor()
		run(b, func(rec []byte) int {
			if _, err := x.Extract(rec); err != nil {
				b.Fatal(err)
			}
			return 0
		})
	})
	b.Run("baseline-fastjson-parse", func(b *testing.B) {
		var p fastjson.Parser
		run(b, func(rec []byte) int {
			v, err := p.ParseBytes(rec)
			if err != nil {
				b.Fatal(err)
			}
			if v.GetStringBytes("userIdentity", "type") == nil {
				return 0
			}
			return 0
		})
	})
}

// BenchmarkMatchPaired alternates, pass by pass, extraction alone and the
// full Match with the root rules over the same records, and reports both
// throughputs in wall time and in the CPU time of the benchmark's thread
// (on Linux), and the ratio of their CPU times. On a shared, noisy machine
// CPU time and ratios are steadier than wall-clock figures.
func BenchmarkMatchPaired(b *testing.B) {
	recs, size := benchRecords(b)
	e, err := New(loadRules(b, "testdata/rules/*.yml"))
	if err != nil {
		b.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	x := e.paths.NewExtractor()
	var dst []detector.Detection
	var wExtract, wMatch, cExtract, cMatch time.Duration
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		t0, c0 := time.Now(), threadCPU()
		for _, r := range recs {
			if _, err := x.Extract(r); err != nil {
				b.Fatal(err)
			}
		}
		t1, c1 := time.Now(), threadCPU()
		for _, r := range recs {
			if dst, err = e.Match(r, "bench", dst[:0]); err != nil {
				b.Fatal(err)
			}
		}
		t2, c2 := time.Now(), threadCPU()
		wExtract += t1.Sub(t0)
		wMatch += t2.Sub(t1)
		cExtract += c1 - c0
		cMatch += c2 - c1
	}
	mb := float64(size) * float64(b.N) / 1e6
	b.ReportMetric(mb/wMatch.Seconds(), "match-MB/s")
	b.ReportMetric(mb/wExtract.Seconds(), "extract-MB/s")
	b.ReportMetric(float64(len(recs))*float64(b.N)/wMatch.Seconds(), "match-records/s")
	if cExtract > 0 && cMatch > 0 {
		b.ReportMetric(mb/cMatch.Seconds(), "match-MB/cpu-s")
		b.ReportMetric(mb/cExtract.Seconds(), "extract-MB/cpu-s")
		b.ReportMetric(cMatch.Seconds()/cExtract.Seconds(), "match/extract-cpu")
	}
}

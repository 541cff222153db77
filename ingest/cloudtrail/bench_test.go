package cloudtrail

import (
	"bytes"
	stdgzip "compress/gzip"
	"io"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/rootwatch/rootwatch/internal/benchlog"
)

// The benchmarks read benchlog's 50,000-record object.
var (
	loadBench  = benchlog.Load
	startCPU   = benchlog.StartCPU
	benchCount = benchlog.Count
)

// decodeBench decodes in once per iteration and reports records/s.
func decodeBench(b *testing.B, in []byte, size int) {
	clock := startCPU(b, int64(size))
	records := 0
	for range b.N {
		d := NewDecoder(bytes.NewReader(in), Options{})
		for {
			_, err := d.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			records++
		}
		d.Close()
	}
	clock.Stop()
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
	if records != b.N*benchCount {
		b.Fatalf("decoded %d records, want %d", records, b.N*benchCount)
	}
}

// BenchmarkDecode is the production path: gzip object in, records out,
// with decompression in its own goroutine. MB/s are of decompressed JSON.
func BenchmarkDecode(b *testing.B) {
	gzipped, plain := loadBench(b)
	decodeBench(b, gzipped, len(plain))
}

// BenchmarkDecodePlain splits the already decompressed JSON: the splitter
// alone.
func BenchmarkDecodePlain(b *testing.B) {
	_, plain := loadBench(b)
	decodeBench(b, plain, len(plain))
}

// BenchmarkDecodeLines splits the same records written as JSON Lines
// (each top-level object is parsed member by member to tell a record from a
// log object or an EventBridge event).
func BenchmarkDecodeLines(b *testing.B) {
	_, plain := loadBench(b)
	var lines bytes.Buffer
	d := NewDecoder(bytes.NewReader(plain), Options{})
	for {
		rec, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		lines.Write(rec)
		lines.WriteByte('\n')
	}
	d.Close()
	decodeBench(b, lines.Bytes(), lines.Len())
}

// BenchmarkGunzipOnly is the baseline for BenchmarkDecode: klauspost gunzip
// of the same object to io.Discard, on one goroutine.
func BenchmarkGunzipOnly(b *testing.B) {
	gzipped, plain := loadBench(b)
	clock := startCPU(b, int64(len(plain)))
	for range b.N {
		zr, err := gzip.NewReader(bytes.NewReader(gzipped))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, zr); err != nil {
			b.Fatal(err)
		}
	}
	clock.Stop()
}

// BenchmarkGunzipStdlib is the same with compress/gzip.
func BenchmarkGunzipStdlib(b *testing.B) {
	gzipped, plain := loadBench(b)
	clock := startCPU(b, int64(len(plain)))
	for range b.N {
		zr, err := stdgzip.NewReader(bytes.NewReader(gzipped))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, zr); err != nil {
			b.Fatal(err)
		}
	}
	clock.Stop()
}

// BenchmarkSplitReference is a baseline for BenchmarkDecodePlain: the
// simplest correct byte-at-a-time splitter (strings, escapes, depth; no
// bracket matching, no refills, no validation) counting the records of the
// same JSON held in memory.
func BenchmarkSplitReference(b *testing.B) {
	_, plain := loadBench(b)
	clock := startCPU(b, int64(len(plain)))
	for range b.N {
		if n := referenceSplit(plain); n != benchCount {
			b.Fatalf("split %d records, want %d", n, benchCount)
		}
	}
	clock.Stop()
}

func referenceSplit(data []byte) int {
	n, depth, inStr, esc := 0, 0, false, false
	for _, c := range data {
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 2 { // closed a record: {"Records":[{...}
				n++
			}
		}
	}
	return n
}

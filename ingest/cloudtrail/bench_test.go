package cloudtrail

import (
	"bytes"
	stdgzip "compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
)

// The benchmarks read a 50,000-record gzipped CloudTrail object made by the
// shared deterministic generator (../shared/tools/gen, about 8.5 MB
// compressed, 81 MB of JSON), cached under the temp directory.
const (
	genDir     = "../../../shared/tools/gen" // shared/ sits beside the project root
	benchFile  = "rootwatch-cloudtrail-bench-50k-seed1.json.gz"
	benchCount = 50000
)

var benchData struct {
	once  sync.Once
	gz    []byte
	plain []byte
	err   error
}

func loadBench(b *testing.B) (gzipped, plain []byte) {
	b.Helper()
	benchData.once.Do(func() {
		dir := filepath.Join(os.TempDir(), "rootwatch-cloudtrail-bench")
		path := filepath.Join(dir, benchFile)
		if _, err := os.Stat(path); err != nil {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				benchData.err = err
				return
			}
			cmd := exec.Command("go", "run", ".", "-records", "50000", "-seed", "1", "-root-rate", "0.0005",
				"-out", dir, "-name", benchFile)
			cmd.Dir = genDir
			if out, err := cmd.CombinedOutput(); err != nil {
				benchData.err = &os.PathError{Op: "generate", Path: path, Err: errorString(string(out) + err.Error())}
				return
			}
		}
		gzipped, err := os.ReadFile(path)
		if err != nil {
			benchData.err = err
			return
		}
		zr, err := gzip.NewReader(bytes.NewReader(gzipped))
		if err != nil {
			benchData.err = err
			return
		}
		plain, err := io.ReadAll(zr)
		if err != nil {
			benchData.err = err
			return
		}
		benchData.gz, benchData.plain = gzipped, plain
	})
	if benchData.err != nil {
		b.Skipf("benchmark data unavailable (needs %s): %v", genDir, benchData.err)
	}
	return benchData.gz, benchData.plain
}

// cpuClock reports, when stopped, the benchmark's throughput per CPU-second
// of the whole process ("MB/cpu-s"): on a shared machine wall-clock MB/s
// mostly measure the neighbours.
type cpuClock struct {
	b     *testing.B
	start time.Duration
	bytes int64
}

func startCPU(b *testing.B, bytes int64) *cpuClock {
	b.SetBytes(bytes)
	b.ReportAllocs()
	b.ResetTimer()
	return &cpuClock{b: b, start: cpuTime(), bytes: bytes}
}

func (c *cpuClock) stop() {
	if used := cpuTime() - c.start; used > 0 {
		c.b.ReportMetric(float64(c.bytes)*float64(c.b.N)/1e6/used.Seconds(), "MB/cpu-s")
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

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
	clock.stop()
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
	clock.stop()
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
	clock.stop()
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
	clock.stop()
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

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

	"github.com/klauspost/compress/gzip"
)

// The benchmarks read a 50,000-record gzipped CloudTrail object made by the
// shared deterministic generator (../shared/tools/gen, about 8.5 MB
// compressed, 81 MB of JSON), cached under the temp directory.
const (
	genDir     = "/work/shared/tools/gen"
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

type errorString string

func (e errorString) Error() string { return string(e) }

// decodeBench decodes in once per iteration and reports records/s.
func decodeBench(b *testing.B, in []byte, size int) {
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
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

// BenchmarkGunzipOnly is the baseline for BenchmarkDecode: klauspost gunzip
// of the same object to io.Discard, on one goroutine.
func BenchmarkGunzipOnly(b *testing.B) {
	gzipped, plain := loadBench(b)
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	for range b.N {
		zr, err := gzip.NewReader(bytes.NewReader(gzipped))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, zr); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGunzipStdlib is the same with compress/gzip.
func BenchmarkGunzipStdlib(b *testing.B) {
	gzipped, plain := loadBench(b)
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	for range b.N {
		zr, err := stdgzip.NewReader(bytes.NewReader(gzipped))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, zr); err != nil {
			b.Fatal(err)
		}
	}
}

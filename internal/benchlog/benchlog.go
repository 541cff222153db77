// Package benchlog gives benchmarks of the hot path one large CloudTrail
// log object and a per-CPU-second throughput metric, so that the decoder's
// benchmarks (ingest/cloudtrail) and the decode-and-match loop's
// (ingest/evaluate) read the same bytes and report the same units.
//
// The object holds 50,000 records made by the shared deterministic
// generator (shared/tools/gen beside the project root, about 8.5 MB
// compressed, 81 MB of JSON), cached under the temp directory. Without the
// generator the benchmark is skipped.
//
// It is a helper for benchmarks only; no service code imports it.
package benchlog

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
)

// Count is the number of records in the object.
const Count = 50000

const fileName = "rootwatch-cloudtrail-bench-50k-seed1.json.gz"

var data struct {
	once  sync.Once
	gz    []byte
	plain []byte
	err   error
}

// Load returns the object gzipped and decompressed, generating it once.
func Load(b *testing.B) (gzipped, plain []byte) {
	b.Helper()
	data.once.Do(func() { data.gz, data.plain, data.err = load() })
	if data.err != nil {
		b.Skipf("benchmark data unavailable (needs shared/tools/gen beside the project root): %v", data.err)
	}
	return data.gz, data.plain
}

func load() (gzipped, plain []byte, err error) {
	dir := filepath.Join(os.TempDir(), "rootwatch-cloudtrail-bench")
	path := filepath.Join(dir, fileName)
	if _, err := os.Stat(path); err != nil {
		gen, err := genDir()
		if err != nil {
			return nil, nil, err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, nil, err
		}
		cmd := exec.Command("go", "run", ".", "-records", "50000", "-seed", "1", "-root-rate", "0.0005",
			"-out", dir, "-name", fileName)
		cmd.Dir = gen
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, nil, &os.PathError{Op: "generate", Path: path, Err: errors.New(string(out) + err.Error())}
		}
	}
	gzipped, err = os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(gzipped))
	if err != nil {
		return nil, nil, err
	}
	plain, err = io.ReadAll(zr)
	return gzipped, plain, err
}

// genDir finds shared/tools/gen beside the module root (the directory of
// go.mod above the working directory, which is the package under test).
func genDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "tools", "gen"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// CPUClock reports, when stopped, the benchmark's throughput per
// CPU-second of the whole process ("MB/cpu-s"): on a shared machine
// wall-clock MB/s mostly measure the neighbours.
type CPUClock struct {
	b     *testing.B
	start time.Duration
	bytes int64
}

// StartCPU sets the benchmark's bytes per operation, reports allocations,
// resets the timer and starts a CPUClock.
func StartCPU(b *testing.B, bytes int64) *CPUClock {
	b.SetBytes(bytes)
	b.ReportAllocs()
	b.ResetTimer()
	return &CPUClock{b: b, start: cpuTime(), bytes: bytes}
}

// Stop reports MB/cpu-s.
func (c *CPUClock) Stop() {
	if used := cpuTime() - c.start; used > 0 {
		c.b.ReportMetric(float64(c.bytes)*float64(c.b.N)/1e6/used.Seconds(), "MB/cpu-s")
	}
}

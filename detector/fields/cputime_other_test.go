//go:build !linux

package fields

import "time"

// threadCPU is not available on this platform; benchmarks then report
// wall-clock throughput only.
func threadCPU() (time.Duration, bool) { return 0, false }

//go:build !linux

package engine

import "time"

// threadCPU is not available on this platform; CPU-time metrics read zero.
func threadCPU() time.Duration { return 0 }

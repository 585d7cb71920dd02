//go:build !linux

package segment_test

import "time"

// threadCPU is not available here: the suite reports wall time.
func threadCPU() (time.Duration, bool) { return 0, false }

// threadFaults is not available here: the suite reports none.
func threadFaults() int64 { return 0 }

//go:build !unix

package engine

import "time"

// cpuTime cannot be read here: the benchmark reports wall time alone.
func cpuTime() (time.Duration, bool) { return 0, false }

package segment_test

import (
	"syscall"
	"time"
)

// threadCPU returns the CPU time the calling OS thread has used, user and
// system. The suite locks its goroutine to a thread and times each call by
// it, so that on a shared machine a query is not charged for the time
// others held the CPU.
func threadCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

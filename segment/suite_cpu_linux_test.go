package segment_test

import (
	"syscall"
	"time"
	"unsafe"
)

// threadCPU returns the CPU time the calling OS thread has used
// (CLOCK_THREAD_CPUTIME_ID, to the nanosecond; getrusage counts in
// scheduler ticks). The suite locks its goroutine to a thread and times
// each call by it, so that on a shared machine a query is not charged for
// the time others held the CPU.
func threadCPU() (time.Duration, bool) {
	const clockThreadCPUTimeID = 3
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}

// threadFaults returns the page faults the calling OS thread has taken
// that did not read the disk (minor faults: first touches of memory the
// kernel must map, as after the runtime returned it to the OS).
func threadFaults() int64 {
	const rusageThread = 1
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return ru.Minflt
}

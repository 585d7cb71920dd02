package segment

// CPUTime is cpuTime for the external benchmarks.
var CPUTime = cpuTime

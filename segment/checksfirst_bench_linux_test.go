package segment

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/RoaringBitmap/roaring/v2"
)

// BenchmarkChecksFirstCall compares, in one process and interleaved call
// by call, the checks of candidates' codes as a first call meets them (the
// caches swept first) and warm (the same call again), for the per-run
// two-pass checks (scanRangePerRun, checks_test.go) and scanRange: a
// column of 10M IDs, candidates at densities a band's edge bins have at
// 10M. Metrics: CPU ns a check, medians over the calls.
func BenchmarkChecksFirstCall(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := rand.New(rand.NewPCG(14, 2))
	const span = 10_000_000
	sweep := make([]uint64, 768<<20/8)
	for _, width := range []int{8, 17, 32} {
		c := newCodes()
		for i := range span {
			c.set(uint32(i), 1+r.Uint64N(1<<width-1))
		}
		c.compact()
		lo, hi := uint64(1), uint64(1)<<(width-1)
		for _, density := range []float64{0.001, 0.005, 0.02, 0.1, 0.5} {
			w := roaring.New()
			for i := range span {
				if r.Float64() < density {
					w.Add(uint32(i))
				}
			}
			n := float64(w.GetCardinality())
			b.Run(fmt.Sprintf("w%d/p%g", width, density*100), func(b *testing.B) {
				ways := []struct {
					name string
					scan func() uint64
				}{
					{"per-run", func() uint64 {
						var k uint64
						c.scanRangePerRun(w, lo, hi, false, func(h []uint32) { k += uint64(len(h)) })
						return k
					}},
					{"chunk", func() uint64 { return c.countRange(w, lo, hi, false) }},
				}
				cold := make([][]time.Duration, len(ways))
				warm := make([][]time.Duration, len(ways))
				for b.Loop() {
					for i, way := range ways {
						for j := 0; j < len(sweep); j += 8 {
							sweep[j]++
						}
						t0 := threadCPUTime()
						k1 := way.scan()
						t1 := threadCPUTime()
						k2 := way.scan()
						t2 := threadCPUTime()
						if k1 != k2 {
							b.Fatalf("%s: %d then %d hits", way.name, k1, k2)
						}
						cold[i], warm[i] = append(cold[i], t1-t0), append(warm[i], t2-t1)
					}
				}
				for i, way := range ways {
					b.ReportMetric(float64(medianOf(cold[i]).Nanoseconds())/n, way.name+"-cold-ns/check")
					b.ReportMetric(float64(medianOf(warm[i]).Nanoseconds())/n, way.name+"-warm-ns/check")
				}
			})
		}
	}
}

func medianOf(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// threadCPUTime is the CPU time of the calling OS thread.
func threadCPUTime() time.Duration {
	const clockThreadCPUTimeID = 3
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}

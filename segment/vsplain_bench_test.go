package segment_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast/segment"
)

// vsRounds is how many turns BenchmarkVersusPlain's ways take.
const vsRounds = 5

// BenchmarkVersusPlain times the suite's shapes (STEPCAST_SUITE_SHAPES, or
// all) against the plain-roaring evaluator only: no oracle, no expr loop,
// no first calls, so that many runs fit where the suite takes 9 at 10M.
// STEPCAST_VSPLAIN_RUNS sets the runs of each way (default 31); the ways
// take vsRounds turns, each a block of runs after a collection and an
// untimed call, as in the suite. It prints each
// shape's p50 CPU times, the minor page faults a call of each way
// and the ratios plain / ours: the quick check for "no shape slower than
// plain roaring" while changing the executor. STEPCAST_SUITE_EXPLAIN=1
// prints each shape's plan (as Explain takes it) too.
func BenchmarkVersusPlain(b *testing.B) {
	runs := 31
	if s := os.Getenv("STEPCAST_VSPLAIN_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("STEPCAST_VSPLAIN_RUNS=%q", s)
		}
		runs = n
	}
	for _, n := range sizes() {
		b.Run(sizeName(n), func(b *testing.B) {
			fx := getFixture(b, n)
			d := newSuiteData(fx.friends, benchNow)
			p := newPlainIndex(d)
			shapes := append(namedShapes(), genShapes(suiteShapes, 1)...)
			if only := os.Getenv("STEPCAST_SUITE_SHAPES"); only != "" {
				names := strings.Split(only, ",")
				shapes = slices.DeleteFunc(shapes, func(s shape) bool { return !slices.Contains(names, s.name) })
			}
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			// Each way's runs carry pprof labels (shape, way), so that one
			// -cpuprofile splits by shape with -tagfocus. The ways take
			// turns in rounds, as in the suite (runShape): each way's runs
			// in one block had a slow stretch of the machine fall on one
			// way only (tag-area-not3 at 10M: 1.53× here, 0.89× in the
			// suite's turns, 2026-12-01).
			var name string
			type way struct {
				name   string
				f      func()
				ds     []time.Duration
				faults int64
			}
			var lines []string
			for b.Loop() {
				lines = lines[:0]
				for _, s := range shapes {
					name = s.name
					seg := segment.MustCompile(s.src(), fx.schema)
					ways := []*way{
						{name: "count", f: func() { _, _ = seg.Count(fx.ix, benchNow) }},
						{name: "plain", f: func() { _ = s.root.countPlain(p) }},
						{name: "eval", f: func() { _, _ = seg.Eval(fx.ix, benchNow) }},
						{name: "plaineval", f: func() { _ = s.root.audiencePlain(p) }},
					}
					for r := range vsRounds {
						for _, w := range ways {
							runtime.GC() // each way from the same heap (see runShape)
							w.f()        // untimed: warms the caches for this way
							f0 := threadFaults()
							pprof.Do(context.Background(), pprof.Labels("shape", name, "way", w.name), func(context.Context) {
								// runs spread over the rounds, the first ones a run longer
								for range runs/vsRounds + min(1, max(0, runs%vsRounds-r)) {
									d, _ := timed(w.f)
									w.ds = append(w.ds, d)
								}
							})
							w.faults += threadFaults() - f0
						}
					}
					faults := make([]string, len(ways))
					for i, w := range ways {
						faults[i] = fmt.Sprintf("%.0f", float64(w.faults)/float64(len(w.ds)))
					}
					count, plain, eval, plainEval := median(ways[0].ds), median(ways[1].ds), median(ways[2].ds), median(ways[3].ds)
					got, _ := seg.Count(fx.ix, benchNow)
					bm, _ := seg.Eval(fx.ix, benchNow)
					if want := s.root.countPlain(p); got != want || !bm.Equals(s.root.audiencePlain(p)) {
						b.Errorf("%s: Count %d, Eval %d, plain %d", s.name, got, bm.GetCardinality(), want)
					}
					if os.Getenv("STEPCAST_SUITE_EXPLAIN") != "" {
						ex, _ := seg.Explain(fx.ix, benchNow)
						fmt.Printf("## %s: %s\n%s\n", s.name, s.src(), ex)
					}
					lines = append(lines, fmt.Sprintf("| %s | %s | %s | %.2f | %s | %s | %.2f | %s |", s.name,
						ms(count), ms(plain), float64(plain)/float64(count), ms(eval), ms(plainEval), float64(plainEval)/float64(eval),
						strings.Join(faults, " / ")))
				}
			}
			fmt.Printf("\n## versus plain, %s friends, %d runs each\n\n| shape | count | plain count | plain/count | eval | plain eval | plain/eval | faults a call (count / plain / eval / plain eval) |\n|---|---|---|---|---|---|---|---|\n%s\n",
				sizeName(n), runs, strings.Join(lines, "\n"))
		})
	}
}

package segment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/stepcast/stepcast"
)

// TestEvalResultIsTheCallers: a caller that changes the bitmap Eval
// returned (it is documented as theirs) changes nothing in the index, for
// segments whose answer is one of the index's own sets or a union of them.
func TestEvalResultIsTheCallers(t *testing.T) {
	defer func(old, few int) { minBinSplit, fewMax = old, few }(minBinSplit, fewMax)
	minBinSplit, fewMax = 8, 4
	tokyo := mustLoad(t, "Asia/Tokyo")
	cfg := testSchemaConfig
	cfg.Location = tokyo
	schema := MustSchema(cfg)
	now := time.Date(2026, 11, 28, 15, 30, 0, 0, tokyo)
	r := rand.New(rand.NewPCG(7, 14))
	friends := genFriends(r, 500, now)
	ix := NewIndex(schema)
	load(t, r, ix, friends)
	srcs := []string{
		`true`, `following`, `blocked`, `!following`, `tag("t1")`, `tag("t1") || tag("t2")`, `gender == "female"`,
		`name startsWith "山"`, `age >= 0`, `age < 1000`, `age in 20..40`, `has("age")`, `vip`, `!vip`,
		`score("lead") >= 0`, `score("lead") > 1000`, `followed_days >= 0`, `days_since("birthday") >= 0`,
		`clicked("c0")`, `clicked("c0", 7)`, `answered("a1", "yes", 3)`, `in_scenario("s0")`,
		`scenario_step("s0") == 1`, `variant("e0") == "A"`, `segment("adult")`, `spend > -1e30`,
		`tag("nobody/has/this")`, `clicked("nowhere")`, `clicked("nowhere", 3)`, `in_scenario("s9")`,
		`name == "nobody has this"`, `variant("e9") == "A"`, `false`, `!true`,
	}
	for _, compacted := range []bool{false, true} {
		if compacted {
			ix.Compact()
		}
		for _, src := range srcs {
			t.Run(fmt.Sprintf("%s/compacted=%v", src, compacted), func(t *testing.T) {
				seg := MustCompile(src, schema)
				for round := range 3 { // the second and third calls may meet a cache
					first, err := seg.Eval(ix, now)
					if err != nil {
						t.Fatal(err)
					}
					want := first.ToArray()
					first.Clear()
					first.AddRange(0, 1<<20)
					again, _ := seg.Eval(ix, now)
					if got := again.ToArray(); !slices.Equal(got, want) {
						t.Fatalf("call %d: after the caller changed Eval's result, Eval holds %d friends, want %d", round, len(got), len(want))
					}
					if n, _ := seg.Count(ix, now); n != uint64(len(want)) {
						t.Fatalf("call %d: after the caller changed Eval's result, Count = %d, want %d", round, n, len(want))
					}
				}
			})
		}
	}
}

// TestConcurrentReadersWhileWriting: readers Count, Eval, Explain and
// Match while a writer applies batches that take friends from one state to
// another and back (and compacts): each answer is one of the two states',
// as each call reads under the index's read lock. Run with -race.
func TestConcurrentReadersWhileWriting(t *testing.T) {
	defer func(old, few int) { minBinSplit, fewMax = old, few }(minBinSplit, fewMax)
	minBinSplit, fewMax = 8, 4
	tokyo := mustLoad(t, "Asia/Tokyo")
	cfg := testSchemaConfig
	cfg.Location = tokyo
	schema := MustSchema(cfg)
	now := time.Date(2026, 11, 28, 15, 30, 0, 0, tokyo)
	r := rand.New(rand.NewPCG(8, 14))
	friends := genFriends(r, 2000, now)
	ix := NewIndex(schema)
	load(t, r, ix, friends)
	// Two states of a third of the friends, written as batches A and B.
	var toA, toB Batch
	for _, i := range r.Perm(len(friends))[:len(friends)/3] {
		updateFriend(r, &toB, friends[i], now)
		updateFriend(r, &toA, friends[i], now)
	}
	// Events accumulate: without them each batch sets a state.
	isEvent := func(o op) bool { return o.kind == opRecordEvent }
	toA.ops, toB.ops = slices.DeleteFunc(toA.ops, isEvent), slices.DeleteFunc(toB.ops, isEvent)
	g := exprGen{r, now}
	var segs []*Segment
	for range 30 {
		segs = append(segs, MustCompile(g.expr(3).src, schema))
	}
	answers := func() [][]uint32 {
		out := make([][]uint32, len(segs))
		for i, s := range segs {
			bm, err := s.Eval(ix, now)
			if err != nil {
				t.Fatal(err)
			}
			out[i] = bm.ToArray()
		}
		return out
	}
	if err := ix.Apply(&toB); err != nil {
		t.Fatal(err)
	}
	inB := answers()
	if err := ix.Apply(&toA); err != nil {
		t.Fatal(err)
	}
	inA := answers()

	writes := 40
	if testing.Short() {
		writes = 10
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for reader := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-done:
					return
				default:
				}
				i := (k*7 + reader) % len(segs)
				s := segs[i]
				var n uint64
				var err error
				switch (k + reader) % 4 {
				case 0:
					n, err = s.Count(ix, now)
				case 1:
					var bm interface{ ToArray() []uint32 }
					bm, err = s.Eval(ix, now)
					if err == nil {
						got := bm.ToArray()
						if !slices.Equal(got, inA[i]) && !slices.Equal(got, inB[i]) {
							errs <- fmt.Errorf("Eval(%s) is neither state's answer", s.Source())
							return
						}
					}
					n = uint64(len(inA[i]))
				case 2:
					var ex *Explanation
					ex, err = s.Explain(ix, now)
					if err == nil {
						n = ex.Count
					}
				default:
					f := friends[k%len(friends)].id
					_, err = s.Match(ix, stepcast.FriendID(f), now)
					n = uint64(len(inA[i]))
					_ = ix.Stats()
				}
				if err != nil {
					errs <- err
					return
				}
				if n != uint64(len(inA[i])) && n != uint64(len(inB[i])) {
					errs <- fmt.Errorf("%s counted %d, want %d or %d", s.Source(), n, len(inA[i]), len(inB[i]))
					return
				}
			}
		}()
	}
	for w := range writes {
		b := &toB
		if w%2 == 1 {
			b = &toA
		}
		if err := ix.Apply(b); err != nil {
			t.Error(err)
		}
		if w%7 == 3 {
			ix.Compact()
		}
		time.Sleep(time.Millisecond)
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := answers(); !slices.EqualFunc(got, inA, slices.Equal) {
		t.Fatalf("after the last batch (state A), the answers differ from state A's")
	}
}

// TestDeferredSetAtItsBound: a log one short of its bound, exactly at it
// (the writer merges) and one past it holds the same members as a model,
// whether a reader merges between, for friends at the top of the ID range
// and a friend changed on both sides of the writer's merge.
func TestDeferredSetAtItsBound(t *testing.T) {
	for _, initial := range []int{0, 64 * 64, 64 * 300} { // bounds: the minimum, then members/deferredShare, after a first merge
		for _, extra := range []int{-1, 0, 1} {
			for _, readBetween := range []bool{false, true} {
				t.Run(fmt.Sprintf("members=%d/bound%+d/read=%v", initial, extra, readBetween), func(t *testing.T) {
					r := rand.New(rand.NewPCG(uint64(initial), uint64(extra+2)))
					want := map[uint32]bool{}
					bm := roaring.New()
					for i := range initial {
						f := math.MaxUint32 - uint32(2*i)
						bm.Add(f)
						want[f] = true
					}
					d := newDeferredSet(bm)
					for range d.limit { // a first merge at the writer sets the bound from the members
						d.add(math.MaxUint32)
					}
					want[math.MaxUint32] = true
					bound := d.limit
					if want := max(minDeferred, (initial+1)/deferredShare); bound != want {
						t.Fatalf("bound %d, want %d", bound, want)
					}
					top := uint32(math.MaxUint32)
					for i := range bound + extra {
						f := top - r.Uint32N(uint32(2*initial+100))
						if i == bound-1 || i == bound {
							f = top // changed just before and just after the writer's merge
						}
						if r.IntN(2) == 0 {
							d.add(f)
							want[f] = true
						} else {
							d.remove(f)
							delete(want, f)
						}
						if readBetween && i == bound/2 {
							d.bitmap()
						}
					}
					got := d.bitmap()
					if int(got.GetCardinality()) != len(want) {
						t.Fatalf("%d members, want %d", got.GetCardinality(), len(want))
					}
					for f := range want {
						if !got.Contains(f) {
							t.Fatalf("%d missing", f)
						}
					}
				})
			}
		}
	}
}

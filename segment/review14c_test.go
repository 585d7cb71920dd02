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

// Adversarial checks of issue 14's second round (review14c): locate's flat
// array of bin bounds after every split and Compact, AddScore moving one
// friend across bins and groups and saturating, and event windows cached
// and kept current by later writes, each compared with a naive model.

// review14cIDs returns n distinct known IDs: runs of consecutive IDs,
// lone IDs on pages of their own, and the top of the uint32 range.
func review14cIDs(r *rand.Rand, n int) []uint32 {
	seen := map[uint32]bool{}
	var ids []uint32
	add := func(id uint32) {
		if !seen[id] && len(ids) < n {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, id := range []uint32{0, 1, 1 << 31, math.MaxUint32 - 65536, math.MaxUint32 - 1, math.MaxUint32} {
		add(id)
	}
	for len(ids) < n {
		switch r.IntN(3) {
		case 0: // a run
			start := r.Uint32N(1 << 20)
			for k := range uint32(1 + r.IntN(200)) {
				add(start + k)
			}
		case 1: // one friend on a page of its own, anywhere
			add(r.Uint32())
		default:
			add(r.Uint32N(1 << 16))
		}
	}
	return ids
}

// review14cScore is a score value a hostile writer may store.
func review14cScore(r *rand.Rand) int64 {
	switch r.IntN(6) {
	case 0:
		return []int64{math.MaxInt64, math.MaxInt64 - 1, math.MinInt64 + 1, math.MinInt64 + 2, -1, 0}[r.IntN(6)]
	case 1:
		return r.Int64() - r.Int64()/2
	}
	return int64(r.IntN(20))
}

// TestReview14cScoresAfterCompact: scores and an int field set, added to
// (many times on a few friends, across bins and groups, saturating at both
// ends) and unset, in rounds with Compact between some of them, then read
// by ranges (lo > hi too) alone and among candidates of every size:
// Count, Eval and Explain agree with a map.
func TestReview14cScoresAfterCompact(t *testing.T) {
	defer func(old, few int) { minBinSplit, fewMax = old, few }(minBinSplit, fewMax)
	fewMax = 4
	schema := MustSchema(SchemaConfig{
		Fields: []Field{{Name: "spend", Type: stepcast.FieldInt}},
		Scores: []string{"lead"},
	})
	rounds := 30
	if testing.Short() {
		rounds = 10
	}
	for seed := range uint64(3) {
		r := rand.New(rand.NewPCG(seed, 14))
		ids := review14cIDs(r, 3000)
		minBinSplit = 8
		if seed == 0 { // dense IDs and few keys a bin: exact bins at Compact
			ids = make([]uint32, 20000)
			for i := range ids {
				ids[i] = uint32(i)
			}
			minBinSplit = 4096
		}
		ix := NewIndex(schema)
		lead := map[uint32]int64{}  // unset reads 0
		spend := map[uint32]int64{} // absent: no value
		tagged := map[uint32]bool{} // t1
		var b Batch
		for _, id := range ids {
			b.Follow(stepcast.FriendID(id), time.Unix(1e9, 0))
			if r.IntN(4) != 0 {
				lead[id] = int64(r.IntN(20))
				b.SetScore(stepcast.FriendID(id), "lead", lead[id])
				spend[id] = int64(r.IntN(20))
				b.SetField(stepcast.FriendID(id), "spend", spend[id])
			}
		}
		if err := ix.Apply(&b); err != nil {
			t.Fatal(err)
		}
		hot := ids[:5]
		for round := range rounds {
			var b Batch
			for range 1 + r.IntN(600) {
				id := ids[r.IntN(len(ids))]
				if r.IntN(4) == 0 {
					id = hot[r.IntN(len(hot))]
				}
				f := stepcast.FriendID(id)
				switch r.IntN(7) {
				case 0:
					v := review14cScore(r)
					b.SetScore(f, "lead", v)
					lead[id] = v
				case 1, 2:
					d := int64(r.IntN(41) - 20)
					if r.IntN(8) == 0 {
						d = review14cScore(r)
						if d == math.MinInt64 {
							d++
						}
					}
					b.AddScore(f, "lead", d)
					lead[id] = saturatingAdd(lead[id], d)
				case 3:
					v := review14cScore(r)
					b.SetField(f, "spend", v)
					spend[id] = v
				case 4:
					b.UnsetField(f, "spend")
					delete(spend, id)
				case 5:
					if tagged[id] {
						b.ClearTag(f, "t1")
						delete(tagged, id)
					} else {
						b.SetTag(f, "t1")
						tagged[id] = true
					}
				default:
					b.SetScore(f, "lead", saturatingAdd(lead[id], int64(r.IntN(3)-1))) // within a bin, likely
					b.SetScore(f, "lead", lead[id])
				}
			}
			if err := ix.Apply(&b); err != nil {
				t.Fatal(err)
			}
			if r.IntN(3) == 0 {
				ix.Compact()
			}
			for range 30 {
				a, bb := review14cScore(r), review14cScore(r)
				if r.IntN(2) == 0 {
					a, bb = min(a, bb), max(a, bb)
				}
				col := []string{`score("lead")`, "spend"}[r.IntN(2)]
				var src string
				var in func(v int64) bool
				switch r.IntN(4) {
				case 0:
					src, in = fmt.Sprintf("%s in %d..%d", col, a, bb), func(v int64) bool { return a <= v && v <= bb }
				case 1:
					src, in = fmt.Sprintf("%s >= %d", col, a), func(v int64) bool { return v >= a }
				case 2:
					src, in = fmt.Sprintf("%s < %d", col, a), func(v int64) bool { return v < a }
				default:
					src, in = fmt.Sprintf("%s == %d", col, a), func(v int64) bool { return v == a }
				}
				among := r.IntN(2) == 0
				if among {
					src = `tag("t1") && ` + src
				}
				var want []uint32
				for _, id := range ids {
					var ok bool
					if col == "spend" {
						v, set := spend[id]
						ok = set && in(v)
					} else {
						ok = in(lead[id])
					}
					if ok && (!among || tagged[id]) {
						want = append(want, id)
					}
				}
				slices.Sort(want)
				checkReview14c(t, ix, schema, src, time.Unix(2e9, 0), want, fmt.Sprintf("seed %d round %d", seed, round))
			}
		}
		for _, id := range hot {
			if got := ix.scores[0].get(id); got != lead[id] {
				t.Fatalf("seed %d: hot friend %d: score %d, want %d", seed, id, got, lead[id])
			}
		}
	}
}

func checkReview14c(t *testing.T, ix *Index, schema *Schema, src string, now time.Time, want []uint32, when string) {
	t.Helper()
	seg, err := Compile(src, schema)
	if err != nil {
		t.Fatalf("Compile(%q): %v", src, err)
	}
	bm, err := seg.Eval(ix, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := bm.ToArray(); !slices.Equal(got, want) {
		ex, _ := seg.Explain(ix, now)
		t.Fatalf("%s: Eval(%q): %d friends, want %d\n got %v\nwant %v\n%s", when, src, len(got), len(want), trim(got), trim(want), ex)
	}
	if n, err := seg.Count(ix, now); err != nil || n != uint64(len(want)) {
		ex, _ := seg.Explain(ix, now)
		t.Fatalf("%s: Count(%q) = %d (%v), want %d\n%s", when, src, n, err, len(want), ex)
	}
	if ex, err := seg.Explain(ix, now); err != nil || ex.Count != uint64(len(want)) {
		t.Fatalf("%s: Explain(%q) counts %d (%v), want %d\n%s", when, src, ex.Count, err, len(want), ex)
	}
}

func trim(s []uint32) []uint32 {
	if len(s) > 20 {
		return s[:20]
	}
	return s
}

// TestReview14cWindowsAfterWrites: click events over 40 days on sparse
// IDs, windows of every length from 1 to 40 days, alone and among a tag's
// candidates (one friend to all), queried (which caches unions), then more
// events recorded (today, inside and outside cached windows, in the
// future), Compact, and a day later or earlier: Count, Eval and Explain
// agree with a naive count, and a result returned before a write does not
// change with it.
func TestReview14cWindowsAfterWrites(t *testing.T) {
	tokyo := mustLoad(t, "Asia/Tokyo")
	schema := MustSchema(SchemaConfig{Location: tokyo})
	base := time.Date(2026, 11, 28, 15, 30, 0, 0, tokyo)
	rounds := 12
	if testing.Short() {
		rounds = 5
	}
	for seed := range uint64(3) {
		r := rand.New(rand.NewPCG(seed, 1414))
		ids := review14cIDs(r, 1500)
		ix := NewIndex(schema)
		events := map[uint32][]int{} // days of each click, by friend
		tagged := map[uint32]bool{}
		var b Batch
		for _, id := range ids {
			b.Follow(stepcast.FriendID(id), base.AddDate(0, -3, 0))
		}
		if err := ix.Apply(&b); err != nil {
			t.Fatal(err)
		}
		today := dayNumber(base, tokyo)
		record := func(b *Batch, n int, spread int) {
			for range n {
				id := ids[r.IntN(len(ids))]
				back := r.IntN(spread) - 2 // two days in the future too
				at := base.AddDate(0, 0, -back).Add(time.Duration(r.IntN(3600)) * time.Second)
				b.RecordEvent(stepcast.FriendID(id), "click", "c0", "", at)
				events[id] = append(events[id], dayNumber(at, tokyo))
			}
		}
		b.Reset()
		record(&b, 4000, 42)
		if err := ix.Apply(&b); err != nil {
			t.Fatal(err)
		}
		for round := range rounds {
			// Candidates: one friend, a few, half, all.
			clear(tagged)
			var tb Batch
			k := []int{1, 2, 30, len(ids) / 2, len(ids)}[r.IntN(5)]
			for _, i := range r.Perm(len(ids))[:k] {
				tagged[ids[i]] = true
			}
			for _, id := range ids {
				if tagged[id] {
					tb.SetTag(stepcast.FriendID(id), "t1")
				} else {
					tb.ClearTag(stepcast.FriendID(id), "t1")
				}
			}
			if err := ix.Apply(&tb); err != nil {
				t.Fatal(err)
			}
			shift := r.IntN(3) - 1 // a day earlier, today, a day later
			now := base.AddDate(0, 0, shift)
			nowDay := today + shift
			var held *roaring.Bitmap
			var heldWant []uint32
			for _, days := range r.Perm(40) {
				days++
				least := 1 + r.IntN(3)
				among := r.IntN(2) == 0
				src := fmt.Sprintf(`clicked("c0", %d)`, days)
				if least > 1 {
					src = fmt.Sprintf(`count("click", "c0", %d) >= %d`, days, least)
				}
				if among {
					src = `tag("t1") && ` + src
				}
				var want []uint32
				for _, id := range ids {
					n := 0
					for _, d := range events[id] {
						if d <= nowDay && d > nowDay-days {
							n++
						}
					}
					if n >= least && (!among || tagged[id]) {
						want = append(want, id)
					}
				}
				slices.Sort(want)
				checkReview14c(t, ix, schema, src, now, want, fmt.Sprintf("seed %d round %d", seed, round))
				if held == nil && !among && least == 1 {
					held, _ = MustCompile(src, schema).Eval(ix, now)
					heldWant = want
				}
			}
			var b Batch
			record(&b, 1+r.IntN(300), []int{1, 3, 42}[r.IntN(3)])
			if err := ix.Apply(&b); err != nil {
				t.Fatal(err)
			}
			if held != nil && !slices.Equal(held.ToArray(), heldWant) {
				t.Fatalf("seed %d round %d: a result changed with a later write", seed, round)
			}
			if r.IntN(3) == 0 {
				ix.Compact()
			}
		}
	}
}

// TestReview14cConcurrentWindowsAndScores: readers evaluate windows and
// score ranges while a writer records events and adds to scores (-race).
// Events and additions only grow: each reader's count lies between the
// counts before and after all writes.
func TestReview14cConcurrentWindowsAndScores(t *testing.T) {
	tokyo := mustLoad(t, "Asia/Tokyo")
	schema := MustSchema(SchemaConfig{Location: tokyo, Scores: []string{"lead"}})
	now := time.Date(2026, 11, 28, 15, 30, 0, 0, tokyo)
	r := rand.New(rand.NewPCG(5, 14))
	ids := review14cIDs(r, 2000)
	ix := NewIndex(schema)
	var b Batch
	for _, id := range ids {
		b.Follow(stepcast.FriendID(id), now.AddDate(0, -3, 0))
		b.RecordEvent(stepcast.FriendID(id), "click", "c0", "", now.AddDate(0, 0, -r.IntN(40)))
		b.SetScore(stepcast.FriendID(id), "lead", int64(r.IntN(50)))
	}
	if err := ix.Apply(&b); err != nil {
		t.Fatal(err)
	}
	ix.Compact()
	srcs := []string{`clicked("c0", 7)`, `clicked("c0", 30)`, `count("click", "c0", 14) >= 2`, `score("lead") >= 60`, `clicked("c0", 3) && score("lead") >= 40`}
	segs := make([]*Segment, len(srcs))
	before := make([]uint64, len(srcs))
	for i, s := range srcs {
		segs[i] = MustCompile(s, schema)
		before[i], _ = segs[i].Count(ix, now)
	}
	var batches []*Batch
	writes := 40
	if testing.Short() {
		writes = 12
	}
	for range writes {
		b := new(Batch)
		for range 50 {
			id := stepcast.FriendID(ids[r.IntN(len(ids))])
			b.RecordEvent(id, "click", "c0", "", now.AddDate(0, 0, -r.IntN(40)))
			b.AddScore(id, "lead", int64(r.IntN(10)))
		}
		batches = append(batches, b)
	}
	counts := make([][]uint64, 4)
	var wg sync.WaitGroup
	done := make(chan struct{})
	for rd := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-done:
					return
				default:
				}
				i := (k + rd) % len(segs)
				n, err := segs[i].Count(ix, now)
				if err != nil {
					t.Error(err)
					return
				}
				counts[rd] = append(counts[rd], uint64(i)<<32|n)
			}
		}()
	}
	for _, b := range batches {
		if err := ix.Apply(b); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	for i, s := range segs {
		after, _ := s.Count(ix, now)
		for rd := range counts {
			for _, c := range counts[rd] {
				if int(c>>32) == i && (c&math.MaxUint32 < before[i] || c&math.MaxUint32 > after) {
					t.Fatalf("%q counted %d while written, before %d, after %d", srcs[i], c&math.MaxUint32, before[i], after)
				}
			}
		}
	}
}

// TestReview14cSparseIDsMatchOracle: the oracle's friends on IDs spread
// over the whole uint32 range (most on a page, a container, of their own)
// and on short runs, updated in rounds (events recorded after the windows
// were queried and cached), with Compact now and then: Eval, Count and
// Explain agree with expr's VM.
func TestReview14cSparseIDsMatchOracle(t *testing.T) {
	defer func(old, few int) { minBinSplit, fewMax = old, few }(minBinSplit, fewMax)
	minBinSplit, fewMax = 8, 4
	rounds, queries := 8, 40
	if testing.Short() {
		rounds, queries = 3, 15
	}
	loc := mustLoad(t, "Asia/Tokyo")
	now := time.Date(2026, 11, 28, 23, 30, 0, 0, loc)
	cfg := testSchemaConfig
	cfg.Location = loc
	schema := MustSchema(cfg)
	for seed := range uint64(2) {
		r := rand.New(rand.NewPCG(seed, 77))
		ids := review14cIDs(r, 900)
		slices.Sort(ids) // the oracle lists friends in their order
		friends := genFriends(r, len(ids), now)
		for i, f := range friends {
			f.id = ids[i]
		}
		ix := NewIndex(schema)
		load(t, r, ix, friends)
		g := exprGen{r, now}
		for round := range rounds {
			checkAgainstOracle(t, ix, schema, friends, now, loc, g, queries, fmt.Sprintf("seed %d round %d", seed, round))
			var b Batch
			for _, i := range r.Perm(len(friends))[:1+r.IntN(300)] {
				friends[i] = updateFriend(r, &b, friends[i], now)
			}
			if err := ix.Apply(&b); err != nil {
				t.Fatal(err)
			}
			if r.IntN(3) == 0 {
				ix.Compact()
			}
		}
		checkAgainstOracle(t, ix, schema, friends, now, loc, g, queries, fmt.Sprintf("seed %d last", seed))
	}
}

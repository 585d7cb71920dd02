package segment

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
)

// TestCountWindowsAndSteps: ands of click windows, clicks ever, scenario
// membership, scenario steps (with and without -1, the friends outside the
// scenario), their nots and tags (two sparse ones, where the count starts
// from their and: countPair), counted in one pass and built, against
// a friend-by-friend model: after Compact, where every and must go the one
// pass, then after rounds of writes that add clicks today and on past days
// to cached windows, move friends between steps, take them out of the
// scenario, unfollow and follow, and after the counts that freeze the
// changed sets again.
func TestCountWindowsAndSteps(t *testing.T) {
	schema := MustSchema(testSchemaConfig)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, schema.Location())
	const n = 60_000
	r := rand.New(rand.NewPCG(5, 6))
	type friend struct {
		follows bool
		clicks  []int // days ago, 0 today
		step    int   // -1 outside the scenario
		tagA    bool
		tagBC   [2]bool // tags "b" and "c", 8% each: sets that just fill a bitmap container
	}
	friends := make([]friend, n)
	var b Batch
	click := func(f uint32, ago int) {
		friends[f].clicks = append(friends[f].clicks, ago)
		b.RecordEvent(stepcast.FriendID(f), "click", "campaign", "", now.AddDate(0, 0, -ago))
	}
	moveStep := func(f uint32) {
		fr := &friends[f]
		if r.IntN(4) == 0 {
			fr.step = -1
			b.LeaveScenario(stepcast.FriendID(f), "trial")
			return
		}
		fr.step = r.IntN(5)
		b.SetScenarioStep(stepcast.FriendID(f), "trial", fr.step)
	}
	for f := range uint32(n) {
		fr := &friends[f]
		fr.follows = f%13 != 0
		b.Follow(stepcast.FriendID(f), now)
		if !fr.follows {
			b.Unfollow(stepcast.FriendID(f))
		}
		if r.IntN(10) < 4 {
			for range 1 + r.IntN(3) {
				click(f, r.IntN(60))
			}
		}
		fr.step = -1
		if r.IntN(10) < 6 {
			moveStep(f)
		}
		if fr.tagA = r.IntN(3) == 0; fr.tagA {
			b.SetTag(stepcast.FriendID(f), "a")
		}
		for j, name := range []string{"b", "c"} {
			if fr.tagBC[j] = r.IntN(100) < 8; fr.tagBC[j] {
				b.SetTag(stepcast.FriendID(f), name)
			}
		}
	}
	ix := NewIndex(schema)
	if err := ix.Apply(&b); err != nil {
		t.Fatal(err)
	}
	ix.Compact()

	type operand struct {
		src  string
		keep func(fr *friend) bool
	}
	randOperand := func() operand {
		switch r.IntN(5) {
		case 0:
			return operand{`clicked("campaign")`, func(fr *friend) bool { return len(fr.clicks) > 0 }}
		case 1, 2:
			days := []int{1, 3, 7, 30, 60}[r.IntN(5)]
			return operand{fmt.Sprintf(`clicked("campaign", %d)`, days), func(fr *friend) bool {
				return slices.ContainsFunc(fr.clicks, func(ago int) bool { return ago < days })
			}}
		case 3:
			lo := r.IntN(6) - 1
			hi := lo + r.IntN(4)
			return operand{fmt.Sprintf(`scenario_step("trial") in %d..%d`, lo, hi), func(fr *friend) bool { return fr.step >= lo && fr.step <= hi }}
		}
		return operand{`in_scenario("trial")`, func(fr *friend) bool { return fr.step >= 0 }}
	}
	type shape struct {
		src  string
		keep func(fr *friend) bool
	}
	var shapes []shape
	for range 60 {
		var srcs []string
		var keeps []func(fr *friend) bool
		for range 1 + r.IntN(3) {
			op := randOperand()
			if r.IntN(4) == 0 {
				keep := op.keep
				op = operand{"!(" + op.src + ")", func(fr *friend) bool { return !keep(fr) }}
			}
			srcs, keeps = append(srcs, op.src), append(keeps, op.keep)
		}
		if r.IntN(3) == 0 { // two sparse sets and the others: countPair's shape
			srcs = append(srcs, `tag("b")`, `tag("c")`)
			keeps = append(keeps, func(fr *friend) bool { return fr.tagBC[0] && fr.tagBC[1] })
		}
		switch r.IntN(3) {
		case 0:
			srcs, keeps = append(srcs, `tag("a")`), append(keeps, func(fr *friend) bool { return fr.tagA })
		case 1:
			srcs, keeps = append(srcs, `!tag("a")`), append(keeps, func(fr *friend) bool { return !fr.tagA })
		}
		if len(srcs) == 1 { // an and, so that the one pass is asked
			srcs, keeps = append(srcs, `!tag("none")`), append(keeps, func(*friend) bool { return true })
		}
		shapes = append(shapes, shape{strings.Join(srcs, " && "), func(fr *friend) bool {
			for _, k := range keeps {
				if !k(fr) {
					return false
				}
			}
			return true
		}})
	}
	check := func(stage string, mustTake bool) {
		t.Helper()
		for _, s := range shapes {
			var want uint64
			for f := range friends {
				if friends[f].follows && s.keep(&friends[f]) {
					want++
				}
			}
			checkOnePass(t, ix, now, stage, MustCompile(s.src, schema), want, mustTake)
		}
	}
	check("after Compact", true)
	// Each round writes one kind, so that a set only grows or only
	// shrinks: a set that both gains and loses members has its frozen
	// form dropped by either.
	rounds := []struct {
		name  string
		write func(f uint32)
	}{
		{"friends outside the scenario enter a step", func(f uint32) {
			if friends[f].step < 0 {
				friends[f].step = r.IntN(5)
				b.SetScenarioStep(stepcast.FriendID(f), "trial", friends[f].step)
			}
		}},
		{"clicks today", func(f uint32) { click(f, 0) }},
		{"clicks on past days", func(f uint32) { click(f, 1+r.IntN(59)) }},
		{"friends leave the scenario", func(f uint32) {
			if friends[f].step >= 0 {
				friends[f].step = -1
				b.LeaveScenario(stepcast.FriendID(f), "trial")
			}
		}},
		{"friends move between steps and out", func(f uint32) { moveStep(f) }},
		{"follows and unfollows", func(f uint32) {
			fr := &friends[f]
			if fr.follows = !fr.follows; fr.follows {
				b.Follow(stepcast.FriendID(f), now)
			} else {
				b.Unfollow(stepcast.FriendID(f))
			}
		}},
	}
	for _, round := range rounds {
		b.Reset()
		for range 300 {
			round.write(uint32(r.IntN(n)))
		}
		if err := ix.Apply(&b); err != nil {
			t.Fatal(err)
		}
		for call := range freezeAfterMisses + 2 {
			check(fmt.Sprintf("%s, count %d after the writes", round.name, call+1), call > freezeAfterMisses)
		}
	}
}

// TestWindowEvictedConcurrent: a reader's Eval of an or with a click
// window, while another reader caches windows for another day or more
// window lengths than the cache keeps, evicting the first reader's window
// between the planner's two looks at it (it panicked on the second).
func TestWindowEvictedConcurrent(t *testing.T) {
	schema := MustSchema(testSchemaConfig)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, schema.Location())
	ix := NewIndex(schema)
	var b Batch
	for f := range stepcast.FriendID(50_000) {
		b.Follow(f, now)
		if f%3 == 0 {
			b.RecordEvent(f, "click", "campaign", "", now.AddDate(0, 0, -int(f%10)))
		}
		if f%5 == 0 {
			b.SetTag(f, "a")
		}
		if f%7 == 0 {
			b.SetTag(f, "b")
		}
	}
	if err := ix.Apply(&b); err != nil {
		t.Fatal(err)
	}
	ix.Compact()
	or := MustCompile(`clicked("campaign", 7) || tag("a")`, schema)
	want, _ := or.Count(ix, now)
	and := MustCompile(`clicked("campaign", 7) && tag("b")`, schema)
	for _, sameDay := range []bool{false, true} {
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				if sameDay { // more windows of one key than the cache keeps
					_, _ = MustCompile(fmt.Sprintf(`clicked("campaign", %d) && tag("b")`, 20+i%10), schema).Count(ix, now)
					continue
				}
				_, _ = and.Count(ix, now.AddDate(0, 0, i%2)) // one day's window evicts the other's
			}
		}()
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
			if sameDay {
				_, _ = and.Count(ix, now) // caches the 7-day window again
			}
			if bm, err := or.Eval(ix, now); err != nil || bm.GetCardinality() != want {
				t.Errorf("sameDay %v: Eval has %d (%v), want %d", sameDay, bm.GetCardinality(), err, want)
				break
			}
		}
		close(done)
		wg.Wait()
	}
}

// TestStepRangesOfManySteps: step ranges of a scenario of 12 steps — all
// of them (the members), more than maxStepSets (roaring's way), a few —
// with and without -1, counted against a model.
func TestStepRangesOfManySteps(t *testing.T) {
	schema := MustSchema(testSchemaConfig)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, schema.Location())
	ix := NewIndex(schema)
	const n = 40_000
	steps := make([]int, n)
	var b Batch
	for f := range n {
		id := stepcast.FriendID(f)
		b.Follow(id, now)
		b.SetTag(id, "a")
		steps[f] = f%13 - 1 // -1: outside the scenario
		if steps[f] >= 0 {
			b.SetScenarioStep(id, "big", steps[f])
		}
	}
	if err := ix.Apply(&b); err != nil {
		t.Fatal(err)
	}
	ix.Compact()
	for _, r := range [][2]int{{-1, -1}, {-1, 11}, {0, 11}, {0, 10}, {-1, 9}, {2, 4}, {-1, 1}, {5, 30}, {-5, 0}} {
		var want uint64
		for _, s := range steps {
			if s >= r[0] && s <= r[1] {
				want++
			}
		}
		src := fmt.Sprintf(`scenario_step("big") in %d..%d && tag("a")`, r[0], r[1])
		checkOnePass(t, ix, now, "after Compact", MustCompile(src, schema), want, false)
		checkOnePass(t, ix, now, "not, after Compact", MustCompile(fmt.Sprintf(`!(scenario_step("big") in %d..%d) && tag("a")`, r[0], r[1]), schema), n-want, false)
	}
}

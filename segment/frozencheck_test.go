package segment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
)

// TestCountChecked: ands of ready sets and bands with string order
// predicates (startsWith, <, >=), counted and built by the one pass with
// checks, against a model of the friends kept by hand; friends without a
// name, names added after Compact (not yet in the sorted dictionary, then
// merged into it), names changed and unset. The gate is lifted
// (minCheckedReady, minCheckShare, minChecksSaved), so that every and the
// pass can take is taken; the selected shapes must be.
func TestCountChecked(t *testing.T) {
	defer func(old, ready int, share, saved float64) {
		minBinSplit, minCheckedReady, minCheckShare, minChecksSaved = old, ready, share, saved
	}(minBinSplit, minCheckedReady, minCheckShare, minChecksSaved)
	minBinSplit, minCheckedReady, minCheckShare, minChecksSaved = 20_000, 1, math.Inf(-1), math.Inf(-1)
	schema := MustSchema(testSchemaConfig)
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, schema.Location())
	const n = 150_000
	r := rand.New(rand.NewPCG(5, 6))
	surnames := []string{"佐藤", "佐々木", "鈴木", "高橋", "山田", "山本", "Abe", "Baba", "abe"}
	type friend struct {
		follows bool
		name    string // "" for none
		age     int64
		hasAge  bool
		tags    [3]bool
		gender  int // -1 for none
	}
	friends := make([]friend, n)
	var b Batch
	fresh := 0 // names made after Compact, not yet in the sorted dictionary
	set := func(f uint32, after bool) {
		fr := &friends[f]
		id := stepcast.FriendID(f)
		switch x := r.IntN(20); {
		case x == 0:
			fr.name = ""
			b.UnsetField(id, "name")
		case after && x < 4:
			fresh++
			fr.name = fmt.Sprintf("%s新%d", surnames[r.IntN(len(surnames))], fresh)
			b.SetField(id, "name", fr.name)
		default:
			fr.name = fmt.Sprintf("%s%d", surnames[r.IntN(len(surnames))], r.IntN(3000))
			b.SetField(id, "name", fr.name)
		}
		if fr.hasAge = r.IntN(8) > 0; fr.hasAge {
			fr.age = int64(r.IntN(90))
			b.SetField(id, "age", fr.age)
		} else {
			b.UnsetField(id, "age")
		}
		for i := range fr.tags {
			// t0 dense, t1 about a tenth, t2 about a fiftieth
			if fr.tags[i] = r.IntN([]int{2, 10, 50}[i]) == 0; fr.tags[i] {
				b.SetTag(id, fmt.Sprintf("t%d", i))
			} else {
				b.ClearTag(id, fmt.Sprintf("t%d", i))
			}
		}
		if fr.gender = r.IntN(4) - 1; fr.gender >= 0 {
			b.SetField(id, "gender", []string{"female", "male", "other"}[fr.gender])
		} else {
			b.UnsetField(id, "gender")
		}
	}
	for f := range uint32(n) {
		friends[f].follows = f%13 != 0
		b.Follow(stepcast.FriendID(f), now)
		if !friends[f].follows {
			b.Unfollow(stepcast.FriendID(f))
		}
		set(f, false)
	}
	ix := NewIndex(schema)
	if err := ix.Apply(&b); err != nil {
		t.Fatal(err)
	}
	ix.Compact()

	type part struct {
		src  string
		keep func(fr *friend) bool
	}
	readyPart := func() part {
		switch r.IntN(6) {
		case 0, 1:
			i := r.IntN(3)
			return part{fmt.Sprintf(`tag("t%d")`, i), func(fr *friend) bool { return fr.tags[i] }}
		case 2:
			i := r.IntN(3)
			return part{fmt.Sprintf(`!tag("t%d")`, i), func(fr *friend) bool { return !fr.tags[i] }}
		case 3:
			g := r.IntN(3)
			return part{fmt.Sprintf(`gender == %q`, []string{"female", "male", "other"}[g]), func(fr *friend) bool { return fr.gender == g }}
		case 4:
			lo := int64(r.IntN(90))
			hi := lo + int64(r.IntN(20))
			return part{fmt.Sprintf("age >= %d && age <= %d", lo, hi), func(fr *friend) bool { return fr.hasAge && fr.age >= lo && fr.age <= hi }}
		}
		return part{`tag("t1") || tag("t2")`, func(fr *friend) bool { return fr.tags[1] || fr.tags[2] }}
	}
	orderPart := func() part {
		s := surnames[r.IntN(len(surnames))]
		switch r.IntN(5) {
		case 0:
			return part{fmt.Sprintf("name < %q", s), func(fr *friend) bool { return fr.name != "" && fr.name < s }}
		case 1:
			return part{fmt.Sprintf("name >= %q", s), func(fr *friend) bool { return fr.name != "" && fr.name >= s }}
		case 2: // a prefix no name holds
			return part{`name startsWith "無"`, func(fr *friend) bool { return false }}
		}
		p := s
		if r.IntN(2) == 0 {
			p = string([]rune(s)[:1])
		}
		return part{fmt.Sprintf("name startsWith %q", p), func(fr *friend) bool { return strings.HasPrefix(fr.name, p) }}
	}
	type shape struct {
		src      string
		keep     func(fr *friend) bool
		selected bool // narrow ready parts: the pass with checks must take it
	}
	and := func(parts []part) shape {
		var srcs []string
		for _, p := range parts {
			srcs = append(srcs, "("+p.src+")")
		}
		return shape{src: strings.Join(srcs, " && "), keep: func(fr *friend) bool {
			for _, p := range parts {
				if !p.keep(fr) {
					return false
				}
			}
			return true
		}}
	}
	var shapes []shape
	for range 50 {
		var parts []part
		for range 1 + r.IntN(3) {
			parts = append(parts, readyPart())
		}
		for range 1 + r.IntN(2) {
			parts = append(parts, orderPart())
		}
		r.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
		shapes = append(shapes, and(parts))
	}
	// Ready parts that leave few where the planner checks the prefix
	// among many: the pass with checks must take these.
	female, male := func(fr *friend) bool { return fr.gender == 0 }, func(fr *friend) bool { return fr.gender == 1 }
	age := func(lo, hi int64) func(fr *friend) bool {
		return func(fr *friend) bool { return fr.hasAge && fr.age >= lo && fr.age < hi }
	}
	prefix := func(p string) func(fr *friend) bool {
		return func(fr *friend) bool { return strings.HasPrefix(fr.name, p) }
	}
	tag := func(i int) func(fr *friend) bool { return func(fr *friend) bool { return fr.tags[i] } }
	for _, sel := range []struct {
		src   string
		parts []func(fr *friend) bool
	}{
		{`tag("t0") && gender == "female" && name startsWith "佐" && age >= 30 && age < 33`, []func(fr *friend) bool{tag(0), female, prefix("佐"), age(30, 33)}},
		{`tag("t0") && gender == "male" && name startsWith "鈴木" && age >= 30 && age < 31 && !tag("t1")`, []func(fr *friend) bool{tag(0), male, prefix("鈴木"), age(30, 31), func(fr *friend) bool { return !fr.tags[1] }}},
		{`gender == "female" && name startsWith "山" && age >= 40 && age < 42 && age >= 41`, []func(fr *friend) bool{female, prefix("山"), age(41, 42)}},
	} {
		parts := sel.parts
		shapes = append(shapes, shape{src: sel.src, selected: true, keep: func(fr *friend) bool {
			for _, p := range parts {
				if !p(fr) {
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
			seg := MustCompile(s.src, schema)
			if mustTake && s.selected {
				a := unsaved(seg.root).(*andNode)
				ix.mu.RLock()
				c := seg.newCtx(ix, now, nil)
				_, _, taken := c.checkedTerms(a.kids)
				ix.mu.RUnlock()
				if !taken {
					t.Errorf("%s: the pass with checks does not take %s", stage, s.src)
				}
			}
			got, err := seg.Count(ix, now)
			if err != nil || got != want {
				t.Fatalf("%s: Count(%s) = %d (%v), want %d", stage, s.src, got, err, want)
			}
			bm, err := seg.Eval(ix, now)
			if err != nil || bm.GetCardinality() != want {
				t.Fatalf("%s: Eval(%s) has %d (%v), want %d", stage, s.src, bm.GetCardinality(), err, want)
			}
			for _, f := range bm.ToArray() {
				if !friends[f].follows || !s.keep(&friends[f]) {
					t.Fatalf("%s: Eval(%s) holds friend %d, who is not in it", stage, s.src, f)
				}
			}
		}
	}
	check("after Compact", true)
	for round := range 3 {
		b.Reset()
		for range 3000 {
			set(uint32(r.IntN(n)), true)
		}
		if err := ix.Apply(&b); err != nil {
			t.Fatal(err)
		}
		for call := range freezeAfterMisses + 1 {
			check(fmt.Sprintf("round %d, count %d after the writes", round, call+1), false)
		}
	}
}

// TestCountCheckedConcurrent: readers count and build ands the pass with
// checks takes (the gate lifted) while a writer changes names, adds new
// ones and changes tags, and Compact runs; between rounds every answer is
// checked against a model. Run under -race in CI (its name).
func TestCountCheckedConcurrent(t *testing.T) {
	defer func(ready int, share, saved float64) {
		minCheckedReady, minCheckShare, minChecksSaved = ready, share, saved
	}(minCheckedReady, minCheckShare, minChecksSaved)
	minCheckedReady, minCheckShare, minChecksSaved = 1, math.Inf(-1), math.Inf(-1)
	schema := MustSchema(testSchemaConfig)
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, schema.Location())
	const n = 40_000
	r := rand.New(rand.NewPCG(7, 8))
	surnames := []string{"佐藤", "鈴木", "山田", "Abe"}
	names := make([]string, n)
	tags := make([][2]bool, n)
	var b Batch
	set := func(f uint32, round int) {
		id := stepcast.FriendID(f)
		names[f] = fmt.Sprintf("%s%d", surnames[r.IntN(len(surnames))], r.IntN(500)+1000*round)
		b.SetField(id, "name", names[f])
		for i := range tags[f] {
			if tags[f][i] = r.IntN(2+3*i) == 0; tags[f][i] {
				b.SetTag(id, fmt.Sprintf("t%d", i))
			} else {
				b.ClearTag(id, fmt.Sprintf("t%d", i))
			}
		}
	}
	for f := range uint32(n) {
		b.Follow(stepcast.FriendID(f), now)
		set(f, 0)
	}
	ix := NewIndex(schema)
	if err := ix.Apply(&b); err != nil {
		t.Fatal(err)
	}
	ix.Compact()
	srcs := []struct {
		src    string
		prefix string
		t0, t1 bool
	}{
		{`tag("t0") && tag("t1") && name startsWith "佐"`, "佐", true, true},
		{`tag("t0") && !tag("t1") && name startsWith "鈴木"`, "鈴木", true, false},
		{`tag("t1") && name startsWith "山"`, "山", false, true},
	}
	segs := make([]*Segment, len(srcs))
	for i, s := range srcs {
		segs[i] = MustCompile(s.src, schema)
	}
	want := func(i int) uint64 {
		s := srcs[i]
		var w uint64
		for f := range names {
			keep := strings.HasPrefix(names[f], s.prefix) && tags[f][1] == s.t1
			if s.t0 {
				keep = keep && tags[f][0]
			}
			if keep {
				w++
			}
		}
		return w
	}
	for round := 1; round <= 4; round++ {
		b.Reset()
		for range 2000 {
			set(uint32(r.IntN(n)), round)
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // the writer, while the readers read
			defer wg.Done()
			if err := ix.Apply(&b); err != nil {
				t.Error(err)
			}
			if round%2 == 0 {
				ix.Compact()
			}
		}()
		for g := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range 6 {
					seg := segs[(k+g)%len(segs)]
					if g%2 == 0 {
						_, _ = seg.Count(ix, now)
					} else {
						_, _ = seg.Eval(ix, now)
					}
				}
			}()
		}
		wg.Wait()
		for i, seg := range segs {
			w := want(i)
			if got, err := seg.Count(ix, now); err != nil || got != w {
				t.Fatalf("round %d: Count(%s) = %d (%v), want %d", round, srcs[i].src, got, err, w)
			}
			if bm, err := seg.Eval(ix, now); err != nil || bm.GetCardinality() != w {
				t.Fatalf("round %d: Eval(%s) has %d (%v), want %d", round, srcs[i].src, bm.GetCardinality(), err, w)
			}
		}
	}
}

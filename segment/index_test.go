package segment

import (
	"errors"
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

func TestApplyRefusesBadBatches(t *testing.T) {
	schema := MustSchema(testSchemaConfig)
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, schema.Location())
	tests := []struct {
		name string
		add  func(b *Batch)
		want error
	}{
		{"UnknownField", func(b *Batch) { b.SetField(1, "agee", 3) }, ErrUnknownField},
		{"UnknownFieldUnset", func(b *Batch) { b.UnsetField(1, "agee") }, ErrUnknownField},
		{"UnknownScore", func(b *Batch) { b.AddScore(1, "nope", 3) }, ErrUnknownField},
		{"StringForInt", func(b *Batch) { b.SetField(1, "age", "30") }, ErrType},
		{"FractionForInt", func(b *Batch) { b.SetField(1, "age", 30.5) }, ErrType},
		{"HugeUintForInt", func(b *Batch) { b.SetField(1, "age", uint64(math.MaxUint64)) }, ErrType},
		{"NaNForFloat", func(b *Batch) { b.SetField(1, "ratio", math.NaN()) }, ErrType},
		{"IntForString", func(b *Batch) { b.SetField(1, "name", 3) }, ErrType},
		{"NotAChoice", func(b *Batch) { b.SetField(1, "gender", "femal") }, ErrType},
		{"StringForTime", func(b *Batch) { b.SetField(1, "birthday", "2000-01-01") }, ErrType},
		{"IntForBool", func(b *Batch) { b.SetField(1, "vip", 1) }, ErrType},
		{"MinInt64", func(b *Batch) { b.SetField(1, "age", int64(math.MinInt64)) }, ErrType},
		{"MinInt64Score", func(b *Batch) { b.SetScore(1, "lead", math.MinInt64) }, ErrType},
		{"EmptyTag", func(b *Batch) { b.SetTag(1, "") }, ErrType},
		{"NegativeStep", func(b *Batch) { b.SetScenarioStep(1, "s", -1) }, ErrType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := NewIndex(schema)
			var b Batch
			b.Follow(1, now)
			b.SetTag(1, "before")
			tt.add(&b)
			err := ix.Apply(&b)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Apply = %v, want %v", err, tt.want)
			}
			var oe *OpError
			if !errors.As(err, &oe) || oe.Index != 2 || oe.Friend != 1 {
				t.Fatalf("Apply error = %#v, want an *OpError for op 2 of friend 1", err)
			}
			if ix.Len() != 0 || len(ix.tags) != 0 {
				t.Fatalf("a refused batch changed the index: %d friends, %d tags", ix.Len(), len(ix.tags))
			}
		})
	}
}

func TestSetFieldAcceptsGoNumbers(t *testing.T) {
	schema := MustSchema(testSchemaConfig)
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, schema.Location())
	for _, v := range []any{int8(-3), int16(300), int32(-70000), int64(1 << 40), uint8(3), uint16(3), uint32(3), uint(3), uint64(3), 42.0, float32(7)} {
		ix := NewIndex(schema)
		var b Batch
		b.Follow(1, now)
		b.SetField(1, "age", v)
		b.SetField(1, "ratio", v)
		if err := ix.Apply(&b); err != nil {
			t.Fatalf("SetField(%T %v): %v", v, v, err)
		}
		want, _ := toInt64(v)
		if got := ix.fields[2].num.get(1); got != want {
			t.Fatalf("age after SetField(%T %v) = %d, want %d", v, v, got, want)
		}
	}
}

// TestNumColumnRanges drives one column through values of every spread,
// with tiny bins, and checks range queries against a plain scan: in a
// column whose friends without a value read 0 (scores) and in one where
// they lie in no range (fields).
func TestNumColumnRanges(t *testing.T) {
	defer func(old int) { minBinSplit = old }(minBinSplit)
	minBinSplit = 4
	r := rand.New(rand.NewPCG(3, 4))
	pools := map[string][]int64{
		"small":   {0, 1, 2, 3, 5, 8},
		"wide":    {-1 << 40, -5, 0, 7, 1 << 35, 1 << 50},
		"extreme": {math.MinInt64 + 1, -1, 0, 1, math.MaxInt64 - 1},
		"floats":  {floatKey(math.Inf(-1)), floatKey(-2.5), floatKey(0), floatKey(1e-300), floatKey(3.75), floatKey(math.Inf(1))},
	}
	for name, pool := range pools {
		for _, zero := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/zero=%v", name, zero), func(t *testing.T) {
				testNumColumnRanges(t, r, pool, zero)
			})
		}
	}
}

func testNumColumnRanges(t *testing.T, r *rand.Rand, pool []int64, zero bool) {
	c := newNumColumn(zero)
	want := map[uint32]int64{}
	set := map[uint32]bool{}
	known := roaring.New()
	for f := range uint32(300) {
		known.Add(f)
		want[f] = 0
	}
	write := func(n int) {
		for range n {
			f := uint32(r.IntN(300))
			if r.IntN(10) == 0 {
				c.unset(f)
				want[f], set[f] = 0, false
				continue
			}
			k := pool[r.IntN(len(pool))]
			if r.IntN(3) == 0 {
				k += int64(r.IntN(100)) // near-duplicates; may overflow harmlessly
				if k < pool[0] {
					k = pool[0]
				}
			}
			c.put(f, k)
			want[f], set[f] = k, true
		}
	}
	check := func() {
		for f, k := range want {
			got, ok := c.lookup(f)
			if got != k || ok != (set[f] || zero) {
				t.Fatalf("lookup(%d) = %d, %v; want %d, %v", f, got, ok, k, set[f] || zero)
			}
		}
		for range 500 {
			lo, hi := pool[r.IntN(len(pool))], pool[r.IntN(len(pool))]
			if r.IntN(4) == 0 {
				lo = math.MinInt64
			}
			if r.IntN(4) == 0 {
				hi = math.MaxInt64
			}
			var exp []uint32
			for f := range uint32(300) {
				if k := want[f]; (set[f] || zero) && k >= lo && k <= hi {
					exp = append(exp, f)
				}
			}
			bm, _ := c.rangeBitmap(lo, hi, known)
			if got := bm.ToArray(); !slices.Equal(got, exp) {
				t.Fatalf("rangeBitmap [%d, %d]: got %v, want %v", lo, hi, got, exp)
			}
			if got := c.filterRange(known, lo, hi).ToArray(); !slices.Equal(got, exp) {
				t.Fatalf("filterRange [%d, %d]: got %v, want %v", lo, hi, got, exp)
			}
			// Counted among candidates from the pieces, both ways.
			w := roaring.New()
			for f := range uint32(300) {
				if r.IntN(3) > 0 {
					w.Add(f)
				}
			}
			cand := roaring.And(roaring.BitmapOf(exp...), w).GetCardinality()
			for _, outside := range []bool{false, true} {
				for _, among := range []bool{false, true} {
					got := c.countCover(c.rangePlan(lo, hi, known), w, known, outside, func(*bin) bool { return among })
					if got != cand {
						t.Fatalf("countCover [%d, %d] outside=%v, edges among w %v: %d, want %d", lo, hi, outside, among, got, cand)
					}
				}
			}
			if got := c.countRange(w, lo, hi); got != cand {
				t.Fatalf("countRange [%d, %d]: %d, want %d", lo, hi, got, cand)
			}
			// Built among the candidates: the interior's parts joined and
			// the bins outside taken away (takeAway), neither w nor the
			// column's sets changed.
			cv := c.rangePlan(lo, hi, known)
			wBefore, setBefore := w.Clone(), c.set.Clone()
			for _, among := range []bool{false, true} {
				bm, _ := c.rangeAmong(cv, known, w, func(*bin) bool { return among })
				if got := bm.GetCardinality(); got != cand || !bm.Equals(roaring.And(roaring.BitmapOf(exp...), w)) {
					t.Fatalf("rangeAmong [%d, %d], edges among w %v: %d friends %v, want %d", lo, hi, among, got, bm.ToArray(), cand)
				}
			}
			if !w.Equals(wBefore) || !c.set.Equals(setBefore) {
				t.Fatalf("rangeAmong [%d, %d] changed the candidates or the column's set", lo, hi)
			}
		}
		bins := 0
		for gi, g := range c.groups {
			bins += len(g.bins)
			var n int
			union := roaring.New()
			for bi, b := range g.bins {
				n += b.n
				// locate's index follows splits, day bins and exact bins.
				if lg, lb := c.locate(b.lo); lg != gi || lb != bi {
					t.Fatalf("locate(%d) = group %d bin %d, want %d %d", b.lo, lg, lb, gi, bi)
				}
				b.members.bitmap().Iterate(func(f uint32) bool {
					if lg, lb := c.locate(c.get(f)); lg != gi || lb != bi {
						t.Fatalf("friend %d of key %d is in group %d bin %d, locate says %d %d", f, c.get(f), gi, bi, lg, lb)
					}
					return true
				})
				if got := int(b.members.bitmap().GetCardinality()); got != b.n {
					t.Fatalf("bin at %d holds %d members, counted %d", b.lo, got, b.n)
				}
				union.Or(b.members.bitmap())
			}
			if n != g.n || !g.members.bitmap().Equals(union) {
				t.Fatalf("group holds %d members (counted %d), its bins %d", g.members.bitmap().GetCardinality(), g.n, union.GetCardinality())
			}
		}
		if bins < 2 || len(c.groups) < 2 {
			t.Fatalf("the column never split: %d bins in %d groups", bins, len(c.groups))
		}
	}
	// Before and after Compact aligns bins to values, and after writes
	// that widen the exact bins again.
	write(3000)
	check()
	c.compact()
	check()
	write(300)
	check()
}

// TestConcurrentReaders checks the concurrency contract under the race
// detector: while a writer moves friends between two tags in batches,
// readers never see a friend with both tags or with neither.
func TestConcurrentReaders(t *testing.T) {
	schema := MustSchema(testSchemaConfig)
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, schema.Location())
	ix := NewIndex(schema)
	const n = 2000
	var b Batch
	for f := range stepcast.FriendID(n) {
		b.Follow(f, now)
		b.SetTag(f, "a")
		b.SetField(f, "age", 20)
	}
	if err := ix.Apply(&b); err != nil {
		t.Fatal(err)
	}
	both := MustCompile(`tag("a") && tag("b")`, schema)
	either := MustCompile(`tag("a") || tag("b")`, schema)
	exactlyOne := MustCompile(`tag("a") ? !tag("b") : tag("b")`, schema)
	ageSum := MustCompile(`(tag("a") && age == 20) || (tag("b") && age == 30)`, schema)
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if c, _ := both.Count(ix, now); c != 0 {
					t.Errorf("a reader saw %d friends with both tags", c)
					return
				}
				if c, _ := either.Count(ix, now); c != n {
					t.Errorf("a reader saw %d friends with either tag, want %d", c, n)
					return
				}
				if c, _ := ageSum.Count(ix, now); c != n {
					t.Errorf("a reader saw %d friends whose age matches their tag, want %d", c, n)
					return
				}
				f := uint32(rand.IntN(n))
				if ok, _ := exactlyOne.Match(ix, stepcast.FriendID(f), now); !ok {
					t.Errorf("friend %d has both tags or neither", f)
					return
				}
			}
		}()
	}
	for round := range 200 {
		b.Reset()
		from, to, age := "a", "b", 30
		if round%2 == 1 {
			from, to, age = "b", "a", 20
		}
		for f := range stepcast.FriendID(n) {
			b.ClearTag(f, from) // between these two ops the friend has neither tag
			b.SetField(f, "age", age)
			b.SetTag(f, to)
		}
		if err := ix.Apply(&b); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
}

func TestSchemaMismatch(t *testing.T) {
	a, b := MustSchema(testSchemaConfig), MustSchema(testSchemaConfig)
	seg := MustCompile(`tag("x")`, a)
	ix := NewIndex(b)
	now := time.Now()
	if _, err := seg.Eval(ix, now); !errors.Is(err, ErrSchemaMismatch) {
		t.Fatalf("Eval = %v", err)
	}
	if _, err := seg.Count(ix, now); !errors.Is(err, ErrSchemaMismatch) {
		t.Fatalf("Count = %v", err)
	}
	if _, err := seg.Match(ix, 1, now); !errors.Is(err, ErrSchemaMismatch) {
		t.Fatalf("Match = %v", err)
	}
	if _, err := seg.Explain(ix, now); !errors.Is(err, ErrSchemaMismatch) {
		t.Fatalf("Explain = %v", err)
	}
}

func TestNewSchemaErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  SchemaConfig
		want string
	}{
		{"DuplicateField", SchemaConfig{Fields: []Field{{Name: "a", Type: stepcast.FieldInt}, {Name: "a", Type: stepcast.FieldInt}}}, `field "a" is declared twice`},
		{"NotAnIdentifier", SchemaConfig{Fields: []Field{{Name: "1a", Type: stepcast.FieldInt}}}, `is not an identifier`},
		{"Reserved", SchemaConfig{Fields: []Field{{Name: "followed_days", Type: stepcast.FieldInt}}}, `reserved`},
		{"FunctionName", SchemaConfig{Fields: []Field{{Name: "tag", Type: stepcast.FieldString}}}, `reserved`},
		{"NoType", SchemaConfig{Fields: []Field{{Name: "a"}}}, `no valid type`},
		{"ChoicesOnString", SchemaConfig{Fields: []Field{{Name: "a", Type: stepcast.FieldString, Choices: []string{"x"}}}}, `cannot have choices`},
		{"NoChoices", SchemaConfig{Fields: []Field{{Name: "a", Type: stepcast.FieldChoice}}}, `declares no choices`},
		{"DuplicateScore", SchemaConfig{Scores: []string{"s", "s"}}, `score "s" is declared twice`},
		{"Cycle", SchemaConfig{Segments: map[string]string{"a": `segment("b")`, "b": `tag("x") || segment("c")`, "c": `segment("a")`}}, `cycle: a -> b -> c -> a`},
		{"SelfCycle", SchemaConfig{Segments: map[string]string{"me": `segment("me")`}}, `cycle: me -> me`},
		{"SavedError", SchemaConfig{Segments: map[string]string{"bad": `tag("a") && agee > 1`}}, `saved segment "bad": unknown name agee (1:13)`},
		{"SavedUnknown", SchemaConfig{Segments: map[string]string{"a": `segment("zzz")`}}, `unknown saved segment "zzz"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSchema(tt.cfg)
			if err == nil || !containsStr(err.Error(), tt.want) {
				t.Fatalf("NewSchema = %v, want an error containing %q", err, tt.want)
			}
			if tt.name == "Cycle" && !errors.Is(err, ErrCycle) {
				t.Fatalf("NewSchema = %v, want ErrCycle", err)
			}
		})
	}
}

func containsStr(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestCrossTabAgainstNaive(t *testing.T) {
	schema := MustSchema(testSchemaConfig)
	r := rand.New(rand.NewPCG(9, 9))
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, schema.Location())
	friends := genFriends(r, 300, now)
	ix := NewIndex(schema)
	load(t, r, ix, friends)
	mk := func(name string, srcs ...string) Axis {
		a := Axis{Name: name}
		for _, s := range srcs {
			a.Labels = append(a.Labels, s)
			a.Segments = append(a.Segments, MustCompile(s, schema))
		}
		return a
	}
	axes := []Axis{
		mk("gender", `gender == "female"`, `gender == "male"`, `gender == "other"`),
		mk("lead", `score("lead") < 30`, `score("lead") >= 30`),
		mk("tags", `tag("t1")`, `!tag("t1")`, `tag("vip")`),
	}
	tab, err := CrossTab(ix, now, axes...)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		for j := range 2 {
			for k := range 3 {
				var want uint64
				for _, f := range friends {
					in := true
					for a, idx := range []int{i, j, k} {
						ok, _ := axes[a].Segments[idx].Match(ix, stepcast.FriendID(f.id), now)
						in = in && ok
					}
					if in {
						want++
					}
				}
				if got := tab.At(i, j, k); got != want {
					t.Fatalf("At(%d,%d,%d) = %d, want %d", i, j, k, got, want)
				}
			}
		}
	}
	if s := tab.String(); len(s) == 0 {
		t.Fatal("empty rendering")
	}
	if _, err := CrossTab(ix, now); err == nil {
		t.Fatal("CrossTab with no axes succeeded")
	}
	if _, err := CrossTab(ix, now, Axis{Name: "x", Labels: []string{"a"}}); err == nil {
		t.Fatal("CrossTab with mismatched labels succeeded")
	}
	// 40 axes of two segments: 2^40 combinations, refused before anything
	// is allocated or evaluated (it asked for 8 TB of counts).
	two := Axis{Name: "yes-no", Labels: []string{"y", "n"}, Segments: []*Segment{
		MustCompile(`tag("a")`, ix.Schema()), MustCompile(`!tag("a")`, ix.Schema())}}
	many := slices.Repeat([]Axis{two}, 40)
	if _, err := CrossTab(ix, now, many...); !errors.Is(err, stepcast.ErrInvalid) {
		t.Fatalf("CrossTab over 40 two-segment axes: %v, want ErrInvalid", err)
	}
	if _, err := CrossTab(ix, now, many[:20]...); err != nil { // 2^20 cells: the bound itself
		t.Fatalf("CrossTab over 20 two-segment axes: %v", err)
	}
}

// TestConcurrentCompile compiles from several goroutines at once: schemas
// share prepared expr configurations through a pool.
func TestConcurrentCompile(t *testing.T) {
	schema := MustSchema(testSchemaConfig)
	srcs := []string{`tag("a") && age > 3`, `name startsWith "山" || score("lead") >= 10`, `segment("vip_fans") && !blocked`, `agee > 1`}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				src := srcs[(g+i)%len(srcs)]
				_, err := Compile(src, schema)
				if (err != nil) != (src == `agee > 1`) {
					t.Errorf("Compile(%q) = %v", src, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestEventWindowCacheStaysCurrent interleaves events with window queries:
// the cached unions must answer like a fresh index that never cached.
func TestEventWindowCacheStaysCurrent(t *testing.T) {
	schema := MustSchema(testSchemaConfig)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, schema.Location())
	live := NewIndex(schema)
	var all Batch // everything, for the fresh index
	r := rand.New(rand.NewPCG(4, 4))
	segs := []*Segment{
		MustCompile(`clicked("c0", 7)`, schema), MustCompile(`clicked("c0", 30)`, schema),
		MustCompile(`clicked("c0", 7) && !clicked("c1", 3)`, schema), MustCompile(`count("click", "c0", 7) >= 2`, schema),
	}
	for round := range 40 {
		var b Batch
		for range 25 {
			f := stepcast.FriendID(r.IntN(300))
			at := now.Add(-time.Duration(r.IntN(40*24)) * time.Hour)
			if r.IntN(4) == 0 {
				at = now.Add(time.Duration(r.IntN(48)) * time.Hour) // today and the future
			}
			name := []string{"c0", "c1"}[r.IntN(2)]
			for _, bb := range []*Batch{&b, &all} {
				bb.Follow(f, now.Add(-1000*time.Hour))
				bb.RecordEvent(f, "click", name, "", at)
			}
		}
		if err := live.Apply(&b); err != nil {
			t.Fatal(err)
		}
		fresh := NewIndex(schema)
		if err := fresh.Apply(&all); err != nil {
			t.Fatal(err)
		}
		for _, day := range []time.Time{now, now.Add(24 * time.Hour)} {
			for _, s := range segs {
				got, _ := s.Eval(live, day)
				want, _ := s.Eval(fresh, day)
				if !slices.Equal(got.ToArray(), want.ToArray()) {
					t.Fatalf("round %d, %s at %v: cached %v, fresh %v", round, s.Source(), day, got.ToArray(), want.ToArray())
				}
				n, _ := s.Count(live, day)
				if n != want.GetCardinality() {
					t.Fatalf("round %d: Count(%s) = %d, want %d", round, s.Source(), n, want.GetCardinality())
				}
			}
		}
	}
}

// TestExactBinsWeighHeap: Compact gives each key of a bin of few keys a
// bin of its own when their bitmaps cost little more than the bin's, and
// keeps the bin whole when each key's members are spread so thin that its
// bitmap would be mostly containers (a score of 0–1000 at 10M friends).
func TestExactBinsWeighHeap(t *testing.T) {
	cases := []struct {
		name  string
		id    func(i uint32) uint32 // friend i's ID; its key is i%4
		exact bool
	}{
		// 4000 friends in one container, none consecutive (no runs).
		{"dense keys split", func(i uint32) uint32 { return 2 * i }, true},
		// Four friends a container, one of each key.
		{"spread keys stay whole", func(i uint32) uint32 { return i/4<<16 | i%4 }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newNumColumn(false)
			for i := range uint32(4000) {
				c.put(tc.id(i), int64(i%4))
			}
			c.compact()
			bins := 0
			for _, g := range c.groups {
				for _, b := range g.bins {
					if b.n > 0 {
						bins++
					}
				}
			}
			if got := bins == 4; got != tc.exact {
				t.Errorf("%d bins for 4 keys, want exact bins: %v", bins, tc.exact)
			}
			known := roaring.New()
			for i := range uint32(4000) {
				known.Add(tc.id(i))
			}
			if bm, _ := c.rangeBitmap(1, 2, known); bm.GetCardinality() != 2000 {
				t.Errorf("keys 1..2 hold %d friends, want 2000", bm.GetCardinality())
			}
		})
	}
}

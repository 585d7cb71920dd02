package segment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/stepcast/stepcast"
)

// Adversarial checks of review 18: order predicates on a string column
// checked by the ranks of the sorted dictionary (filterRanked), against a
// naive model of friend -> value, as values are added after Compact
// (merged by queries, or too many to merge), changed and unset.

type r18World struct {
	schema   *Schema
	ix       *Index
	now      time.Time
	names    map[uint32]string // explicit names
	variants map[uint32]string // variant("exp")
	follow   map[uint32]bool
	tags     map[string]map[uint32]bool
	all      []uint32 // every friend ever touched
}

func r18New() *r18World {
	schema := MustSchema(testSchemaConfig)
	return &r18World{
		schema: schema, ix: NewIndex(schema),
		now:      time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC),
		names:    map[uint32]string{},
		variants: map[uint32]string{},
		follow:   map[uint32]bool{},
		tags:     map[string]map[uint32]bool{"few": {}, "mid": {}, "many": {}},
	}
}

// r18Batch records the batch's changes in the model as they are made.
type r18Batch struct {
	w *r18World
	b Batch
}

func (b *r18Batch) touch(f uint32) {
	if _, ok := b.w.follow[f]; !ok {
		b.w.follow[f] = false
		b.w.all = append(b.w.all, f)
	}
}

func (b *r18Batch) follow(f uint32) {
	b.touch(f)
	b.b.Follow(stepcast.FriendID(f), b.w.now.AddDate(0, 0, -int(f%50)))
	b.w.follow[f] = true
}

func (b *r18Batch) name(f uint32, v string) {
	b.touch(f)
	b.b.SetField(stepcast.FriendID(f), "name", v)
	if v == "" {
		delete(b.w.names, f)
	} else {
		b.w.names[f] = v
	}
}

func (b *r18Batch) unsetName(f uint32) {
	b.touch(f)
	b.b.UnsetField(stepcast.FriendID(f), "name")
	delete(b.w.names, f)
}

func (b *r18Batch) variant(f uint32, v string) {
	b.touch(f)
	b.b.SetVariant(stepcast.FriendID(f), "exp", v)
	b.w.variants[f] = v
}

func (b *r18Batch) tag(f uint32, tag string) {
	b.touch(f)
	b.b.SetTag(stepcast.FriendID(f), tag)
	b.w.tags[tag][f] = true
}

func (w *r18World) apply(t testing.TB, fill func(b *r18Batch)) {
	t.Helper()
	b := &r18Batch{w: w}
	fill(b)
	if err := w.ix.Apply(&b.b); err != nil {
		t.Fatal(err)
	}
}

func (w *r18World) nameCol() *strColumn { return w.ix.fields[w.schema.byName["name"]].str }

var r18Pieces = []string{"a", "b", "ab", "佐", "藤", "佐藤", "山", "田", "z", "ÿ", "\uffff", "0", "々", "Z"}

func r18Word(r *rand.Rand) string {
	var s strings.Builder
	for range 1 + r.IntN(4) {
		s.WriteString(r18Pieces[r.IntN(len(r18Pieces))])
	}
	return s.String()
}

var r18Ops = []string{"startsWith", "<", "<=", ">", ">="}

func r18Accept(op, v, arg string) bool {
	switch op {
	case "startsWith":
		return strings.HasPrefix(v, arg)
	case "<":
		return v < arg
	case "<=":
		return v <= arg
	case ">":
		return v > arg
	case ">=":
		return v >= arg
	}
	panic(op)
}

// r18Args are arguments at the edges: the empty string, a whole value, a
// value's prefixes (bytes cut at rune boundaries), past a value, before
// every value and after every value.
func r18Args(r *rand.Rand, w *r18World, n int) []string {
	args := []string{"", "佐", "佐藤", "山田", "a", "ab", "z", "ÿ", "\uffff", "~", "\U0010FFFF", " ", "佐\uffff"}
	vals := w.nameCol().vals[1:]
	for range n {
		v := vals[r.IntN(len(vals))]
		rs := []rune(v)
		switch r.IntN(5) {
		case 0:
			args = append(args, v)
		case 1:
			args = append(args, string(rs[:r.IntN(len(rs))+1]))
		case 2:
			args = append(args, v+"a")
		case 3:
			args = append(args, string(rs[:len(rs)-1])+string(rs[len(rs)-1]+1))
		default:
			args = append(args, r18Word(r))
		}
	}
	return args
}

// check compares Count, Eval, Explain and Match of src with pred over the
// audience (following friends).
func (w *r18World) check(t *testing.T, src string, pred func(f uint32) bool, sample []uint32) bool {
	t.Helper()
	seg, err := Compile(src, w.schema)
	if err != nil {
		t.Logf("%s: %v", src, err)
		return true
	}
	want := roaring.New()
	for f, fol := range w.follow {
		if fol && pred(f) {
			want.Add(f)
		}
	}
	got, _ := seg.Eval(w.ix, w.now)
	if !got.Equals(want) {
		diff := roaring.Xor(got, want)
		f := diff.Minimum()
		t.Errorf("%s: Eval %d friends, want %d (e.g. friend %d name %q held %v, want %v)", src, got.GetCardinality(), want.GetCardinality(),
			f, w.names[f], got.Contains(f), want.Contains(f))
		return false
	}
	if n, _ := seg.Count(w.ix, w.now); n != want.GetCardinality() {
		t.Errorf("%s: Count %d, want %d", src, n, want.GetCardinality())
		return false
	}
	ex, _ := seg.Explain(w.ix, w.now)
	if ex.Count != want.GetCardinality() {
		t.Errorf("%s: Explain %d, want %d\n%s", src, ex.Count, want.GetCardinality(), ex)
		return false
	}
	for _, f := range sample {
		if m, _ := seg.Match(w.ix, stepcast.FriendID(f), w.now); m != want.Contains(f) {
			t.Errorf("%s: Match(%d) (name %q) %v, want %v", src, f, w.names[f], m, want.Contains(f))
			return false
		}
	}
	return true
}

// checkLeaf evaluates name OP arg among candidates directly, asserting the
// result, and returns whether the ranks were used.
func (w *r18World) checkLeaf(t *testing.T, op, arg string, cands *roaring.Bitmap) (ranks bool) {
	t.Helper()
	src := fmt.Sprintf("name %s %s", op, strconv.Quote(arg))
	seg, err := Compile(src, w.schema)
	if err != nil {
		return false
	}
	l, ok := seg.root.(*strLeaf)
	if !ok {
		return false
	}
	want := roaring.New()
	for _, f := range cands.ToArray() {
		if v, ok := w.names[f]; ok && r18Accept(op, v, arg) {
			want.Add(f)
		}
	}
	w.ix.mu.RLock()
	defer w.ix.mu.RUnlock()
	c := seg.newCtx(w.ix, w.now, nil)
	col := w.nameCol()
	got, _, _ := l.eval(c, cands)
	if !got.Equals(want) {
		t.Errorf("%s among %d: eval %d, want %d", src, cands.GetCardinality(), got.GetCardinality(), want.GetCardinality())
	}
	m := c.strMatching(l, col, true)
	if m.rank != nil {
		if got := col.codes.filterRanked(cands, m.rank, m.lo, m.hi); !got.Equals(want) {
			t.Errorf("%s among %d: filterRanked [%d, %d) %d, want %d", src, cands.GetCardinality(), m.lo, m.hi, got.GetCardinality(), want.GetCardinality())
		}
		// Independent of the ranks: the ids found by binary search are the
		// values deciding each would accept.
		ids := slices.Clone(m.ids)
		slices.Sort(ids)
		if wantIDs := col.matching(l); !slices.Equal(ids, wantIDs) {
			t.Errorf("%s: the ranks' range holds %d values, deciding each %d", src, len(ids), len(wantIDs))
		}
	}
	nw := card(cands)
	_, table, index := l.stringCosts(c, col, nw)
	return table <= index && m.ranksCheaper(len(col.vals), nw)
}

// checkOrder asserts the sorted dictionary and its ranks are consistent
// with the values, when the order is complete.
func r18CheckOrder(t *testing.T, col *strColumn) {
	t.Helper()
	col.order.mu.Lock()
	order, rank := col.order.order, col.order.rank
	col.order.mu.Unlock()
	if len(order) != len(col.vals)-1 {
		return // not merged (yet)
	}
	if len(order) == 0 {
		return
	}
	if len(rank) != len(col.vals) || rank[0] != math.MaxUint32 {
		t.Fatalf("%d ranks for %d values (rank[0] %d)", len(rank), len(col.vals), rank[0])
	}
	for pos, id := range order {
		if rank[id] != uint32(pos) {
			t.Fatalf("rank[%d] = %d, at position %d", id, rank[id], pos)
		}
		if pos > 0 && col.vals[order[pos-1]] >= col.vals[id] {
			t.Fatalf("order not sorted at %d: %q >= %q", pos, col.vals[order[pos-1]], col.vals[id])
		}
	}
}

// r18IDs: dense low IDs, sparse IDs over many pages (most pages without
// data), and IDs near 2^32.
func r18IDs() []uint32 {
	var ids []uint32
	for i := range uint32(900) {
		ids = append(ids, i)
	}
	for i := range uint32(700) {
		ids = append(ids, 5000+i*6_000_011)
	}
	for i := range uint32(300) {
		ids = append(ids, math.MaxUint32-299+i)
	}
	return ids
}

func (w *r18World) sample(r *rand.Rand) []uint32 {
	var s []uint32
	for f := range w.tags["few"] {
		s = append(s, f)
	}
	for range 60 {
		s = append(s, w.all[r.IntN(len(w.all))])
	}
	s = append(s, 123456789, math.MaxUint32) // unknown or edge IDs
	return s
}

// round checks every predicate in several plans; it returns how many leaf
// checks among few candidates used the ranks.
func (w *r18World) round(t *testing.T, r *rand.Rand, label string, nargs int) int {
	t.Helper()
	sample := w.sample(r)
	few := roaring.New()
	for f := range w.tags["few"] {
		if w.follow[f] {
			few.Add(f)
		}
	}
	ranks := 0
	for _, arg := range r18Args(r, w, nargs) {
		for _, op := range r18Ops {
			has := func(tag string) func(f uint32) bool {
				return func(f uint32) bool {
					v, ok := w.names[f]
					return w.tags[tag][f] && ok && r18Accept(op, v, arg)
				}
			}
			q := strconv.Quote(arg)
			plain := func(f uint32) bool { v, ok := w.names[f]; return ok && r18Accept(op, v, arg) }
			for _, tc := range []struct {
				src  string
				pred func(uint32) bool
			}{
				{fmt.Sprintf("name %s %s", op, q), plain},
				{fmt.Sprintf(`tag("few") && name %s %s`, op, q), has("few")},
				{fmt.Sprintf(`tag("mid") && name %s %s`, op, q), has("mid")},
				{fmt.Sprintf(`tag("many") && name %s %s`, op, q), has("many")},
				{fmt.Sprintf(`tag("few") && !(name %s %s)`, op, q), func(f uint32) bool { return w.tags["few"][f] && !plain(f) }},
				{fmt.Sprintf(`!(name %s %s)`, op, q), func(f uint32) bool { return !plain(f) }},
				{fmt.Sprintf(`tag("few") && name %s %s && name < "佐藤"`, op, q), func(f uint32) bool { return has("few")(f) && w.names[f] < "佐藤" }},
				{fmt.Sprintf(`(tag("few") || tag("mid")) && name %s %s || tag("many") && age > 1000`, op, q),
					func(f uint32) bool { return (w.tags["few"][f] || w.tags["mid"][f]) && plain(f) }},
			} {
				if !w.check(t, tc.src, tc.pred, sample) {
					t.Fatalf("%s: stopping", label)
				}
			}
			if w.checkLeaf(t, op, arg, few) {
				ranks++
			}
		}
	}
	r18CheckOrder(t, w.nameCol())
	t.Logf("%s: %d of the leaf checks among %d candidates used the ranks", label, ranks, few.GetCardinality())
	return ranks
}

// r18Load: the bulk load, with some friends not following, and tags.
func r18Load(t *testing.T, r *rand.Rand, w *r18World, ids []uint32, distinct int) {
	t.Helper()
	pool := make([]string, distinct)
	for i := range pool {
		pool[i] = r18Word(r) + strconv.Itoa(i%7)
	}
	w.apply(t, func(b *r18Batch) {
		for i, f := range ids {
			if i%23 != 5 {
				b.follow(f)
			}
			if r.IntN(8) != 0 {
				b.name(f, pool[r.IntN(len(pool))])
			}
			switch {
			case i%61 == 0:
				b.tag(f, "few")
			case i%7 == 0:
				b.tag(f, "mid")
			case i%2 == 0:
				b.tag(f, "many")
			}
		}
	})
}

// TestReview18Model: rounds of changes after Compact (merged, too many to
// merge, values changed and unset), each checked against the model.
func TestReview18Model(t *testing.T) {
	defer func(m int) { fewMax = m }(fewMax)
	fewMax = 3 // popular values' postings become bitmaps
	r := rand.New(rand.NewPCG(18, 1))
	w := r18New()
	ids := r18IDs()
	r18Load(t, r, w, ids, 1400)
	w.ix.Compact()
	col := w.nameCol()
	if n := w.round(t, r, "after Compact", 8); n == 0 {
		t.Errorf("after Compact no check among %d candidates used the ranks", len(w.tags["few"]))
	}

	// A few new values, some sorting first, last, between and as prefixes
	// of others; friends moved to them, to old values, or unset.
	w.apply(t, func(b *r18Batch) {
		fresh := []string{" first", "\U0010FFFF last", "佐", "佐藤", "a", "ab0", "山田々", "ÿÿ", "\uffff\uffff0", "zz"}
		few := slices.Sorted(func(yield func(uint32) bool) {
			for f := range w.tags["few"] {
				if !yield(f) {
					return
				}
			}
		})
		for i, f := range few {
			switch i % 4 {
			case 0, 1:
				b.name(f, fresh[i%len(fresh)])
			case 2:
				b.unsetName(f)
			default:
				b.name(f, col.vals[1+r.IntN(len(col.vals)-1)])
			}
		}
		for i, v := range fresh {
			b.name(ids[(i*97)%len(ids)], v)
		}
	})
	if n := w.round(t, r, "merged", 8); n == 0 {
		t.Error("after a merge no check used the ranks")
	}
	if col.order.order == nil || len(col.order.order) != len(col.vals)-1 {
		t.Errorf("a few new values were not merged: %d of %d", len(col.order.order), len(col.vals)-1)
	}

	// Too many new values: queries decide each value instead.
	w.apply(t, func(b *r18Batch) {
		for i := range 400 {
			f := ids[r.IntN(len(ids))]
			b.name(f, fmt.Sprintf("%s-new%d", r18Word(r), i))
		}
	})
	if col.sorted(false) != nil {
		t.Fatal("400 new values among ~1800 were merged by a query")
	}
	w.round(t, r, "too many", 8)
	w.ix.Compact()
	w.round(t, r, "compacted again", 8)

	// New friends on new pages (near 2^32 and sparse), with new values.
	w.apply(t, func(b *r18Batch) {
		for i := range uint32(30) {
			f := math.MaxUint32 - 400 - i*3
			b.follow(f)
			b.name(f, "佐藤"+strconv.Itoa(int(i)))
			if i%2 == 0 {
				b.tag(f, "few")
			}
			g := 1<<31 + i*70_001
			b.follow(g)
			b.name(g, "山"+strconv.Itoa(int(i)))
			b.tag(g, "few")
		}
	})
	w.round(t, r, "new pages", 8)

	// No candidate holds a value.
	w.apply(t, func(b *r18Batch) {
		for f := range w.tags["few"] {
			b.unsetName(f)
		}
	})
	w.round(t, r, "candidates unset", 5)
}

// TestReview18Edges: small hand-made columns where every boundary is
// known: values prefixes of each other, multi-byte prefixes, values held
// by nobody, an empty column.
func TestReview18Edges(t *testing.T) {
	w := r18New()
	r := rand.New(rand.NewPCG(18, 2))
	vals := []string{"佐", "佐藤", "佐藤一", "佐藤一郎", "佐々木", "佐\uffff", "a", "ab", "abc", "abd", "b", "山", "山田", "\U0010FFFF"}
	// An empty column first.
	w.apply(t, func(b *r18Batch) {
		for f := range uint32(50) {
			b.follow(f)
			b.tag(f, "few")
		}
	})
	w.ix.Compact()
	w.round(t, r, "empty", 0)

	w.apply(t, func(b *r18Batch) {
		for i, v := range vals {
			b.name(uint32(i), v)
			b.name(uint32(100+i), v) // not following
		}
		b.name(60, "nobody")
		b.name(61, "佐藤二") // then unset: values held by nobody
		b.name(62, "ab")
	})
	w.apply(t, func(b *r18Batch) {
		b.unsetName(60)
		b.name(61, "")
	})
	w.round(t, r, "before Compact", 5) // 17 new values of 0: merged by a query (<= 64)
	w.ix.Compact()
	w.round(t, r, "after Compact", 5)
	w.apply(t, func(b *r18Batch) {
		b.name(3, "佐藤一郎太") // a value with another as its prefix, added later
		b.name(7, "aa")
		b.name(8, "佐藤")
	})
	w.round(t, r, "merged", 5)

	// One candidate at a time: a dictionary this small takes the ranks only
	// for a handful of candidates.
	ranks := 0
	for _, arg := range append(slices.Clone(vals), "", "佐藤一郎太", "aa", "佐藤二", "nobody", "ac", "佐\U0010FFFF") {
		for _, op := range r18Ops {
			for _, f := range []uint32{0, 1, 2, 3, 5, 6, 7, 8, 9, 12, 13, 60, 61, 62, 100, 4000} {
				if w.checkLeaf(t, op, arg, roaring.BitmapOf(f)) {
					ranks++
				}
			}
			pair := roaring.BitmapOf(1, 3)
			if w.checkLeaf(t, op, arg, pair) {
				ranks++
			}
		}
	}
	if ranks == 0 {
		t.Error("no single candidate was checked by the ranks")
	}
	t.Logf("%d single-candidate checks by the ranks", ranks)
}

// TestReview18Variants: the same for a variant column, and a choice field.
func TestReview18Variants(t *testing.T) {
	w := r18New()
	w.apply(t, func(b *r18Batch) {
		for f := range uint32(3000) {
			b.follow(f)
			b.variant(f, fmt.Sprintf("V%03d", f%700))
			if f%50 == 0 {
				b.tag(f, "few")
			}
		}
	})
	w.ix.Compact()
	w.apply(t, func(b *r18Batch) {
		for f := range uint32(20) {
			b.variant(f*50, fmt.Sprintf("V%03d+", f))
		}
	})
	for _, arg := range []string{"V", "V00", "V001", "V001+", "V1", "V69", "W", "A"} {
		for _, op := range r18Ops {
			pred := func(f uint32) bool { return w.tags["few"][f] && r18Accept(op, w.variants[f], arg) }
			w.check(t, fmt.Sprintf(`tag("few") && variant("exp") %s %q`, op, arg), pred, []uint32{0, 50, 51, 1000})
		}
	}
}

// TestReview18FilterRankedDirect: filterRanked against a model rank table
// with codes on dense, sparse and top pages, including codes past the
// ranks (none should be accepted) and ranges touching 0 and len.
func TestReview18FilterRankedDirect(t *testing.T) {
	r := rand.New(rand.NewPCG(18, 3))
	col := newStrColumn()
	ids := r18IDs()
	model := map[uint32]uint32{}
	for _, f := range ids {
		if r.IntN(5) != 0 {
			v := fmt.Sprintf("v%04d", r.IntN(300))
			col.put(f, v)
			model[f] = col.ids[v]
		}
	}
	col.compact()
	order, rank := col.ranked(false)
	if len(order) != len(col.vals)-1 {
		t.Fatalf("order %d of %d", len(order), len(col.vals)-1)
	}
	within := roaring.New()
	for _, f := range ids {
		within.Add(f)
	}
	within.Add(12345678) // no page
	n := uint32(len(order))
	for _, b := range [][2]uint32{{0, 0}, {0, 1}, {0, n}, {n - 1, n}, {n, n}, {5, 6}, {10, 200}, {1, n - 1}} {
		got := col.codes.filterRanked(within, rank, b[0], b[1])
		want := roaring.New()
		for f, id := range model {
			if rank[id] >= b[0] && rank[id] < b[1] {
				want.Add(f)
			}
		}
		if !got.Equals(want) {
			t.Errorf("ranks [%d, %d): %d friends, want %d", b[0], b[1], got.GetCardinality(), want.GetCardinality())
		}
	}
	// Ranks shorter than the codes (stale): codes past them are no value.
	short := rank[:len(rank)/2]
	got := col.codes.filterRanked(within, short, 0, n)
	for _, f := range got.ToArray() {
		if model[f] >= uint32(len(short)) {
			t.Fatalf("friend %d, value id %d past %d ranks, accepted", f, model[f], len(short))
		}
	}
}

// TestReview18Concurrent: many queries at once find new values to merge
// (each round after a write), and readers run while a writer adds values
// that keep the counts known.
func TestReview18Concurrent(t *testing.T) {
	r := rand.New(rand.NewPCG(18, 4))
	w := r18New()
	ids := r18IDs()
	r18Load(t, r, w, ids, 1200)
	w.ix.Compact()
	col := w.nameCol()
	srcs := []struct {
		op, arg string
		tag     string
	}{{"startsWith", "佐", "few"}, {"<", "b", "few"}, {">=", "山", "few"}, {"startsWith", "ab", ""}, {"<=", "佐藤", "mid"}, {">", "z", "few"}}
	type q struct {
		seg  *Segment
		want uint64
	}
	build := func() []q {
		var qs []q
		for _, s := range srcs {
			src := fmt.Sprintf("name %s %q", s.op, s.arg)
			if s.tag != "" {
				src = fmt.Sprintf("tag(%q) && %s", s.tag, src)
			}
			var want uint64
			for f, fol := range w.follow {
				v, ok := w.names[f]
				if fol && ok && r18Accept(s.op, v, s.arg) && (s.tag == "" || w.tags[s.tag][f]) {
					want++
				}
			}
			qs = append(qs, q{MustCompile(src, w.schema), want})
		}
		return qs
	}
	for round := range 12 {
		adds := []int{3, 30, 300}[round%3]
		w.apply(t, func(b *r18Batch) {
			for i := range adds {
				f := ids[r.IntN(len(ids))]
				if i%5 == 0 {
					for g := range w.tags["few"] {
						f = g
						break
					}
				}
				b.name(f, fmt.Sprintf("%s#%d.%d", r18Word(r), round, i))
			}
		})
		qs := build()
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for k := range qs {
					qq := qs[(k+g)%len(qs)]
					var got uint64
					switch g % 3 {
					case 0:
						got, _ = qq.seg.Count(w.ix, w.now)
					case 1:
						bm, _ := qq.seg.Eval(w.ix, w.now)
						got = bm.GetCardinality()
					default:
						ex, _ := qq.seg.Explain(w.ix, w.now)
						got = ex.Count
					}
					if got != qq.want {
						t.Errorf("round %d: %s: %d, want %d", round, qq.seg.Source(), got, qq.want)
					}
				}
				_ = w.ix.Stats()
			}()
		}
		close(start)
		wg.Wait()
		r18CheckOrder(t, col)
	}

	// A writer adding new values that keep every count, while readers
	// count: friends with a 山 name get other 山 names.
	var yama []uint32
	for f, v := range w.names {
		if strings.HasPrefix(v, "山") {
			yama = append(yama, f)
		}
	}
	slices.Sort(yama)
	if len(yama) == 0 {
		t.Fatal("no 山 names")
	}
	segs := []*Segment{MustCompile(`name startsWith "山"`, w.schema), MustCompile(`tag("few") && name startsWith "山"`, w.schema),
		MustCompile(`tag("few") && name < "山"`, w.schema)}
	var wants []uint64
	for _, s := range segs {
		n, _ := s.Count(w.ix, w.now)
		wants = append(wants, n)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-done:
					return
				default:
				}
				i := (k + g) % len(segs)
				if n, _ := segs[i].Count(w.ix, w.now); n != wants[i] {
					t.Errorf("%s: a reader counted %d, want %d", segs[i].Source(), n, wants[i])
					return
				}
			}
		}()
	}
	for round := range 60 {
		var b Batch
		for i := range 1 + round%4 {
			f := yama[(round*7+i)%len(yama)]
			b.SetField(stepcast.FriendID(f), "name", fmt.Sprintf("山~%d.%d", round, i))
		}
		if err := w.ix.Apply(&b); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	for i, s := range segs {
		if n, _ := s.Count(w.ix, w.now); n != wants[i] {
			t.Errorf("%s: after the writer %d, want %d", s.Source(), n, wants[i])
		}
	}
	r18CheckOrder(t, col)
}

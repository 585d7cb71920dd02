package segment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/stepcast/stepcast"
)

// Adversarial checks of the bulk-written index (deferred logs, day bins,
// counts from pieces, compacted slabs and shared blocks): queries between
// every round of writes, Compact at random points and more writes after
// it, zones whose clocks jump at midnight, IDs up to 2^32-1 and values at
// int64's extremes, each answer compared with a naive model.

// reviewZones are zones whose clocks change at local midnight, with a now
// near such a change.
var reviewZones = []struct{ zone, now string }{
	{"America/Sao_Paulo", "2018-11-04T12:00:00"}, // 00:00 -> 01:00
	{"America/Santiago", "2022-09-11T09:00:00"},  // 00:00 -> 01:00
	{"America/Santiago", "2023-04-02T08:00:00"},  // 00:00 -> 23:00 the day before
	{"Asia/Beirut", "2023-03-26T10:00:00"},       // 00:00 -> 01:00
	{"Asia/Beirut", "2022-10-30T00:30:00"},       // the repeated hour before midnight
}

// extremeIDs replace the last friends' IDs: the top of the uint32 range,
// in its last container and just below it.
var extremeIDs = []uint32{1 << 31, math.MaxUint32 - 65536, math.MaxUint32 - 65535, math.MaxUint32 - 2, math.MaxUint32 - 1, math.MaxUint32}

// extremeSpends are int64 values a hostile writer may store.
var extremeSpends = []int{math.MaxInt64, math.MaxInt64 - 1, math.MinInt64 + 1, math.MinInt64 + 2, 0, -1} // MinInt64 is refused (SetField)

// skew gives f, with probability, an extreme spend and a birthday within two
// days of now (so that bins hold days, and the days around the clock
// change), writing the change into b.
func skew(r *rand.Rand, b *Batch, f *rawFriend, now time.Time) {
	id := stepcast.FriendID(f.id)
	if r.IntN(6) == 0 {
		f.ints["spend"] = extremeSpends[r.IntN(len(extremeSpends))]
		f.set["spend"] = true
		b.SetField(id, "spend", f.ints["spend"])
	}
	if f.set["birthday"] && r.IntN(3) != 0 {
		f.times["birthday"] = randTime(r, now, 2)
		b.SetField(id, "birthday", f.times["birthday"])
	}
}

// extremeAtom compares spend with constants at and near int64's ends. The
// oracle spells ranges as comparisons: expr's VM would build the range's
// integers.
func (g exprGen) extremeAtom() gexpr {
	c := g.pick("9223372036854775807", "9223372036854775806", "-9223372036854775807", "0", "-1")
	lo, hi := c, "9223372036854775807"
	switch g.r.IntN(3) {
	case 0:
		return field("spend", g.cmp(), c)
	case 1:
		lo, hi = "-9223372036854775807", c
	}
	src := fmt.Sprintf("spend in %s..%s", lo, hi)
	orc := fmt.Sprintf(`(val("spend") != nil && val("spend") >= %s && val("spend") <= %s)`, lo, hi)
	if g.r.IntN(2) == 0 {
		return gexpr{src, orc}
	}
	return gexpr{"spend not " + src[len("spend "):], "!" + orc}
}

// TestInterleavedWritesMatchOracle: after every batch of a random size
// (around the deferred logs' bound of 64), with Compact now and then and
// writes after it, Eval, Count and Explain agree with expr's VM run per
// friend, in zones whose midnight a clock change skips or repeats.
func TestInterleavedWritesMatchOracle(t *testing.T) {
	defer func(old, few int) { minBinSplit, fewMax = old, few }(minBinSplit, fewMax)
	minBinSplit, fewMax = 8, 4
	rounds, queries := 8, 40
	if testing.Short() {
		rounds, queries = 4, 15
	}
	for zi, z := range reviewZones {
		t.Run(fmt.Sprintf("%s/%s", z.zone, z.now), func(t *testing.T) {
			loc := mustLoad(t, z.zone)
			now, err := time.ParseInLocation("2006-01-02T15:04:05", z.now, loc)
			if err != nil {
				t.Fatal(err)
			}
			cfg := testSchemaConfig
			cfg.Location = loc
			schema := MustSchema(cfg)
			r := rand.New(rand.NewPCG(uint64(zi), 1414))
			friends := genFriends(r, 700, now)
			for i, id := range extremeIDs {
				friends[len(friends)-len(extremeIDs)+i].id = id
			}
			ix := NewIndex(schema)
			load(t, r, ix, friends)
			var b Batch
			for _, f := range friends {
				skew(r, &b, f, now)
			}
			if err := ix.Apply(&b); err != nil {
				t.Fatal(err)
			}
			g := exprGen{r, now}
			for round := range rounds {
				var b Batch
				size := []int{1, 63, 64, 65, 130, 400}[r.IntN(6)]
				for _, i := range r.Perm(len(friends))[:size] {
					friends[i] = updateFriend(r, &b, friends[i], now)
					skew(r, &b, friends[i], now)
				}
				if err := ix.Apply(&b); err != nil {
					t.Fatal(err)
				}
				if r.IntN(3) == 0 {
					ix.Compact()
				}
				checkAgainstOracle(t, ix, schema, friends, now, loc, g, queries, fmt.Sprintf("round %d", round))
			}
		})
	}
}

// checkAgainstOracle compares Eval, Count and Explain with the oracle on
// random expressions, a quarter of them anded or ored with an extreme
// spend comparison.
func checkAgainstOracle(t *testing.T, ix *Index, schema *Schema, friends []*rawFriend, now time.Time, loc *time.Location, g exprGen, queries int, when string) {
	t.Helper()
	envs := make([]map[string]any, len(friends))
	saved := map[string]*vm.Program{}
	for i, f := range friends {
		envs[i] = oracleEnv(f, now, loc, saved)
	}
	for name, src := range oracleSaved {
		saved[name] = oracleCompile(t, src, envs[0])
	}
	for range queries {
		e := g.expr(3)
		switch g.r.IntN(4) {
		case 0:
			x := g.extremeAtom()
			e = gexpr{"(" + e.src + ") && " + x.src, "(" + e.orc + ") && " + x.orc}
		case 1:
			x := g.extremeAtom()
			e = gexpr{x.src, x.orc}
		}
		seg, err := Compile(e.src, schema)
		if err != nil {
			t.Fatalf("Compile(%q): %v", e.src, err)
		}
		want := oracleWant(t, e, seg, friends, envs)
		bm, err := seg.Eval(ix, now)
		if err != nil {
			t.Fatal(err)
		}
		if got := bm.ToArray(); !slices.Equal(got, want) {
			ex, _ := seg.Explain(ix, now)
			t.Fatalf("%s: Eval(%q)\n got %v\nwant %v\noracle: %s\n%s", when, e.src, got, want, e.orc, ex)
		}
		if n, err := seg.Count(ix, now); err != nil || n != uint64(len(want)) {
			ex, _ := seg.Explain(ix, now)
			t.Fatalf("%s: Count(%q) = %d (%v), want %d\n%s", when, e.src, n, err, len(want), ex)
		}
		if ex, err := seg.Explain(ix, now); err != nil || ex.Count != uint64(len(want)) {
			t.Fatalf("%s: Explain(%q) counts %d (%v), want %d\n%s", when, e.src, ex.Count, err, len(want), ex)
		}
	}
}

// TestDayBinsUnderWrites: a time column dense enough for Compact to make
// day bins (around a midnight a clock change skips or repeats), then
// values moved into, out of and between those days, unset, set beyond the
// newest day, with Compact again now and then: day ranges and date
// comparisons, alone and among a tag's candidates, count and evaluate as a
// naive model over the friends' days does.
func TestDayBinsUnderWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 friends a zone")
	}
	defer func(old int) { minBinSplit = old }(minBinSplit)
	const n = 20_000
	for zi, z := range reviewZones {
		t.Run(fmt.Sprintf("%s/%s", z.zone, z.now), func(t *testing.T) {
			loc := mustLoad(t, z.zone)
			now, err := time.ParseInLocation("2006-01-02T15:04:05", z.now, loc)
			if err != nil {
				t.Fatal(err)
			}
			cfg := testSchemaConfig
			cfg.Location = loc
			schema := MustSchema(cfg)
			r := rand.New(rand.NewPCG(uint64(zi), 1415))
			ids := make([]uint32, n)
			for i := range ids {
				ids[i] = uint32(i)
			}
			copy(ids[n-len(extremeIDs):], extremeIDs)
			birthday := make([]time.Time, n) // zero: unset
			tagged := make([]bool, n)
			// Birthdays over 40 days ending two days after now, to the second.
			randDay := func() time.Time {
				return now.Add(time.Duration(r.Int64N(40*86400)-38*86400) * time.Second).Truncate(time.Second)
			}
			var b Batch
			for i, id := range ids {
				b.Follow(stepcast.FriendID(id), now.Add(-time.Hour))
				if r.IntN(10) != 0 {
					birthday[i] = randDay()
					b.SetField(stepcast.FriendID(id), "birthday", birthday[i])
				}
				if r.IntN(2) == 0 {
					tagged[i] = true
					b.SetTag(stepcast.FriendID(id), "t1")
				}
			}
			ix := NewIndex(schema)
			if err := ix.Apply(&b); err != nil {
				t.Fatal(err)
			}
			minBinSplit = 4096
			ix.Compact()
			if days := midnightBins(ix.fields[5].num); days < 20 {
				t.Fatalf("birthday has %d bins starting at a midnight after Compact; the test wants day bins", days)
			}
			if zi%2 == 1 {
				minBinSplit = 64 // the day bins (~450 members) split as writes reach them
			}
			today := dayNumber(now, loc)
			check := func(when string) {
				t.Helper()
				for range 12 {
					a := r.IntN(45) - 4
					c := a + r.IntN(8)
					var src string
					in := func(d int) bool { return today-d >= a && today-d <= c }
					switch r.IntN(3) {
					case 0:
						src = fmt.Sprintf(`days_since("birthday") in %d..%d`, a, c)
					case 1:
						from := now.AddDate(0, 0, -c).Format("2006-01-02")
						src = fmt.Sprintf(`birthday >= date(%q)`, from)
						in = func(d int) bool { return d >= today-c }
					default:
						to := now.AddDate(0, 0, -a).Format("2006-01-02")
						src = fmt.Sprintf(`birthday < date(%q)`, to)
						in = func(d int) bool { return d < today-a }
					}
					onlyTagged := r.IntN(2) == 0
					if onlyTagged {
						src = `tag("t1") && ` + src
					}
					var want []uint32
					for i, id := range ids {
						if !birthday[i].IsZero() && in(dayNumber(birthday[i], loc)) && (!onlyTagged || tagged[i]) {
							want = append(want, id)
						}
					}
					seg := MustCompile(src, schema)
					bm, err := seg.Eval(ix, now)
					if err != nil {
						t.Fatal(err)
					}
					if got := bm.ToArray(); !slices.Equal(got, want) {
						ex, _ := seg.Explain(ix, now)
						t.Fatalf("%s: Eval(%q): %d friends, want %d\n%s", when, src, len(got), len(want), ex)
					}
					if got, _ := seg.Count(ix, now); got != uint64(len(want)) {
						ex, _ := seg.Explain(ix, now)
						t.Fatalf("%s: Count(%q) = %d, want %d\n%s", when, src, got, len(want), ex)
					}
				}
			}
			check("after Compact")
			bins := binCount(ix.fields[5].num)
			defer func() {
				if zi%2 == 1 && binCount(ix.fields[5].num) <= bins {
					t.Errorf("no bin split after Compact (%d bins); the test wants day bins split by writes", bins)
				}
			}()
			for round := range 8 {
				var b Batch
				for range []int{1, 64, 65, 500, 3000}[r.IntN(5)] {
					i := r.IntN(n)
					id := stepcast.FriendID(ids[i])
					switch r.IntN(5) {
					case 0:
						birthday[i] = time.Time{}
						b.UnsetField(id, "birthday")
					case 1: // a day newer than every day bin
						birthday[i] = now.Add(time.Duration(r.Int64N(3*86400)) * time.Second).Truncate(time.Second)
						b.SetField(id, "birthday", birthday[i])
					case 2: // long ago
						birthday[i] = now.AddDate(-r.IntN(30)-1, 0, 0)
						b.SetField(id, "birthday", birthday[i])
					default:
						birthday[i] = randDay()
						b.SetField(id, "birthday", birthday[i])
					}
				}
				if err := ix.Apply(&b); err != nil {
					t.Fatal(err)
				}
				check(fmt.Sprintf("round %d", round))
				if r.IntN(3) == 0 {
					ix.Compact()
					check(fmt.Sprintf("round %d, compacted", round))
				}
			}
		})
	}
}

// midnightBins counts the bins of a time column that begin at a local
// midnight.
func midnightBins(c *numColumn) int {
	n := 0
	for _, g := range c.groups {
		for _, b := range g.bins {
			if b.lo != math.MinInt64 && b.lo == timeKey(midnight(civilDay(time.Unix(b.lo, 0), c.dayLoc), c.dayLoc)) {
				n++
			}
		}
	}
	return n
}

func binCount(c *numColumn) int {
	n := 0
	for _, g := range c.groups {
		n += len(g.bins)
	}
	return n
}

package segment

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
)

// TestSortedDictRanges compares the sorted dictionary's ranges with
// deciding every value, as values are added between queries in rounds
// small enough to be merged and large enough not to be.
func TestSortedDictRanges(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	col := newStrColumn()
	letters := []string{"a", "b", "山", "山田", "佐", "佐藤", "z", "\xff", "A"}
	word := func() string {
		var s string
		for range 1 + r.IntN(4) {
			s += letters[r.IntN(len(letters))]
		}
		return s
	}
	f := uint32(0)
	for round := range 40 {
		adds := []int{1, 3, 20, 200, 2000}[r.IntN(5)]
		for range adds {
			col.put(f, word())
			f++
		}
		if round%10 == 9 {
			col.compact()
		}
		order := col.sorted(false)
		if order == nil {
			continue // too many new values for a query to sort
		}
		if !slices.IsSortedFunc(order, func(a, b uint32) int { return cmpStr(col.vals[a], col.vals[b]) }) || len(order) != len(col.vals)-1 {
			t.Fatalf("round %d: the order is not the sorted dictionary", round)
		}
		for _, op := range []strOp{strPrefix, strLess, strLessEq, strGreater, strGreaterEq} {
			arg := word()
			if r.IntN(4) == 0 {
				arg = col.vals[1+r.IntN(len(col.vals)-1)] // a value itself
			}
			l := &strLeaf{op: op, values: []string{arg}}
			lo, hi, ok := col.orderedBounds(order, l)
			if !ok {
				t.Fatalf("%v: not an order predicate", op)
			}
			want := col.matching(l)
			got := slices.Clone(order[lo:hi])
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("round %d: %s %q: sorted dictionary %d values, deciding each %d", round, strOpNames[op], arg, len(got), len(want))
			}
		}
	}
	if col.sorted(true) == nil {
		t.Fatal("a forced sort returned nothing")
	}
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestSortedDictSkipsBigSorts: a query does not sort many new values; the
// predicate is then decided per value, and Compact sorts.
func TestSortedDictSkipsBigSorts(t *testing.T) {
	col := newStrColumn()
	for i := range uint32(5000) {
		col.put(i, fmt.Sprintf("v%05d", i))
	}
	if col.sorted(false) != nil {
		t.Fatal("a query sorted 5000 new values")
	}
	col.compact()
	if got := len(col.sorted(false)); got != 5000 {
		t.Fatalf("after Compact the order holds %d values, want 5000", got)
	}
	for i := range uint32(100) {
		col.put(5000+i, fmt.Sprintf("w%05d", i))
	}
	if got := len(col.sorted(false)); got != 5100 {
		t.Fatalf("100 new values were not merged: %d", got)
	}
}

// TestSortedDictConcurrent: queries merge new values into the order while
// other queries read it and a writer adds values (run with -race).
func TestSortedDictConcurrent(t *testing.T) {
	schema := MustSchema(testSchemaConfig)
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, schema.Location())
	ix := NewIndex(schema)
	var b Batch
	for f := range stepcast.FriendID(1000) {
		b.Follow(f, now)
		b.SetField(f, "name", fmt.Sprintf("山%04d", f))
	}
	if err := ix.Apply(&b); err != nil {
		t.Fatal(err)
	}
	ix.Compact()
	seg := MustCompile(`name startsWith "山" || name < "m"`, schema)
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
				if c, _ := seg.Count(ix, now); c != 1000 {
					t.Errorf("a reader counted %d, want 1000", c)
					return
				}
			}
		}()
	}
	for round := range 100 {
		b.Reset()
		for i := range stepcast.FriendID(10) {
			f := i*100 + stepcast.FriendID(round%100)
			b.SetField(f, "name", fmt.Sprintf("山%d-%d", round, i)) // new values
		}
		if err := ix.Apply(&b); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
}

package segment

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
)

// TestSparseIDMemory: the index's memory follows the number of friends,
// not the largest ID (issue 9, then issue 14). Ten friends with IDs spread
// to 4e9, each with every kind of operation, are accepted, read back, and
// cost little: the heap the index holds and its own estimate both stay
// within a few hundred KB, where ID-indexed columns would need gigabytes.
func TestSparseIDMemory(t *testing.T) {
	schema := MustSchema(testSchemaConfig)
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, schema.Location())
	ids := make([]stepcast.FriendID, 10)
	for i := range ids {
		ids[i] = stepcast.FriendID(uint32(i+1) * 400_000_000)
	}
	ids[9] = 4294967295
	before := heapInUse()
	ix := NewIndex(schema)
	var b Batch
	for i, f := range ids {
		b.Follow(f, now)
		b.SetTag(f, "t")
		b.SetField(f, "age", 20+i)
		b.SetField(f, "name", "佐藤")
		b.SetField(f, "birthday", now)
		b.SetField(f, "ratio", 0.5)
		b.SetField(f, "vip", true)
		b.SetScore(f, "lead", int64(i))
		b.AddScore(f, "lead", 3)
		b.RecordEvent(f, "click", "u", "", now)
		b.SetScenarioStep(f, "s", 1)
		b.SetVariant(f, "e", "A")
	}
	if err := ix.Apply(&b); err != nil {
		t.Fatal(err)
	}
	held := heapInUse() - before
	t.Logf("%d friends with IDs up to %d: %d bytes of heap, %d estimated", len(ids), ids[9], held, ix.Stats().Bytes)
	if held > 512<<10 {
		t.Errorf("the index holds %d bytes of heap for %d friends", held, len(ids))
	}
	if st := ix.Stats(); st.Bytes > 256<<10 || st.Friends != len(ids) {
		t.Errorf("Stats: %d friends, %d bytes", st.Friends, st.Bytes)
	}
	seg := MustCompile(`tag("t") && age >= 25 && name == "佐藤" && score("lead") >= 8 && clicked("u", 7) && vip && ratio > 0.1`, schema)
	got, err := seg.Eval(ix, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint32{uint32(ids[5]), uint32(ids[6]), uint32(ids[7]), uint32(ids[8]), uint32(ids[9])}; !slices.Equal(got.ToArray(), want) {
		t.Fatalf("Eval = %v, want %v", got.ToArray(), want)
	}
	for i, f := range ids {
		if ok, err := seg.Match(ix, f, now); err != nil || ok != (i >= 5) {
			t.Fatalf("Match(%d) = %v, %v", f, ok, err)
		}
	}
	runtime.KeepAlive(ix)
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func heapAllocated() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// TestShuffledLoad: friends 1..N load in any order, in one batch or in
// pages, and the index ends up the same.
func TestShuffledLoad(t *testing.T) {
	const n, page = 100_000, 1000
	schema := MustSchema(testSchemaConfig)
	r := rand.New(rand.NewPCG(3, 4))
	ids := make([]stepcast.FriendID, n)
	for i := range ids {
		ids[i] = stepcast.FriendID(i + 1)
	}
	shuffled := append([]stepcast.FriendID(nil), ids...)
	r.Shuffle(n, func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	add := func(b *Batch, f stepcast.FriendID) {
		b.Follow(f, chainNow)
		b.SetField(f, "age", int(f%90))
		if f%7 == 0 {
			b.SetTag(f, "seven")
		}
	}
	load := func(t *testing.T, ix *Index, ids []stepcast.FriendID, page int) error {
		var b Batch
		for i := 0; i < len(ids); i += page {
			b.Reset()
			for _, f := range ids[i:min(i+page, len(ids))] {
				add(&b, f)
			}
			if err := ix.Apply(&b); err != nil {
				return err
			}
		}
		return nil
	}
	seg := MustCompile(`tag("seven") && age < 30`, schema)
	var want uint64
	for _, f := range ids {
		if f%7 == 0 && f%90 < 30 {
			want++
		}
	}
	tests := []struct {
		name string
		ids  []stepcast.FriendID
		page int
	}{
		{"AscendingPages", ids, page},
		{"ShuffledBatch", shuffled, n},
		{"ShuffledPages", shuffled, page},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := NewIndex(schema)
			if err := load(t, ix, tt.ids, tt.page); err != nil {
				t.Fatal(err)
			}
			if ix.Len() != n {
				t.Fatalf("Len = %d, want %d", ix.Len(), n)
			}
			if got, _ := seg.Count(ix, chainNow); got != want {
				t.Fatalf("Count = %d, want %d", got, want)
			}
		})
	}
}

// TestHugeIDReaders: asking about an ID no friend has costs nothing.
func TestHugeIDReaders(t *testing.T) {
	schema := MustSchema(testSchemaConfig)
	ix := NewIndex(schema)
	var b Batch
	b.Follow(1, chainNow)
	b.RecordEvent(1, "click", "u", "", chainNow)
	if err := ix.Apply(&b); err != nil {
		t.Fatal(err)
	}
	seg := MustCompile(`age < 30 || clicked("u", 7) || !tag("x")`, schema)
	const huge = stepcast.FriendID(4294967295)
	before := heapAllocated()
	for range 10 {
		if ok, err := seg.Match(ix, huge, chainNow); ok || err != nil {
			t.Fatalf("Match(huge) = %v, %v", ok, err)
		}
		if n := ix.CountEvents(huge, "click", "u", "", time.Time{}, time.Time{}); n != 0 {
			t.Fatalf("CountEvents(huge) = %d", n)
		}
		if n := ix.History(huge).CountEvents("click", "u", "", time.Time{}, chainNow.Add(time.Hour)); n != 0 {
			t.Fatalf("History(huge).CountEvents = %d", n)
		}
	}
	if grew := heapAllocated() - before; grew > 1<<20 {
		t.Errorf("readers allocated %d bytes for an unknown ID", grew)
	}
	if s := ix.Stats(); s.Friends != 1 {
		t.Errorf("Stats.Friends = %d, want 1", s.Friends)
	}
}

// TestSparseIDQueries: unions over many sparse sets, with one friend's ID
// near 2^32, allocate for the members, not for the largest ID (a dense
// word array up to 2^32 would take 512 MB).
func TestSparseIDQueries(t *testing.T) {
	schema := MustSchema(testSchemaConfig)
	ix := NewIndex(schema)
	var b Batch
	const n = 20_000
	for f := range stepcast.FriendID(n) {
		b.Follow(f+1, chainNow)
		b.SetField(f+1, "name", fmt.Sprintf("n%d", f))
	}
	const huge = stepcast.FriendID(1<<32 - 1)
	b.Follow(huge, chainNow)
	b.SetField(huge, "name", "n-huge")
	if err := ix.Apply(&b); err != nil {
		t.Fatal(err)
	}
	seg := MustCompile(`name startsWith "n"`, schema)
	before := heapAllocated()
	got, err := seg.Count(ix, chainNow)
	if err != nil || got != n+1 {
		t.Fatalf("Count = %d, %v; want %d", got, err, n+1)
	}
	if grew := heapAllocated() - before; grew > 64<<20 {
		t.Errorf("Count allocated %d bytes", grew)
	}
}

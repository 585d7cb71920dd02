package segment

import (
	"errors"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
)

// TestIssue9SparseID: an ID near 2^32 on an empty index made every column
// gigabytes long. Each operation with such an ID is refused, with the whole
// batch, and allocates nothing.
func TestIssue9SparseID(t *testing.T) {
	schema := MustSchema(testSchemaConfig)
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, schema.Location())
	const huge = stepcast.FriendID(4294967295)
	ops := []struct {
		name string
		add  func(b *Batch, f stepcast.FriendID)
	}{
		{"Follow", func(b *Batch, f stepcast.FriendID) { b.Follow(f, now) }},
		{"Unfollow", func(b *Batch, f stepcast.FriendID) { b.Unfollow(f) }},
		{"SetTag", func(b *Batch, f stepcast.FriendID) { b.SetTag(f, "t") }},
		{"ClearTag", func(b *Batch, f stepcast.FriendID) { b.ClearTag(f, "t") }},
		{"SetField", func(b *Batch, f stepcast.FriendID) { b.SetField(f, "age", 30) }},
		{"UnsetField", func(b *Batch, f stepcast.FriendID) { b.UnsetField(f, "name") }},
		{"SetScore", func(b *Batch, f stepcast.FriendID) { b.SetScore(f, "lead", 3) }},
		{"AddScore", func(b *Batch, f stepcast.FriendID) { b.AddScore(f, "lead", 3) }},
		{"RecordEvent", func(b *Batch, f stepcast.FriendID) { b.RecordEvent(f, "click", "u", "", now) }},
		{"RecordUncounted", func(b *Batch, f stepcast.FriendID) { b.RecordEvent(f, "message", "hi", "", now) }},
		{"SetScenarioStep", func(b *Batch, f stepcast.FriendID) { b.SetScenarioStep(f, "s", 1) }},
		{"LeaveScenario", func(b *Batch, f stepcast.FriendID) { b.LeaveScenario(f, "s") }},
		{"SetVariant", func(b *Batch, f stepcast.FriendID) { b.SetVariant(f, "e", "A") }},
		{"ClearVariant", func(b *Batch, f stepcast.FriendID) { b.ClearVariant(f, "e") }},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			ix := NewIndex(schema)
			var b Batch
			for f := range stepcast.FriendID(10) {
				b.Follow(f+1, now)
				b.SetField(f+1, "age", 20)
			}
			op.add(&b, huge)
			before := heapAllocated()
			err := ix.Apply(&b)
			if grew := heapAllocated() - before; grew > 1<<20 {
				t.Errorf("Apply allocated %d bytes", grew)
			}
			if !errors.Is(err, ErrSparseID) {
				t.Fatalf("Apply = %v, want ErrSparseID", err)
			}
			var oe *OpError
			if !errors.As(err, &oe) || oe.Index != 20 || oe.Friend != huge {
				t.Fatalf("Apply error = %v, want an *OpError for op 20 of friend %d", err, huge)
			}
			if ix.Len() != 0 || ix.size != 0 {
				t.Fatalf("a refused batch changed the index: %d friends, size %d", ix.Len(), ix.size)
			}
		})
	}
}

func heapAllocated() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// TestIDLimit pins the limit: with F friends known after the batch and C
// one past the largest ID known or reserved, IDs below max(2F, C)+IDSlack.
func TestIDLimit(t *testing.T) {
	schema := MustSchema(SchemaConfig{})
	tests := []struct {
		name    string
		known   int // friends 1..known loaded first
		reserve int
		ids     []stepcast.FriendID
		ok      bool
	}{
		{"FirstBelow", 0, 0, []stepcast.FriendID{2 + IDSlack - 1}, true},
		{"FirstAt", 0, 0, []stepcast.FriendID{2 + IDSlack}, false},
		{"TwoFriends", 0, 0, []stepcast.FriendID{1, 4 + IDSlack - 1}, true},
		{"Known", 100_000, 0, []stepcast.FriendID{200_002 + IDSlack - 1}, true},
		{"KnownAt", 100_000, 0, []stepcast.FriendID{200_002 + IDSlack}, false},
		{"Reserved", 0, 5_000_000, []stepcast.FriendID{4_999_999, 5_000_000 + IDSlack - 1}, true},
		{"ReservedAt", 0, 5_000_000, []stepcast.FriendID{5_000_000 + IDSlack}, false},
		{"Max", 0, 0, []stepcast.FriendID{1<<32 - 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := NewIndex(schema)
			var b Batch
			for f := range tt.known {
				b.Follow(stepcast.FriendID(f+1), chainNow)
			}
			if err := ix.Apply(&b); err != nil {
				t.Fatal(err)
			}
			if err := ix.Reserve(tt.reserve); err != nil {
				t.Fatal(err)
			}
			b.Reset()
			for _, f := range tt.ids {
				b.SetTag(f, "x")
			}
			err := ix.Apply(&b)
			if tt.ok && err != nil || !tt.ok && !errors.Is(err, ErrSparseID) {
				t.Fatalf("Apply(%v) = %v, want ok %v", tt.ids, err, tt.ok)
			}
		})
	}
}

// TestIssue9Reserve: Reserve(1<<32-1) followed by one SetField allocated
// 12 GB. A reservation beyond MaxFriends is refused with ErrSparseID and
// changes nothing, and no reservation lets Apply take an ID beyond
// MaxFriends; neither allocates.
func TestIssue9Reserve(t *testing.T) {
	schema := MustSchema(testSchemaConfig)
	tests := []struct {
		name       string
		reserve    int
		id         stepcast.FriendID // then set a field of this friend
		reserveErr error
		apply      error
	}{
		{"Huge", 1<<32 - 1, 1<<32 - 2, ErrSparseID, ErrSparseID},
		{"JustBeyond", MaxFriends + 2, MaxFriends + 1, ErrSparseID, ErrSparseID},
		{"AtMaxBeyondID", MaxFriends + 1, MaxFriends + 1, nil, ErrSparseID},
		{"Negative", -1, 1, nil, nil},
		{"Small", 1000, 999, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := NewIndex(schema)
			before := heapAllocated()
			err := ix.Reserve(tt.reserve)
			if !errors.Is(err, tt.reserveErr) || (err == nil) != (tt.reserveErr == nil) {
				t.Fatalf("Reserve(%d) = %v, want %v", tt.reserve, err, tt.reserveErr)
			}
			if err != nil && ix.reserved != 0 {
				t.Fatalf("a refused Reserve set reserved to %d", ix.reserved)
			}
			var b Batch
			b.SetField(tt.id, "age", 30)
			err = ix.Apply(&b)
			if !errors.Is(err, tt.apply) || (err == nil) != (tt.apply == nil) {
				t.Fatalf("Apply(SetField(%d)) = %v, want %v", tt.id, err, tt.apply)
			}
			if grew := heapAllocated() - before; grew > 1<<20 {
				t.Errorf("Reserve and Apply allocated %d bytes", grew)
			}
		})
	}
}

// TestShuffledLoad: friends 1..N in shuffled order load as one batch, or
// in pages once the index knows N is coming; pages in ascending order need
// nothing. The index ends up the same.
func TestShuffledLoad(t *testing.T) {
	const n, page = 100_000, 1000 // n > IDSlack: shuffled pages go beyond it
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
		name    string
		ids     []stepcast.FriendID
		page    int
		reserve int
		ok      bool
	}{
		{"AscendingPages", ids, page, 0, true},
		{"ShuffledBatch", shuffled, n, 0, true},
		{"ShuffledPagesReserved", shuffled, page, n + 1, true},
		{"ShuffledPages", shuffled, page, 0, false}, // beyond the contract
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := NewIndex(schema)
			if err := ix.Reserve(tt.reserve); err != nil {
				t.Fatal(err)
			}
			err := load(t, ix, tt.ids, tt.page)
			if !tt.ok {
				if !errors.Is(err, ErrSparseID) {
					t.Fatalf("load = %v, want ErrSparseID", err)
				}
				return
			}
			if err != nil {
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

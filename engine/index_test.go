package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/internal/synth"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

var indexSchema = segment.MustSchema(segment.SchemaConfig{
	Fields: []segment.Field{
		{Name: "age", Type: stepcast.FieldInt},
		{Name: "area", Type: stepcast.FieldString},
		{Name: "joined", Type: stepcast.FieldTime},
	},
	Scores: []string{"lead"},
})

var probes = []string{
	`true`, `blocked`, `tag("a")`, `tag("b") && !tag("a")`, `age >= 30`, `area == "東京都"`, `has("area")`,
	`score("lead") >= 5`, `in_scenario("trial")`, `scenario_step("trial") >= 2`, `variant("exp") == "B"`,
	`clicked("url")`, `clicked("url", 3)`, `count("click", "url") >= 2`, `answered("q", "yes")`,
	`joined < date("2026-11-20")`, `followed_days <= 3`,
}

// randomWrites makes one unit of work of random friends, changes and
// events (synth.RandomUnit).
func randomWrites(t *testing.T, s store.Store, r *rand.Rand, now time.Time, nextEvent *int) {
	t.Helper()
	if err := tryRandomWrites(s, r, now, nextEvent); err != nil {
		t.Fatal(err)
	}
}

func tryRandomWrites(s store.Store, r *rand.Rand, now time.Time, nextEvent *int) error {
	return s.Update(context.Background(), "acct", func(tx store.Tx) error { return synth.RandomUnit(tx, r, now, nextEvent) })
}

func sameAudiences(t *testing.T, a, b *segment.Index, now time.Time, round int) {
	t.Helper()
	for _, src := range probes {
		seg := segment.MustCompile(src, indexSchema)
		x, _ := seg.Eval(a, now)
		y, _ := seg.Eval(b, now)
		if !slices.Equal(x.ToArray(), y.ToArray()) {
			t.Fatalf("round %d: %s differs between the caught-up index (%v) and a rebuild (%v)", round, src, x.ToArray(), y.ToArray())
		}
	}
}

// TestCatchUpEqualsRebuild: an index kept current by CatchUp, and a second
// "engine" catching up from the same store, always answer like an index
// rebuilt from a fresh snapshot.
func TestCatchUpEqualsRebuild(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) store.Store{
		"memstore":  func(*testing.T) store.Store { return memstore.New() },
		"boltstore": func(t *testing.T) store.Store { return openBolt(t) },
		"pgstore":   func(t *testing.T) store.Store { return openPG(t, "") },
	} {
		t.Run(name, func(t *testing.T) { testCatchUp(t, open(t)) })
	}
}

// TestTwoEnginesOnPostgreSQLConverge: two store instances on one database
// (as two engine processes would hold) write concurrently; the index each
// keeps by catching up ends equal to a rebuild.
func TestTwoEnginesOnPostgreSQLConverge(t *testing.T) {
	ctx := context.Background()
	a := openPG(t, "")
	b := openPG(t, a.Schema())
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, indexSchema.Location())
	ixA, ixB := segment.NewIndex(indexSchema), segment.NewIndex(indexSchema)
	var curA, curB Cursor
	var wg sync.WaitGroup
	var eventsA, eventsB int
	eventsB = 1_000_000 // distinct event IDs per writer
	for w, s := range []store.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 9))
			next := &eventsA
			if w == 1 {
				next = &eventsB
			}
			for range 10 {
				if err := tryRandomWrites(s, r, now, next); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	var err error
	if curA, err = catchUp(ctx, a, "acct", ixA, curA); err != nil {
		t.Fatal(err)
	}
	if curB, err = catchUp(ctx, b, "acct", ixB, curB); err != nil {
		t.Fatal(err)
	}
	rebuilt := segment.NewIndex(indexSchema)
	if _, err := LoadIndex(ctx, a, "acct", rebuilt); err != nil {
		t.Fatal(err)
	}
	sameAudiences(t, ixA, rebuilt, now, 0)
	sameAudiences(t, ixB, rebuilt, now, 0)
	if curA != curB || curA.Changes == 0 {
		t.Fatalf("cursors %+v and %+v", curA, curB)
	}
}

func testCatchUp(t *testing.T, s store.Store) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 5))
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, indexSchema.Location())
	events := 0
	randomWrites(t, s, r, now, &events)

	live := segment.NewIndex(indexSchema)
	cur, err := LoadIndex(ctx, s, "acct", live)
	if err != nil {
		t.Fatal(err)
	}
	other := segment.NewIndex(indexSchema) // a second engine that starts empty
	var otherCur Cursor
	for round := range 30 {
		randomWrites(t, s, r, now, &events)
		if cur, err = catchUp(ctx, s, "acct", live, cur); err != nil {
			t.Fatal(err)
		}
		if otherCur, err = catchUp(ctx, s, "acct", other, otherCur); err != nil {
			t.Fatal(err)
		}
		rebuilt := segment.NewIndex(indexSchema)
		if _, err := LoadIndex(ctx, s, "acct", rebuilt); err != nil {
			t.Fatal(err)
		}
		sameAudiences(t, live, rebuilt, now, round)
		sameAudiences(t, other, rebuilt, now, round)
	}
	if cur != otherCur || cur.Changes == 0 || cur.Events == 0 {
		t.Fatalf("cursors %+v and %+v", cur, otherCur)
	}
}

func TestLoadIndexSkipsUndeclaredAndRefusesMismatched(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	err := s.Update(ctx, "acct", func(tx store.Tx) error {
		f, _, _ := tx.AddFriend("U1")
		_, err := tx.Apply(
			store.Change{Friend: f.ID, Kind: store.Follow, At: time.Now()},
			store.Change{Friend: f.ID, Kind: store.SetField, Name: "retired_field", Value: stepcast.IntValue(1)},
			store.Change{Friend: f.ID, Kind: store.SetScore, Name: "retired_score", Number: 3},
		)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ix := segment.NewIndex(indexSchema)
	if _, err := LoadIndex(ctx, s, "acct", ix); err != nil {
		t.Fatalf("LoadIndex with undeclared names: %v", err)
	}
	if ix.Len() != 1 {
		t.Fatalf("index has %d friends, want 1", ix.Len())
	}
	// A stored value that no longer fits its field's type is left out and
	// reported.
	err = s.Update(ctx, "acct", func(tx store.Tx) error {
		_, err := tx.Apply(store.Change{Friend: 1, Kind: store.SetField, Name: "age", Value: stepcast.StringValue("thirty")})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = LoadIndex(ctx, s, "acct", segment.NewIndex(indexSchema))
	if !errors.Is(err, segment.ErrType) {
		t.Fatalf("LoadIndex with a mismatched value = %v, want segment.ErrType", err)
	}
}

// TestLoadIndexGoesPastAMismatchedValue: a bad value in the first page
// of a rebuild of many pages is left out and reported, and the rest is
// loaded — on the scanning path (boltstore) as on the paging one
// (memstore).
func TestLoadIndexGoesPastAMismatchedValue(t *testing.T) {
	ageOnly := segment.MustSchema(segment.SchemaConfig{Fields: []segment.Field{{Name: "age", Type: stepcast.FieldInt}}})
	for name, s := range map[string]store.Store{"memstore": memstore.New(), "boltstore": openBolt(t)} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			err := s.Update(ctx, "acct", func(tx store.Tx) error {
				for i := range 12_000 {
					f, _, err := tx.AddFriend(stepcast.UserID(fmt.Sprintf("U%d", i)))
					if err != nil {
						return err
					}
					v := stepcast.IntValue(int64(i))
					if i == 5 {
						v = stepcast.StringValue("thirty")
					}
					if _, err := tx.Apply(store.Change{Friend: f.ID, Kind: store.SetField, Name: "age", Value: v}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			ix := segment.NewIndex(ageOnly)
			_, err = LoadIndex(ctx, s, "acct", ix)
			if !errors.Is(err, segment.ErrType) || !errors.Is(err, ErrSkipped) {
				t.Fatalf("LoadIndex = %v, want segment.ErrType, skipped", err)
			}
			// Nobody follows: "!following" draws the audience from every known friend.
			n, err := segment.MustCompile(`!following && has("age")`, ageOnly).Count(ix, time.Now())
			if err != nil || n != 11_999 {
				t.Fatalf("friends with an age: %d, %v; want 11999 (all but the bad one)", n, err)
			}
			if got := ix.Len(); got != 12_000 {
				t.Errorf("the index holds %d friends, want 12000", got)
			}
		})
	}
}

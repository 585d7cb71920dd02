package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stepcast/stepcast/store"
)

func testDefinitions(t *testing.T, s store.Store) {
	body := []byte(`{"steps":[{"day":0,"at":"10:00"}]}`)
	update(t, s, func(tx store.Tx) error {
		for _, d := range []store.Definition{
			{Kind: "scenario", Name: "trial", Body: body, UpdatedAt: t0},
			{Kind: "scenario", Name: "after-purchase", Body: []byte(`{}`), UpdatedAt: t0},
			{Kind: "segment", Name: "vip", Body: []byte(`"tag(\"vip\")"`), UpdatedAt: t0},
		} {
			if v, err := tx.PutDefinition(d); err != nil || v != 1 {
				t.Errorf("PutDefinition(%s/%s) = %d, %v", d.Kind, d.Name, v, err)
			}
		}
		if _, err := tx.PutDefinition(store.Definition{Kind: "scenario", Name: "trial", UpdatedAt: t0}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("creating an existing definition = %v, want ErrConflict", err)
		}
		if _, err := tx.PutDefinition(store.Definition{Kind: "scenario", UpdatedAt: t0}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("a definition without a name = %v, want ErrInvalid", err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		d, err := tx.Definition("scenario", "trial")
		if err != nil || d.Version != 1 || string(d.Body) != string(body) || !d.UpdatedAt.Equal(t0) {
			t.Errorf("Definition = %+v, %v", d, err)
		}
		d.Body = []byte(`{"steps":[]}`)
		d.UpdatedAt = t0.Add(time.Hour)
		if v, err := tx.PutDefinition(d); err != nil || v != 2 {
			t.Errorf("PutDefinition at the read version = %d, %v", v, err)
		}
		d.Version = 1
		if _, err := tx.PutDefinition(d); !errors.Is(err, store.ErrConflict) {
			t.Errorf("PutDefinition at a stale version = %v, want ErrConflict", err)
		}
		scenarios, err := tx.Definitions("scenario")
		if err != nil || len(scenarios) != 2 || scenarios[0].Name != "after-purchase" || scenarios[1].Name != "trial" {
			t.Errorf("Definitions(scenario) = %+v, %v", scenarios, err)
		}
		all, _ := tx.Definitions("")
		if len(all) != 3 || all[2].Kind != "segment" {
			t.Errorf("Definitions(\"\") = %+v", all)
		}
		if err := tx.DeleteDefinition("segment", "vip", 9); !errors.Is(err, store.ErrConflict) {
			t.Errorf("DeleteDefinition at a stale version = %v, want ErrConflict", err)
		}
		if err := tx.DeleteDefinition("segment", "vip", 1); err != nil {
			t.Errorf("DeleteDefinition = %v", err)
		}
		if _, err := tx.Definition("segment", "vip"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a deleted definition = %v, want ErrNotFound", err)
		}
		return nil
	})
}

func testTallies(t *testing.T, s store.Store) {
	update(t, s, func(tx store.Tx) error {
		for _, d := range []store.Tally{
			{Experiment: "welcome", Variant: "B", Recipients: 100},
			{Experiment: "welcome", Variant: "A", Recipients: 98},
			{Experiment: "welcome", Variant: "B", Clickers: 7, Converters: 2, Revenue: 12000.5},
			{Experiment: "sale", Variant: "A", Recipients: 1},
		} {
			if _, err := tx.AddToTally(d); err != nil {
				return err
			}
		}
		if _, err := tx.AddToTally(store.Tally{Experiment: "welcome"}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("AddToTally without a variant = %v, want ErrInvalid", err)
		}
		return nil
	})
	err := s.Update(context.Background(), acct, func(tx store.Tx) error {
		tx.AddToTally(store.Tally{Experiment: "welcome", Variant: "A", Recipients: 1000})
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatal(err)
	}
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.Tallies("welcome")
		want := []store.Tally{{Experiment: "welcome", Variant: "A", Recipients: 98},
			{Experiment: "welcome", Variant: "B", Recipients: 100, Clickers: 7, Converters: 2, Revenue: 12000.5}}
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("Tallies(welcome) = %+v, %v; want %+v", got, err, want)
		}
		all, _ := tx.Tallies("")
		if len(all) != 3 || all[0].Experiment != "sale" {
			t.Errorf("Tallies(\"\") = %+v", all)
		}
		return nil
	})
}

// testBatch: concurrent batched units all commit, each exactly once, with
// dense IDs, although functions may be retried.

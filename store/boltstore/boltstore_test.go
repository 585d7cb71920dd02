package boltstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/boltstore"
	"github.com/stepcast/stepcast/store/storetest"
)

type harness struct{}

func (harness) Open(_ context.Context, t *testing.T) (store.Store, error) {
	return boltstore.Open(filepath.Join(t.TempDir(), "stepcast.db"))
}
func (harness) Close() {}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(context.Context, *testing.T) (storetest.Harness, error) { return harness{}, nil }, storetest.Features{
		Reopen: func(_ context.Context, _ *testing.T, s store.Store) (store.Store, error) {
			path := s.(*boltstore.Store).Path()
			if err := s.Close(); err != nil {
				return nil, err
			}
			return boltstore.Open(path)
		},
	})
}

func TestOpenRefusesForeignAndNewerFiles(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "foreign.db")
	db, err := bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("someone-elses")); return err })
	db.Close()
	if _, err := boltstore.Open(foreign); !errors.Is(err, boltstore.ErrFormat) || !strings.Contains(err.Error(), foreign) {
		t.Fatalf("Open(foreign bbolt file) = %v, want ErrFormat naming the file", err)
	}

	newer := filepath.Join(dir, "newer.db")
	db, _ = bolt.Open(newer, 0o600, nil)
	db.Update(func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucket([]byte("stepcast"))
		return b.Put([]byte("format"), []byte("99"))
	})
	db.Close()
	if _, err := boltstore.Open(newer); !errors.Is(err, boltstore.ErrFormat) || !strings.Contains(err.Error(), "format 99") {
		t.Fatalf("Open(newer format) = %v, want ErrFormat naming the version", err)
	}

	garbage := filepath.Join(dir, "garbage.db")
	os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 1000)), 0o600)
	if _, err := boltstore.Open(garbage); err == nil || !strings.Contains(err.Error(), garbage) {
		t.Fatalf("Open(garbage) = %v, want an error naming the file", err)
	}
}

// TestUpgradeFromFormat1: a file written before friends' histories were
// indexed gets the index built from its event log when opened.
func TestUpgradeFromFormat1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	err = s.Update(ctx, "salon", func(tx store.Tx) error {
		for i := range 6 {
			f, _, err := tx.AddFriend(stepcast.UserID(fmt.Sprintf("U%d", i%2)))
			if err != nil {
				return err
			}
			if _, err := tx.AppendEvent(stepcast.Event{ID: fmt.Sprint(i), Friend: f.ID, Kind: "click", At: t0}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Make it format 1: no per-friend index.
	db, _ := bolt.Open(path, 0o600, nil)
	db.Update(func(tx *bolt.Tx) error {
		root := tx.Bucket([]byte("stepcast"))
		root.Bucket([]byte("salon")).DeleteBucket([]byte("friend-events"))
		return root.Put([]byte("format"), []byte("1"))
	})
	db.Close()

	s, err = boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.View(ctx, "salon", func(tx store.ReadTx) error {
		evs, err := tx.FriendEvents(2, 0, 10)
		if err != nil || len(evs) != 3 || evs[0].ID != "5" || evs[2].ID != "1" {
			t.Errorf("history after the upgrade: %+v, %v", evs, err)
		}
		return nil
	})
}

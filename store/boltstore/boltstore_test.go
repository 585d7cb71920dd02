package boltstore_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/internal/bolttest"
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
		Written: written,
	})
}

// written marks what the store committed: the file's last transaction ID.
func written(t *testing.T, s store.Store) string {
	return fmt.Sprint("transaction ", bolttest.TxID(t, s.(*boltstore.Store).Path()))
}

// NoSync skips the fsync only: the store is the same store, reopened
// with what was committed (the process closed it; only a machine's crash
// could lose commits).
func TestConformanceNoSync(t *testing.T) {
	if testing.Short() {
		t.Skip("the conformance suite again, without fsync")
	}
	storetest.Run(t, func(context.Context, *testing.T) (storetest.Harness, error) { return noSyncHarness{}, nil }, storetest.Features{
		Reopen: func(_ context.Context, _ *testing.T, s store.Store) (store.Store, error) {
			path := s.(*boltstore.Store).Path()
			if err := s.Close(); err != nil {
				return nil, err
			}
			return boltstore.OpenWith(path, boltstore.Options{NoSync: true})
		},
		Written: written,
	})
}

type noSyncHarness struct{}

func (noSyncHarness) Open(_ context.Context, t *testing.T) (store.Store, error) {
	return boltstore.OpenWith(filepath.Join(t.TempDir(), "stepcast.db"), boltstore.Options{NoSync: true})
}
func (noSyncHarness) Close() {}

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

}

// TestOpenRefusesWhatIsNotBbolt: whatever the file holds, Open returns
// ErrFormat naming it — never a bare bbolt error, never a panic.
func TestOpenRefusesWhatIsNotBbolt(t *testing.T) {
	dir := t.TempDir()
	valid := mustStoreFile(t, filepath.Join(dir, "valid.db"))
	random := make([]byte, 64<<10)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	cases := []struct {
		name string
		data []byte
	}{
		{"RandomBytes", random},
		{"RandomByte", random[:1]},
		{"TextFile", []byte(strings.Repeat("not a database\n", 1000))},
		{"ShortTextFile", []byte("hello\n")},
		{"TextFileOfAPageAndABit", []byte(strings.Repeat("x", 5000))},
		{"Zeros", make([]byte, 64<<10)},
		{"TruncatedToHalf", valid[:len(valid)/2]},
		{"TruncatedToAQuarter", valid[:len(valid)/4]},
		{"TruncatedToTwoPages", valid[:8192]},
		{"TruncatedInsideAPage", valid[:len(valid)/2+123]},
		{"TruncatedToOnePage", valid[:4096]},
		{"TruncatedInsideTheFirstPage", valid[:100]},
		{"DamagedFreelistPage", damagePage(t, valid, freelistAt)},
		{"DamagedRootPage", damagePage(t, valid, rootAt)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name+".db")
			if err := os.WriteFile(path, c.data, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := boltstore.Open(path)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%s) succeeded", c.name)
			}
			if !errors.Is(err, boltstore.ErrFormat) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Open(%s) = %v, want ErrFormat naming the file", c.name, err)
			}
			// Nothing of the failed Open holds the file: it fails the same
			// way again, not with ErrLocked.
			if _, err := boltstore.OpenWith(path, boltstore.Options{Timeout: -1}); !errors.Is(err, boltstore.ErrFormat) {
				t.Fatalf("Open(%s) again = %v, want ErrFormat", c.name, err)
			}
		})
	}
	t.Run("Directory", func(t *testing.T) {
		if _, err := boltstore.Open(dir); !errors.Is(err, boltstore.ErrFormat) {
			t.Fatalf("Open(a directory) = %v, want ErrFormat", err)
		}
	})
}

// TestOpenEmptyFile: an empty file (as touch or os.CreateTemp leaves it)
// becomes a new store.
func TestOpenEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatalf("Open(empty file) = %v", err)
	}
	defer s.Close()
	if err := s.Update(context.Background(), "a", func(tx store.Tx) error { _, _, err := tx.AddFriend("U1"); return err }); err != nil {
		t.Fatal(err)
	}
}

// TestOpenMissingFolder: the operating system's error comes through.
func TestOpenMissingFolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no-such-folder", "s.db")
	_, err := boltstore.Open(path)
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, boltstore.ErrFormat) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open(%s) = %v, want fs.ErrNotExist naming the file", path, err)
	}
}

// TestOpenLocked: bbolt locks the file per open file, so a second Open in
// this process stands for another process holding it.
func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	first, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, timeout := range []time.Duration{time.Millisecond, -1} {
		_, err := boltstore.OpenWith(path, boltstore.Options{Timeout: timeout})
		if !errors.Is(err, boltstore.ErrLocked) || errors.Is(err, boltstore.ErrFormat) {
			t.Fatalf("OpenWith(held file, Timeout %v) = %v, want ErrLocked", timeout, err)
		}
		for _, want := range []string{path, "another process", "one writer process"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("OpenWith(held file) = %q, want it to say %q", err, want)
			}
		}
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second, err := boltstore.OpenWith(path, boltstore.Options{Timeout: time.Millisecond})
	if err != nil {
		t.Fatalf("Open after the holder closed: %v", err)
	}
	second.Close()
}

// Offsets in a bbolt meta page (bbolt's format 2, after the 16-byte page
// header: magic, version, page size, flags, root bucket {page, sequence},
// free list page, high water mark, transaction ID, checksum).
const (
	pageSizeAt = 16 + 8
	rootAt     = 16 + 16
	freelistAt = 16 + 32
	txidAt     = 16 + 48
)

// damagePage returns a copy of a bbolt file with the page that the
// current meta page's field at offset field points to overwritten with
// garbage: the meta pages stay valid, so only reading that page finds the
// damage (bbolt panics on it).
func damagePage(tb testing.TB, file []byte, field int) []byte {
	tb.Helper()
	u64 := func(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }
	pageSize := int(binary.LittleEndian.Uint32(file[pageSizeAt:]))
	meta := file[:pageSize]
	if other := file[pageSize : 2*pageSize]; u64(other[txidAt:]) > u64(meta[txidAt:]) {
		meta = other
	}
	page := int(u64(meta[field:]))
	if page < 2 || (page+1)*pageSize > len(file) {
		tb.Fatalf("meta points to page %d of a %d-byte file", page, len(file))
	}
	out := bytes.Clone(file)
	for i := page * pageSize; i < (page+1)*pageSize; i++ {
		out[i] = 0xee
	}
	return out
}

// mustStoreFile writes a store with some friends at path, closes it and
// returns the file's bytes.
func mustStoreFile(tb testing.TB, path string) []byte {
	tb.Helper()
	s, err := boltstore.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	err = s.Update(context.Background(), "a", func(tx store.Tx) error {
		for i := range 300 {
			f, _, err := tx.AddFriend(stepcast.UserID(fmt.Sprintf("U%040d", i)))
			if err != nil {
				return err
			}
			if _, err := tx.Apply(store.Change{Friend: f.ID, Kind: store.Follow, At: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Close(); err != nil {
		tb.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if len(b) < 4*8192 {
		tb.Fatalf("store file of %d bytes, too small to cut", len(b))
	}
	return b
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

// TestUpgradeFromFormat2: a file written before the outbox's typed indexes
// gets them built from its deliveries when opened, and leases, lists and
// counts them as one written now.
func TestUpgradeFromFormat2(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	err = s.Update(ctx, "salon", func(tx store.Tx) error {
		for i := range 5 {
			d := store.Delivery{Key: fmt.Sprint(i), RetryKey: fmt.Sprintf("123e4567-e89b-42d3-a456-%012d", i), Kind: stepcast.DeliveryPush,
				CreatedAt: t0, NextAt: t0.Add(time.Duration(5-i) * time.Minute)}
			if _, err := tx.Enqueue(d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	leased, err := s.LeaseDeliveries(ctx, "salon", "h", t0.Add(time.Hour), time.Minute, 1)
	if err != nil || len(leased) != 1 {
		t.Fatal(leased, err)
	}
	if err := s.Update(ctx, "salon", func(tx store.Tx) error {
		return tx.FinishDelivery(leased[0].ID, "h", store.Outcome{Status: store.Sent, At: t0})
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Make it format 2: the pending deliveries in "outbox-due" (next
	// attempt time and ID), no other index.
	db, _ := bolt.Open(path, 0o600, nil)
	err = db.Update(func(tx *bolt.Tx) error {
		root := tx.Bucket([]byte("stepcast"))
		acct := root.Bucket([]byte("salon"))
		for _, n := range []string{"outbox-queue", "outbox-status", "outbox-causes", "outbox-friends"} {
			if err := acct.DeleteBucket([]byte(n)); err != nil {
				return err
			}
		}
		due, err := acct.CreateBucket([]byte("outbox-due"))
		if err != nil {
			return err
		}
		err = acct.Bucket([]byte("outbox")).ForEach(func(k, v []byte) error {
			var d store.Delivery
			if err := json.Unmarshal(v, &d); err != nil || d.Status != store.Pending {
				return err
			}
			return due.Put(binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, uint64(d.NextAt.UnixMicro())), d.ID), nil)
		})
		if err != nil {
			return err
		}
		return root.Put([]byte("format"), []byte("2"))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	s, err = boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.View(ctx, "salon", func(tx store.ReadTx) error {
		pending, err := tx.Deliveries(store.DeliveryFilter{Status: store.Pending, Limit: 10})
		if err != nil || len(pending) != 4 {
			t.Errorf("pending after the upgrade: %d, %v", len(pending), err)
		}
		if p, err := tx.DeliveryProgress(""); err != nil || p != (store.DeliveryProgress{Pending: 4, Sent: 1}) {
			t.Errorf("progress after the upgrade: %+v, %v", p, err)
		}
		return nil
	})
	got, err := s.LeaseDeliveries(ctx, "salon", "h2", t0.Add(2*time.Hour), time.Minute, 10)
	var keys []string
	for _, d := range got {
		keys = append(keys, d.Key)
	}
	if err != nil || strings.Join(keys, " ") != "3 2 1 0" {
		t.Fatalf("leased after the upgrade: %v, %v; want 3 2 1 0 (by next attempt)", keys, err)
	}
}

package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

func exportOf(t *testing.T, s store.Store) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := store.Export(context.Background(), s, "acct", &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestExportImportRoundTrip: export from bolt, import into memory, export,
// import into PostgreSQL, export: the same bytes every time.
func TestExportImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	bolt := mustBolt(t)
	r := rand.New(rand.NewPCG(21, 22))
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	events := 0
	for range 10 {
		randomWrites(t, bolt, r, now, &events)
	}
	err := bolt.Update(context.Background(), "acct", func(tx store.Tx) error {
		if _, err := tx.AddToTally(store.Tally{Experiment: "welcome", Variant: "B", Recipients: 3, Revenue: 0.1}); err != nil {
			return err
		}
		for i := range 3 {
			d := store.Delivery{Key: fmt.Sprintf("push/%d", i), RetryKey: fmt.Sprintf("123e4567-e89b-42d3-a456-%012d", i), Kind: "push",
				Payload: []byte(`{"to":"U1"}`), CreatedAt: now}
			if _, err := tx.Enqueue(d); err != nil {
				return err
			}
		}
		_, err := tx.PutDefinition(store.Definition{Kind: "scenario", Name: "trial", Body: []byte(`{"steps":[]}`), UpdatedAt: now})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// One delivery sent, one retrying, one pending.
	leased, err := bolt.LeaseDeliveries(context.Background(), "acct", "h", now, time.Minute, 2)
	if err != nil || len(leased) != 2 {
		t.Fatalf("lease: %v, %v", leased, err)
	}
	err = bolt.Update(context.Background(), "acct", func(tx store.Tx) error {
		if err := tx.FinishDelivery(leased[0].ID, "h", store.Outcome{Status: store.Sent, RequestID: "r-1", At: now}); err != nil {
			return err
		}
		return tx.FinishDelivery(leased[1].ID, "h", store.Outcome{Status: store.Pending, Error: "500", At: now, NextAt: now.Add(time.Minute)})
	})
	if err != nil {
		t.Fatal(err)
	}
	first := exportOf(t, bolt)
	if n := bytes.Count(first, []byte("\n")); n < 100 {
		t.Fatalf("the export has only %d lines", n)
	}
	for _, kind := range []string{`{"friend"`, `{"change"`, `{"event"`, `{"timer"`, `{"definition"`, `{"tally"`, `{"delivery"`} {
		if !bytes.Contains(first, []byte("\n"+kind)) {
			t.Fatalf("the export has no %s lines", kind)
		}
	}
	targets := []store.Store{memstore.New()}
	if pg := tryPG(t); pg != nil {
		targets = append(targets, pg)
	}
	src := first
	for _, s := range targets {
		if err := store.Import(ctx, s, "acct", bytes.NewReader(src)); err != nil {
			t.Fatalf("Import into %T: %v", s, err)
		}
		again := exportOf(t, s)
		if !bytes.Equal(again, first) {
			t.Fatalf("export after import into %T differs from the original", s)
		}
		src = again
	}
	// Importing again into the same, now non-empty, account is refused.
	if err := store.Import(ctx, targets[0], "acct", bytes.NewReader(first)); !errors.Is(err, store.ErrNotEmpty) {
		t.Fatalf("Import into a non-empty account = %v, want ErrNotEmpty", err)
	}
}

// tryPG returns a PostgreSQL store, or nil when STEPCAST_POSTGRES_DSN is unset.
func tryPG(t *testing.T) store.Store {
	if os.Getenv("STEPCAST_POSTGRES_DSN") == "" {
		t.Log("STEPCAST_POSTGRES_DSN is not set; the round trip skips PostgreSQL")
		return nil
	}
	return mustPG(t, "")
}

func TestImportRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	src := memstore.New()
	r := rand.New(rand.NewPCG(1, 2))
	events := 0
	randomWrites(t, src, r, time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC), &events)
	good := strings.Split(strings.TrimSuffix(string(exportOf(t, src)), "\n"), "\n")
	firstChange := 0
	for i, l := range good {
		if strings.HasPrefix(l, `{"change"`) {
			firstChange = i
			break
		}
	}
	join := func(lines ...string) string { return strings.Join(lines, "\n") + "\n" }
	tests := []struct {
		name string
		in   string
		line int
	}{
		{"Empty", "", 1},
		{"NotAnExport", join(`{"hello":"world"}`), 1},
		{"NewerVersion", join(`{"format":"stepcast-export","version":2,"account":"x"}`), 1},
		{"BrokenJSON", join(append(good[:3:3], `{"friend":{"id":`)...), 4},
		{"UnknownField", join(append(good[:2:2], `{"friend":{"id":2,"user":"U2","colour":"red"}}`)...), 3},
		{"FriendOutOfOrder", join(good[0], good[2]), 2},
		{"ChangeGap", join(append(good[:firstChange:firstChange], good[firstChange+1])...), firstChange + 1},
		{"FriendAfterChanges", join(append(good[:firstChange+1:firstChange+1], good[1])...), firstChange + 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := memstore.New()
			err := store.Import(ctx, dst, "acct", strings.NewReader(tt.in))
			var ie *store.ImportError
			if !errors.As(err, &ie) || ie.Line != tt.line || !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("Import = %v, want an *ImportError at line %d wrapping ErrInvalid", err, tt.line)
			}
			dst.View(ctx, "acct", func(tx store.ReadTx) error {
				fs, _ := tx.Friends(0, 10)
				last, _ := tx.LastSeq()
				if len(fs) != 0 || last != 0 {
					t.Errorf("a refused import left %d friends and %d changes", len(fs), last)
				}
				return nil
			})
		})
	}
	// A friend record that its change log does not rebuild is refused.
	tampered := strings.Replace(join(good...), `"following":`, `"tags":["forged"],"following":`, 1)
	if err := store.Import(ctx, memstore.New(), "acct", strings.NewReader(tampered)); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("Import of a tampered record = %v, want ErrInvalid", err)
	}
}

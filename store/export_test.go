package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

func exportOf(t testing.TB, s store.Store) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := store.Export(context.Background(), s, "acct", &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// backends opens an empty store of each kind; PostgreSQL's skips, saying
// so, when STEPCAST_POSTGRES_DSN is unset (see internal/pgtest).
var backends = []struct {
	name string
	open func(testing.TB) store.Store
}{
	{"memstore", func(testing.TB) store.Store { return memstore.New() }},
	{"boltstore", mustBolt},
	{"pgstore", func(t testing.TB) store.Store { return mustPG(t, "") }},
}

// roundTripSource writes random friends, changes, events and timers, and a
// tally, deliveries of every status and a definition, the same on any
// store.
func roundTripSource(t testing.TB, s store.Store) {
	t.Helper()
	r := rand.New(rand.NewPCG(21, 22))
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	events := 0
	for range 10 {
		if err := tryRandomWrites(s, r, now, &events); err != nil {
			t.Fatal(err)
		}
	}
	err := s.Update(context.Background(), "acct", func(tx store.Tx) error {
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
	leased, err := s.LeaseDeliveries(context.Background(), "acct", "h", now, time.Minute, 2)
	if err != nil || len(leased) != 2 {
		t.Fatalf("lease: %v, %v", leased, err)
	}
	err = s.Update(context.Background(), "acct", func(tx store.Tx) error {
		if err := tx.FinishDelivery(leased[0].ID, "h", store.Outcome{Status: store.Sent, RequestID: "r-1", At: now}); err != nil {
			return err
		}
		return tx.FinishDelivery(leased[1].ID, "h", store.Outcome{Status: store.Pending, Error: "500", At: now, NextAt: now.Add(time.Minute)})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestExportImportRoundTrip: the same writes on every backend export to
// the same bytes; the export imports into every backend, which then holds
// the source's records, field by field (compared with what the source
// holds, not with a second export), and exports the same bytes again.
func TestExportImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := mustBolt(t)
	roundTripSource(t, src)
	first := exportOf(t, src)
	want := readState(t, src, "acct")
	if n := bytes.Count(first, []byte("\n")); n < 100 {
		t.Fatalf("the export has only %d lines", n)
	}
	for _, kind := range []string{`{"friend"`, `{"change"`, `{"event"`, `{"timer"`, `{"definition"`, `{"tally"`, `{"delivery"`, `{"end"`} {
		if !bytes.Contains(first, []byte("\n"+kind)) {
			t.Fatalf("the export has no %s lines", kind)
		}
	}
	if len(want.Timers) == 0 || want.Timers[0].State == nil {
		t.Fatalf("the source has no timer with a state")
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			same := b.open(t)
			roundTripSource(t, same)
			if got := exportOf(t, same); !bytes.Equal(got, first) {
				t.Errorf("the same writes export differently from %s", b.name)
			}
			dst := b.open(t)
			if err := store.Import(ctx, dst, "acct", bytes.NewReader(first)); err != nil {
				t.Fatalf("Import: %v", err)
			}
			sameState(t, readState(t, dst, "acct"), want)
			if again := exportOf(t, dst); !bytes.Equal(again, first) {
				t.Errorf("the export after import differs from the original")
			}
			// Importing again into the same, now non-empty, account is refused.
			if err := store.Import(ctx, dst, "acct", bytes.NewReader(first)); !errors.Is(err, store.ErrNotEmpty) {
				t.Fatalf("Import into a non-empty account = %v, want ErrNotEmpty", err)
			}
		})
	}
}

// TestExportImportLongestLines: an event at every limit, its texts made of
// control characters that JSON writes six bytes each — a line of 25 MB,
// beyond what a bufio.Scanner would read — exports and imports back.
func TestExportImportLongestLines(t *testing.T) {
	ctrl := strings.Repeat("\x01", stepcast.MaxTextLen)
	data := map[string]string{}
	for i := range stepcast.MaxDataKeys {
		data[fmt.Sprintf("%03d", i)+strings.Repeat("\x02", stepcast.MaxNameLen-3)] = ctrl
	}
	e := stepcast.Event{ID: strings.Repeat("\x03", stepcast.MaxIDLen), Kind: "custom", Name: strings.Repeat("\x04", stepcast.MaxNameLen),
		Value: ctrl, Data: data, At: time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)}
	src := memstore.New()
	err := src.Update(context.Background(), "acct", func(tx store.Tx) error {
		f, _, err := tx.AddFriend(stepcast.UserID(strings.Repeat("\x05", stepcast.MaxIDLen)))
		if err != nil {
			return err
		}
		e.Friend = f.ID
		_, err = tx.AppendEvent(e)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	first := exportOf(t, src)
	if longest := maxLine(first); longest < 24<<20 {
		t.Fatalf("the longest line has %d bytes; want over 24 MiB", longest)
	}
	want := readState(t, src, "acct")
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dst := b.open(t)
			if err := store.Import(context.Background(), dst, "acct", bytes.NewReader(first)); err != nil {
				t.Fatalf("Import: %v", err)
			}
			sameState(t, readState(t, dst, "acct"), want)
			if !bytes.Equal(exportOf(t, dst), first) {
				t.Errorf("the export after import differs")
			}
		})
	}
}

func maxLine(b []byte) int {
	n := 0
	for _, l := range bytes.Split(b, []byte("\n")) {
		n = max(n, len(l))
	}
	return n
}

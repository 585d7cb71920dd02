package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// Edge input the backends once answered each in its own way: account IDs,
// lookups by keys no record can have, pages at the ends of the key range,
// tally sums that overflow. Every backend must answer alike.

// badAccounts are account IDs store.AccountID.Validate refuses.
var badAccounts = []struct {
	name string
	id   store.AccountID
}{
	{"Empty", ""},
	{"NUL", "a\x00"},
	{"NotUTF8", "a\xff"},
	{"TooLong", store.AccountID(long(stepcast.MaxNameLen + 1))},
	{"OfAMegabyte", store.AccountID(long(1 << 20))},
}

// testAccountIDs: an account ID that is not a name is refused by every
// entry point — View, Update, Batch, Lease, LeaseDeliveries, Export,
// Import — with ErrInvalid, before fn runs or anything is written; any
// name is taken, including names a backend might hold for itself.
func testAccountIDs(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, c := range badAccounts {
		t.Run("Refused/"+c.name, func(t *testing.T) {
			ran := false
			checkRefusal(t, s.View(ctx, c.id, func(store.ReadTx) error { ran = true; return nil }))
			checkRefusal(t, s.Update(ctx, c.id, func(tx store.Tx) error { ran = true; _, _, err := tx.AddFriend("U1"); return err }))
			if b, ok := s.(store.Batcher); ok {
				checkRefusal(t, b.Batch(ctx, c.id, func(tx store.Tx) error { ran = true; _, _, err := tx.AddFriend("U1"); return err }))
			}
			if ran {
				t.Errorf("the unit of work ran")
			}
			_, err := s.Lease(ctx, c.id, "h", t0, time.Minute, 10)
			checkRefusal(t, err)
			_, err = s.LeaseDeliveries(ctx, c.id, "h", t0, time.Minute, 10)
			checkRefusal(t, err)
			var out bytes.Buffer
			checkRefusal(t, store.Export(ctx, s, c.id, &out))
			if out.Len() != 0 {
				t.Errorf("Export wrote %d bytes", out.Len())
			}
			var in bytes.Buffer
			if err := store.Export(ctx, s, "empty", &in); err != nil {
				t.Fatal(err)
			}
			checkRefusal(t, store.Import(ctx, s, c.id, &in))
		})
	}
	// Names a backend might keep for itself (a bucket or a key of its
	// own), and names at the limits: each its own account.
	good := []store.AccountID{"format", "stepcast", "friends", "users", "0", " ", "a/b", "a\x01", "会員 チャンネル",
		store.AccountID(long(stepcast.MaxNameLen))}
	for i, id := range good {
		t.Run("Taken/"+stepcast.Quote(string(id)), func(t *testing.T) {
			err := s.Update(ctx, id, func(tx store.Tx) error {
				f, _, err := tx.AddFriend(user(i))
				if err != nil {
					return err
				}
				if _, err := tx.Apply(store.Change{Friend: f.ID, Kind: store.SetTag, Name: fmt.Sprintf("in-%d", i)}); err != nil {
					return err
				}
				_, err = tx.PutTimer(store.Timer{Friend: f.ID, Key: "scenario/x", Due: t0})
				return err
			})
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			err = s.View(ctx, id, func(tx store.ReadTx) error {
				fs, err := tx.Friends(0, 10)
				if err != nil || len(fs) != 1 || fs[0].User != user(i) {
					t.Errorf("Friends = %+v, %v; want the one friend of this account", fs, err)
				}
				return err
			})
			if err != nil {
				t.Fatalf("View: %v", err)
			}
			if got, err := s.Lease(ctx, id, "h", t0, time.Minute, 10); err != nil || len(got) != 1 {
				t.Errorf("Lease = %d timers, %v; want 1", len(got), err)
			}
			if _, err := s.LeaseDeliveries(ctx, id, "h", t0, time.Minute, 10); err != nil {
				t.Errorf("LeaseDeliveries = %v", err)
			}
			if b, ok := s.(store.Batcher); ok {
				if err := b.Batch(ctx, id, func(tx store.Tx) error { _, _, err := tx.AddFriend(user(i)); return err }); err != nil {
					t.Errorf("Batch = %v", err)
				}
			}
			var out bytes.Buffer
			if err := store.Export(ctx, s, id, &out); err != nil {
				t.Fatalf("Export: %v", err)
			}
			copied := store.AccountID("copy-" + string(id[:min(len(id), 100)]))
			if err := store.Import(ctx, s, copied, &out); err != nil {
				t.Fatalf("Import: %v", err)
			}
		})
	}
}

// testImpossibleKeys: a lookup by a key no record can have — one the
// writes refuse: empty, not UTF-8, holding NUL, too long — finds nothing
// on every backend, without an error of the backend's own: a store that
// passed such text to its storage (PostgreSQL refuses it) would fail, and
// the unit of work could not go on.
func testImpossibleKeys(t *testing.T, s store.Store) {
	ids := addFriends(t, s, 1)
	f := ids[0]
	update(t, s, func(tx store.Tx) error {
		_, err := tx.PutTimer(store.Timer{Friend: f, Key: "k", Due: t0})
		if err == nil {
			_, err = tx.PutDefinition(store.Definition{Kind: "scenario", Name: "n", UpdatedAt: t0})
		}
		if err == nil {
			_, err = tx.AddToTally(store.Tally{Experiment: "e", Variant: "A", Recipients: 1})
		}
		if err == nil {
			d := delivery("d", t0)
			d.Cause = "rule:r"
			_, err = tx.Enqueue(d)
		}
		if err == nil {
			_, err = tx.AppendEvent(stepcast.Event{ID: "e1", Friend: f, Kind: stepcast.EventClick, At: t0})
		}
		return err
	})
	bad := []struct{ name, s string }{
		{"NotUTF8", "U\xff"},
		{"NotUTF8Cut", "\xe6\x9d"},
		{"NUL", "U\x00"},
		{"OnlyNUL", "\x00"},
		{"TooLong", long(store.MaxCauseLen + 1)},
		{"OfAMegabyte", long(1 << 20)},
	}
	reads := func(t *testing.T, tx store.ReadTx, k string) {
		t.Helper()
		notFound := func(what string, err error) {
			t.Helper()
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s = %v, want ErrNotFound", what, err)
			} else if len(err.Error()) > 400 {
				t.Errorf("%s: the error repeats the key: %.200s…", what, err)
			}
		}
		_, err := tx.FriendByUser(stepcast.UserID(k))
		notFound("FriendByUser", err)
		if ok, err := tx.HasEvent(k); ok || err != nil {
			t.Errorf("HasEvent = %v, %v; want false", ok, err)
		}
		_, err = tx.Timer(f, k)
		notFound("Timer", err)
		_, err = tx.Timer(0, k)
		notFound("Timer of the account", err)
		_, err = tx.Definition(k, "n")
		notFound("Definition by kind", err)
		_, err = tx.Definition("scenario", k)
		notFound("Definition by name", err)
		_, err = tx.DeliveryByKey(k)
		notFound("DeliveryByKey", err)
		if k == "" { // "" selects every kind, experiment or cause
			return
		}
		if defs, err := tx.Definitions(k); len(defs) != 0 || err != nil {
			t.Errorf("Definitions = %d, %v; want none", len(defs), err)
		}
		if ts, err := tx.Tallies(k); len(ts) != 0 || err != nil {
			t.Errorf("Tallies = %d, %v; want none", len(ts), err)
		}
		if ds, err := tx.Deliveries(store.DeliveryFilter{Cause: k, Limit: 10}); len(ds) != 0 || err != nil {
			t.Errorf("Deliveries of the cause = %d, %v; want none", len(ds), err)
		}
		if p, err := tx.DeliveryProgress(k); p != (store.DeliveryProgress{}) || err != nil {
			t.Errorf("DeliveryProgress = %+v, %v; want zero", p, err)
		}
	}
	for _, c := range append(bad, struct{ name, s string }{"Empty", ""}) {
		t.Run(c.name, func(t *testing.T) {
			view(t, s, func(tx store.ReadTx) error { reads(t, tx, c.s); return nil })
			tag := "after/" + c.name
			update(t, s, func(tx store.Tx) error {
				reads(t, tx, c.s)
				if err := tx.DeleteTimer(f, c.s, 1); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("DeleteTimer = %v, want ErrNotFound", err)
				}
				if err := tx.DeleteDefinition(c.s, c.s, 1); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("DeleteDefinition = %v, want ErrNotFound", err)
				}
				// The unit of work goes on and commits.
				_, err := tx.Apply(store.Change{Friend: f, Kind: store.SetTag, Name: tag})
				return err
			})
			view(t, s, func(tx store.ReadTx) error {
				if got, _ := tx.Friend(f); !containsTag(got.Tags, tag) {
					t.Errorf("the unit of work did not commit after the lookups")
				}
				return nil
			})
		})
	}
	// And what is there is still found.
	view(t, s, func(tx store.ReadTx) error {
		if _, err := tx.Timer(f, "k"); err != nil {
			t.Errorf("Timer = %v", err)
		}
		if p, err := tx.DeliveryProgress("rule:r"); err != nil || p.Pending != 1 {
			t.Errorf("DeliveryProgress = %+v, %v", p, err)
		}
		if ok, err := tx.HasEvent("e1"); !ok || err != nil {
			t.Errorf("HasEvent = %v, %v", ok, err)
		}
		return nil
	})
}

// testPageEdges: paged reads at the ends of their key ranges return
// nothing — after the largest key (no wrap around to the first), and for a
// limit that is not positive — on every backend, without an error.
func testPageEdges(t *testing.T, s store.Store) {
	ids := addFriends(t, s, 2)
	update(t, s, func(tx store.Tx) error {
		if _, err := tx.Apply(store.Change{Friend: ids[0], Kind: store.SetTag, Name: "t"}); err != nil {
			return err
		}
		if _, err := tx.AppendEvent(stepcast.Event{ID: "e1", Friend: ids[0], Kind: stepcast.EventClick, At: t0}); err != nil {
			return err
		}
		_, err := tx.Enqueue(delivery("d", t0))
		return err
	})
	none := func(t *testing.T, what string, n int, err error) {
		t.Helper()
		if n != 0 || err != nil {
			t.Errorf("%s = %d records, %v; want none", what, n, err)
		}
	}
	check := func(t *testing.T, tx store.ReadTx) {
		for _, after := range []stepcast.FriendID{math.MaxUint32, math.MaxUint32 - 1} {
			fs, err := tx.Friends(after, 10)
			none(t, "Friends at the end", len(fs), err)
		}
		for _, limit := range []int{0, -1, math.MinInt} {
			fs, err := tx.Friends(0, limit)
			none(t, "Friends with a limit not positive", len(fs), err)
			cs, err := tx.Changes(0, limit)
			none(t, "Changes with a limit not positive", len(cs), err)
			es, err := tx.Events(0, limit)
			none(t, "Events with a limit not positive", len(es), err)
			fes, err := tx.FriendEvents(ids[0], 0, limit)
			none(t, "FriendEvents with a limit not positive", len(fes), err)
		}
		for _, after := range []uint64{math.MaxUint64, math.MaxUint64 - 1, math.MaxInt64, math.MaxInt64 + 1} {
			cs, err := tx.Changes(after, 10)
			none(t, "Changes at the end", len(cs), err)
			es, err := tx.Events(after, 10)
			none(t, "Events at the end", len(es), err)
			ds, err := tx.Deliveries(store.DeliveryFilter{After: after, Limit: 10})
			none(t, "Deliveries at the end", len(ds), err)
		}
		for _, before := range []uint64{math.MaxUint64, math.MaxInt64 + 1} { // beyond every Seq: from the latest
			if es, err := tx.FriendEvents(ids[0], before, 10); len(es) != 1 || err != nil {
				t.Errorf("FriendEvents before %d = %d, %v; want the one event", before, len(es), err)
			}
		}
		if sc, ok := tx.(store.FriendScanner); ok {
			n, err := sc.ScanFriends(math.MaxUint32, 10, func(*store.Friend) error { return nil })
			none(t, "ScanFriends at the end", n, err)
			n, err = sc.ScanFriends(0, 0, func(*store.Friend) error { return nil })
			none(t, "ScanFriends with no limit", n, err)
		}
	}
	view(t, s, func(tx store.ReadTx) error { check(t, tx); return nil })
	update(t, s, func(tx store.Tx) error {
		check(t, tx)
		_, err := tx.Apply(store.Change{Friend: ids[1], Kind: store.SetTag, Name: "after"}) // the unit of work goes on
		return err
	})
}

// testTallyOverflow: a delta whose sum would overflow a count, take one
// below zero or make the revenue infinite is refused with ErrInvalid on every backend; nothing
// of it is added, and the unit of work goes on.
func testTallyOverflow(t *testing.T, s store.Store) {
	for _, c := range []struct {
		name         string
		start, delta store.Tally
		ok           bool
		want         store.Tally // with ok
	}{
		{"RecipientsPastMaxInt64", store.Tally{Recipients: math.MaxInt64}, store.Tally{Recipients: 1}, false, store.Tally{}},
		{"RecipientsByMaxInt64Twice", store.Tally{Recipients: math.MaxInt64}, store.Tally{Recipients: math.MaxInt64}, false, store.Tally{}},
		{"ClickersBelowZero", store.Tally{Clickers: 1}, store.Tally{Clickers: -2}, false, store.Tally{}},
		{"NegativeFromNothing", store.Tally{}, store.Tally{Recipients: -1}, false, store.Tally{}},
		{"ConvertersPastMaxInt64", store.Tally{Converters: math.MaxInt64 - 1}, store.Tally{Converters: 2}, false, store.Tally{}},
		{"OneCountOverflowsAndOthersDoNot", store.Tally{Recipients: 5, Clickers: math.MaxInt64}, store.Tally{Recipients: 1, Clickers: 1, Revenue: 1}, false, store.Tally{}},
		{"RevenueToInfinity", store.Tally{Revenue: math.MaxFloat64}, store.Tally{Revenue: math.MaxFloat64}, false, store.Tally{}},
		{"RevenueToMinusInfinity", store.Tally{Revenue: -math.MaxFloat64}, store.Tally{Revenue: -math.MaxFloat64}, false, store.Tally{}},
		{"ToMaxInt64", store.Tally{Recipients: math.MaxInt64 - 1}, store.Tally{Recipients: 1}, true, store.Tally{Recipients: math.MaxInt64}},
		{"BackToZero", store.Tally{Converters: 3}, store.Tally{Converters: -3}, true, store.Tally{}},
		{"BackFromMaxInt64", store.Tally{Recipients: math.MaxInt64}, store.Tally{Recipients: -1}, true, store.Tally{Recipients: math.MaxInt64 - 1}},
		{"RevenueToMaxFloat64", store.Tally{Revenue: math.MaxFloat64}, store.Tally{Revenue: -1}, true, store.Tally{Revenue: math.MaxFloat64}},
		{"RevenueBackDown", store.Tally{Revenue: math.MaxFloat64}, store.Tally{Revenue: -math.MaxFloat64}, true, store.Tally{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			start, delta := c.start, c.delta
			start.Experiment, start.Variant = "overflow", c.name
			delta.Experiment, delta.Variant = start.Experiment, start.Variant
			want := start
			if c.ok {
				want = c.want
				want.Experiment, want.Variant = start.Experiment, start.Variant
			}
			update(t, s, func(tx store.Tx) error { _, err := tx.AddToTally(start); return err })
			tag := "after/" + c.name
			ids := addFriends(t, s, 1)
			update(t, s, func(tx store.Tx) error {
				got, err := tx.AddToTally(delta)
				if c.ok && (err != nil || got != want) {
					t.Errorf("AddToTally = %+v, %v; want %+v", got, err, want)
				}
				if !c.ok {
					checkRefusal(t, err)
				}
				_, err = tx.Apply(store.Change{Friend: ids[0], Kind: store.SetTag, Name: tag})
				return err
			})
			view(t, s, func(tx store.ReadTx) error {
				if got, _ := tx.Friend(ids[0]); !containsTag(got.Tags, tag) {
					t.Errorf("the unit of work did not commit after the refusal")
				}
				all, err := tx.Tallies("overflow")
				for _, tl := range all {
					if tl.Variant == c.name && tl != want {
						t.Errorf("the tally is %+v, want %+v", tl, want)
					}
				}
				return err
			})
			var b bytes.Buffer
			if err := store.Export(context.Background(), s, acct, &b); err != nil {
				t.Errorf("Export after the refusal: %v", err)
			} else if !strings.Contains(b.String(), `"variant":"`+c.name+`"`) {
				t.Errorf("the export lacks the tally")
			}
		})
	}
}

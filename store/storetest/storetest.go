// Package storetest is the conformance suite every store backend runs:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(ctx context.Context, t *testing.T) (storetest.Harness, error) { ... }, storetest.Features{})
//	}
//
// It checks the contracts written on the store interfaces: dense IDs,
// ordering, error identity (errors.Is), atomic units of work, account
// isolation, ownership of returned values, canceled contexts, the
// microsecond time precision, the input limits (every backend accepts and
// refuses the same input, before anything reaches its storage) and the
// lease boundary (due at Due, expired at LeaseUntil, for timers and
// deliveries alike).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// Harness opens stores for the suite.
type Harness interface {
	// Open returns a fresh, empty store. Called once per subtest.
	Open(ctx context.Context, t *testing.T) (store.Store, error)
	// Close releases what the harness holds.
	Close()
}

// HarnessMaker returns a harness for one run of the suite.
type HarnessMaker func(ctx context.Context, t *testing.T) (Harness, error)

// Features are the capabilities a backend claims; the suite checks them.
type Features struct {
	// Another, when set, opens a second handle on s's data, as another
	// engine instance would (PostgreSQL); concurrent leasing then runs
	// each holder on its own handle.
	Another func(ctx context.Context, t *testing.T, s store.Store) (store.Store, error)
	// Reopen, when set, closes s and opens it again on the same data, to
	// check that committed work survives (durable backends).
	Reopen func(ctx context.Context, t *testing.T, s store.Store) (store.Store, error)
}

// Run runs the conformance suite.
func Run(t *testing.T, newHarness HarnessMaker, f Features) {
	ctx := context.Background()
	h, err := newHarness(ctx, t)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	t.Cleanup(h.Close)
	open := func(t *testing.T) store.Store {
		s, err := h.Open(ctx, t)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	for _, c := range []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"FriendsGetDenseIDs", testFriendIDs},
		{"FriendLookupAndPaging", testFriendLookup},
		{"ChangesApplyAndLog", testChanges},
		{"RefusedChangesChangeNothing", testRefusedChanges},
		{"RollbackOnError", testRollback},
		{"EventsDeduplicate", testEvents},
		{"FriendHistory", testFriendEvents},
		{"AccountsAreIsolated", testIsolation},
		{"CanceledContext", testCanceled},
		{"ReturnedValuesBelongToTheCaller", testOwnership},
		{"TimesKeptToTheMicrosecondInUTC", testTimes},
		{"ConcurrentUpdates", testConcurrent},
		{"TimersVersioned", testTimers},
		{"LeaseHandsDueTimersOnce", testLease},
		{"OutboxDeliveries", testOutbox},
		{"DefinitionsVersioned", testDefinitions},
		{"TalliesAccumulate", testTallies},
		{"InputLimitsAlike", testLimits},
		{"LeaseBoundaryAlike", testLeaseBoundary},
		{"LeaseHonorsItsLimit", testLeaseLimit},
		{"AccountTimers", testAccountTimers},
		{"LeaseByKind", testLeaseKinds},
		{"RetryKeysByKind", testRetryKeys},
		{"DeliveriesByPriority", testDeliveryPriority},
		{"FirstAttemptSetOnce", testFirstAttempt},
		{"CancelDeliveries", testCancel},
		{"ListAndCountDeliveries", testListDeliveries},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open(t)) })
	}
	t.Run("ConcurrentHoldersAndADeadOne", func(t *testing.T) { testLeaseConcurrent(t, open(t), f.Another) })
	t.Run("BatchedUnitsOfWork", func(t *testing.T) {
		s := open(t)
		b, ok := s.(store.Batcher)
		if !ok {
			t.Skip("the store does not implement store.Batcher")
		}
		testBatch(t, s, b)
	})
	if f.Reopen != nil {
		t.Run("CommittedWorkSurvivesReopen", func(t *testing.T) { testReopen(t, open(t), f.Reopen) })
	}
	t.Run("Closed", func(t *testing.T) {
		s := open(t)
		s.Close()
		err := s.View(ctx, "a", func(store.ReadTx) error { return nil })
		if !errors.Is(err, store.ErrClosed) {
			t.Fatalf("View after Close = %v, want ErrClosed", err)
		}
	})
}

const acct = store.AccountID("test-account")

var t0 = time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)

func update(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), acct, fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t *testing.T, s store.Store, fn func(store.ReadTx) error) {
	t.Helper()
	if err := s.View(context.Background(), acct, fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

func user(i int) stepcast.UserID { return stepcast.UserID(fmt.Sprintf("U%032d", i)) }

func addFriends(t *testing.T, s store.Store, n int) []stepcast.FriendID {
	t.Helper()
	var ids []stepcast.FriendID
	update(t, s, func(tx store.Tx) error {
		for i := range n {
			f, _, err := tx.AddFriend(user(i))
			if err != nil {
				return err
			}
			ids = append(ids, f.ID)
		}
		return nil
	})
	return ids
}

func testFriendIDs(t *testing.T, s store.Store) {
	ids := addFriends(t, s, 5)
	for i, id := range ids {
		if id != stepcast.FriendID(i+1) {
			t.Fatalf("friend %d got ID %d, want %d (dense from 1)", i, id, i+1)
		}
	}
	update(t, s, func(tx store.Tx) error {
		f, created, err := tx.AddFriend(user(2))
		if err != nil || created || f.ID != 3 {
			t.Errorf("AddFriend of a known user = %d, %v, %v; want 3, false", f.ID, created, err)
		}
		f, created, err = tx.AddFriend(user(99))
		if err != nil || !created || f.ID != 6 {
			t.Errorf("AddFriend of a new user = %d, %v, %v; want 6, true", f.ID, created, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		if _, _, err := tx.AddFriend(""); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("AddFriend(\"\") = %v, want ErrInvalid", err)
		}
		return nil
	})
}

func testFriendLookup(t *testing.T, s store.Store) {
	addFriends(t, s, 25)
	view(t, s, func(tx store.ReadTx) error {
		f, err := tx.FriendByUser(user(7))
		if err != nil || f.ID != 8 || f.User != user(7) {
			t.Errorf("FriendByUser = %+v, %v", f, err)
		}
		if _, err := tx.Friend(26); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Friend(26) = %v, want ErrNotFound", err)
		}
		if _, err := tx.Friend(0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Friend(0) = %v, want ErrNotFound", err)
		}
		if _, err := tx.FriendByUser("Unobody"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("FriendByUser(unknown) = %v, want ErrNotFound", err)
		}
		var got []stepcast.FriendID
		after := stepcast.FriendID(0)
		for {
			page, err := tx.Friends(after, 10)
			if err != nil {
				return err
			}
			for _, f := range page {
				got = append(got, f.ID)
			}
			if len(page) < 10 {
				break
			}
			after = page[len(page)-1].ID
		}
		if len(got) != 25 || !slices.IsSorted(got) || got[0] != 1 {
			t.Errorf("paging returned %v", got)
		}
		return nil
	})
}

func testChanges(t *testing.T, s store.Store) {
	ids := addFriends(t, s, 2)
	f := ids[0]
	changes := []store.Change{
		{Friend: f, Kind: store.Follow, At: t0},
		{Friend: f, Kind: store.SetTag, Name: "vip"},
		{Friend: f, Kind: store.SetTag, Name: "interest/beauty"},
		{Friend: f, Kind: store.SetTag, Name: "vip"}, // again: no duplicate
		{Friend: f, Kind: store.SetField, Name: "age", Value: stepcast.IntValue(34)},
		{Friend: f, Kind: store.SetField, Name: "area", Value: stepcast.StringValue("東京都")},
		{Friend: f, Kind: store.UnsetField, Name: "area"},
		{Friend: f, Kind: store.SetScore, Name: "lead", Number: 12},
		{Friend: f, Kind: store.EnterStep, Name: "trial", Number: 2},
		{Friend: f, Kind: store.SetVariant, Name: "welcome", Text: "B"},
		{Friend: f, Kind: store.SetProfile, Name: "ゆうこ", Text: "Asia/Tokyo"},
		{Friend: f, Kind: store.ClearVariant, Name: "old-test"},
		{Friend: ids[1], Kind: store.Follow, At: t0},
		{Friend: ids[1], Kind: store.Unfollow, At: t0.Add(time.Minute)},
	}
	var seqs []uint64
	update(t, s, func(tx store.Tx) error {
		var err error
		seqs, err = tx.Apply(changes[:5]...)
		if err != nil {
			return err
		}
		more, err := tx.Apply(changes[5:]...)
		seqs = append(seqs, more...)
		return err
	})
	for i, seq := range seqs {
		if seq != uint64(i+1) {
			t.Fatalf("Seq of change %d = %d, want %d", i, seq, i+1)
		}
	}
	view(t, s, func(tx store.ReadTx) error {
		got, err := tx.Friend(f)
		if err != nil {
			return err
		}
		want := store.Friend{ID: f, User: user(0), DisplayName: "ゆうこ", TimeZone: "Asia/Tokyo", Following: true, FollowedAt: t0,
			Tags: []string{"interest/beauty", "vip"}, Fields: map[string]stepcast.Value{"age": stepcast.IntValue(34)},
			Scores: map[string]int64{"lead": 12}, Scenarios: map[string]int{"trial": 2}, Variants: map[string]string{"welcome": "B"}}
		if !sameFriend(got, want) {
			t.Errorf("friend after changes:\n got %+v\nwant %+v", got, want)
		}
		other, _ := tx.Friend(ids[1])
		if other.Following || !other.UnfollowedAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("unfollowed friend: %+v", other)
		}
		last, err := tx.LastSeq()
		if err != nil || last != uint64(len(changes)) {
			t.Errorf("LastSeq = %d, %v; want %d", last, err, len(changes))
		}
		page, err := tx.Changes(10, 3)
		if err != nil || len(page) != 3 || page[0].Seq != 11 || page[2].Seq != 13 || page[1].Kind != changes[11].Kind {
			t.Errorf("Changes(10, 3) = %+v, %v", page, err)
		}
		if page[0].Name != "ゆうこ" || page[0].Text != "Asia/Tokyo" {
			t.Errorf("a change came back altered: %+v", page[0])
		}
		return nil
	})
}

func sameFriend(a, b store.Friend) bool {
	eqValues := func(x, y map[string]stepcast.Value) bool {
		if len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if !v.Equal(y[k]) {
				return false
			}
		}
		return true
	}
	return a.ID == b.ID && a.User == b.User && a.DisplayName == b.DisplayName && a.TimeZone == b.TimeZone &&
		a.Following == b.Following && a.FollowedAt.Equal(b.FollowedAt) && a.UnfollowedAt.Equal(b.UnfollowedAt) &&
		slices.Equal(a.Tags, b.Tags) && eqValues(a.Fields, b.Fields) && mapsEqual(a.Scores, b.Scores) &&
		mapsEqual(a.Scenarios, b.Scenarios) && mapsEqual(a.Variants, b.Variants)
}

func mapsEqual[K, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func testRefusedChanges(t *testing.T, s store.Store) {
	ids := addFriends(t, s, 1)
	bad := []struct {
		name string
		c    store.Change
		want error
	}{
		{"UnknownFriend", store.Change{Friend: 42, Kind: store.SetTag, Name: "x"}, store.ErrNotFound},
		{"UnknownKind", store.Change{Friend: ids[0], Kind: 200}, store.ErrInvalid},
		{"NoTagName", store.Change{Friend: ids[0], Kind: store.SetTag}, store.ErrInvalid},
		{"InvalidValue", store.Change{Friend: ids[0], Kind: store.SetField, Name: "age"}, store.ErrInvalid},
		{"FollowWithoutTime", store.Change{Friend: ids[0], Kind: store.Follow}, store.ErrInvalid},
		{"UnknownTimeZone", store.Change{Friend: ids[0], Kind: store.SetProfile, Text: "Mars/Olympus"}, store.ErrInvalid},
		{"NegativeStep", store.Change{Friend: ids[0], Kind: store.EnterStep, Name: "s", Number: -1}, store.ErrInvalid},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			err := s.Update(context.Background(), acct, func(tx store.Tx) error {
				_, err := tx.Apply(store.Change{Friend: ids[0], Kind: store.SetTag, Name: "before"}, b.c)
				return err
			})
			if !errors.Is(err, b.want) {
				t.Fatalf("Apply = %v, want %v", err, b.want)
			}
			view(t, s, func(tx store.ReadTx) error {
				f, _ := tx.Friend(ids[0])
				last, _ := tx.LastSeq()
				if len(f.Tags) != 0 || last != 0 {
					t.Errorf("a refused change left tags %v and LastSeq %d", f.Tags, last)
				}
				return nil
			})
		})
	}
}

var errBoom = errors.New("boom")

func testRollback(t *testing.T, s store.Store) {
	ids := addFriends(t, s, 1)
	err := s.Update(context.Background(), acct, func(tx store.Tx) error {
		if _, _, err := tx.AddFriend(user(50)); err != nil {
			return err
		}
		if _, err := tx.Apply(store.Change{Friend: ids[0], Kind: store.SetTag, Name: "half"}); err != nil {
			return err
		}
		if _, err := tx.AppendEvent(stepcast.Event{ID: "ev1", Friend: ids[0], Kind: "click", At: t0}); err != nil {
			return err
		}
		// The transaction sees its own writes.
		f, err := tx.Friend(ids[0])
		if err != nil || !slices.Equal(f.Tags, []string{"half"}) {
			t.Errorf("inside the tx: %+v, %v", f, err)
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update = %v, want the function's error", err)
	}
	view(t, s, func(tx store.ReadTx) error {
		if _, err := tx.FriendByUser(user(50)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a rolled-back friend exists: %v", err)
		}
		f, _ := tx.Friend(ids[0])
		last, _ := tx.LastSeq()
		has, _ := tx.HasEvent("ev1")
		if len(f.Tags) != 0 || last != 0 || has {
			t.Errorf("rolled-back work is visible: tags %v, LastSeq %d, event %v", f.Tags, last, has)
		}
		return nil
	})
	// The ID of the rolled-back friend is not taken.
	update(t, s, func(tx store.Tx) error {
		f, _, err := tx.AddFriend(user(51))
		if err == nil && f.ID != 2 {
			t.Errorf("next ID after a rollback = %d, want 2", f.ID)
		}
		return err
	})
}

func testEvents(t *testing.T, s store.Store) {
	ids := addFriends(t, s, 1)
	update(t, s, func(tx store.Tx) error {
		for i := range 5 {
			seq, err := tx.AppendEvent(stepcast.Event{ID: fmt.Sprintf("ev%d", i), Friend: ids[0], Kind: "click", Name: "url", At: t0.Add(time.Duration(i) * time.Minute)})
			if err != nil || seq != uint64(i+1) {
				t.Errorf("AppendEvent %d = %d, %v", i, seq, err)
			}
		}
		if _, err := tx.AppendEvent(stepcast.Event{ID: "ev2", Friend: ids[0], Kind: "click", At: t0}); !errors.Is(err, store.ErrDuplicate) {
			t.Errorf("AppendEvent of a seen ID (same tx) = %v, want ErrDuplicate", err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		if _, err := tx.AppendEvent(stepcast.Event{ID: "ev4", Friend: ids[0], Kind: "click", At: t0}); !errors.Is(err, store.ErrDuplicate) {
			t.Errorf("AppendEvent of a seen ID (later tx) = %v, want ErrDuplicate", err)
		}
		if _, err := tx.AppendEvent(stepcast.Event{ID: "x", Friend: 99, Kind: "click", At: t0}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("AppendEvent for an unknown friend = %v, want ErrNotFound", err)
		}
		if _, err := tx.AppendEvent(stepcast.Event{ID: "", Friend: ids[0], Kind: "click", At: t0}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("AppendEvent without ID = %v, want ErrInvalid", err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		_, err := tx.AppendEvent(stepcast.Event{ID: "buy", Friend: ids[0], Kind: stepcast.EventConversion, Name: "purchase", Value: "plan-a",
			Amount: 4980.5, Data: map[string]string{"route": "qr-7", "coupon": "WINTER"}, At: t0})
		return err
	})
	view(t, s, func(tx store.ReadTx) error {
		evs, _ := tx.Events(5, 10)
		if len(evs) != 1 || evs[0].Amount != 4980.5 || evs[0].Data["route"] != "qr-7" || evs[0].Kind != stepcast.EventConversion || len(evs[0].Data) != 2 {
			t.Errorf("an event with amount and data came back as %+v", evs)
			return nil
		}
		evs[0].Data["route"] = "mutated"
		again, _ := tx.Events(5, 10)
		if again[0].Data["route"] != "qr-7" {
			t.Errorf("the caller's edit of an event's data reached the store")
		}
		return nil
	})
	view(t, s, func(tx store.ReadTx) error {
		evs, err := tx.Events(2, 3)
		if err != nil || len(evs) != 3 || evs[0].Seq != 3 || evs[0].ID != "ev2" || !evs[2].At.Equal(t0.Add(4*time.Minute)) {
			t.Errorf("Events(2, 10) = %+v, %v", evs, err)
		}
		has, _ := tx.HasEvent("ev3")
		hasNot, _ := tx.HasEvent("nope")
		if !has || hasNot {
			t.Errorf("HasEvent = %v, %v", has, hasNot)
		}
		return nil
	})
}

// testFriendEvents: each friend's history, latest first, in pages, with
// the events of the running transaction.
func testFriendEvents(t *testing.T, s store.Store) {
	ids := addFriends(t, s, 3)
	seqsOf := func(evs []store.Event) []uint64 {
		var out []uint64
		for _, e := range evs {
			out = append(out, e.Seq)
		}
		return out
	}
	update(t, s, func(tx store.Tx) error {
		for i := range 12 { // friends 1, 2, 3, 1, 2, 3, …
			if _, err := tx.AppendEvent(stepcast.Event{ID: fmt.Sprintf("h%d", i), Friend: ids[i%3], Kind: "click", Name: "url", At: t0.Add(time.Duration(i) * time.Minute)}); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx store.ReadTx) error {
		all, err := tx.FriendEvents(ids[1], 0, 100)
		if got := seqsOf(all); err != nil || !slices.Equal(got, []uint64{11, 8, 5, 2}) {
			t.Errorf("FriendEvents(friend 2) = %v, %v; want seqs 11 8 5 2", got, err)
		}
		if len(all) > 0 && (all[0].ID != "h10" || all[0].Friend != ids[1] || !all[0].At.Equal(t0.Add(10*time.Minute))) {
			t.Errorf("latest event of friend 2 = %+v", all[0])
		}
		page, _ := tx.FriendEvents(ids[1], 8, 2) // the page after seq 8
		if got := seqsOf(page); !slices.Equal(got, []uint64{5, 2}) {
			t.Errorf("FriendEvents(friend 2, before 8, 2) = %v, want 5 2", got)
		}
		if none, _ := tx.FriendEvents(ids[1], 2, 10); len(none) != 0 {
			t.Errorf("nothing lies before the first event, got %v", seqsOf(none))
		}
		if none, _ := tx.FriendEvents(99, 0, 10); len(none) != 0 {
			t.Errorf("an unknown friend has a history: %v", seqsOf(none))
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		if _, err := tx.AppendEvent(stepcast.Event{ID: "h12", Friend: ids[1], Kind: "click", At: t0.Add(time.Hour)}); err != nil {
			return err
		}
		evs, err := tx.FriendEvents(ids[1], 0, 2)
		if got := seqsOf(evs); err != nil || !slices.Equal(got, []uint64{13, 11}) {
			t.Errorf("within the transaction: %v, %v; want 13 11", got, err)
		}
		return nil
	})
}

func testIsolation(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, a := range []store.AccountID{"clinic", "gym"} {
		err := s.Update(ctx, a, func(tx store.Tx) error {
			for i := range 3 {
				if _, _, err := tx.AddFriend(user(i + len(a))); err != nil {
					return err
				}
			}
			_, err := tx.Apply(store.Change{Friend: 1, Kind: store.SetTag, Name: string(a)})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err := s.View(ctx, "gym", func(tx store.ReadTx) error {
		f, err := tx.Friend(1)
		if err != nil || !slices.Equal(f.Tags, []string{"gym"}) || f.User != user(3) {
			t.Errorf("gym's friend 1 = %+v, %v", f, err)
		}
		if _, err := tx.FriendByUser(user(6)); !errors.Is(err, store.ErrNotFound) { // clinic's
			t.Errorf("a clinic friend is visible in gym: %v", err)
		}
		last, _ := tx.LastSeq()
		if last != 1 {
			t.Errorf("gym's LastSeq = %d, want 1", last)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testCanceled(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err := s.Update(ctx, acct, func(tx store.Tx) error { ran = true; _, _, err := tx.AddFriend(user(1)); return err })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Update with a canceled context = %v, want context.Canceled", err)
	}
	if err := s.View(ctx, acct, func(store.ReadTx) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("View with a canceled context = %v, want context.Canceled", err)
	}
	view(t, s, func(tx store.ReadTx) error {
		if _, err := tx.FriendByUser(user(1)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a canceled update committed (fn ran: %v)", ran)
		}
		return nil
	})
}

func testOwnership(t *testing.T, s store.Store) {
	ids := addFriends(t, s, 1)
	update(t, s, func(tx store.Tx) error {
		_, err := tx.Apply(store.Change{Friend: ids[0], Kind: store.SetTag, Name: "a"},
			store.Change{Friend: ids[0], Kind: store.SetScore, Name: "lead", Number: 1})
		return err
	})
	view(t, s, func(tx store.ReadTx) error {
		f, _ := tx.Friend(ids[0])
		f.Tags[0] = "mutated"
		f.Scores["lead"] = 99
		return nil
	})
	view(t, s, func(tx store.ReadTx) error {
		f, _ := tx.Friend(ids[0])
		if f.Tags[0] != "a" || f.Scores["lead"] != 1 {
			t.Errorf("the caller's edits reached the store: %+v", f)
		}
		return nil
	})
}

func testTimes(t *testing.T, s store.Store) {
	ids := addFriends(t, s, 1)
	at := time.Date(2026, 11, 28, 18, 30, 15, 123456789, time.FixedZone("JST", 9*3600))
	update(t, s, func(tx store.Tx) error {
		if _, err := tx.Apply(store.Change{Friend: ids[0], Kind: store.Follow, At: at}); err != nil {
			return err
		}
		_, err := tx.AppendEvent(stepcast.Event{ID: "e", Friend: ids[0], Kind: "click", At: at})
		return err
	})
	want := at.UTC().Truncate(time.Microsecond)
	view(t, s, func(tx store.ReadTx) error {
		f, _ := tx.Friend(ids[0])
		cs, _ := tx.Changes(0, 1)
		evs, _ := tx.Events(0, 1)
		for what, got := range map[string]time.Time{"FollowedAt": f.FollowedAt, "Change.At": cs[0].At, "Event.At": evs[0].At} {
			if !got.Equal(want) || got.Location() != time.UTC {
				t.Errorf("%s = %v, want %v in UTC", what, got, want)
			}
		}
		return nil
	})
}

func testConcurrent(t *testing.T, s store.Store) {
	ids := addFriends(t, s, 1)
	var wg sync.WaitGroup
	const writers, each = 4, 25
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				err := s.Update(context.Background(), acct, func(tx store.Tx) error {
					if _, _, err := tx.AddFriend(user(1000 + w*each + i)); err != nil {
						return err
					}
					_, err := tx.Apply(store.Change{Friend: ids[0], Kind: store.SetTag, Name: fmt.Sprintf("w%d-%d", w, i)})
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	view(t, s, func(tx store.ReadTx) error {
		f, _ := tx.Friend(ids[0])
		last, _ := tx.LastSeq()
		all, _ := tx.Friends(0, 1000)
		if len(f.Tags) != writers*each || last != writers*each || len(all) != writers*each+1 {
			t.Errorf("after concurrent updates: %d tags, LastSeq %d, %d friends", len(f.Tags), last, len(all))
		}
		for i, g := range all {
			if g.ID != stepcast.FriendID(i+1) {
				t.Errorf("IDs are not dense: position %d has %d", i, g.ID)
				break
			}
		}
		return nil
	})
}

func testReopen(t *testing.T, s store.Store, reopen func(context.Context, *testing.T, store.Store) (store.Store, error)) {
	ids := addFriends(t, s, 3)
	update(t, s, func(tx store.Tx) error {
		_, err := tx.Apply(store.Change{Friend: ids[1], Kind: store.SetTag, Name: "kept"})
		return err
	})
	s2, err := reopen(context.Background(), t, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	view(t, s2, func(tx store.ReadTx) error {
		f, err := tx.Friend(ids[1])
		last, _ := tx.LastSeq()
		if err != nil || !slices.Equal(f.Tags, []string{"kept"}) || last != 1 {
			t.Errorf("after reopen: %+v, %v, LastSeq %d", f, err, last)
		}
		return nil
	})
}

func testTimers(t *testing.T, s store.Store) {
	ids := addFriends(t, s, 2)
	f := ids[0]
	due := time.Date(2026, 12, 1, 9, 0, 0, 123456789, time.UTC)
	update(t, s, func(tx store.Tx) error {
		v, err := tx.PutTimer(store.Timer{Friend: f, Key: "scenario/trial", Due: due, State: []byte("step-1")})
		if err != nil || v != 1 {
			t.Errorf("PutTimer(new) = %d, %v; want version 1", v, err)
		}
		if _, err := tx.PutTimer(store.Timer{Friend: f, Key: "scenario/trial", Due: due}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("PutTimer(new) over an existing one = %v, want ErrConflict", err)
		}
		if _, err := tx.PutTimer(store.Timer{Friend: f, Key: "a-reminder", Due: due, Version: 3}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("PutTimer(version 3) of a missing timer = %v, want ErrConflict", err)
		}
		if _, err := tx.PutTimer(store.Timer{Friend: 99, Key: "k", Due: due}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("PutTimer for an unknown friend = %v, want ErrNotFound", err)
		}
		for _, bad := range []store.Timer{{Friend: f, Due: due}, {Friend: f, Key: "k"}} {
			if _, err := tx.PutTimer(bad); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("PutTimer(%+v) = %v, want ErrInvalid", bad, err)
			}
		}
		_, err = tx.PutTimer(store.Timer{Friend: f, Key: "reminder/booking-1", Due: due.Add(time.Hour)})
		return err
	})
	update(t, s, func(tx store.Tx) error {
		tm, err := tx.Timer(f, "scenario/trial")
		if err != nil || tm.Version != 1 || string(tm.State) != "step-1" || !tm.Due.Equal(due.Truncate(time.Microsecond)) {
			t.Errorf("Timer = %+v, %v", tm, err)
		}
		if _, err := tx.PutTimer(store.Timer{Friend: f, Key: "scenario/trial", Due: due, Version: 7}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("PutTimer at a stale version = %v, want ErrConflict", err)
		}
		tm.State, tm.Due = []byte("step-2"), due.Add(24*time.Hour)
		if v, err := tx.PutTimer(tm); err != nil || v != 2 {
			t.Errorf("PutTimer at the read version = %d, %v; want 2", v, err)
		}
		all, err := tx.FriendTimers(f)
		if err != nil || len(all) != 2 || all[0].Key != "reminder/booking-1" || all[1].Key != "scenario/trial" {
			t.Errorf("FriendTimers = %+v, %v (want 2, by key)", all, err)
		}
		if err := tx.DeleteTimer(f, "scenario/trial", 1); !errors.Is(err, store.ErrConflict) {
			t.Errorf("DeleteTimer at a stale version = %v, want ErrConflict", err)
		}
		if err := tx.DeleteTimer(f, "scenario/trial", 2); err != nil {
			t.Errorf("DeleteTimer = %v", err)
		}
		if err := tx.DeleteTimer(f, "scenario/trial", 2); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteTimer of a deleted timer = %v, want ErrNotFound", err)
		}
		if _, err := tx.Timer(ids[1], "scenario/trial"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("another friend's timer = %v, want ErrNotFound", err)
		}
		return nil
	})
}

func putTimers(t *testing.T, s store.Store, f stepcast.FriendID, n int, first time.Time) {
	t.Helper()
	update(t, s, func(tx store.Tx) error {
		for i := range n {
			if _, err := tx.PutTimer(store.Timer{Friend: f, Key: fmt.Sprintf("k%03d", i), Due: first.Add(time.Duration(i) * time.Minute)}); err != nil {
				return err
			}
		}
		return nil
	})
}

func testLease(t *testing.T, s store.Store) {
	ctx := context.Background()
	ids := addFriends(t, s, 1)
	putTimers(t, s, ids[0], 5, t0) // due t0, t0+1m, … t0+4m
	now := t0.Add(2 * time.Minute)
	got, err := s.Lease(ctx, acct, "engine-a", now, 10*time.Minute, 10)
	if err != nil || len(got) != 3 {
		t.Fatalf("Lease = %d timers, %v; want the 3 due", len(got), err)
	}
	for i, tm := range got {
		if tm.Key != fmt.Sprintf("k%03d", i) || tm.LeasedBy != "engine-a" || !tm.LeaseUntil.Equal(now.Add(10*time.Minute)) {
			t.Errorf("leased %+v", tm)
		}
	}
	if more, _ := s.Lease(ctx, acct, "engine-b", now, time.Minute, 10); len(more) != 0 {
		t.Fatalf("a second holder got %d leased timers", len(more))
	}
	// At t0+4m k003 and k004 are due and k000–k002 still leased.
	if lim, _ := s.Lease(ctx, acct, "engine-b", t0.Add(4*time.Minute), time.Minute, 1); len(lim) != 1 || lim[0].Key != "k003" {
		t.Fatalf("Lease with limit 1 = %+v; want k003 only", lim)
	}
	// engine-a finishes k000: writing it releases the lease.
	update(t, s, func(tx store.Tx) error {
		tm := got[0]
		tm.Due = t0.Add(time.Hour)
		_, err := tx.PutTimer(tm)
		return err
	})
	// After the leases expire (engine-a's at t0+12m, engine-b's k003 at
	// t0+5m), the rest go to whoever asks; k000 was rewritten for t0+1h.
	later := t0.Add(13 * time.Minute)
	again, err := s.Lease(ctx, acct, "engine-c", later, time.Minute, 10)
	keys := []string{}
	for _, tm := range again {
		keys = append(keys, tm.Key)
	}
	if err != nil || !slices.Equal(keys, []string{"k001", "k002", "k003", "k004"}) {
		t.Fatalf("Lease after expiry = %v, %v; want k001 k002 k003 k004", keys, err)
	}
	if none, err := s.Lease(ctx, "no-such-account", "x", later, time.Minute, 10); err != nil || len(none) != 0 {
		t.Fatalf("Lease on an empty account = %v, %v", none, err)
	}
}

// testLeaseConcurrent: holders lease and complete timers at once; one dies
// holding leases. Every timer is completed exactly once, the dead holder's
// after its leases expire.
func testLeaseConcurrent(t *testing.T, s store.Store, another func(context.Context, *testing.T, store.Store) (store.Store, error)) {
	ctx := context.Background()
	ids := addFriends(t, s, 1)
	const n = 120
	putTimers(t, s, ids[0], n, t0)
	now := t0.Add(3 * time.Hour) // everything is due
	// The dead holder takes 15 timers and never completes them.
	dead, err := s.Lease(ctx, acct, "dead", now, time.Minute, 15)
	if err != nil || len(dead) != 15 {
		t.Fatalf("dead holder's lease: %d, %v", len(dead), err)
	}
	var mu sync.Mutex
	done := map[string]int{}
	var wg sync.WaitGroup
	for h := range 4 {
		hs := s
		if another != nil {
			var err error
			if hs, err = another(ctx, t, s); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { hs.Close() })
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			holder := fmt.Sprintf("h%d", h)
			// Live holders lease for an hour; the second pass comes
			// after the dead holder's one-minute leases expire.
			for _, at := range []time.Time{now, now.Add(2 * time.Minute)} {
				for {
					got, err := hs.Lease(ctx, acct, holder, at, time.Hour, 7)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						break
					}
					for _, tm := range got {
						err := hs.Update(ctx, acct, func(tx store.Tx) error { return tx.DeleteTimer(tm.Friend, tm.Key, tm.Version) })
						if err != nil {
							t.Errorf("%s completing %s: %v (handed out twice?)", holder, tm.Key, err)
							return
						}
						mu.Lock()
						done[tm.Key]++
						mu.Unlock()
					}
				}
			}
		}()
	}
	wg.Wait()
	if len(done) != n {
		t.Fatalf("%d of %d timers completed", len(done), n)
	}
	for k, c := range done {
		if c != 1 {
			t.Fatalf("%s completed %d times", k, c)
		}
	}
}

func delivery(key string, created time.Time) store.Delivery {
	return store.Delivery{Key: key, RetryKey: "123e4567-e89b-42d3-a456-" + fmt.Sprintf("%012x", len(key)*7919),
		Kind: stepcast.DeliveryPush, Payload: []byte(`{"to":"U1","messages":[{"type":"text","text":"こんにちは"}]}`), CreatedAt: created}
}

func testOutbox(t *testing.T, s store.Store) {
	ctx := context.Background()
	later := delivery("k2", t0)
	later.NextAt = t0.Add(10 * time.Minute)
	update(t, s, func(tx store.Tx) error {
		for i, d := range []store.Delivery{delivery("k1", t0), later, delivery("k3", t0.Add(time.Minute))} {
			id, err := tx.Enqueue(d)
			if err != nil || id != uint64(i+1) {
				t.Errorf("Enqueue(%s) = %d, %v; want %d", d.Key, id, err, i+1)
			}
		}
		if _, err := tx.Enqueue(delivery("k1", t0)); !errors.Is(err, store.ErrDuplicate) {
			t.Errorf("Enqueue of a queued key = %v, want ErrDuplicate", err)
		}
		for _, bad := range []store.Delivery{{RetryKey: "x"}, {Key: "a", RetryKey: "not-a-uuid", Kind: stepcast.DeliveryPush, CreatedAt: t0},
			{Key: "a", RetryKey: delivery("a", t0).RetryKey, CreatedAt: t0}, {Key: "a", RetryKey: delivery("a", t0).RetryKey, Kind: stepcast.DeliveryPush}} {
			if _, err := tx.Enqueue(bad); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("Enqueue(%+v) = %v, want ErrInvalid", bad, err)
			}
		}
		return nil
	})
	err := s.Update(ctx, acct, func(tx store.Tx) error {
		if _, err := tx.Enqueue(delivery("rolled-back", t0)); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatal(err)
	}
	view(t, s, func(tx store.ReadTx) error {
		d, err := tx.DeliveryByKey("k1")
		if err != nil || d.ID != 1 || d.Status != store.Pending || d.Attempts != 0 || !d.NextAt.Equal(t0) || string(d.Payload) != string(delivery("k1", t0).Payload) {
			t.Errorf("DeliveryByKey(k1) = %+v, %v", d, err)
		}
		if _, err := tx.DeliveryByKey("rolled-back"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a rolled-back delivery exists: %v", err)
		}
		if _, err := tx.Delivery(99); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Delivery(99) = %v, want ErrNotFound", err)
		}
		return nil
	})
	got, err := s.LeaseDeliveries(ctx, acct, "a", t0.Add(5*time.Minute), time.Minute, 10)
	if err != nil || len(got) != 2 || got[0].Key != "k1" || got[1].Key != "k3" || got[0].Attempts != 1 || got[0].LeasedBy != "a" {
		t.Fatalf("LeaseDeliveries = %+v, %v; want k1 and k3, attempt 1", got, err)
	}
	if more, _ := s.LeaseDeliveries(ctx, acct, "b", t0.Add(5*time.Minute), time.Minute, 10); len(more) != 0 {
		t.Fatalf("a second holder got %d leased deliveries", len(more))
	}
	update(t, s, func(tx store.Tx) error {
		if err := tx.FinishDelivery(1, "b", store.Outcome{Status: store.Sent, At: t0}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("FinishDelivery by a non-holder = %v, want ErrConflict", err)
		}
		if err := tx.FinishDelivery(1, "a", store.Outcome{Status: store.Sent}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("FinishDelivery without a time = %v, want ErrInvalid", err)
		}
		if err := tx.FinishDelivery(1, "a", store.Outcome{Status: store.Sent, RequestID: "req-1", At: t0.Add(6 * time.Minute)}); err != nil {
			t.Errorf("FinishDelivery(sent) = %v", err)
		}
		return tx.FinishDelivery(3, "a", store.Outcome{Status: store.Pending, Error: "429 rate limit", At: t0.Add(6 * time.Minute), NextAt: t0.Add(20 * time.Minute)})
	})
	view(t, s, func(tx store.ReadTx) error {
		d, _ := tx.Delivery(1)
		if d.Status != store.Sent || d.RequestID != "req-1" || !d.DoneAt.Equal(t0.Add(6*time.Minute)) || d.LeasedBy != "" {
			t.Errorf("sent delivery = %+v", d)
		}
		return nil
	})
	if got, _ := s.LeaseDeliveries(ctx, acct, "b", t0.Add(15*time.Minute), time.Minute, 10); len(got) != 1 || got[0].Key != "k2" {
		t.Fatalf("at t0+15m = %+v; want k2 only (k3 retries at t0+20m)", got)
	}
	got, _ = s.LeaseDeliveries(ctx, acct, "c", t0.Add(25*time.Minute), time.Minute, 10)
	var k3 store.Delivery
	for _, d := range got {
		if d.Key == "k3" {
			k3 = d
		}
	}
	if k3.Attempts != 2 || k3.Error != "429 rate limit" {
		t.Fatalf("the retried delivery = %+v; want attempt 2 with the last error", k3)
	}
	update(t, s, func(tx store.Tx) error {
		if err := tx.FinishDelivery(k3.ID, "a", store.Outcome{Status: store.Failed, At: t0}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("FinishDelivery by the holder of an expired, retaken lease = %v, want ErrConflict", err)
		}
		if err := tx.FinishDelivery(1, "a", store.Outcome{Status: store.Failed, At: t0}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("FinishDelivery of a sent delivery = %v, want ErrConflict", err)
		}
		return tx.FinishDelivery(k3.ID, "c", store.Outcome{Status: store.Failed, Error: "400 bad request", At: t0.Add(26 * time.Minute)})
	})
	if got, _ := s.LeaseDeliveries(ctx, acct, "d", t0.Add(time.Hour), time.Minute, 10); len(got) != 1 || got[0].Key != "k2" {
		t.Fatalf("after the outcomes = %+v; want only k2 (its lease expired)", got)
	}
}

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
func testBatch(t *testing.T, s store.Store, b store.Batcher) {
	var wg sync.WaitGroup
	const workers, each = 8, 20
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				u := user(10_000 + w*each + i)
				err := b.Batch(context.Background(), acct, func(tx store.Tx) error {
					f, _, err := tx.AddFriend(u)
					if err != nil {
						return err
					}
					_, err = tx.Apply(store.Change{Friend: f.ID, Kind: store.SetTag, Name: "batched"})
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	view(t, s, func(tx store.ReadTx) error {
		all, _ := tx.Friends(0, 10_000)
		last, _ := tx.LastSeq()
		if len(all) != workers*each || last != workers*each {
			t.Errorf("%d friends and %d changes after %d batched units", len(all), last, workers*each)
		}
		for i, f := range all {
			if f.ID != stepcast.FriendID(i+1) || len(f.Tags) != 1 {
				t.Errorf("friend %d: %+v", i+1, f)
				break
			}
		}
		return nil
	})
}

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
// refuses the same input, before anything reaches its storage: account
// IDs, changes, tally sums that would overflow…), the answers to edge
// reads (a lookup by a key no record can have finds nothing, a page past
// the last key is empty), the lease boundary (due at Due, expired at
// LeaseUntil, for timers and deliveries alike) and, where the backend can
// tell what was written (Features.Written), that a lease finding nothing
// writes nothing.
package storetest

import (
	"context"
	"errors"
	"fmt"
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
	// Written, when set, returns a mark of what s has written so far —
	// a file's last transaction ID, the versions of a schema's rows —
	// that any write changes: the suite checks that a Lease or
	// LeaseDeliveries finding nothing to hand out leaves it as it was
	// (see the store package doc's Leases), and that one handing
	// something out changes it.
	Written func(t *testing.T, s store.Store) string
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
		{"ArrivalNotKept", testArrivalNotKept},
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
		{"AccountIDsAlike", testAccountIDs},
		{"LookupsByKeysNoRecordHas", testImpossibleKeys},
		{"PagesAtTheEdges", testPageEdges},
		{"TallySumsThatOverflow", testTallyOverflow},
		{"LeaseBoundaryAlike", testLeaseBoundary},
		{"LeaseHonorsItsLimit", testLeaseLimit},
		{"LeaseAfterRollback", testLeaseAfterRollback},
		{"LeaseHeldAtAnEarlierNow", testLeaseHeldAtAnEarlierNow},
		{"AccountTimers", testAccountTimers},
		{"LeaseByKind", testLeaseKinds},
		{"DueTimersByKindInOrder", testDueTimers},
		{"DuePosOrder", testDuePos},
		{"RetryKeysByKind", testRetryKeys},
		{"DeliveriesByPriority", testDeliveryPriority},
		{"FirstAttemptSetOnce", testFirstAttempt},
		{"GuardOutcomes", testGuardOutcomes},
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
	if f.Written != nil {
		t.Run("IdleLeasesWriteNothing", func(t *testing.T) {
			s := open(t)
			testIdleLeases(t, s, func() string { return f.Written(t, s) })
		})
	}
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

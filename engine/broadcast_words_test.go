package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// TestCancelReasonCapped: a reason is copied onto every delivery taken
// back, so one over stepcast.MaxReasonLen bytes is ErrInvalid and takes
// nothing back; one at the limit is kept whole.
func TestCancelReasonCapped(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	seedFriends(t, st, 20, func(int) bool { return false })
	clk := &clock{t: t0}
	a := mustAccount(t, mustOpen(t, st, clk), "acct", bcDefs())
	b := Broadcast{Name: "now", Messages: []stepcast.Message{msg("now")}}
	if err := a.ScheduleBroadcast(ctx, b); err != nil {
		t.Fatal(err)
	}
	runDue(t, a, DueBroadcast, 1)
	long := strings.Repeat("x", stepcast.MaxReasonLen+1)
	if n, err := a.CancelBroadcast(ctx, "now", long); !errors.Is(err, stepcast.ErrInvalid) || n != 0 {
		t.Fatalf("CancelBroadcast with a %d-byte reason: %d, %v; want ErrInvalid", len(long), n, err)
	}
	if n, err := a.CancelDeliveries(ctx, store.DeliverySelector{Cause: "broadcast:now"}, long); !errors.Is(err, stepcast.ErrInvalid) || n != 0 {
		t.Fatalf("CancelDeliveries with a %d-byte reason: %d, %v; want ErrInvalid", len(long), n, err)
	}
	if rep := mustReport(t, a, "now"); rep.Status == BroadcastCancelled || rep.Outbox.Pending == 0 {
		t.Fatalf("a refused cancel changed the broadcast: %+v", rep)
	}
	atLimit := long[:stepcast.MaxReasonLen]
	n, err := a.CancelBroadcast(ctx, "now", atLimit)
	if err != nil || n == 0 {
		t.Fatalf("CancelBroadcast at the limit: %d, %v", n, err)
	}
	for _, r := range allDeliveries(t, a, "broadcast:now") {
		if r.Status != store.Cancelled || r.Reason != atLimit {
			t.Fatalf("row %v %q", r.Status, r.Reason)
		}
	}
}

// TestBroadcastExistsSaysStatus: the name-taken error names the
// broadcast's status as its report does ("sending", "cancelled"), not
// the planner's phases ("planning", "planned", "waiting").
func TestBroadcastExistsSaysStatus(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	seedFriends(t, st, 7000, func(int) bool { return false })
	a := mustAccount(t, mustOpen(t, st, &clock{t: t0}), "acct", bcDefs())
	b := Broadcast{Name: "now", Messages: []stepcast.Message{msg("now")}}
	if err := a.ScheduleBroadcast(ctx, b); err != nil {
		t.Fatal(err)
	}
	runDue(t, a, DueBroadcast, 1) // one chunk: still planning
	want := func(status BroadcastStatus) {
		t.Helper()
		err := a.ScheduleBroadcast(ctx, b)
		if !errors.Is(err, ErrBroadcastExists) || !strings.HasSuffix(err.Error(), `"now" is `+string(status)) {
			t.Fatalf("ScheduleBroadcast again: %v; want ErrBroadcastExists saying it is %s", err, status)
		}
		if rep := mustReport(t, a, "now"); rep.Status != status {
			t.Fatalf("report says %s, the error %s", rep.Status, status)
		}
	}
	want(BroadcastSending)
	if _, err := a.CancelBroadcast(ctx, "now", "typo"); err != nil {
		t.Fatal(err)
	}
	want(BroadcastCancelled)
}

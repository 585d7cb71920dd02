package engine

import (
	"context"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store/memstore"
)

// A test send goes at once whatever the guards say — in quiet hours, to
// a friend the cap has stopped for the day — and uses up no friend's cap.
func TestTestSendUnguarded(t *testing.T) {
	ctx := context.Background()
	at := func(h int) time.Time { return time.Date(2026, 11, 28, h, 0, 0, 0, tokyo) }
	clk := &clock{t: at(11)}
	sender := &fakeSender{}
	a := dispatchAccount(t, memstore.New(), clk, sender, Config{}, 2)
	d := Definitions{Schema: a.Definitions().Schema, TestFriends: []stepcast.UserID{"U1"},
		Guards: Guards{QuietHours: quiet("21:00", "08:00"), Caps: []FrequencyCap{{Max: 1}}}}
	d.Schema.Location = tokyo
	if err := a.SetDefinitions(ctx, d); err != nil {
		t.Fatal(err)
	}
	test := func() {
		t.Helper()
		if _, err := a.TestSend(ctx, TestSend{Name: "sale", Messages: []stepcast.Message{msg("test")}}); err != nil {
			t.Fatal(err)
		}
	}
	dispatch := func() map[stepcast.UserID]int {
		t.Helper()
		if _, err := a.Dispatch(ctx); err != nil {
			t.Fatal(err)
		}
		return sentTo(sender)
	}
	// 11:00: two tests to U1; 12:00: the day's one broadcast still goes.
	test()
	test()
	if got := dispatch(); got["U1"] != 2 {
		t.Fatalf("11:00: %v", got)
	}
	clk.Set(at(12))
	queueTo(t, a, clk, "sale-1", saleCause, 0, 1)
	if got := dispatch(); got["U1"] != 3 {
		t.Fatalf("12:00: %v: the tests used up U1's cap", got)
	}
	// 13:00: U1 is capped for broadcasts, not for tests.
	clk.Set(at(13))
	queueTo(t, a, clk, "sale-2", saleCause, 0, 1)
	test()
	if got := dispatch(); got["U1"] != 4 {
		t.Fatalf("13:00: %v, want the test and not the capped broadcast", got)
	}
	// 22:00, quiet hours: a broadcast to U2 waits, a test to U1 goes.
	clk.Set(at(22))
	queueTo(t, a, clk, "sale-quiet", saleCause, 0, 2)
	test()
	if got := dispatch(); got["U1"] != 5 || got["U2"] != 0 {
		t.Fatalf("22:00: %v", got)
	}
	p, err := a.DeliveryProgress(ctx, "test:sale")
	if err != nil || p.Sent != 4 || p.Pending != 0 {
		t.Fatalf("%+v %v", p, err)
	}
}

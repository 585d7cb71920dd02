package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// guardAccount is dispatchAccount with guards g.
func guardAccount(t *testing.T, st store.Store, clk *clock, s stepcast.Sender, g Guards, friends int) *Account {
	t.Helper()
	a := dispatchAccount(t, st, clk, s, Config{DispatchConcurrency: 2}, friends)
	if err := a.SetDefinitions(context.Background(), Definitions{Guards: g}); err != nil {
		t.Fatal(err)
	}
	return a
}

// setZone sets friend n's time zone, as their profile would.
func setZone(t *testing.T, a *Account, n int, zone string) {
	t.Helper()
	err := a.e.cfg.Store.Update(context.Background(), a.id, func(tx store.Tx) error {
		_, err := tx.Apply(store.Change{Friend: stepcast.FriendID(n), Kind: store.SetProfile, Name: fmt.Sprintf("F%d", n), Text: zone, At: t0})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// queueTo queues a message delivery of cause to friends (a push for one,
// a multicast for more) with priority, due at clk's time.
func queueTo(t *testing.T, a *Account, clk *clock, key string, cause stepcast.Cause, priority int, friends ...int) uint64 {
	t.Helper()
	d := stepcast.Delivery{Kind: stepcast.DeliveryPush, Messages: []stepcast.Message{msg(key)}, Cause: cause, Priority: priority}
	if len(friends) > 1 {
		d.Kind = stepcast.DeliveryMulticast
	}
	for _, n := range friends {
		d.To = append(d.To, stepcast.Recipient{Friend: stepcast.FriendID(n), User: stepcast.UserID(fmt.Sprintf("U%d", n))})
	}
	return queueRow(t, a, key, d, clk.Now(), 0)
}

var (
	trialCause  = stepcast.Cause{Kind: stepcast.CauseScenario, Name: "trial"}
	saleCause   = stepcast.Cause{Kind: stepcast.CauseBroadcast, Name: "sale"}
	thanksCause = stepcast.Cause{Kind: stepcast.CauseRule, Name: "thanks"}
)

// sentTo counts the messages each userId received, by the fake's calls.
func sentTo(s *fakeSender) map[stepcast.UserID]int {
	got := map[stepcast.UserID]int{}
	for _, c := range s.Calls() {
		for _, r := range c.To {
			got[r.User]++
		}
	}
	return got
}

func quiet(start, end string) *QuietHours {
	s, err := ParseWallClock(start)
	if err != nil {
		panic(err)
	}
	e, err := ParseWallClock(end)
	if err != nil {
		panic(err)
	}
	return &QuietHours{Start: s, End: e}
}

// A step due at 07:00 under 21:00–08:00 goes at 08:00 — in the friend's
// zone if their record names one, else the account's; a multicast is
// split by zone; an exempt priority goes at once.
func TestDispatchQuietHours(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		at7 := time.Date(2026, 11, 28, 7, 0, 0, 0, tokyo)
		clk := &clock{t: at7}
		s := &fakeSender{}
		g := Guards{QuietHours: quiet("21:00", "08:00")}
		g.QuietHours.ExemptPriority = 50
		a := guardAccount(t, open(t), clk, s, g, 4)
		setZone(t, a, 2, "Europe/London") // 07:00 in Tokyo is 22:00 in London
		step := queueTo(t, a, clk, "step-1", trialCause, 0, 1)
		london := queueTo(t, a, clk, "step-2", trialCause, 0, 2)
		urgent := queueTo(t, a, clk, "urgent-3", thanksCause, 60, 3)
		reply := queueReply(t, a, clk, "reply-4", 4, "tok", "hi", at7)
		rep, err := a.Dispatch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Deferred != 2 || rep.Sent != 2 {
			t.Fatalf("report %+v; want 2 deferred, the exempt push and the reply sent", rep)
		}
		at8 := time.Date(2026, 11, 28, 8, 0, 0, 0, tokyo)
		d := mustDelivery(t, a, step)
		if d.Status != store.Pending || !d.NextAt.Equal(at8) || d.Attempts != 0 || !strings.HasPrefix(d.Error, ReasonQuietHours) {
			t.Fatalf("the 07:00 step: %+v; want pending, due at 08:00, untried, with the reason", d)
		}
		lon, _ := time.LoadLocation("Europe/London")
		at8London := time.Date(2026, 11, 28, 8, 0, 0, 0, lon)
		if d := mustDelivery(t, a, london); !d.NextAt.Equal(at8London) {
			t.Fatalf("the London friend's step is due at %v, want 08:00 London (%v)", d.NextAt, at8London)
		}
		for _, id := range []uint64{urgent, reply} {
			if d := mustDelivery(t, a, id); d.Status != store.Sent {
				t.Fatalf("delivery %s: %v, want sent (exempt)", d.Key, d.Status)
			}
		}
		clk.Set(at8)
		// At 08:00 in Tokyo, 23:00 in London: a multicast to both is split.
		mc := queueTo(t, a, clk, "bc", saleCause, 0, 1, 2)
		rep, err = a.Dispatch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d := mustDelivery(t, a, step); d.Status != store.Sent {
			t.Fatalf("at 08:00 the step is %v", d.Status)
		}
		if d := mustDelivery(t, a, mc); d.Status != store.Cancelled || !strings.HasPrefix(d.Reason, ReasonSplit) {
			t.Fatalf("the multicast: %+v; want cancelled, split", d)
		}
		if rep.Split != 1 {
			t.Fatalf("report at 08:00 %+v; want the multicast split", rep)
		}
		part := deliveryByKey(t, a, "bc/deferred")
		if part.Status != store.Pending || !part.NextAt.Equal(at8London) || !slices.Equal(part.Friends, []stepcast.FriendID{2}) || part.Kind != stepcast.DeliveryPush {
			t.Fatalf("the deferred part: %+v", part)
		}
		// An exempt push to the London friend does not wait behind their
		// deferred step and deferred part.
		urgent2 := queueTo(t, a, clk, "urgent-2", thanksCause, 60, 2)
		if _, err := a.Dispatch(ctx); err != nil {
			t.Fatal(err)
		}
		if d := mustDelivery(t, a, urgent2); d.Status != store.Sent {
			t.Fatalf("the exempt push to friend 2: %v, %q", d.Status, d.Error)
		}
		clk.Set(at8London)
		if _, err := a.Dispatch(ctx); err != nil {
			t.Fatal(err)
		}
		got := sentTo(s)
		want := map[stepcast.UserID]int{"U1": 2, "U2": 3, "U3": 1}
		for u, n := range want {
			if got[u] != n {
				t.Errorf("%s received %d, want %d (%v)", u, got[u], n, got)
			}
		}
		keys := map[string]bool{}
		for _, c := range s.Calls() {
			if keys[c.RetryKey] {
				t.Errorf("retry key %s used twice", c.RetryKey)
			}
			keys[c.RetryKey] = true
		}
	})
}

func deliveryByKey(t *testing.T, a *Account, key string) store.Delivery {
	t.Helper()
	var d store.Delivery
	err := a.e.cfg.Store.View(context.Background(), a.id, func(tx store.ReadTx) error {
		var err error
		d, err = tx.DeliveryByKey(key)
		return err
	})
	if err != nil {
		t.Fatalf("delivery %q: %v", key, err)
	}
	return d
}

// Quiet hours on a DST day: in New York on 2026-03-08 the clocks jump
// from 02:00 to 03:00, so a window ending at 02:30 ends at 03:30 EDT,
// the first instant after it (stepcast.LocalTime); the day after, it ends
// at 02:30 again.
func TestDispatchQuietHoursDST(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	for _, tc := range []struct {
		name string
		now  time.Time
		due  time.Time
	}{
		{"the night of the jump", time.Date(2026, 3, 8, 1, 30, 0, 0, ny), time.Date(2026, 3, 8, 3, 30, 0, 0, ny)},
		{"the evening before", time.Date(2026, 3, 7, 23, 0, 0, 0, ny), time.Date(2026, 3, 8, 3, 30, 0, 0, ny)},
		{"the night after", time.Date(2026, 3, 9, 1, 0, 0, 0, ny), time.Date(2026, 3, 9, 2, 30, 0, 0, ny)},
		{"the night clocks go back (01:00–02:00 twice)", time.Date(2026, 11, 1, 1, 45, 0, 0, ny), time.Date(2026, 11, 1, 2, 30, 0, 0, ny)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{t: tc.now}
			s := &fakeSender{}
			a := guardAccount(t, memstore.New(), clk, s, Guards{QuietHours: quiet("21:00", "02:30")}, 1)
			setZone(t, a, 1, "America/New_York")
			id := queueTo(t, a, clk, "step", trialCause, 0, 1)
			if _, err := a.Dispatch(context.Background()); err != nil {
				t.Fatal(err)
			}
			if d := mustDelivery(t, a, id); !d.NextAt.Equal(tc.due) || len(s.Calls()) != 0 {
				t.Fatalf("due at %v, want %v", d.NextAt.In(ny), tc.due)
			}
		})
	}
}

// A window ending within the hour that clocks repeat when they go back
// (01:30 in New York and London) ends at End's second reading for a
// message due within the repeated hour past the first — not a day later.
func TestDispatchQuietHoursRepeatedEnd(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	lon, _ := time.LoadLocation("Europe/London")
	for _, tc := range []struct {
		name     string
		zone     string
		now, due time.Time
	}{
		{"New York, 01:15 EDT", "America/New_York", time.Date(2026, 11, 1, 5, 15, 0, 0, time.UTC), time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC)},
		{"New York, 01:15 EST", "America/New_York", time.Date(2026, 11, 1, 6, 15, 0, 0, time.UTC), time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC)},
		{"New York, 23:00 the evening before", "America/New_York", time.Date(2026, 10, 31, 23, 0, 0, 0, ny), time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC)},
		{"London, 01:10 GMT", "Europe/London", time.Date(2026, 10, 25, 1, 10, 0, 0, time.UTC), time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC)},
		{"London, 01:40 GMT, past the window", "Europe/London", time.Date(2026, 10, 25, 1, 40, 0, 0, time.UTC), time.Time{}},
		{"London, the next night", "Europe/London", time.Date(2026, 10, 26, 1, 0, 0, 0, lon), time.Date(2026, 10, 26, 1, 30, 0, 0, lon)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{t: tc.now}
			s := &fakeSender{}
			a := guardAccount(t, memstore.New(), clk, s, Guards{QuietHours: quiet("22:00", "01:30")}, 1)
			setZone(t, a, 1, tc.zone)
			id := queueTo(t, a, clk, "step", trialCause, 0, 1)
			if _, err := a.Dispatch(context.Background()); err != nil {
				t.Fatal(err)
			}
			d := mustDelivery(t, a, id)
			if tc.due.IsZero() {
				if d.Status != store.Sent {
					t.Fatalf("%v (%s), want sent", d.Status, d.Error)
				}
				return
			}
			if d.Status != store.Pending || !d.NextAt.Equal(tc.due) || len(s.Calls()) != 0 {
				t.Fatalf("%v due at %v, want pending, due at %v", d.Status, d.NextAt.UTC(), tc.due.UTC())
			}
		})
	}
}

// A cap of 2 scenario or broadcast messages per local day, under each
// policy, across pushes and a multicast; rule pushes are not counted;
// an exempt priority goes and counts.
func TestDispatchFrequencyCaps(t *testing.T) {
	ctx := context.Background()
	midnight := time.Date(2026, 11, 29, 0, 0, 0, 0, tokyo)
	for _, policy := range []CapPolicy{CapDefer, CapDrop, CapSkip} {
		t.Run(string(policy), func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
				clk := &clock{t: t0}
				s := &fakeSender{}
				g := Guards{Caps: []FrequencyCap{{Name: "daily", Max: 2, Policy: policy, ExemptPriority: 90}}}
				a := guardAccount(t, open(t), clk, s, g, 3)
				// Friend 1: two steps and a broadcast push already today.
				queueTo(t, a, clk, "s1", trialCause, 0, 1)
				queueTo(t, a, clk, "s2", trialCause, 0, 1)
				third := queueTo(t, a, clk, "s3", trialCause, 0, 1)
				thanks := queueTo(t, a, clk, "thanks", thanksCause, 0, 1)
				rep, err := a.Dispatch(ctx)
				if err != nil {
					t.Fatal(err)
				}
				d := mustDelivery(t, a, third)
				switch policy {
				case CapDefer:
					if rep.Deferred != 1 || d.Status != store.Pending || !d.NextAt.Equal(midnight) || !strings.HasPrefix(d.Error, ReasonCapDefer) {
						t.Fatalf("report %+v, the third step %+v; want it deferred to midnight", rep, d)
					}
				case CapDrop:
					if rep.Dropped != 1 || d.Status != store.Failed || !strings.HasPrefix(d.Error, ReasonCapDrop) {
						t.Fatalf("report %+v, the third step %+v; want it failed", rep, d)
					}
				case CapSkip:
					if rep.Skipped != 1 || d.Status != store.Cancelled || !strings.HasPrefix(d.Reason, ReasonCapSkip) {
						t.Fatalf("report %+v, the third step %+v; want it cancelled", rep, d)
					}
				}
				if d := mustDelivery(t, a, thanks); d.Status != store.Sent {
					t.Fatalf("the rule's push: %v, want sent (rules are not capped)", d.Status)
				}
				// A broadcast to friends 1–3: friend 1 is capped, the rest go
				// as a multicast of their own.
				mc := queueTo(t, a, clk, "bc", saleCause, 0, 1, 2, 3)
				vip := queueTo(t, a, clk, "vip", saleCause, 95, 2)
				rep, err = a.Dispatch(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if d := mustDelivery(t, a, mc); d.Status != store.Cancelled || !strings.HasPrefix(d.Reason, ReasonSplit) {
					t.Fatalf("the multicast: %+v; want split", d)
				}
				if d := mustDelivery(t, a, vip); d.Status != store.Sent {
					t.Fatalf("the exempt push: %v", d.Status)
				}
				goPart := deliveryByKey(t, a, "bc/go")
				if goPart.Status != store.Sent || !slices.Equal(goPart.Friends, []stepcast.FriendID{2, 3}) || goPart.Kind != stepcast.DeliveryMulticast {
					t.Fatalf("the part sent: %+v", goPart)
				}
				held := deliveryByKey(t, a, "bc/"+map[CapPolicy]string{CapDefer: "deferred", CapDrop: "dropped", CapSkip: "skipped"}[policy])
				want := map[CapPolicy]store.DeliveryStatus{CapDefer: store.Pending, CapDrop: store.Failed, CapSkip: store.Cancelled}[policy]
				if held.Status != want || !slices.Equal(held.Friends, []stepcast.FriendID{1}) {
					t.Fatalf("friend 1's part: %+v, want %v", held, want)
				}
				got := sentTo(s)
				u1 := 3 // two steps and the thanks: it does not wait behind a deferred step
				if got["U1"] != u1 || got["U2"] != 2 || got["U3"] != 1 {
					t.Fatalf("received %v; want U1 %d, U2 the broadcast and the exempt push, U3 the broadcast", got, u1)
				}
				// Friend 2 had the broadcast and the exempt push (it counts):
				// a third message today is capped.
				late := queueTo(t, a, clk, "late", trialCause, 0, 2)
				if _, err := a.Dispatch(ctx); err != nil {
					t.Fatal(err)
				}
				if d := mustDelivery(t, a, late); d.Status == store.Sent {
					t.Fatalf("friend 2's third message went: the exempt push was not counted")
				}
				if policy != CapDefer {
					return
				}
				// The next local day, the deferred ones go, in order.
				clk.Set(midnight)
				if _, err := a.Dispatch(ctx); err != nil {
					t.Fatal(err)
				}
				got = sentTo(s)
				if got["U1"] != 5 || got["U2"] != 3 {
					t.Fatalf("after midnight: %v; want U1's third step, the thanks and the broadcast, U2's late step", got)
				}
			})
		})
	}
}

// A rolling window: one message per hour; the second waits until the
// first leaves the window.
func TestDispatchRollingCap(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	s := &fakeSender{}
	a := guardAccount(t, memstore.New(), clk, s, Guards{Caps: []FrequencyCap{{Max: 1, Window: time.Hour}}}, 1)
	queueTo(t, a, clk, "a", saleCause, 0, 1)
	if _, err := a.Dispatch(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Set(t0.Add(30 * time.Minute))
	second := queueTo(t, a, clk, "b", saleCause, 0, 1)
	if _, err := a.Dispatch(ctx); err != nil {
		t.Fatal(err)
	}
	if d := mustDelivery(t, a, second); !d.NextAt.Equal(t0.Add(time.Hour)) || !strings.Contains(d.Error, `"cap 1"`) {
		t.Fatalf("the second: %+v; want due at %v", d, t0.Add(time.Hour))
	}
	clk.Set(t0.Add(time.Hour))
	if _, err := a.Dispatch(ctx); err != nil {
		t.Fatal(err)
	}
	if d := mustDelivery(t, a, second); d.Status != store.Sent {
		t.Fatalf("after the hour: %v", d.Status)
	}
}

// quotaFake is a fakeSender whose month allows remaining messages.
type quotaFake struct {
	fakeSender
	remaining int64
	reads     atomic.Int64
}

func (s *quotaFake) MessageQuota(context.Context) (limit, used int64, err error) {
	s.reads.Add(1)
	return s.remaining, int64(len(s.Calls())), nil
}

// The quota guard refuses what the month's remaining quota cannot cover,
// before any request, reading the quota once for many sends; told to,
// it sends anyway.
func TestDispatchQuotaGuard(t *testing.T) {
	ctx := context.Background()
	for _, anyway := range []bool{false, true} {
		t.Run(fmt.Sprintf("SendOverQuota=%v", anyway), func(t *testing.T) {
			clk := &clock{t: t0}
			s := &quotaFake{remaining: 3}
			a := guardAccount(t, memstore.New(), clk, s, Guards{SendOverQuota: anyway}, 5)
			for i := 1; i <= 5; i++ {
				queueTo(t, a, clk, fmt.Sprintf("p%d", i), thanksCause, 0, i)
			}
			rep, err := a.Dispatch(ctx)
			if anyway {
				if err != nil || rep.Sent != 5 || s.reads.Load() != 0 {
					t.Fatalf("%+v, %v, %d reads", rep, err, s.reads.Load())
				}
				return
			}
			if !errors.Is(err, stepcast.ErrQuotaExceeded) || rep.Sent != 3 || len(s.Calls()) != 3 || s.reads.Load() != 1 {
				t.Fatalf("%+v, %v after %d calls, %d quota reads; want 3 sent, ErrQuotaExceeded, 1 read", rep, err, len(s.Calls()), s.reads.Load())
			}
			p, err := a.DeliveryProgress(ctx, "rule:thanks")
			if err != nil || p.Pending != 2 {
				t.Fatalf("%+v, %v", p, err)
			}
			ds, err := a.Deliveries(ctx, store.DeliveryFilter{Status: store.Pending})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range ds {
				if !strings.HasPrefix(d.Error, ReasonOverQuota) || d.Attempts != 0 {
					t.Errorf("refused %s: %q, %d attempts", d.Key, d.Error, d.Attempts)
				}
			}
		})
	}
}

// A reply leased with a multicast the quota cannot cover still goes: it
// costs nothing, and held back it would outlive its token. A push that
// fits what is left goes too; the multicast alone waits.
func TestDispatchQuotaGuardSparesReplies(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	s := &quotaFake{remaining: 2}
	a := guardAccount(t, memstore.New(), clk, s, Guards{}, 5)
	mc := queueTo(t, a, clk, "mc", saleCause, 0, 1, 2, 3)
	push := queueTo(t, a, clk, "p5", saleCause, 0, 5)
	reply := queueReply(t, a, clk, "reply-4", 4, "tok", "hi", t0)
	rep, err := a.Dispatch(ctx)
	if !errors.Is(err, stepcast.ErrQuotaExceeded) || rep.Sent != 2 || rep.OverQuota != 1 || rep.Released != 0 {
		t.Fatalf("%+v, %v; want the reply and the push sent, the multicast held, ErrQuotaExceeded", rep, err)
	}
	for _, id := range []uint64{reply, push} {
		if d := mustDelivery(t, a, id); d.Status != store.Sent {
			t.Fatalf("%s: %v (%s), want sent", d.Key, d.Status, d.Error)
		}
	}
	d := mustDelivery(t, a, mc)
	if d.Status != store.Pending || d.Attempts != 0 || !strings.HasPrefix(d.Error, ReasonOverQuota) ||
		!strings.Contains(d.Error, "3 recipients, 2 messages left") || !d.NextAt.Equal(t0.Add(DefaultQuotaPause)) {
		t.Fatalf("%s: %+v, want pending, untried, over quota, due after QuotaPause", d.Key, d)
	}
	if calls := s.Calls(); len(calls) != 2 {
		t.Fatalf("calls %+v, want the reply and the push", calls)
	}
}

// LINE refusing a large multicast for the quota holds it and, for
// QuotaPause, what costs as much, without a request; smaller pushes and
// replies queued meanwhile still go, and Run does not pause the account.
func TestDispatchQuotaRefusalHoldsOnlyWhatCostsAsMuch(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	s := &fakeSender{}
	s.answer = func(d stepcast.Delivery, key string) (string, error) {
		if len(d.To) > 2 {
			return "", fmt.Errorf("429 You have reached your monthly limit.: %w", stepcast.ErrQuotaExceeded)
		}
		return "ok-" + key, nil
	}
	a := dispatchAccount(t, memstore.New(), clk, s, Config{DispatchConcurrency: 1}, 10)
	big := queueTo(t, a, clk, "big", saleCause, 0, 1, 2, 3, 4)
	rep, err := a.Dispatch(ctx)
	if !errors.Is(err, stepcast.ErrQuotaExceeded) || rep.OverQuota != 1 {
		t.Fatalf("%+v, %v", rep, err)
	}
	if d := mustDelivery(t, a, big); d.Status != store.Pending || !strings.Contains(d.Error, "monthly limit") {
		t.Fatalf("big: %+v", d)
	}
	bigger := queueTo(t, a, clk, "bigger", saleCause, 0, 5, 6, 7, 10)
	small := queueTo(t, a, clk, "small", saleCause, 0, 8)
	reply := queueReply(t, a, clk, "reply-9", 9, "tok", "hi", t0)
	rep, err = a.Dispatch(ctx)
	if !errors.Is(err, stepcast.ErrQuotaExceeded) || rep.Sent != 2 || rep.OverQuota != 1 {
		t.Fatalf("%+v, %v; want the push and the reply sent, the larger multicast held", rep, err)
	}
	for _, id := range []uint64{small, reply} {
		if d := mustDelivery(t, a, id); d.Status != store.Sent {
			t.Fatalf("%s: %v (%s)", d.Key, d.Status, d.Error)
		}
	}
	if d := mustDelivery(t, a, bigger); d.Status != store.Pending || d.Error != ReasonQuotaRefused {
		t.Fatalf("bigger: %+v", d)
	}
	if n := len(s.Calls()); n != 3 {
		t.Fatalf("%d calls, want 3 (the larger multicast not tried)", n)
	}
}

// Bad guards are refused with the path and the problem.
func TestGuardsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		g    Guards
		want string
	}{
		{"empty window", Guards{QuietHours: quiet("08:00", "08:00")}, "guards.quiet_hours: "},
		{"bad hour", Guards{QuietHours: &QuietHours{Start: WallClock{25, 0}, End: WallClock{8, 0}}}, "guards.quiet_hours.start"},
		{"max 0", Guards{Caps: []FrequencyCap{{Max: 0}}}, "guards.caps[0].max"},
		{"max too high", Guards{Caps: []FrequencyCap{{Max: 51}}}, "guards.caps[0].max"},
		{"short window", Guards{Caps: []FrequencyCap{{Max: 1, Window: time.Second}}}, "guards.caps[0].window"},
		{"unknown policy", Guards{Caps: []FrequencyCap{{Max: 1, Policy: "later"}}}, "guards.caps[0].policy"},
		{"unknown cause", Guards{Caps: []FrequencyCap{{Max: 1, Causes: []stepcast.CauseKind{"sms"}}}}, "guards.caps[0].causes[0]"},
		{"test sends", Guards{Caps: []FrequencyCap{{Max: 1, Causes: []stepcast.CauseKind{stepcast.CauseTest}}}}, "never capped"},
		{"twice", Guards{Caps: []FrequencyCap{{Name: "d", Max: 1}, {Name: "d", Max: 2}}}, "guards.caps[1].name"},
		{"policy per cause", Guards{Caps: []FrequencyCap{{Max: 1, Policies: map[stepcast.CauseKind]CapPolicy{stepcast.CauseScenario: "x"}}}}, "guards.caps[0].policies.scenario"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compile(Definitions{Guards: tc.g})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrDefinition) {
				t.Fatalf("compile: %v; want an error at %s", err, tc.want)
			}
		})
	}
	for _, s := range []string{"8", "24:00", "08:0", "x:00", "-1:00", "+8:00", "-0:00", "08:+5", "008:00", " 8:00"} {
		if _, err := ParseWallClock(s); err == nil {
			t.Errorf("ParseWallClock(%q) took it", s)
		}
	}
	for s, want := range map[string]WallClock{"8:30": {8, 30}, "08:05": {8, 5}, "00:00": {}, "23:59": {23, 59}} {
		if got, err := ParseWallClock(s); err != nil || got != want {
			t.Errorf("ParseWallClock(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
}

// The send log keeps what the caps look back to, in order.
func TestSendLogRoundTrip(t *testing.T) {
	in := []sendEntry{{at: 100, kind: stepcast.CauseScenario}, {at: 100, kind: stepcast.CauseBroadcast}, {at: 1_800_000_000, kind: stepcast.CauseRule}}
	out, err := decodeSendLog(encodeSendLog(in))
	if err != nil || !slices.Equal(in, out) {
		t.Fatalf("%v, %v", out, err)
	}
	for _, bad := range [][]byte{nil, {2}, {1, 9, 1}, {1, 1}} {
		if _, err := decodeSendLog(bad); err == nil {
			t.Errorf("decoded %v", bad)
		}
	}
}

// A multicast a crashed holder may have sent (leased, never finished) is
// not judged when its lease expires: it goes whole, under its own retry
// key, though a recipient is capped by then — never split or held after
// it may have reached LINE. One never attempted is split.
func TestDispatchGuardsSpareRetries(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		clk := &clock{t: t0}
		s := &fakeSender{}
		st := open(t)
		a := guardAccount(t, st, clk, s, Guards{Caps: []FrequencyCap{{Max: 1, Policy: CapDrop}}}, 4)
		queueTo(t, a, clk, "first", saleCause, 0, 1)
		if _, err := a.Dispatch(ctx); err != nil { // friend 1's one message of the day
			t.Fatal(err)
		}
		mc := queueTo(t, a, clk, "bc", saleCause, 0, 1, 2, 3)
		got, err := st.LeaseDeliveries(ctx, a.id, "crashed", clk.Now(), time.Minute, 10)
		if err != nil || len(got) != 1 {
			t.Fatalf("%v, %v", got, err)
		}
		clk.Set(t0.Add(time.Minute))
		rep, err := a.Dispatch(ctx)
		if err != nil || rep.Sent != 1 || rep.Split != 0 {
			t.Fatalf("%+v, %v; want the multicast sent whole", rep, err)
		}
		d := mustDelivery(t, a, mc)
		calls := s.Calls()
		last := calls[len(calls)-1]
		if d.Status != store.Sent || last.RetryKey != d.RetryKey || len(last.To) != 3 {
			t.Fatalf("%+v; last call %+v", d, last)
		}
		// Never attempted: split, friend 1's part dropped.
		queueTo(t, a, clk, "bc2", saleCause, 0, 1, 4)
		if rep, err := a.Dispatch(ctx); err != nil || rep.Split != 1 {
			t.Fatalf("%+v, %v", rep, err)
		}
		if d := deliveryByKey(t, a, "bc2/dropped"); d.Status != store.Failed || !strings.HasPrefix(d.Error, ReasonCapDrop) {
			t.Fatalf("%+v", d)
		}
		if d := deliveryByKey(t, a, "bc2/go"); d.Status != store.Sent || !slices.Equal(d.Friends, []stepcast.FriendID{4}) {
			t.Fatalf("%+v", d)
		}
	})
}

// Two broadcasts the same day under a cap of one broadcast a day: the
// second goes only to the friend who joined between them — its multicast
// split, the capped friends' part skipped —, each friend once a day by
// the Sender's record.
func TestDispatchCapsOnBroadcasts(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		clk := &clock{t: t0}
		s := &fakeSender{}
		a := guardAccount(t, open(t), clk, s, Guards{Caps: []FrequencyCap{{Name: "one-a-day", Max: 1, Policy: CapSkip}}}, 2)
		for _, name := range []string{"morning", "noon"} {
			if name == "noon" {
				if _, err := a.Ingest(ctx, follow("f3", "U3", "", clk.Now())); err != nil {
					t.Fatal(err)
				}
			}
			if err := a.ScheduleBroadcast(ctx, Broadcast{Name: name, Messages: []stepcast.Message{msg(name)}}); err != nil {
				t.Fatal(err)
			}
			mustTick(t, a)
			if _, err := a.Dispatch(ctx); err != nil {
				t.Fatal(err)
			}
			clk.Set(clk.Now().Add(2 * time.Hour))
		}
		got := sentTo(s)
		if got["U1"] != 1 || got["U2"] != 1 || got["U3"] != 1 {
			t.Fatalf("received %v; want each friend one broadcast", got)
		}
		p, err := a.DeliveryProgress(ctx, "broadcast:noon")
		if err != nil || p.Sent != 1 || p.Recipients != 1 || p.Cancelled != 2 || p.Pending != 0 {
			t.Fatalf("noon: %+v, %v; want the split multicast and the skipped part cancelled, the new friend's part sent", p, err)
		}
		for _, c := range s.Calls() {
			if c.Text == "noon" && (len(c.To) != 1 || c.To[0].User != "U3") {
				t.Fatalf("noon went to %v", c.To)
			}
		}
	})
}

package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/render"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
)

// bcDefs: a friend's answers set their name, area and points.
func bcDefs() Definitions {
	set := func(field string) rules.Rule {
		return rules.Rule{Name: "set-" + field, Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventAnswer, Name: field},
			Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.SetField, Name: field, Text: "value"}}}}
	}
	return Definitions{
		Schema: segment.SchemaConfig{Fields: []segment.Field{
			{Name: "name", Type: stepcast.FieldString}, {Name: "area", Type: stepcast.FieldString}, {Name: "points", Type: stepcast.FieldInt},
			{Name: RichMenuField, Type: stepcast.FieldString},
		}, Location: tokyo, Segments: map[string]string{"tokyo": `area == "tokyo"`}},
		Rules: []rules.Rule{set("name"), set("area"), set("points")},
	}
}

func answer(id, user, field, value string, at time.Time) stepcast.Event {
	return ev(id, user, stepcast.EventAnswer, field, value, at)
}

func bcIngest(t testing.TB, a *Account, evs ...stepcast.Event) {
	t.Helper()
	res, err := a.Ingest(context.Background(), evs...)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
}

func mustTick(t testing.TB, a *Account) int {
	t.Helper()
	n, err := a.Tick(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func mustReport(t testing.TB, a *Account, name string) BroadcastReport {
	t.Helper()
	rep, err := a.Broadcast(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// sent decodes a broadcast's deliveries: by friend, the text of their
// messages joined by "|", and how many times each friend was queued.
func bcTexts(t *testing.T, a *Account, name string) (texts map[stepcast.FriendID]string, times map[stepcast.FriendID]int, rows []store.Delivery) {
	t.Helper()
	texts, times = map[stepcast.FriendID]string{}, map[stepcast.FriendID]int{}
	rows = allDeliveries(t, a, "broadcast:"+name)
	for _, row := range rows {
		var d stepcast.Delivery
		if err := json.Unmarshal(row.Payload, &d); err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, m := range d.Messages {
			var x struct{ Text string }
			_ = json.Unmarshal(m, &x)
			parts = append(parts, x.Text)
		}
		for _, r := range d.To {
			texts[r.Friend] = strings.Join(parts, "|")
			times[r.Friend]++
		}
		if !slices.Equal(row.Friends, func() []stepcast.FriendID {
			var ids []stepcast.FriendID
			for _, r := range d.To {
				ids = append(ids, r.Friend)
			}
			return ids
		}()) {
			t.Fatalf("delivery %s: row friends %v, payload %v", row.Key, row.Friends, d.To)
		}
	}
	return texts, times, rows
}

// TestBroadcastSendTimeAudience: the clinic's pre-booking at 11:00 for
// Tokyo, scheduled at 10:00; at 10:59 one friend answers Tokyo and one
// who had answered blocks: the first gets it, the second does not. The
// names render, with the default for a friend without one; the two
// friends sharing the default's text share a multicast, the one alone
// with their text gets a push.
func TestBroadcastSendTimeAudience(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		clk := &clock{t: t0}
		a := mustAccount(t, mustOpen(t, open(t), clk), "acct", bcDefs())
		at := t0.Add(-time.Hour)
		bcIngest(t, a, follow("f1", "U1", "", at), follow("f2", "U2", "", at), follow("f3", "U3", "", at), follow("f4", "U4", "", at),
			answer("a1", "U1", "area", "tokyo", at), answer("n1", "U1", "name", "Yuko", at),
			answer("a2", "U2", "area", "tokyo", at), answer("a4", "U4", "area", "tokyo", at))
		b := Broadcast{Name: "prebook", Segment: `segment("tokyo")`, At: t0.Add(time.Hour + 30*time.Second),
			Messages: []stepcast.Message{msg("{{name|お客様}}さん、予約受付を始めました"), msg("https://clinic.example/book")}}
		if err := a.ScheduleBroadcast(ctx, b); err != nil {
			t.Fatal(err)
		}
		rep := mustReport(t, a, "prebook")
		if rep.Status != BroadcastScheduled || !rep.Due.Equal(t0.Add(time.Hour)) {
			t.Fatalf("scheduled: %+v", rep)
		}
		clk.Set(t0.Add(59 * time.Minute))
		mustTick(t, a)
		bcIngest(t, a, answer("a3", "U3", "area", "tokyo", clk.Now()), ev("u2", "U2", stepcast.EventUnfollow, "", "", clk.Now()))
		if rows := allDeliveries(t, a, "broadcast:prebook"); len(rows) != 0 {
			t.Fatalf("queued before its time: %d", len(rows))
		}
		clk.Set(t0.Add(time.Hour))
		mustTick(t, a)
		texts, times, rows := bcTexts(t, a, "prebook")
		want := map[stepcast.FriendID]string{1: "Yukoさん、予約受付を始めました|https://clinic.example/book",
			3: "お客様さん、予約受付を始めました|https://clinic.example/book", 4: "お客様さん、予約受付を始めました|https://clinic.example/book"}
		if fmt.Sprint(texts) != fmt.Sprint(want) {
			t.Fatalf("sent %v, want %v", texts, want)
		}
		for f, n := range times {
			if n != 1 {
				t.Fatalf("friend %d queued %d times", f, n)
			}
		}
		if len(rows) != 2 || rows[0].Kind != stepcast.DeliveryPush || rows[1].Kind != stepcast.DeliveryMulticast ||
			rows[0].Priority != BroadcastPriority || rows[0].Key != "broadcast/prebook/1/1" || rows[1].Key != "broadcast/prebook/1/2" ||
			!stepcast.IsRetryKey(rows[0].RetryKey) || rows[0].RetryKey == rows[1].RetryKey || !rows[0].NextAt.Equal(t0.Add(time.Hour)) {
			t.Fatalf("rows %+v", rows)
		}
		rep = mustReport(t, a, "prebook")
		if rep.Status != BroadcastSending || rep.Audience != 3 || rep.Planned != 3 || rep.Deliveries != 2 || rep.Pushes != 1 ||
			rep.Chunks != 1 || rep.Outbox.Pending != 2 || len(rep.Skipped) != 0 || !rep.StartedAt.Equal(t0.Add(time.Hour)) {
			t.Fatalf("report %+v", rep)
		}
		// Nothing is left due, and a name that started cannot be reused.
		if n := mustTick(t, a); n != 0 {
			t.Fatalf("%d more units", n)
		}
		if err := a.ScheduleBroadcast(ctx, b); !errors.Is(err, ErrBroadcastExists) {
			t.Fatalf("reuse: %v", err)
		}
		if _, err := a.CancelDeliveries(ctx, store.DeliverySelector{Cause: "broadcast:prebook"}, "test"); err != nil {
			t.Fatal(err)
		}
		if rep := mustReport(t, a, "prebook"); rep.Status != BroadcastSent || rep.Outbox.Cancelled != 2 {
			t.Fatalf("after the outbox: %+v", rep)
		}
	})
}

// TestBroadcastSkips: a required field unset skips the friend, a default
// stands in, a value that makes the text too long skips with
// invalid_message, and a friend who blocked between the index and the
// record is skipped as not following.
func TestBroadcastSkips(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	st := backends["memstore"](t)
	a := mustAccount(t, mustOpen(t, st, clk), "acct", bcDefs())
	at := t0.Add(-time.Hour)
	bcIngest(t, a, follow("f1", "U1", "", at), follow("f2", "U2", "", at), follow("f3", "U3", "", at), follow("f4", "U4", "", at),
		answer("p1", "U1", "points", "10", at), answer("p2", "U2", "points", "20", at), answer("n2", "U2", "name", strings.Repeat("長", 4999), at),
		answer("p4", "U4", "points", "40", at))
	// U4 blocks in the store behind the index's back (another instance).
	err := st.Update(ctx, "acct", func(tx store.Tx) error {
		_, err := tx.Apply(store.Change{Friend: 4, Kind: store.Unfollow, At: t0})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	b := Broadcast{Name: "points", Messages: []stepcast.Message{msg("{{name|お客様}}さん {{points}}pt")}}
	if err := a.ScheduleBroadcast(ctx, b); err != nil {
		t.Fatal(err)
	}
	mustTick(t, a)
	texts, _, _ := bcTexts(t, a, "points")
	if fmt.Sprint(texts) != fmt.Sprint(map[stepcast.FriendID]string{1: "お客様さん 10pt"}) {
		t.Fatalf("sent %v", texts)
	}
	rep := mustReport(t, a, "points")
	want := map[string]int{"missing_field:points": 1, "invalid_message": 1, "not_following": 1}
	if fmt.Sprint(rep.Skipped) != fmt.Sprint(want) || rep.Audience != 4 || rep.Planned != 1 {
		t.Fatalf("report %+v", rep)
	}
}

// TestScheduleBroadcastInvalid: what ScheduleBroadcast refuses, each
// with stepcast.ErrInvalid and nothing scheduled; a scheduled broadcast
// may be scheduled again.
func TestScheduleBroadcastInvalid(t *testing.T) {
	ctx := context.Background()
	a := mustAccount(t, mustOpen(t, backends["memstore"](t), &clock{t: t0}), "acct", bcDefs())
	ok := []stepcast.Message{msg("hi")}
	for _, c := range []struct {
		name string
		b    Broadcast
		as   any
	}{
		{"NoName", Broadcast{Messages: ok}, nil},
		{"BadSegment", Broadcast{Name: "x", Segment: `area ==`, Messages: ok}, new(*segment.Error)},
		{"UnknownSaved", Broadcast{Name: "x", Segment: `segment("nope")`, Messages: ok}, nil},
		{"NoMessages", Broadcast{Name: "x"}, new(*render.Error)},
		{"SixMessages", Broadcast{Name: "x", Messages: []stepcast.Message{ok[0], ok[0], ok[0], ok[0], ok[0], ok[0]}}, new(*render.Error)},
		{"UnknownField", Broadcast{Name: "x", Messages: []stepcast.Message{msg("{{nmae}}")}}, new(*render.Error)},
		{"BadMessage", Broadcast{Name: "x", Messages: []stepcast.Message{stepcast.Message(`{"type":"sticker"}`)}}, new(*render.Error)},
		{"BadUnit", Broadcast{Name: "x", Messages: ok, AggregationUnit: "no spaces"}, nil},
		{"YearTenThousand", Broadcast{Name: "x", Messages: ok, At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, nil},
		{"NegativeYear", Broadcast{Name: "x", Messages: ok, At: time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC)}, nil},
		{"NeverDue", Broadcast{Name: "x", Messages: ok, At: time.Date(9999, 6, 1, 0, 0, 0, 0, time.UTC)}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := a.ScheduleBroadcast(ctx, c.b)
			if !errors.Is(err, stepcast.ErrInvalid) {
				t.Fatalf("err = %v", err)
			}
			if c.as != nil && !errors.As(err, c.as) {
				t.Fatalf("err = %v, not a %T", err, c.as)
			}
		})
	}
	if bs, err := a.Broadcasts(ctx); err != nil || len(bs) != 0 {
		t.Fatalf("scheduled: %v %v", bs, err)
	}
	b := Broadcast{Name: "x", Messages: ok, At: t0.Add(time.Hour)}
	if err := a.ScheduleBroadcast(ctx, b); err != nil {
		t.Fatal(err)
	}
	b.At = t0.Add(2 * time.Hour)
	b.Messages = []stepcast.Message{msg("changed")}
	if err := a.ScheduleBroadcast(ctx, b); err != nil {
		t.Fatal(err)
	}
	bs, err := a.Broadcasts(ctx)
	if err != nil || len(bs) != 1 || !bs[0].Due.Equal(t0.Add(2*time.Hour)) || string(bs[0].Broadcast.Messages[0]) != string(msg("changed")) {
		t.Fatalf("rescheduled: %+v %v", bs, err)
	}
	if _, err := a.Broadcast(ctx, "nope"); !errors.Is(err, ErrNoBroadcast) {
		t.Fatalf("unknown: %v", err)
	}
}

// TestBroadcastCrashResume: 12,345 members (every 100th blocked) in
// chunks of 5,000; the engine plans two chunks, then dies holding the
// third's lease. Another engine on the same store takes over when the
// lease ends: each following member is queued exactly once, in the
// frozen audience — a friend who joins the segment after it started is
// not added.
func TestBroadcastCrashResume(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		st := open(t)
		const n = 12345
		seedFriends(t, st, n, func(i int) bool { return i%100 == 0 })
		clk := &clock{t: t0}
		a := mustAccount(t, mustOpen(t, st, clk), "acct", bcDefs())
		if err := a.ScheduleBroadcast(ctx, Broadcast{Name: "sale", Segment: `tag("member")`, Messages: []stepcast.Message{msg("sale!")}}); err != nil {
			t.Fatal(err)
		}
		runDue(t, a, DueBroadcast, 1)
		runDue(t, a, DueBroadcast, 1)
		rep := mustReport(t, a, "sale")
		if rep.Status != BroadcastSending || rep.Chunks != 2 || rep.Planned != 2*BroadcastChunk || rep.Audience != n-n/100 {
			t.Fatalf("after two chunks: %+v", rep)
		}
		// A friend joins the segment after it started: not in the frozen audience.
		bcIngest(t, a, follow("late", "Ulate", "", t0))
		if err := st.Update(ctx, "acct", func(tx store.Tx) error {
			f, err := tx.FriendByUser("Ulate")
			if err != nil {
				return err
			}
			_, err = tx.Apply(store.Change{Friend: f.ID, Kind: store.SetTag, Name: "member", At: t0})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		// The engine dies in the third chunk, holding its lease.
		if ts, err := st.Lease(ctx, "acct", "dead", clk.Now(), tickLease, 10, string(DueBroadcast)); err != nil || len(ts) != 1 {
			t.Fatalf("lease: %v %v", ts, err)
		}
		clk2 := &clock{t: t0.Add(tickLease)}
		a2 := mustAccount(t, mustOpen(t, st, clk2), "acct", bcDefs())
		mustTick(t, a2)
		_, times, rows := bcTexts(t, a2, "sale")
		for i := 1; i <= n; i++ {
			want := 1
			if i%100 == 0 {
				want = 0
			}
			if times[stepcast.FriendID(i)] != want {
				t.Fatalf("friend %d queued %d times, want %d", i, times[stepcast.FriendID(i)], want)
			}
		}
		if len(times) != n-n/100 {
			t.Fatalf("%d friends queued", len(times))
		}
		rep = mustReport(t, a2, "sale")
		if rep.Status != BroadcastSending || rep.Chunks != 3 || rep.Planned != n-n/100 || rep.Deliveries != len(rows) || rep.Skipped != nil && len(rep.Skipped) != 0 {
			t.Fatalf("after the restart: %+v", rep)
		}
		if aud := accountTimers(t, a2, DueBroadcast); len(aud) != 1 || !aud[0].Due.Equal(never) {
			t.Fatalf("timers left: %+v", aud)
		}
	})
}

// TestCancelBroadcast: cancelled while scheduled, it never goes;
// cancelled after its first chunk, its pending deliveries are taken back
// and nothing more is planned.
func TestCancelBroadcast(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		st := open(t)
		seedFriends(t, st, 7000, func(int) bool { return false })
		clk := &clock{t: t0}
		a := mustAccount(t, mustOpen(t, st, clk), "acct", bcDefs())
		later := Broadcast{Name: "later", Messages: []stepcast.Message{msg("later")}, At: t0.Add(time.Hour)}
		now := Broadcast{Name: "now", Messages: []stepcast.Message{msg("now")}}
		for _, b := range []Broadcast{later, now} {
			if err := a.ScheduleBroadcast(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := a.CancelBroadcast(ctx, "later", "the doctor is away"); err != nil || n != 0 {
			t.Fatalf("cancel scheduled: %d %v", n, err)
		}
		runDue(t, a, DueBroadcast, 1) // the first chunk of "now": 10 multicasts
		n, err := a.CancelBroadcast(ctx, "now", "wrong price")
		if err != nil || n != 10 {
			t.Fatalf("cancel sending: %d %v", n, err)
		}
		clk.Set(t0.Add(2 * time.Hour))
		mustTick(t, a)
		for _, name := range []string{"later", "now"} {
			rep := mustReport(t, a, name)
			if rep.Status != BroadcastCancelled || rep.Outbox.Pending != 0 || rep.Reason == "" {
				t.Fatalf("%s: %+v", name, rep)
			}
		}
		if rows := allDeliveries(t, a, "broadcast:later"); len(rows) != 0 {
			t.Fatalf("later queued %d", len(rows))
		}
		rows := allDeliveries(t, a, "broadcast:now")
		for _, r := range rows {
			if r.Status != store.Cancelled || r.Reason != "wrong price" {
				t.Fatalf("row %+v", r)
			}
		}
		if len(rows) != 10 {
			t.Fatalf("now queued %d rows", len(rows))
		}
		if _, err := a.CancelBroadcast(ctx, "nope", ""); !errors.Is(err, ErrNoBroadcast) {
			t.Fatalf("unknown: %v", err)
		}
		// A name cancelled before it started is free again; one cancelled
		// after it started is not.
		if err := a.ScheduleBroadcast(ctx, now); !errors.Is(err, ErrBroadcastExists) {
			t.Fatalf("reuse of a name cancelled while sending: %v", err)
		}
		later.At = t0.Add(3 * time.Hour)
		if err := a.ScheduleBroadcast(ctx, later); err != nil {
			t.Fatalf("reuse of a name cancelled before it started: %v", err)
		}
		if rep := mustReport(t, a, "later"); rep.Status != BroadcastScheduled || !rep.Due.Equal(later.At) || rep.Reason != "" {
			t.Fatalf("rescheduled: %+v", rep)
		}
		clk.Set(later.At)
		mustTick(t, a)
		if rows := allDeliveries(t, a, "broadcast:later"); len(rows) != 14 {
			t.Fatalf("rescheduled later queued %d rows, want 14", len(rows))
		}
	})
}

// fakeQuota is a Sender that tells a quota.
type fakeQuota struct{ limit, used int64 }

func (fakeQuota) Send(context.Context, stepcast.Delivery, string) (string, error) { return "", nil }
func (q fakeQuota) MessageQuota(context.Context) (int64, int64, error)            { return q.limit, q.used, nil }

// TestPreview: figures worked by hand on five friends.
func TestPreview(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	st := backends["memstore"](t)
	a := mustAccount(t, mustOpen(t, st, clk), "acct", bcDefs())
	at := t0.Add(-time.Hour)
	bcIngest(t, a, follow("f1", "U1", "", at), follow("f2", "U2", "", at), follow("f3", "U3", "", at), follow("f4", "U4", "", at), follow("f5", "U5", "", at),
		answer("n1", "U1", "name", "Yuko", at), answer("p1", "U1", "points", "10", at), answer("p2", "U2", "points", "5", at),
		answer("p4", "U4", "points", "7", at), ev("u4", "U4", stepcast.EventUnfollow, "", "", at), answer("p5", "U5", "points", "3", at))
	b := Broadcast{Name: "p", Messages: []stepcast.Message{msg("{{name|お客様}}さん {{points}}pt")}}
	p, err := a.Preview(ctx, b, PreviewOptions{Sample: 3, Used: 199})
	if err != nil {
		t.Fatal(err)
	}
	// Following: 1, 2, 3, 5; 3 has no points. Not exact: a name (a
	// string field) may be long enough to make the text too long.
	if p.Audience != 4 || p.Recipients != 3 || p.Messages != 3 || fmt.Sprint(p.Skipped) != "map[missing_field:points:1]" || p.SkipsExact {
		t.Fatalf("preview %+v", p)
	}
	if len(p.Sample) != 3 || string(p.Sample[0].Messages[0]) != string(msg("Yukoさん 10pt")) || string(p.Sample[1].Messages[0]) != string(msg("お客様さん 5pt")) ||
		p.Sample[2].Skip != "missing_field:points" || p.Sample[2].Friend != 3 {
		t.Fatalf("sample %+v", p.Sample)
	}
	// 199 used: Free has 1 left (2 over, refused), Light and Standard fit.
	wantCosts := []PlanCost{
		{Plan: Plans[0], Fits: false, Over: 2, MonthYen: 0},
		{Plan: Plans[1], Fits: true, MonthYen: 5000},
		{Plan: Plans[2], Fits: true, MonthYen: 15000},
	}
	if fmt.Sprint(p.Costs) != fmt.Sprint(wantCosts) || p.QuotaKnown || p.FitsQuota {
		t.Fatalf("costs %+v, quota %v", p.Costs, p.QuotaKnown)
	}
	if s := p.String(); !strings.Contains(s, "quota: unknown") || !strings.Contains(s, "Free: +0 yen (month 0 yen) — does not fit: 2 over") {
		t.Fatalf("String:\n%s", s)
	}
	// Standard past its 30,000: 2 extra at 3 yen.
	if c := Plans[2].Cost(29999, 3); c.Over != 2 || c.ExtraYen != 6 || c.MonthYen != 15006 || !c.Fits {
		t.Fatalf("standard %+v", c)
	}
	// A Sender that tells the quota: 2 left, 3 to send.
	e, err := Open(Config{Store: st, Now: clk.Now, Holder: "q", Sender: fakeQuota{limit: 1000, used: 998}})
	if err != nil {
		t.Fatal(err)
	}
	aq, err := e.Account("acct")
	if err != nil {
		if aq, err = e.AddAccount(ctx, "acct", bcDefs()); err != nil {
			t.Fatal(err)
		}
	}
	p, err = aq.Preview(ctx, b, PreviewOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !p.QuotaKnown || p.Limit != 1000 || p.Used != 998 || p.Remaining != 2 || p.FitsQuota || len(p.Sample) != 4 {
		t.Fatalf("quota: %+v", p)
	}
	// Nothing was scheduled.
	if bs, _ := a.Broadcasts(ctx); len(bs) != 0 {
		t.Fatalf("scheduled %v", bs)
	}
}

// TestBroadcastFailsOnSchemaChange: a field a placeholder names leaves
// the schema before the broadcast is due: it fails, saying why, and
// queues nothing.
func TestBroadcastFailsOnSchemaChange(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	a := mustAccount(t, mustOpen(t, backends["memstore"](t), clk), "acct", bcDefs())
	bcIngest(t, a, follow("f1", "U1", "", t0), answer("p1", "U1", "points", "3", t0))
	if err := a.ScheduleBroadcast(ctx, Broadcast{Name: "pts", Messages: []stepcast.Message{msg("{{points}}pt")}, At: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	d := bcDefs()
	d.Schema.Fields = slices.DeleteFunc(d.Schema.Fields, func(f segment.Field) bool { return f.Name == "points" })
	d.Rules = d.Rules[:2]
	if err := a.SetDefinitions(ctx, d); err != nil {
		t.Fatal(err)
	}
	clk.Set(t0.Add(time.Hour))
	mustTick(t, a)
	rep := mustReport(t, a, "pts")
	if rep.Status != BroadcastFailed || !strings.Contains(rep.Reason, "no such field") || rep.Planned != 0 {
		t.Fatalf("report %+v", rep)
	}
	if rows := allDeliveries(t, a, "broadcast:pts"); len(rows) != 0 {
		t.Fatalf("queued %d", len(rows))
	}
}

// TestBroadcastChunksPerTick: a Tick plans at most
// BroadcastChunksPerTick chunks of a broadcast; the next goes on.
func TestBroadcastChunksPerTick(t *testing.T) {
	if testing.Short() {
		t.Skip("100,001 friends")
	}
	ctx := context.Background()
	st := backends["memstore"](t)
	n := BroadcastChunksPerTick*BroadcastChunk + 1
	seedFriends(t, st, n, func(int) bool { return false })
	a := mustAccount(t, mustOpen(t, st, &clock{t: t0}), "acct", bcDefs())
	if err := a.ScheduleBroadcast(ctx, Broadcast{Name: "big", Messages: []stepcast.Message{msg("hi")}}); err != nil {
		t.Fatal(err)
	}
	mustTick(t, a)
	if rep := mustReport(t, a, "big"); rep.Planned != n-1 || rep.Chunks != BroadcastChunksPerTick || rep.Status != BroadcastSending {
		t.Fatalf("first tick: %+v", rep)
	}
	mustTick(t, a)
	if rep := mustReport(t, a, "big"); rep.Planned != n || rep.Chunks != BroadcastChunksPerTick+1 || rep.Pushes != 1 {
		t.Fatalf("second tick: %+v", rep)
	}
}

// TestRetryKeyOf: the stack-built retry key is uuidFrom's, short key or long.
func TestRetryKeyOf(t *testing.T) {
	for _, key := range []string{"broadcast/sale/1/1", strings.Repeat("k", 300)} {
		if got, want := retryKeyOf("shop", key), uuidFrom("shop\x00"+key); got != want || !stepcast.IsRetryKey(got) {
			t.Fatalf("%q: %s, want %s", key, got, want)
		}
	}
}

// TestPreviewOptions: a negative sample or use is refused, not a panic;
// a sample far larger than the audience takes memory for the audience.
func TestPreviewOptions(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	a := mustAccount(t, mustOpen(t, backends["memstore"](t), clk), "acct", bcDefs())
	at := t0.Add(-time.Hour)
	bcIngest(t, a, follow("f1", "U1", "", at), follow("f2", "U2", "", at))
	b := Broadcast{Name: "p", Messages: []stepcast.Message{msg("hello")}}
	for _, o := range []PreviewOptions{{Sample: -1}, {Used: -1}, {Sample: math.MinInt}} {
		if _, err := a.Preview(ctx, b, o); !errors.Is(err, stepcast.ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", o, err)
		}
	}
	p, err := a.Preview(ctx, b, PreviewOptions{Sample: math.MaxInt})
	if err != nil || len(p.Sample) != 2 || p.Recipients != 2 {
		t.Fatalf("a huge sample: %+v, %v", p, err)
	}
}

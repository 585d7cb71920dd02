package engine

import (
	"context"
	"errors"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/scoring"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// shopDefs is a beauty salon's account: a QR code at the shop, a survey,
// a campaign link, a lead score that halves every week.
func shopDefs() Definitions {
	return Definitions{
		Schema: segment.SchemaConfig{
			Fields: []segment.Field{
				{Name: "plan", Type: stepcast.FieldChoice, Choices: []string{"free", "trial", "member"}},
				{Name: "points", Type: stepcast.FieldInt},
				{Name: "lucky", Type: stepcast.FieldInt},
				{Name: "next_contact", Type: stepcast.FieldTime},
				{Name: "follows", Type: stepcast.FieldInt},
				{Name: "age", Type: stepcast.FieldInt},
				{Name: "visit", Type: stepcast.FieldTime},
				{Name: "remind_on", Type: stepcast.FieldTime},
			},
			Location: tokyo,
		},
		Scoring: scoring.Config{
			Scores: map[string]scoring.Decay{"lead": {HalfLife: 7 * 24 * time.Hour}},
			Rules: []scoring.Rule{
				{Name: "campaign-click", Score: "lead", Kind: stepcast.EventClick, EventName: "campaign", Points: 5},
			},
			Thresholds: []scoring.Threshold{
				{Name: "hot", Score: "lead", At: 20, Direction: scoring.Up, Actions: []stepcast.Action{{Kind: stepcast.AddTag, Name: "hot"}}},
				{Name: "cooled", Score: "lead", Recent: true, At: 10, Direction: scoring.Down, Actions: []stepcast.Action{{Kind: stepcast.RemoveTag, Name: "hot"}}},
			},
		},
		Rules: []rules.Rule{
			{Name: "count-follows", Trigger: rules.Trigger{Kind: rules.OnFollow}, Steps: []rules.Step{
				{Action: stepcast.Action{Kind: stepcast.AddToField, Name: "follows", Number: 1}},
			}},
			{Name: "welcome-qr", Trigger: rules.Trigger{Kind: rules.OnFollow, Route: "qr-shop", FirstOnly: true}, Steps: []rules.Step{
				{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "route/qr-shop"}},
				{Action: stepcast.Action{Kind: stepcast.SetField, Name: "plan", Value: val(stepcast.StringValue("free"))}},
				{Action: stepcast.Action{Kind: stepcast.SendMessages, Messages: []stepcast.Message{msg("ようこそ!")}}},
				{Action: stepcast.Action{Kind: stepcast.RandomField, Name: "lucky", Min: 1, Max: 6}},
			}},
			{Name: "survey", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventAnswer, Name: "interest"}, Steps: []rules.Step{
				{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "answered"}},
				{If: `tag("answered")`, Action: stepcast.Action{Kind: stepcast.AddToField, Name: "points", Number: 10}},
				{If: `points >= 10`, Action: stepcast.Action{Kind: stepcast.AddTag, Name: "ten"}},
				{If: `!tag("ten")`, Action: stepcast.Action{Kind: stepcast.AddTag, Name: "never"}},
				{If: `answered("interest", "yes")`, Action: stepcast.Action{Kind: stepcast.ShiftDateField, Name: "next_contact", Number: 3}},
			}},
			{Name: "ten-points", Trigger: rules.Trigger{Kind: rules.OnTagAdded, Name: "ten"}, Steps: []rules.Step{
				{Action: stepcast.Action{Kind: stepcast.AddScore, Name: "lead", Number: 20}},
			}},
			{Name: "hot-lead", Trigger: rules.Trigger{Kind: rules.OnThreshold, Name: "hot"}, Steps: []rules.Step{
				{If: `plan == "free"`, Action: stepcast.Action{Kind: stepcast.NotifyHost, Name: "hot-lead", Text: "a free-plan friend is hot"}},
				{Action: stepcast.Action{Kind: stepcast.StartScenario, Name: "trial-offer"}},
			}},
			{Name: "profile", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventAnswer, Name: "age"}, Steps: []rules.Step{
				{Action: stepcast.Action{Kind: stepcast.SetField, Name: "age", Text: "value"}},
				{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "profiled"}},
			}},
			{Name: "booking", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventConversion, Name: "booking"}, Steps: []rules.Step{
				{Action: stepcast.Action{Kind: stepcast.SetField, Name: "visit", Text: "data.at"}},
				{Action: stepcast.Action{Kind: stepcast.ShiftDateField, Name: "remind_on", Number: -1, Text: "visit"}},
				{Action: stepcast.Action{Kind: stepcast.StartReminder, Name: "visit", Text: "data.at"}},
			}},
			{Name: "clicked-today", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventClick, Name: "campaign"}, Steps: []rules.Step{
				{If: `clicked("campaign", 1)`, Action: stepcast.Action{Kind: stepcast.AddTag, Name: "clicked-today"}},
			}},
			{Name: "price", Trigger: rules.Trigger{Kind: rules.OnKeyword, Match: rules.MatchPartial, Keywords: []string{"料金", "値段"}}, Steps: []rules.Step{
				{Action: stepcast.Action{Kind: stepcast.Reply, Messages: []stepcast.Message{msg("Cut 4,000 yen, color 6,000 yen")}}},
			}},
		},
		Scenarios: []scenario.Definition{{
			Name: "trial-offer",
			Exit: `plan == "member"`,
			Steps: []scenario.Step{
				{Name: "offer", Timing: scenario.Timing{Kind: scenario.OnDay, Day: 1, At: "10:00"}, Messages: []stepcast.Message{msg("A free trial for you")}},
				{Name: "last-call", Timing: scenario.Timing{Kind: scenario.OnDay, Day: 3, At: "10:00"}, If: `!tag("trial")`, Messages: []stepcast.Message{msg("Last chance")}},
			},
		}},
		Reminders: []scenario.Reminder{{
			Name: "visit",
			Steps: []scenario.ReminderStep{
				{Name: "day-before", DaysBefore: 1, At: "18:00", Messages: []stepcast.Message{msg("See you tomorrow")}},
				{Name: "hour-before", Before: time.Hour, Messages: []stepcast.Message{msg("See you in an hour")}, Priority: 90},
			},
		}},
		TestFriends: []stepcast.UserID{"U0123456789abcdef0123456789abcdef"},
	}
}

func TestIngestEndToEnd(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		clk := &clock{t: t0}
		var notified []stepcast.Notification
		e, err := Open(Config{Store: open(t), Now: clk.Now, Holder: "test", Notify: func(_ context.Context, n stepcast.Notification) {
			notified = append(notified, n)
		}})
		if err != nil {
			t.Fatal(err)
		}
		a := mustAccount(t, e, "salon", shopDefs())

		res, err := a.Ingest(ctx,
			follow("f1", "U1", "qr-shop", t0),
			ev("a1", "U1", stepcast.EventAnswer, "interest", "yes", t0.Add(time.Minute)),
			ev("c1", "U1", stepcast.EventClick, "campaign", "", t0.Add(2*time.Minute)),
		)
		if err != nil {
			t.Fatal(err)
		}
		// The follow: welcome steps in order, a push queued.
		if got := ranSteps(res[0]); !slices.Equal(got, []string{"count-follows/0", "welcome-qr/0", "welcome-qr/1", "welcome-qr/2", "welcome-qr/3"}) {
			t.Errorf("follow ran %v", got)
		}
		if len(res[0].Queued) != 1 || res[0].Queued[0].Kind != stepcast.DeliveryPush || !strings.Contains(string(res[0].Queued[0].Payload), `"user":"U1"`) {
			t.Errorf("follow queued %+v", res[0].Queued)
		}
		// The answer: each step saw the ones before; the chain went tag
		// "ten" -> add_score 20 -> threshold hot -> hot-lead rule.
		wantSteps := []string{"survey/0", "survey/1", "survey/2", "-survey/3", "survey/4", "ten-points/0", "threshold:hot/0", "hot-lead/0", "hot-lead/1"}
		if got := ranSteps(res[1]); !slices.Equal(got, wantSteps) {
			t.Errorf("answer ran %v\nwant %v", got, wantSteps)
		}
		if len(res[1].Crossings) != 1 || res[1].Crossings[0].Threshold != "hot" {
			t.Errorf("answer crossings %+v", res[1].Crossings)
		}
		// The host is told, not LINE.
		want := stepcast.Notification{Account: "salon", Friend: res[1].Friend, User: "U1", Name: "hot-lead", Text: "a free-plan friend is hot",
			Cause: stepcast.Cause{Kind: stepcast.CauseRule, Name: "hot-lead", Step: 0, Unit: "a1"}, At: t0.Add(time.Minute)}
		if len(res[1].Queued) != 0 || len(res[1].Notified) != 1 || !reflect.DeepEqual(res[1].Notified[0], want) {
			t.Errorf("answer queued %+v, notified %+v", res[1].Queued, res[1].Notified)
		}
		if len(notified) != 1 || !reflect.DeepEqual(notified[0], want) {
			t.Errorf("the host's callback got %+v, want %+v", notified, want)
		}
		// The click: scored, and the condition counted the click itself.
		if len(res[2].Points) != 1 || res[2].Points[0].Points != 5 || !slices.Contains(ranSteps(res[2]), "clicked-today/0") {
			t.Errorf("click: points %+v steps %v", res[2].Points, ranSteps(res[2]))
		}

		v, err := a.FriendByUser(ctx, "U1")
		if err != nil {
			t.Fatal(err)
		}
		wantTags := []string{"answered", "clicked-today", "hot", "route/qr-shop", "ten"}
		if !slices.Equal(v.Tags, wantTags) {
			t.Errorf("tags %v, want %v", v.Tags, wantTags)
		}
		if got := v.Fields["points"]; !got.Equal(stepcast.IntValue(10)) {
			t.Errorf("points = %v", got)
		}
		if got := v.Fields["plan"]; !got.Equal(stepcast.StringValue("free")) {
			t.Errorf("plan = %v", got)
		}
		if l, _ := v.Fields["lucky"].Any().(int64); l < 1 || l > 6 {
			t.Errorf("lucky = %v, want 1..6", v.Fields["lucky"])
		}
		wantNext := stepcast.TimeValue(t0.Add(time.Minute).AddDate(0, 0, 3))
		if got := v.Fields["next_contact"]; !got.Equal(wantNext) {
			t.Errorf("next_contact = %v, want %v", got, wantNext)
		}
		if v.Scenarios["trial-offer"] != 0 || len(v.Scenarios) != 1 {
			t.Errorf("scenarios %v", v.Scenarios)
		}
		lead := v.Scores["lead"]
		if lead.Lifetime != 25 || v.Friend.Scores["lead"] != 25 {
			t.Errorf("lead %+v, record %v", lead, v.Friend.Scores)
		}
		if len(lead.Ledger) != 2 || lead.Ledger[0].Rule != "action:ten-points" || lead.Ledger[0].Event != "a1" || lead.Ledger[1].Rule != "campaign-click" {
			t.Errorf("ledger %+v", lead.Ledger)
		}

		// The history holds the friend's events and their journey: the
		// trial offer entered on the answer.
		if len(v.Recent) != 4 || v.Recent[0].ID != "c1" || v.Recent[3].ID != "f1" || v.Recent[3].Data["route"] != "qr-shop" ||
			v.Recent[1].Kind != stepcast.EventJourney || v.Recent[1].Name != "trial-offer" || v.Recent[1].Value != "entered" {
			t.Errorf("recent events %+v", v.Recent)
		}
		if page, err := a.History(ctx, v.ID, v.Recent[1].Seq, 1); err != nil || len(page) != 1 || page[0].ID != "a1" {
			t.Errorf("history page %+v, %v", page, err)
		}

		// The live index follows every commit.
		for src, want := range map[string]uint64{
			`tag("hot")`: 1, `plan == "free" && points >= 10`: 1, `score("lead") >= 25`: 1,
			`clicked("campaign", 1)`: 1, `in_scenario("trial-offer")`: 1, `tag("never")`: 0,
		} {
			if n, err := a.Count(src); err != nil || n != want {
				t.Errorf("Count(%s) = %d, %v; want %d", src, n, err, want)
			}
		}

		// Values from events: an answer typed into a form, a booking's time.
		res, err = a.Ingest(ctx,
			ev("age1", "U1", stepcast.EventAnswer, "age", "abc", t0.Add(3*time.Minute)),
			ev("age2", "U1", stepcast.EventAnswer, "age", "34", t0.Add(4*time.Minute)),
			stepcast.Event{ID: "bk1", User: "U1", Kind: stepcast.EventConversion, Name: "booking", Data: map[string]string{"at": "2026-12-05 15:30"}, At: t0.Add(5 * time.Minute)},
		)
		if err != nil {
			t.Fatal(err)
		}
		if n := res[0].Steps[0].Note; !strings.Contains(n, `value of the event: stepcast: invalid: "abc" is not a value of type int`) || len(res[0].Changes) != 1 {
			t.Errorf("a bad answer: note %q, changes %+v (the tag should still be added)", n, res[0].Changes)
		}
		visit := time.Date(2026, 12, 5, 15, 30, 0, 0, tokyo)
		v, _ = a.FriendByUser(ctx, "U1")
		if !v.Fields["age"].Equal(stepcast.IntValue(34)) || !v.Fields["visit"].Equal(stepcast.TimeValue(visit)) ||
			!v.Fields["remind_on"].Equal(stepcast.TimeValue(visit.AddDate(0, 0, -1))) {
			t.Errorf("age %v, visit %v, remind_on %v", v.Fields["age"], v.Fields["visit"], v.Fields["remind_on"])
		}
		// The reminder's first step is what is due, not the visit.
		var reminder bool
		for _, tm := range v.Timers {
			reminder = reminder || (tm.Key == "reminder/visit/" && tm.Due.Equal(time.Date(2026, 12, 4, 18, 0, 0, 0, tokyo)))
		}
		if !reminder {
			t.Errorf("no reminder due the day before the visit at 18:00: %+v", v.Timers)
		}

		// Duplicates change nothing.
		before := a.Cursor()
		res, err = a.Ingest(ctx, follow("f1", "U1", "qr-shop", t0), ev("a1", "U1", stepcast.EventAnswer, "interest", "yes", t0))
		if err != nil || !res[0].Duplicate || !res[1].Duplicate || res[0].Friend != v.ID {
			t.Fatalf("duplicates: %v %+v", err, res)
		}
		if after := a.Cursor(); after != before {
			t.Errorf("duplicates moved the logs: %+v -> %+v", before, after)
		}
		v2, _ := a.FriendByUser(ctx, "U1")
		if !reflect.DeepEqual(v.Friend, v2.Friend) {
			t.Errorf("duplicates changed the friend:\n%+v\n%+v", v.Friend, v2.Friend)
		}

		// Blocking and coming back: counted each time, welcomed once.
		clk.Set(t0.Add(2 * time.Hour))
		res, err = a.Ingest(ctx,
			ev("u1", "U1", stepcast.EventUnfollow, "", "", t0.Add(time.Hour)),
			follow("f2", "U1", "qr-shop", t0.Add(2*time.Hour)),
		)
		if err != nil {
			t.Fatal(err)
		}
		if got := ranSteps(res[1]); !slices.Equal(got, []string{"count-follows/0"}) {
			t.Errorf("second follow ran %v", got)
		}
		v, _ = a.FriendByUser(ctx, "U1")
		if !v.Following || !v.Fields["follows"].Equal(stepcast.IntValue(2)) {
			t.Errorf("after return: following %v follows %v", v.Following, v.Fields["follows"])
		}
	})
}

// ranSteps lists rule/step for each step that ran, -rule/step for skipped.
func ranSteps(r Result) []string {
	var out []string
	for _, s := range r.Steps {
		name := s.Rule + "/" + string(rune('0'+s.Step))
		if !s.Ran {
			name = "-" + name
		}
		out = append(out, name)
	}
	return out
}

func TestRuleLoopChangesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		clk := &clock{t: t0}
		e := mustOpen(t, open(t), clk)
		d := shopDefs()
		d.Rules = append(d.Rules,
			rules.Rule{Name: "ping", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventPostback, Name: "ping"}, Steps: []rules.Step{
				{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "a"}},
			}},
			rules.Rule{Name: "a-to-b", Trigger: rules.Trigger{Kind: rules.OnTagAdded, Name: "a"}, Steps: []rules.Step{
				{Action: stepcast.Action{Kind: stepcast.RemoveTag, Name: "a"}},
				{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "b"}},
			}},
			rules.Rule{Name: "b-to-a", Trigger: rules.Trigger{Kind: rules.OnTagAdded, Name: "b"}, Steps: []rules.Step{
				{Action: stepcast.Action{Kind: stepcast.RemoveTag, Name: "b"}},
				{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "a"}},
			}},
		)
		a := mustAccount(t, e, "salon", d)
		res, err := a.Ingest(ctx,
			follow("f1", "U1", "", t0),
			ev("p1", "U1", stepcast.EventPostback, "ping", "", t0.Add(time.Minute)),
			ev("a1", "U1", stepcast.EventAnswer, "interest", "no", t0.Add(2*time.Minute)),
		)
		var loop *rules.LoopError
		if !errors.As(err, &loop) || !errors.Is(err, rules.ErrLoop) {
			t.Fatalf("err = %v, want a *rules.LoopError", err)
		}
		if loop.Unit != `event "p1"` || len(loop.Chain) != 10 || loop.Chain[0] != "ping" || loop.Chain[1] != "a-to-b" || loop.Chain[2] != "b-to-a" {
			t.Errorf("loop = %+v", loop)
		}
		if !strings.Contains(err.Error(), "ping -> a-to-b -> b-to-a") {
			t.Errorf("message does not show the chain: %v", err)
		}
		if res[0].Err != nil || res[2].Err != nil || res[1].Err == nil {
			t.Errorf("only the looping event should fail: %v / %v / %v", res[0].Err, res[1].Err, res[2].Err)
		}
		v, _ := a.FriendByUser(ctx, "U1")
		if slices.Contains(v.Tags, "a") || slices.Contains(v.Tags, "b") || !slices.Contains(v.Tags, "answered") {
			t.Errorf("tags %v: the loop must leave nothing, the next event must apply", v.Tags)
		}
		var recorded bool
		e.cfg.Store.View(ctx, "salon", func(tx store.ReadTx) error {
			recorded, _ = tx.HasEvent("p1")
			return nil
		})
		if recorded {
			t.Error("the failed event was recorded")
		}

		// The same through IngestBatch: one commit, the loop left out.
		res, err = a.IngestBatch(ctx,
			ev("p2", "U2", stepcast.EventPostback, "ping", "", t0.Add(time.Minute)),
			follow("f3", "U3", "qr-shop", t0),
		)
		if !errors.Is(err, rules.ErrLoop) || res[0].Err == nil || res[1].Err != nil {
			t.Fatalf("batch: %v %+v", err, res)
		}
		if _, err := a.FriendByUser(ctx, "U2"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the failed event's friend was created: %v", err)
		}
		if n := mustCount(t, a, `tag("route/qr-shop")`); n != 1 {
			t.Errorf("batch: the good event did not apply (%d)", n)
		}
	})
}

// failingStore fails the append of one event ID as a broken disk would.
type failingStore struct {
	store.Store
	failOn string
}

type failingTx struct {
	store.Tx
	failOn string
}

func (s failingStore) Update(ctx context.Context, a store.AccountID, fn func(store.Tx) error) error {
	return s.Store.Update(ctx, a, func(tx store.Tx) error { return fn(failingTx{tx, s.failOn}) })
}

func (t failingTx) AppendEvent(e stepcast.Event) (uint64, error) {
	if e.ID == t.failOn {
		return 0, errors.New("disk full")
	}
	return t.Tx.AppendEvent(e)
}

// TestStoreFailureFailsTheBatch: a store failure is nobody's event's fault:
// the whole batch fails and nothing is committed, where a bad event would
// only be left out.
func TestStoreFailureFailsTheBatch(t *testing.T) {
	ctx := context.Background()
	st := failingStore{Store: memstore.New(), failOn: "f2"}
	a := mustAccount(t, mustOpen(t, st, &clock{t: t0}), "salon", shopDefs())
	res, err := a.IngestBatch(ctx, follow("f1", "U1", "", t0), follow("f2", "U2", "", t0), follow("f3", "U3", "", t0))
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v", err)
	}
	for _, r := range res {
		if r.Err == nil {
			t.Errorf("event %s did not fail", r.Event)
		}
	}
	if n := mustCount(t, a, "following"); n != 0 {
		t.Errorf("%d friends committed", n)
	}
}

// FuzzIngest: whatever a webhook or a host hands Ingest — any kind, name,
// value, amount, data, time, user — it returns results and errors, never
// panics, and leaves the index equal to a rebuild.
func FuzzIngest(f *testing.F) {
	f.Add("f1", "U1", "follow", "", "", 0.0, "route", "qr-shop", int64(0))
	f.Add("a1", "U1", "answer", "age", "abc", 0.0, "", "", int64(60))
	f.Add("b1", "U2", "conversion", "booking", "", math.NaN(), "at", "2026-12-32 25:00", int64(-1<<40))
	f.Add("", "", "", "", "", math.Inf(1), "", "", int64(1<<62))
	f.Fuzz(func(t *testing.T, id, user, kind, name, value string, amount float64, key, datum string, offset int64) {
		ctx := context.Background()
		a := mustAccount(t, mustOpen(t, memstore.New(), &clock{t: t0}), "salon", shopDefs())
		e := stepcast.Event{ID: id, User: stepcast.UserID(user), Kind: stepcast.EventKind(kind), Name: name, Value: value,
			Amount: amount, At: t0.Add(time.Duration(offset))}
		if key != "" {
			e.Data = map[string]string{key: datum}
		}
		res, err := a.Ingest(ctx, follow("seed", "U1", "qr-shop", t0), e, e)
		if len(res) != 3 {
			t.Fatalf("%d results for 3 events", len(res))
		}
		if err == nil && !res[2].Duplicate && res[1].Err == nil {
			t.Fatalf("the same event twice was not a duplicate: %+v", res[2])
		}
		now := t0.Add(time.Hour)
		if got, want := takeSnapshot(t, a, now).Counts, rebuiltCounts(t, a, now); !reflect.DeepEqual(got, want) {
			t.Fatalf("live %v\nrebuilt %v", got, want)
		}
	})
}

var noSendBefore = regexp.MustCompile(`,"no_send_before":"[^"]*"`)

// TestBackfill: history builds the same state as live events but sends
// nothing.
func TestBackfill(t *testing.T) {
	ctx := context.Background()
	events := workload(6, 30, 300)
	clk := &clock{t: events[len(events)-1].At}
	live := mustAccount(t, mustOpen(t, memstore.New(), clk), "salon", shopDefs())
	if _, err := live.IngestBatch(ctx, events...); err != nil {
		t.Fatal(err)
	}
	past := mustAccount(t, mustOpen(t, memstore.New(), clk), "salon", shopDefs())
	res, err := past.Backfill(ctx, events...)
	if err != nil {
		t.Fatal(err)
	}
	notes := 0
	for _, r := range res {
		if len(r.Queued) != 0 {
			t.Fatalf("event %s queued %d deliveries in a backfill", r.Event, len(r.Queued))
		}
		for _, s := range r.Steps {
			if s.Note == "backfill: nothing is sent" {
				notes++
			}
		}
	}
	if notes == 0 {
		t.Fatal("no step said it sent nothing: the workload exercises no sending step")
	}
	// The same state, but that the backfill's runs remember to send
	// nothing due before the clock.
	now := clk.Now()
	a, b := takeSnapshot(t, live, now), takeSnapshot(t, past, now)
	kept := 0
	for f, ts := range b.Timers {
		for i, s := range ts {
			if t := noSendBefore.ReplaceAllString(s, ""); t != s {
				b.Timers[f][i], kept = t, kept+1
			}
		}
	}
	if kept == 0 {
		t.Error("no backfilled run keeps when it may send")
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("backfill state differs:\n%v\n%v\n%v\n%v", a.Counts, b.Counts, a.Timers, b.Timers)
	}
	// The steps that came due by now: sent live, skipped by the backfill.
	for _, acc := range []*Account{live, past} {
		if _, err := acc.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for name, acc := range map[string]*Account{"live": live, "backfill": past} {
		var n int
		acc.e.cfg.Store.View(ctx, "salon", func(tx store.ReadTx) error {
			for id := uint64(1); ; id++ {
				if _, err := tx.Delivery(id); err != nil {
					break
				}
				n++
			}
			return nil
		})
		if (name == "live") != (n > 0) {
			t.Errorf("%s: %d deliveries in the outbox", name, n)
		}
	}
}

// Explain and CrossTab run on the live index, as Count does.
func TestExplainAndCrossTab(t *testing.T) {
	a := mustAccount(t, mustOpen(t, memstore.New(), &clock{t: t0}), "salon", shopDefs())
	mustIngest(t, a, follow("f1", "U1", "qr-shop", t0), follow("f2", "U2", "", t0),
		ev("a1", "U1", stepcast.EventAnswer, "interest", "yes", t0))
	ex, err := a.Explain(`tag("answered") && plan == "free"`)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Count != 1 || !strings.Contains(ex.String(), `tag("answered")`) {
		t.Errorf("Explain: %d\n%s", ex.Count, ex)
	}
	if _, err := a.Explain(`tag(`); err == nil {
		t.Error("Explain of a bad expression: no error")
	}
	route := segment.Axis{Name: "route", Labels: []string{"qr", "other"}, Segments: []*segment.Segment{
		segment.MustCompile(`tag("route/qr-shop")`, a.Schema()), segment.MustCompile(`!tag("route/qr-shop")`, a.Schema())}}
	answered := segment.Axis{Name: "answered", Labels: []string{"yes", "no"}, Segments: []*segment.Segment{
		segment.MustCompile(`tag("answered")`, a.Schema()), segment.MustCompile(`!tag("answered")`, a.Schema())}}
	tab, err := a.CrossTab(route, answered)
	if err != nil {
		t.Fatal(err)
	}
	if got := tab.At(0, 0) + 10*tab.At(1, 1); got != 11 {
		t.Errorf("cross tab cells qr×yes %d, other×no %d", tab.At(0, 0), tab.At(1, 1))
	}
}

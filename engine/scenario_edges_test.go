package engine

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// journeyOf lists a friend's journey records of one scenario (or
// "reminder/<name>"), oldest first, as "<value>" or "<value>:<step>".
func journeyOf(t *testing.T, a *Account, user, of string) []string {
	t.Helper()
	v, err := a.FriendByUser(context.Background(), stepcast.UserID(user))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range slices.Backward(v.Recent) {
		if e.Kind != stepcast.EventJourney || e.Name != of {
			continue
		}
		s := e.Value
		if e.Data["step"] != "" {
			s += ":" + e.Data["step"]
		}
		out = append(out, s)
	}
	return out
}

// Names and goal keys as long as the definitions allow still make keys the
// store takes: scenario and reminder names of 200 bytes (Japanese), goal
// keys of 250 bytes that differ only at their end.
func TestLongNamesFitKeys(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	course := strings.Repeat("長", scenario.MaxNameLen/3)
	visit := strings.Repeat("予", scenario.MaxNameLen/3)
	d := courseDefs(scenario.Step{Name: strings.Repeat("s", 200), Timing: scenario.Timing{Kind: scenario.Immediately}, Messages: []stepcast.Message{msg("hello")}},
		step("later", 2, "later"))
	d.Scenarios[0].Name = course
	d.Rules[0].Steps[0].Action.Name = course
	d.Reminders = []scenario.Reminder{{Name: visit, Steps: []scenario.ReminderStep{{Name: "hour-before", Before: time.Hour, Messages: []stepcast.Message{msg("soon")}}}}}
	d.Rules = append(d.Rules,
		rules.Rule{Name: "book", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventConversion, Name: "booking"},
			Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.StartReminder, Name: visit, Text: "data.at", Key: "data.booking"}}}},
		rules.Rule{Name: "cancel", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventConversion, Name: "cancel"},
			Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.CancelReminder, Name: visit, Key: "data.booking"}}}})
	a := mustAccount(t, mustOpen(t, memstore.New(), clk), "s", d)

	key1, key2 := strings.Repeat("b", 249)+"1", strings.Repeat("b", 249)+"2"
	booking := func(id, name, key string, goal time.Time) stepcast.Event {
		e := ev(id, "U1", stepcast.EventConversion, name, "", t0)
		e.Data = map[string]string{"booking": key, "at": goal.Format(time.RFC3339)}
		return e
	}
	goal := t0.Add(48 * time.Hour)
	mustIngest(t, a, follow("f1", "U1", "", t0), ev("e1", "U1", stepcast.EventPostback, "enroll", "", t0),
		booking("b1", "booking", key1, goal), booking("b2", "booking", key2, goal), booking("c2", "cancel", key2, goal))
	v, err := a.FriendByUser(ctx, "U1")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Timers) != 3 {
		t.Errorf("timers %d, want the scenario's and two goals'", len(v.Timers))
	}
	for _, tm := range v.Timers {
		if len(tm.Key) > stepcast.MaxNameLen {
			t.Errorf("timer key of %d bytes", len(tm.Key))
		}
	}
	clk.Set(goal.Add(-time.Hour))
	if _, err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	got := sentTexts(t, a)
	slices.Sort(got)
	if !slices.Equal(got, []string{"hello", "soon"}) {
		t.Errorf("sent %q, want the scenario's first step and one reminder (the other goal cancelled)", got)
	}
	if j := journeyOf(t, a, "U1", course); len(j) < 2 || j[0] != "entered" || j[1] != "sent:"+strings.Repeat("s", 200) {
		t.Errorf("scenario journey %q", j)
	}
	// The cancelled goal's journey names its key in full.
	v, _ = a.FriendByUser(ctx, "U1")
	keys := map[string]bool{}
	for _, e := range v.Recent {
		if e.Name == "reminder/"+visit {
			keys[e.Data["key"]] = true
		}
	}
	if !keys[key1] || !keys[key2] || len(keys) != 2 {
		t.Errorf("reminder journey keys %d, want both goals' in full", len(keys))
	}
}

// A scenario or reminder removed from the definitions ends its runs when
// their next step comes due: the pending step cancelled, the messages still
// queued taken back, the friend out of it, the timer put away.
func TestRemovedScenarioEndsRuns(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	d := courseDefs(scenario.Step{Name: "one", Timing: scenario.Timing{Kind: scenario.Immediately}, Messages: []stepcast.Message{msg("one")}},
		step("two", 2, "two"))
	d.Reminders = []scenario.Reminder{{Name: "visit", Steps: []scenario.ReminderStep{{Name: "day-before", Before: 24 * time.Hour, Messages: []stepcast.Message{msg("tomorrow")}}}}}
	d.Rules = append(d.Rules, rules.Rule{Name: "book", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventConversion, Name: "booking"},
		Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.StartReminder, Name: "visit", Text: "data.at"}}}})
	a := mustAccount(t, mustOpen(t, memstore.New(), clk), "s", d)
	book := ev("b1", "U1", stepcast.EventConversion, "booking", "", t0)
	book.Data = map[string]string{"at": t0.Add(5 * 24 * time.Hour).Format(time.RFC3339)}
	mustIngest(t, a, follow("f1", "U1", "", t0), ev("e1", "U1", stepcast.EventPostback, "enroll", "", t0), book)

	book2 := book
	book2.ID, book2.User = "b2", "U2"
	mustIngest(t, a, follow("f2", "U2", "", t0), ev("e2", "U2", stepcast.EventPostback, "enroll", "", t0), book2)
	plain := courseDefs()
	plain.Rules, plain.Scenarios = plain.Rules[1:], nil
	if err := a.SetDefinitions(ctx, plain); err != nil {
		t.Fatal(err)
	}
	// A block ends them at once, removed or not.
	mustIngest(t, a, ev("u2", "U2", stepcast.EventUnfollow, "", "", t0.Add(time.Hour)))
	if j := journeyOf(t, a, "U2", "course"); !slices.Equal(j, []string{"entered", "sent:one", "cancelled:two", "exited", "withdrawn"}) {
		t.Errorf("U2's scenario journey after the block %q", j)
	}
	if j := journeyOf(t, a, "U2", "reminder/visit"); len(j) != 3 || j[2] != "exited" {
		t.Errorf("U2's reminder journey after the block %q", j)
	}
	clk.Set(t0.AddDate(0, 0, 5))
	if _, err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"entered", "sent:one", "cancelled:two", "exited", "withdrawn"}
	if j := journeyOf(t, a, "U1", "course"); !slices.Equal(j, want) {
		t.Errorf("scenario journey %q, want %q", j, want)
	}
	if j := journeyOf(t, a, "U1", "reminder/visit"); len(j) != 3 || j[1] != "cancelled:day-before" || j[2] != "exited" {
		t.Errorf("reminder journey %q, want entered, the pending step cancelled, exited", j)
	}
	v, err := a.FriendByUser(ctx, "U1")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Scenarios) != 0 {
		t.Errorf("still in %v", v.Scenarios)
	}
	for _, tm := range v.Timers {
		if ParseTimerKey(tm.Key).Kind != DueScoring && tm.Due.Before(t0.AddDate(1, 0, 0)) {
			t.Errorf("timer %s still due %v", tm.Key, tm.Due)
		}
	}
	rows, err := a.Deliveries(ctx, store.DeliveryFilter{Friend: v.ID, Limit: 10})
	if err != nil || len(rows) != 1 || rows[0].Status != store.Cancelled {
		t.Errorf("deliveries %+v, %v: want step one's taken back", rows, err)
	}
}

// Memberships without a state in a scenario not defined at the first open
// are migrated when it is defined, by SetDefinitions as by Open.
func TestPendingMembershipsMigrate(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	st := memstore.New()
	err := st.Update(ctx, "s", func(tx store.Tx) error {
		f, _, err := tx.AddFriend("U1")
		if err != nil {
			return err
		}
		_, err = tx.Apply(store.Change{Friend: f.ID, Kind: store.Follow, At: t0}, store.Change{Friend: f.ID, Kind: store.EnterStep, Name: "later", Number: 0})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	d := courseDefs(step("one", 1, "one"))
	a := mustAccount(t, mustOpen(t, st, clk), "s", d)
	d.Scenarios = append(d.Scenarios, scenario.Definition{Name: "later", Steps: []scenario.Step{step("first", 1, "later one")}})
	if err := a.SetDefinitions(ctx, d); err != nil {
		t.Fatal(err)
	}
	clk.Set(t0.Add(time.Minute))
	if _, err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sentTexts(t, a); !slices.Equal(got, []string{"later one"}) {
		t.Errorf("sent %q, want the pending step of the scenario defined later", got)
	}
}

// Nothing starts for, or reaches, a friend who does not follow: a rule on
// the block itself, a start condition that names blocked, a reminder set
// by the host while they are away.
func TestNothingReachesTheBlocked(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	d := courseDefs(scenario.Step{Name: "hello", Timing: scenario.Timing{Kind: scenario.Immediately}, Messages: []stepcast.Message{msg("come back")}},
		step("later", 1, "still there?"))
	d.Scenarios = append(d.Scenarios, scenario.Definition{Name: "lost", StartWhen: `blocked`,
		Steps: []scenario.Step{{Name: "s", Timing: scenario.Timing{Kind: scenario.Immediately}, Messages: []stepcast.Message{msg("we miss you")}}}})
	d.Reminders = []scenario.Reminder{{Name: "visit", Steps: []scenario.ReminderStep{{Name: "hour-before", Before: time.Hour, Messages: []stepcast.Message{msg("soon")}}}}}
	d.Rules = append(d.Rules,
		rules.Rule{Name: "winback", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventUnfollow},
			Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.StartScenario, Name: "course"}},
				{Action: stepcast.Action{Kind: stepcast.SendMessages, Messages: []stepcast.Message{msg("why?")}}}}},
		rules.Rule{Name: "book", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventConversion, Name: "booking"},
			Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.StartReminder, Name: "visit", Text: "data.at"}}}})
	a := mustAccount(t, mustOpen(t, memstore.New(), clk), "s", d)
	book := ev("b1", "U1", stepcast.EventConversion, "booking", "", t0.Add(2*time.Minute))
	book.Data = map[string]string{"at": t0.Add(48 * time.Hour).Format(time.RFC3339)}
	mustIngest(t, a, follow("f1", "U1", "", t0), ev("u1", "U1", stepcast.EventUnfollow, "", "", t0.Add(time.Minute)), book)
	for _, at := range []time.Duration{24 * time.Hour, 47 * time.Hour, 72 * time.Hour} {
		clk.Set(t0.Add(at))
		if _, err := a.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := sentTexts(t, a); len(got) != 0 {
		t.Errorf("queued %q for a friend who blocked", got)
	}
	for of, want := range map[string][]string{"course": {"not_entered"}, "lost": {"not_entered"}, "reminder/visit": {"not_entered"}} {
		if j := journeyOf(t, a, "U1", of); !slices.Equal(j, want) {
			t.Errorf("%s: journey %q, want %q", of, j, want)
		}
	}
}

// Cancelling a goal the friend never had keeps nothing and says so.
func TestCancelUnknownGoal(t *testing.T) {
	ctx := context.Background()
	d := courseDefs(step("one", 1, "one"))
	d.Reminders = []scenario.Reminder{{Name: "visit", Steps: []scenario.ReminderStep{{Name: "hour-before", Before: time.Hour, Messages: []stepcast.Message{msg("soon")}}}}}
	d.Rules = append(d.Rules, rules.Rule{Name: "cancel", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventConversion, Name: "cancel"},
		Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.CancelReminder, Name: "visit", Key: "data.booking"}}}})
	a := mustAccount(t, mustOpen(t, memstore.New(), &clock{t: t0}), "s", d)
	c := ev("c1", "U1", stepcast.EventConversion, "cancel", "", t0)
	c.Data = map[string]string{"booking": "never-booked"}
	res := mustIngest(t, a, follow("f1", "U1", "", t0), c)
	if n := len(res[1].Steps); n != 1 || !strings.Contains(res[1].Steps[0].Note, "no goal") {
		t.Errorf("steps %+v, want a note", res[1].Steps)
	}
	v, err := a.FriendByUser(ctx, "U1")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Timers) != 0 {
		t.Errorf("timers %+v, want none", v.Timers)
	}
}

// Backfill never sends what was due before the clock: a backfilled run's
// steps due between the event and the backfill are skipped when they run,
// by the next Tick; those still ahead go out when due.
func TestBackfillSkipsWhatHasPassed(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	d := courseDefs(step("d1", 1, "day one"), step("d35", 35, "day 35"))
	d.Reminders = []scenario.Reminder{{Name: "visit", Steps: []scenario.ReminderStep{
		{Name: "week", DaysBefore: 7, At: "10:00", Messages: []stepcast.Message{msg("a week")}},
		{Name: "hour", Before: time.Hour, Messages: []stepcast.Message{msg("an hour")}}}}}
	d.Rules = append(d.Rules, rules.Rule{Name: "book", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventConversion, Name: "booking"},
		Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.StartReminder, Name: "visit", Text: "data.at"}}}})
	a := mustAccount(t, mustOpen(t, memstore.New(), clk), "s", d)
	past := t0.AddDate(0, 0, -30)
	book := ev("b1", "U1", stepcast.EventConversion, "booking", "", past)
	book.Data = map[string]string{"at": t0.AddDate(0, 0, 3).Format(time.RFC3339)}
	if _, err := a.Backfill(ctx, follow("f1", "U1", "", past), ev("e1", "U1", stepcast.EventPostback, "enroll", "", past), book); err != nil {
		t.Fatal(err)
	}
	clk.Set(t0.Add(time.Hour))
	if _, err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sentTexts(t, a); len(got) != 0 {
		t.Errorf("sent %q right after the backfill", got)
	}
	for _, at := range []time.Time{t0.AddDate(0, 0, 3).Add(-30 * time.Minute), t0.AddDate(0, 0, 6)} {
		clk.Set(at)
		if _, err := a.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := sentTexts(t, a)
	slices.Sort(got)
	if !slices.Equal(got, []string{"an hour", "day 35"}) {
		t.Errorf("sent %q, want only the steps still ahead at the backfill", got)
	}
	if j := journeyOf(t, a, "U1", "course"); len(j) < 2 || j[1] != "skipped:d1" {
		t.Errorf("journey %q", j)
	}
}

// A booking that arrives late, its goal already behind the clock, is
// reminded of no more — whatever the reminder's if_past says.
func TestLateBookingPastGoal(t *testing.T) {
	clk := &clock{t: t0}
	d := courseDefs(step("one", 1, "one"))
	d.Reminders = []scenario.Reminder{{Name: "visit", IfPast: scenario.Now, Steps: []scenario.ReminderStep{
		{Name: "three-hours", Before: 3 * time.Hour, Messages: []stepcast.Message{msg("in three hours")}}}}}
	d.Rules = append(d.Rules, rules.Rule{Name: "book", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventConversion, Name: "booking"},
		Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.StartReminder, Name: "visit", Text: "data.at"}}}})
	a := mustAccount(t, mustOpen(t, memstore.New(), clk), "s", d)
	mustIngest(t, a, follow("f1", "U1", "", t0.Add(-5*time.Hour)))
	book := ev("b1", "U1", stepcast.EventConversion, "booking", "", t0.Add(-3*time.Hour)) // delivered three hours late
	book.Data = map[string]string{"at": t0.Add(-time.Hour).Format(time.RFC3339)}
	mustIngest(t, a, book)
	if got := sentTexts(t, a); len(got) != 0 {
		t.Errorf("queued %q for a booking already past", got)
	}
	if j := journeyOf(t, a, "U1", "reminder/visit"); len(j) < 2 || j[1] != "skipped:three-hours" {
		t.Errorf("journey %q", j)
	}
}

// start_scenario for a friend already in the scenario is the entry
// policy's to decide: restart begins a new run, if_finished records that
// it did not enter.
func TestStartAgainFollowsTheEntryPolicy(t *testing.T) {
	for mode, want := range map[scenario.EntryMode][]string{
		scenario.Restart:    {"entered", "sent:hello", "cancelled:later", "exited", "entered", "sent:hello", "withdrawn"},
		scenario.IfFinished: {"entered", "sent:hello", "not_entered"},
	} {
		t.Run(string(mode), func(t *testing.T) {
			d := courseDefs(scenario.Step{Name: "hello", Timing: scenario.Timing{Kind: scenario.Immediately}, Messages: []stepcast.Message{msg("hello")}},
				step("later", 1, "later"))
			d.Scenarios[0].Entry = scenario.Entry{Mode: mode}
			a := mustAccount(t, mustOpen(t, memstore.New(), &clock{t: t0}), "s", d)
			mustIngest(t, a, follow("f1", "U1", "", t0), ev("e1", "U1", stepcast.EventPostback, "enroll", "", t0),
				ev("e2", "U1", stepcast.EventPostback, "enroll", "", t0.Add(time.Minute)))
			if j := journeyOf(t, a, "U1", "course"); !slices.Equal(j, want) {
				t.Errorf("journey %q, want %q", j, want)
			}
		})
	}
}

// Reminders' journeys are named reminder/<name>: no scenario takes such a
// name, so that the journey functions never count one for the other.
func TestScenarioNamedLikeAReminder(t *testing.T) {
	d := courseDefs(step("one", 1, "one"))
	d.Scenarios[0].Name, d.Rules = "reminder/visit", d.Rules[1:]
	_, err := compile(d)
	if !errors.Is(err, ErrDefinition) || !strings.Contains(err.Error(), "begins with reminder/") {
		t.Errorf("compile = %v", err)
	}
}

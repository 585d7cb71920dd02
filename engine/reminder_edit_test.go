package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// SetDefinitions records an edit of a reminder's steps' names or times as
// the account's due work, and touches no goal — not for an edit of its
// messages only —; the next Tick makes the goals pending in it due and
// reconciles them: a step added ahead of the pending one is due at its
// own time; a goal that ended is left; the edit's timer is put away.
func TestEditedReminderWakesItsGoals(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		clk := &clock{t: t0}
		defs := func(steps ...scenario.ReminderStep) Definitions {
			d := courseDefs(step("day1", 1, "day one"))
			d.Reminders = []scenario.Reminder{{Name: "lesson", Steps: steps}}
			d.Rules = append(d.Rules,
				rules.Rule{Name: "book", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventConversion, Name: "booking"},
					Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.StartReminder, Name: "lesson", Text: "data.at", Key: "data.id"}}}},
				rules.Rule{Name: "cancel", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventConversion, Name: "cancel"},
					Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.CancelReminder, Name: "lesson", Key: "data.id"}}}})
			return d
		}
		a := mustAccount(t, mustOpen(t, open(t), clk), "s", defs(remindAt("d3", 3), remindAt("d1", 1)))
		goal := t0.AddDate(0, 0, 9).Format(time.RFC3339) // d3 six days on, d1 eight
		booking := func(id, user, what string) stepcast.Event {
			e := ev(id, user, stepcast.EventConversion, what, "", t0)
			e.Data = map[string]string{"at": goal, "id": "bk-" + user}
			return e
		}
		mustIngest(t, a, follow("f1", "U1", "", t0), follow("f2", "U2", "", t0), follow("f3", "U3", "", t0),
			booking("b1", "U1", "booking"), booking("b2", "U2", "booking"), booking("c2", "U2", "cancel"))
		due := func(user string) time.Time {
			t.Helper()
			v, err := a.FriendByUser(ctx, stepcast.UserID(user))
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(v.Timers, func(tm store.Timer) bool { return tm.Key == reminderKey("lesson", "bk-"+user) })
			if i < 0 {
				return time.Time{}
			}
			return v.Timers[i].Due
		}
		d3, ended := due("U1"), due("U2")
		if want := time.Date(2026, 12, 4, 10, 0, 0, 0, tokyo); !d3.Equal(want) {
			t.Fatalf("U1's goal due %s, want %s", d3, want)
		}

		clk.Set(t0.Add(time.Hour))
		// The same steps, or other messages: nothing to wake.
		for _, d := range []Definitions{defs(remindAt("d3", 3), remindAt("d1", 1)), defs(remindAt("d3", 3, "IN 3 DAYS"), remindAt("d1", 1))} {
			if err := a.SetDefinitions(ctx, d); err != nil {
				t.Fatal(err)
			}
			if edits := accountTimers(t, a, DueReminderEdit); len(edits) != 0 {
				t.Fatalf("an edit of no time left the account's timers %+v", edits)
			}
		}
		// A step added ahead of the pending one: the edit is recorded, due
		// now, and no goal is touched yet.
		if err := a.SetDefinitions(ctx, defs(remindAt("d5", 5), remindAt("d3", 3), remindAt("d1", 1))); err != nil {
			t.Fatal(err)
		}
		edits := accountTimers(t, a, DueReminderEdit)
		if len(edits) != 1 || edits[0].Key != "reminder_edit/lesson" || !edits[0].Due.Equal(clk.Now()) || string(edits[0].State) != `{"name":"lesson"}` {
			t.Fatalf("the account's timers after the edit = %+v, want reminder_edit/lesson due now", edits)
		}
		if got := due("U1"); !got.Equal(d3) {
			t.Errorf("U1's goal due %s right after the edit, want %s: SetDefinitions touches no goal", got, d3)
		}
		n, err := a.Tick(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 { // the edit's page, U1's goal
			t.Errorf("Tick ran %d units, want 2", n)
		}
		if got, want := due("U1"), time.Date(2026, 12, 2, 10, 0, 0, 0, tokyo); !got.Equal(want) {
			t.Errorf("U1's goal due %s after the tick, want %s (d5's time)", got, want)
		}
		if got := due("U2"); !got.Equal(ended) {
			t.Errorf("U2's ended goal due %s after the edit, want %s as it was", got, ended)
		}
		if edits := accountTimers(t, a, DueReminderEdit); len(edits) != 0 {
			t.Errorf("the edit's timer is still there after its pass: %+v", edits)
		}
	})
}

// The pass over an edited reminder's goals is a page of reminderEditBatch
// goals a unit of work, in the order of due work: it makes due the goals
// pending in that reminder, and only those — not a goal that ended, one
// already due, one of another reminder —, each then reconciled in its
// own unit.
func TestReminderEditPages(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		clk := &clock{t: t0}
		st := open(t)
		const goals = reminderEditBatch + 200
		seedGoals(t, st, "s", goals)
		// Friend 1 also has a goal that ended, one already due and one in
		// another reminder.
		err := st.Update(ctx, "s", func(tx store.Tx) error {
			for _, g := range []struct {
				reminder, key string
				due           time.Time
				status        scenario.Status
			}{
				{"lesson", "ended", never, scenario.Finished},
				{"lesson", "due", t0, scenario.Active},
				{"other", "bk", goalStepDue(3), scenario.Active},
			} {
				if _, err := tx.PutTimer(store.Timer{Friend: 1, Key: reminderKey(g.reminder, g.key), Due: g.due, State: goalState(g.reminder, g.key, g.status)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		a := mustAccount(t, mustOpen(t, st, clk), "s", goalDefs(remindAt("d3", 3), remindAt("d1", 1)))
		clk.Set(t0.Add(time.Hour))
		if err := a.SetDefinitions(ctx, goalDefs(remindAt("d5", 5), remindAt("d3", 3), remindAt("d1", 1))); err != nil {
			t.Fatal(err)
		}
		// The first page: reminderEditBatch goals made due now, the rest as
		// they were, the pass to go on.
		if n := runDue(t, a, DueReminderEdit, 10); n != 1 {
			t.Fatalf("ran %d units of the edit, want 1", n)
		}
		dues := goalDues(t, st, "s", goals, "lesson", "bk")
		if now := clk.Now(); countDue(dues, now) != reminderEditBatch || !dues[0].Equal(now) || !dues[goals-1].Equal(goalStepDue(3)) {
			t.Fatalf("after one page, %d goals due now (want %d), the first due %s, the last %s", countDue(dues, now), reminderEditBatch, dues[0], dues[goals-1])
		}
		if edits := accountTimers(t, a, DueReminderEdit); len(edits) != 1 || !edits[0].Due.Equal(clk.Now()) {
			t.Fatalf("after one page, the edit's timer = %+v, want it due now", edits)
		}
		n, err := a.Tick(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := goals + 1 + 1; n != want { // every goal, the second page, and friend 1's goal already due
			t.Errorf("Tick ran %d units, want %d", n, want)
		}
		for i, d := range goalDues(t, st, "s", goals, "lesson", "bk") {
			if !d.Equal(goalStepDue(5)) {
				t.Fatalf("friend %d's goal due %s after the pass, want d5's time %s", i+1, d, goalStepDue(5))
			}
		}
		for _, c := range []struct {
			reminder, key string
			want          time.Time
		}{{"lesson", "ended", never}, {"other", "bk", goalStepDue(3)}} {
			if got := goalDues(t, st, "s", 1, c.reminder, c.key)[0]; !got.Equal(c.want) {
				t.Errorf("goal %s/%s due %s after the pass, want %s as it was", c.reminder, c.key, got, c.want)
			}
		}
		if edits := accountTimers(t, a, DueReminderEdit); len(edits) != 0 {
			t.Errorf("the edit's timer is still there after its pass: %+v", edits)
		}
	})
}

// Another edit while a pass goes on starts it again from the first goal:
// goals the pass already woke, reconciled with the steps before this edit,
// are woken again and take it. A reminder removed before its pass is done
// ends the pass.
func TestReminderEditAgainRestartsThePass(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		clk := &clock{t: t0}
		st := open(t)
		const goals = reminderEditBatch + 200
		seedGoals(t, st, "s", goals)
		a := mustAccount(t, mustOpen(t, st, clk), "s", goalDefs(remindAt("d3", 3), remindAt("d1", 1)))
		clk.Set(t0.Add(time.Hour))
		if err := a.SetDefinitions(ctx, goalDefs(remindAt("d5", 5), remindAt("d3", 3), remindAt("d1", 1))); err != nil {
			t.Fatal(err)
		}
		runDue(t, a, DueReminderEdit, 1) // the first page made due
		if n := runDue(t, a, DueReminder, reminderEditBatch); n != reminderEditBatch {
			t.Fatalf("woke %d goals, want %d", n, reminderEditBatch)
		}
		if got := countDue(goalDues(t, st, "s", goals, "lesson", "bk"), goalStepDue(5)); got != reminderEditBatch {
			t.Fatalf("%d goals on d5's time after the first page, want %d", got, reminderEditBatch)
		}
		clk.Set(t0.Add(2 * time.Hour))
		if err := a.SetDefinitions(ctx, goalDefs(remindAt("d7", 7), remindAt("d3", 3), remindAt("d1", 1))); err != nil {
			t.Fatal(err)
		}
		edits := accountTimers(t, a, DueReminderEdit)
		if len(edits) != 1 || string(edits[0].State) != `{"name":"lesson"}` || !edits[0].Due.Equal(clk.Now()) {
			t.Fatalf("the edit's timer after another edit = %+v, want it started again, due now", edits)
		}
		if _, err := a.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if got := countDue(goalDues(t, st, "s", goals, "lesson", "bk"), goalStepDue(7)); got != goals {
			t.Errorf("%d goals on d7's time after the second edit's pass, want all %d", got, goals)
		}

		// Edited, then removed before the pass ran: the pass ends, the
		// goals are left to end when due.
		if err := a.SetDefinitions(ctx, goalDefs(remindAt("d6", 6), remindAt("d1", 1))); err != nil {
			t.Fatal(err)
		}
		none := goalDefs()
		none.Reminders = nil
		if err := a.SetDefinitions(ctx, none); err != nil {
			t.Fatal(err)
		}
		if n := runDue(t, a, DueReminderEdit, 10); n != 1 {
			t.Fatalf("ran %d units of the edit, want 1", n)
		}
		if edits := accountTimers(t, a, DueReminderEdit); len(edits) != 0 {
			t.Errorf("the edit's timer of a removed reminder = %+v, want it put away", edits)
		}
		if got := countDue(goalDues(t, st, "s", goals, "lesson", "bk"), goalStepDue(7)); got != goals {
			t.Errorf("%d goals on d7's time after the reminder was removed, want all %d, as they were", got, goals)
		}
	})
}

// Two engine instances on one store, each told of the edit, tick at once:
// the leases keep each page and each goal to one of them, and every goal
// takes the edit.
func TestReminderEditTwoEngines(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		clk := &clock{t: t0}
		st := open(t)
		const goals = 2*reminderEditBatch + 100
		seedGoals(t, st, "s", goals)
		var accounts []*Account
		for _, holder := range []string{"one", "two"} {
			e, err := Open(Config{Store: st, Now: clk.Now, Holder: holder})
			if err != nil {
				t.Fatal(err)
			}
			accounts = append(accounts, mustAccount(t, e, "s", goalDefs(remindAt("d3", 3), remindAt("d1", 1))))
		}
		clk.Set(t0.Add(time.Hour))
		var wg sync.WaitGroup
		errs := make([]error, len(accounts))
		units := make([]int, len(accounts))
		for i, a := range accounts {
			wg.Go(func() {
				if errs[i] = a.SetDefinitions(ctx, goalDefs(remindAt("d5", 5), remindAt("d3", 3), remindAt("d1", 1))); errs[i] == nil {
					units[i], errs[i] = a.Tick(ctx)
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		for _, a := range accounts { // what one left to the other's next tick
			n, err := a.Tick(ctx)
			if err != nil {
				t.Fatal(err)
			}
			units[0] += n
		}
		if got := countDue(goalDues(t, st, "s", goals, "lesson", "bk"), goalStepDue(5)); got != goals {
			t.Errorf("%d goals on d5's time after both ticked, want all %d (units run: %v)", got, goals, units)
		}
		if edits := accountTimers(t, accounts[0], DueReminderEdit); len(edits) != 0 {
			t.Errorf("the edit's timer is still there: %+v", edits)
		}
	})
}

// remindAt is a reminder step days before the goal at 10:00, its message
// text or its name.
func remindAt(name string, days int, text ...string) scenario.ReminderStep {
	return scenario.ReminderStep{Name: name, DaysBefore: days, At: "10:00", Messages: []stepcast.Message{msg(append(text, name)[0])}}
}

// goalDefs are the definitions of the seeded goals: reminder lesson with
// steps, and reminder other.
func goalDefs(steps ...scenario.ReminderStep) Definitions {
	d := courseDefs(step("one", 1, "one"), step("two", 2, "two"))
	d.Reminders = []scenario.Reminder{{Name: "lesson", Steps: steps}, {Name: "other", Steps: []scenario.ReminderStep{remindAt("d3", 3), remindAt("d1", 1)}}}
	return d
}

// seedGoal is the goal every seeded friend has: t0 nine days on.
var seedGoal = t0.AddDate(0, 0, 9)

// goalStepDue is the time of the seeded goal's step days before it.
func goalStepDue(days int) time.Time {
	y, m, d := seedGoal.AddDate(0, 0, -days).Date()
	return time.Date(y, m, d, 10, 0, 0, 0, tokyo)
}

// goalState is a goal of goalDefs' reminders, its d3 pending (or ended).
func goalState(reminder, key string, status scenario.Status) []byte {
	rs := scenario.ReminderState{Version: 1, Run: 1, Status: status, Goal: seedGoal, Gone: []string{}}
	if status == scenario.Active {
		rs.StepName, rs.Due, rs.Ahead = "d3", goalStepDue(3), []string{"d1"}
	}
	b, _ := json.Marshal(reminderTimer{Name: digested(reminder), Key: digested(key), ReminderState: rs})
	return b
}

// seedGoals adds n following friends, each with goal "bk" of reminder
// lesson pending at d3.
func seedGoals(t testing.TB, st store.Store, account store.AccountID, n int) {
	t.Helper()
	const page = 5000
	state := goalState("lesson", "bk", scenario.Active)
	for from := 0; from < n; from += page {
		err := st.Update(context.Background(), account, func(tx store.Tx) error {
			for i := from; i < min(from+page, n); i++ {
				f, _, err := tx.AddFriend(stepcast.UserID(fmt.Sprintf("U%07d", i)))
				if err != nil {
					return err
				}
				if _, err := tx.Apply(store.Change{Friend: f.ID, Kind: store.Follow, At: t0.Add(-24 * time.Hour)}); err != nil {
					return err
				}
				if _, err := tx.PutTimer(store.Timer{Friend: f.ID, Key: reminderKey("lesson", "bk"), Due: goalStepDue(3), State: state}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// goalDues returns the due times of goal key of reminder of friends 1 to n.
func goalDues(t testing.TB, st store.Store, account store.AccountID, n int, reminder, key string) []time.Time {
	t.Helper()
	out := make([]time.Time, n)
	err := st.View(context.Background(), account, func(tx store.ReadTx) error {
		for i := range out {
			tm, err := tx.Timer(stepcast.FriendID(i+1), reminderKey(reminder, key))
			if err != nil {
				return err
			}
			out[i] = tm.Due
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func countDue(dues []time.Time, at time.Time) int {
	n := 0
	for _, d := range dues {
		if d.Equal(at) {
			n++
		}
	}
	return n
}

// accountTimers returns the account's own timers of kind.
func accountTimers(t testing.TB, a *Account, kind DueKind) []store.Timer {
	t.Helper()
	var out []store.Timer
	err := a.e.st.View(context.Background(), a.id, func(tx store.ReadTx) error {
		all, err := tx.FriendTimers(0)
		for _, tm := range all {
			if ParseTimerKey(tm.Key).Kind == kind {
				out = append(out, tm)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// runDue runs, as one batch of Tick does, up to limit timers of kind due
// now, and returns how many.
func runDue(t testing.TB, a *Account, kind DueKind, limit int) int {
	t.Helper()
	now := a.e.cfg.Now()
	timers, err := a.e.st.Lease(context.Background(), a.id, a.e.cfg.Holder, now, tickLease, limit, string(kind))
	if err != nil {
		t.Fatal(err)
	}
	inputs := make([]input, len(timers))
	for i := range timers {
		inputs[i] = input{timer: &timers[i], now: now}
	}
	results, failed := make([]Result, len(inputs)), make([]bool, len(inputs))
	a.runUnits(context.Background(), inputs, results, failed, false)
	for _, r := range results {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	return len(timers)
}

// BenchmarkEditedReminders: an edit of a reminder's steps over friends,
// goals of them with a goal pending in it. s/edit is SetDefinitions
// (recording the edit: no pass over anything); µs/goal is the pass Tick
// then runs (DueReminderEdit units of reminderEditBatch goals, each made
// due), not the goals' own wakes after it. Tiers by goals, and 100k
// friends of whom 1k have a goal: the pass follows the goals
// (pgstore skips without STEPCAST_POSTGRES_DSN).
func BenchmarkEditedReminders(b *testing.B) {
	for _, name := range []string{"memstore", "boltstore", "pgstore"} {
		for _, tier := range []struct{ friends, goals int }{{1_000, 1_000}, {10_000, 10_000}, {100_000, 100_000}, {100_000, 1_000}} {
			b.Run(fmt.Sprintf("%s/friends=%d/goals=%d", name, tier.friends, tier.goals), func(b *testing.B) {
				var st store.Store
				switch name {
				case "memstore":
					st = memstore.New()
				case "boltstore":
					st = openBolt(b)
				case "pgstore":
					st = openPG(b, "")
				}
				benchEditedReminders(b, st, tier.friends, tier.goals)
			})
		}
	}
}

func benchEditedReminders(b *testing.B, st store.Store, friends, goals int) {
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		clk := &clock{t: t0}
		account := store.AccountID(fmt.Sprintf("r%d", i))
		seedEnrolled(b, st, account, friends, 0) // a timer of another kind each
		err := st.Update(ctx, account, func(tx store.Tx) error {
			state := goalState("lesson", "bk", scenario.Active)
			for f := stepcast.FriendID(1); f <= stepcast.FriendID(goals); f++ {
				if _, err := tx.PutTimer(store.Timer{Friend: f, Key: reminderKey("lesson", "bk"), Due: goalStepDue(3), State: state}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		a := mustAccount(b, mustOpen(b, st, clk), account, goalDefs(remindAt("d3", 3), remindAt("d1", 1)))
		clk.Set(t0.Add(time.Hour))
		b.StartTimer()
		start := time.Now()
		err = a.SetDefinitions(ctx, goalDefs(remindAt("d5", 5), remindAt("d3", 3), remindAt("d1", 1)))
		edit := time.Since(start)
		start = time.Now()
		units := 0
		for n := 1; n > 0; units += n {
			n = runDue(b, a, DueReminderEdit, 1)
		}
		pass := time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if want := goals/reminderEditBatch + 1; units != want {
			b.Fatalf("the pass ran %d units, want %d", units, want)
		}
		if got := countDue(goalDues(b, st, account, goals, "lesson", "bk"), clk.Now()); got != goals {
			b.Fatalf("%d goals due now after the pass, want %d", got, goals)
		}
		b.ReportMetric(edit.Seconds(), "s/edit")
		b.ReportMetric(pass.Seconds(), "s/pass")
		b.ReportMetric(float64(pass.Microseconds())/float64(goals), "µs/goal")
		b.StartTimer()
	}
}

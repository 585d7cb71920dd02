package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// SetDefinitions makes due at once the goals pending in a reminder whose
// steps' names or times changed, on every backend — not a goal that
// ended, not a goal of a reminder edited in its messages only — and the
// next Tick reconciles them: a step added ahead of the pending one is due
// at its own time.
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
		remind := func(name string, days int, text string) scenario.ReminderStep {
			return scenario.ReminderStep{Name: name, DaysBefore: days, At: "10:00", Messages: []stepcast.Message{msg(text)}}
		}
		a := mustAccount(t, mustOpen(t, open(t), clk), "s", defs(remind("d3", 3, "in 3 days"), remind("d1", 1, "tomorrow")))
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
		// The same steps, or other messages: no goal is woken.
		for _, d := range []Definitions{defs(remind("d3", 3, "in 3 days"), remind("d1", 1, "tomorrow")), defs(remind("d3", 3, "IN 3 DAYS"), remind("d1", 1, "tomorrow"))} {
			if err := a.SetDefinitions(ctx, d); err != nil {
				t.Fatal(err)
			}
			if got := due("U1"); !got.Equal(d3) {
				t.Fatalf("U1's goal due %s after an edit of no time, want %s", got, d3)
			}
		}
		// A step added ahead of the pending one: U1's goal is due now; the
		// ended one is left.
		if err := a.SetDefinitions(ctx, defs(remind("d5", 5, "in 5 days"), remind("d3", 3, "in 3 days"), remind("d1", 1, "tomorrow"))); err != nil {
			t.Fatal(err)
		}
		if got := due("U1"); !got.Equal(clk.Now()) {
			t.Errorf("U1's goal due %s after the edit, want now (%s)", got, clk.Now())
		}
		if got := due("U2"); !got.Equal(ended) {
			t.Errorf("U2's ended goal due %s after the edit, want %s as it was", got, ended)
		}
		if _, err := a.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if got, want := due("U1"), time.Date(2026, 12, 2, 10, 0, 0, 0, tokyo); !got.Equal(want) {
			t.Errorf("U1's goal due %s after the tick, want %s (d5's time)", got, want)
		}
	})
}

// BenchmarkEditedReminders: SetDefinitions with a reminder's steps edited,
// over friends each with a goal pending in it — the pass that makes every
// such goal due at once (a page of friends a transaction, reading their
// timers, writing the goal's). Tiers by friends; boltstore and pgstore to
// 10k (pgstore skips without STEPCAST_POSTGRES_DSN).
func BenchmarkEditedReminders(b *testing.B) {
	for _, name := range []string{"memstore", "boltstore", "pgstore"} {
		for _, friends := range []int{1_000, 10_000, 100_000} {
			if name != "memstore" && friends > 10_000 {
				continue
			}
			b.Run(fmt.Sprintf("%s/friends=%d", name, friends), func(b *testing.B) {
				var st store.Store
				switch name {
				case "memstore":
					st = memstore.New()
				case "boltstore":
					st = openBolt(b)
				case "pgstore":
					st = openPG(b, "")
				}
				benchEditedReminders(b, st, friends)
			})
		}
	}
}

func benchEditedReminders(b *testing.B, st store.Store, friends int) {
	ctx := context.Background()
	remind := func(name string, days int) scenario.ReminderStep {
		return scenario.ReminderStep{Name: name, DaysBefore: days, At: "10:00", Messages: []stepcast.Message{msg(name)}}
	}
	defs := func(steps ...scenario.ReminderStep) Definitions {
		d := courseDefs(step("one", 1, "one"), step("two", 2, "two"))
		d.Reminders = []scenario.Reminder{{Name: "lesson", Steps: steps}}
		return d
	}
	goal := t0.AddDate(0, 0, 9)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		clk := &clock{t: t0}
		account := store.AccountID(fmt.Sprintf("r%d", i))
		seedEnrolled(b, st, account, friends, 0)
		state, _ := json.Marshal(reminderTimer{Name: "lesson", Key: "bk", ReminderState: scenario.ReminderState{Version: 1, Run: 1,
			Status: scenario.Active, Goal: goal, StepName: "d3", Due: goal.AddDate(0, 0, -3), Gone: []string{}, Ahead: []string{"d1"}}})
		err := st.Update(ctx, account, func(tx store.Tx) error {
			for f := stepcast.FriendID(1); f <= stepcast.FriendID(friends); f++ {
				if _, err := tx.PutTimer(store.Timer{Friend: f, Key: reminderKey("lesson", "bk"), Due: goal.AddDate(0, 0, -3), State: state}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		a := mustAccount(b, mustOpen(b, st, clk), account, defs(remind("d3", 3), remind("d1", 1)))
		b.StartTimer()
		start := time.Now()
		err = a.SetDefinitions(ctx, defs(remind("d5", 5), remind("d3", 3), remind("d1", 1)))
		elapsed := time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		err = st.View(ctx, account, func(tx store.ReadTx) error {
			t, err := tx.Timer(stepcast.FriendID(friends), reminderKey("lesson", "bk"))
			if err == nil && !t.Due.Equal(clk.Now()) {
				b.Fatalf("the last friend's goal due %s, want now", t.Due)
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(elapsed.Seconds(), "s/edit")
		b.ReportMetric(float64(elapsed.Microseconds())/float64(friends), "µs/friend")
		b.StartTimer()
	}
}

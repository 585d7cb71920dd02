package scenario

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

var tokyo = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		panic(err)
	}
	return loc
}()

func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, tokyo)
	if err != nil {
		panic(err)
	}
	return t
}

func mustReminder(t testing.TB, r Reminder) *ReminderMachine {
	t.Helper()
	if r.Version == 0 {
		r.Version = 1
	}
	m, err := CompileReminder(r, testSchema, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func daysBefore(name string, n int, clock, say string) ReminderStep {
	return ReminderStep{Name: name, DaysBefore: n, At: clock, Messages: text(say)}
}

func before(name string, d time.Duration, say string) ReminderStep {
	return ReminderStep{Name: name, Before: d, Messages: text(say)}
}

// texts returns what out sends, by the messages' text.
func texts(out Output) []string {
	var s []string
	for _, send := range out.Sends {
		var m struct{ Text string }
		_ = json.Unmarshal(send.Messages[0], &m)
		s = append(s, m.Text)
	}
	return s
}

// journal prints out's journey compactly: "step what: reason".
func journal(out Output) []string {
	var s []string
	for _, r := range out.Journey {
		line := string(r.What)
		if r.Step != "" {
			line = r.Step + " " + line
		}
		if r.Status != "" {
			line += " " + string(r.Status)
		}
		if r.Reason != "" {
			line += ": " + r.Reason
		}
		s = append(s, line)
	}
	return s
}

// stepR gives m one input and fails the test on an error.
func stepR(t *testing.T, m *ReminderMachine, st ReminderState, in ReminderInput, now time.Time) (ReminderState, Output) {
	t.Helper()
	if in.Loc == nil {
		in.Loc = tokyo
	}
	st, out, err := m.Step(st, in, now)
	if err != nil {
		t.Fatalf("%s at %s: %v", in.Kind, now, err)
	}
	return st, out
}

// Reminders follow the current definition: a goal pending while the
// steps are edited goes on from its pending step, found by name, or is
// placed again from now when that step is gone — never panicking on an
// index of the old steps, never sending a step again.
func TestReminderEdited(t *testing.T) {
	goal := at("2026-11-10 15:00")
	base := Reminder{Name: "visit", Steps: []ReminderStep{
		daysBefore("d3", 3, "10:00", "three days"), daysBefore("d2", 2, "10:00", "two days"), daysBefore("d1", 1, "10:00", "one day")}}
	type wake struct {
		at      string
		sends   []string
		journey []string
	}
	for _, c := range []struct {
		name   string
		edited Reminder
		wakes  []wake
		status Status
	}{
		{"FewerSteps", Reminder{Name: "visit", Steps: []ReminderStep{before("h1", time.Hour, "one hour")}}, []wake{
			{"2026-11-09 11:00", nil, []string{"d1 cancelled: removed from the reminder"}},
			{"2026-11-10 14:00", []string{"one hour"}, []string{"h1 sent", "ended finished: completed"}},
		}, Finished},
		// A step added before those sent, its time passed, is skipped
		// (recorded, as every step of the goal is).
		{"StepInsertedInFront", Reminder{Name: "visit", Steps: append([]ReminderStep{daysBefore("d7", 7, "10:00", "a week")}, base.Steps...)}, []wake{
			{"2026-11-09 10:00", []string{"one day"}, []string{"d7 skipped: its time had passed", "d1 sent", "ended finished: completed"}},
		}, Finished},
		{"StepRemovedBefore", Reminder{Name: "visit", Steps: []ReminderStep{base.Steps[2]}}, []wake{
			{"2026-11-09 10:00", []string{"one day"}, []string{"d1 sent", "ended finished: completed"}},
		}, Finished},
		{"PendingRetimedLater", Reminder{Name: "visit", Steps: []ReminderStep{base.Steps[0], base.Steps[1], daysBefore("d1", 0, "09:00", "one day")}}, []wake{
			{"2026-11-09 10:00", nil, nil},
			{"2026-11-10 09:00", []string{"one day"}, []string{"d1 sent", "ended finished: completed"}},
		}, Finished},
		{"PendingRetimedPastSkip", Reminder{Name: "visit", Steps: []ReminderStep{base.Steps[0], base.Steps[1], before("d1", 100*time.Hour, "one day")}}, []wake{
			{"2026-11-08 12:00", nil, []string{"d1 skipped: its time had passed", "ended finished: completed"}},
		}, Finished},
		// Under if_past now, the latest passed step is sent only if it is
		// timed after every step gone through: d1, moved before d2 (sent),
		// is stale.
		{"PendingRetimedPastNow", Reminder{Name: "visit", IfPast: Now, Steps: []ReminderStep{base.Steps[0], base.Steps[1], before("d1", 100*time.Hour, "one day")}}, []wake{
			{"2026-11-08 12:00", nil, []string{"d1 skipped: its time had passed", "ended finished: completed"}},
		}, Finished},
		{"PendingRetimedPastNowAfterTheLastSent", Reminder{Name: "visit", IfPast: Now, Steps: []ReminderStep{base.Steps[0], base.Steps[1], before("d1", 52*time.Hour, "one day")}}, []wake{
			{"2026-11-08 12:00", []string{"one day"}, []string{"d1 sent", "ended finished: completed"}},
		}, Finished},
		{"PendingMovedEarlierStillAhead", Reminder{Name: "visit", Steps: []ReminderStep{base.Steps[0], base.Steps[1],
			before("d1", 40*time.Hour, "one day"), before("between", 36*time.Hour, "between"), before("h2", 2*time.Hour, "two hours")}}, []wake{
			{"2026-11-08 12:00", nil, nil},
			{"2026-11-08 23:00", []string{"one day"}, []string{"d1 sent"}},
			{"2026-11-09 03:00", []string{"between"}, []string{"between sent"}}, // timed before d1's old time: not lost
			{"2026-11-10 13:00", []string{"two hours"}, []string{"h2 sent", "ended finished: completed"}},
		}, Finished},
		{"AllRenamedNowPolicy", Reminder{Name: "visit", IfPast: Now, Steps: []ReminderStep{
			daysBefore("x3", 3, "10:00", "THREE"), daysBefore("x2", 2, "10:00", "TWO"), daysBefore("x1", 1, "10:00", "ONE")}}, []wake{
			{"2026-11-08 12:00", nil, []string{
				"d1 cancelled: removed from the reminder",
				"x3 skipped: its time had passed", // renamed: x2 is timed as d2, sent, and is not sent again
				"x2 skipped: its time had passed"}},
			{"2026-11-09 10:00", []string{"ONE"}, []string{"x1 sent", "ended finished: completed"}},
		}, Finished},
		{"AllGoneAndPast", Reminder{Name: "visit", Steps: []ReminderStep{daysBefore("d5", 5, "10:00", "five days")}}, []wake{
			{"2026-11-08 12:00", nil, []string{
				"d1 cancelled: removed from the reminder",
				"d5 skipped: its time had passed",
				"ended finished: completed"}},
		}, Finished},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := mustReminder(t, base)
			st, _ := stepR(t, m, ReminderState{}, ReminderInput{Kind: SetGoal, Goal: goal}, at("2026-11-01 09:00"))
			var sent []string
			for _, w := range []string{"2026-11-07 11:00", "2026-11-08 11:00"} {
				var out Output
				st, out = stepR(t, m, st, ReminderInput{Kind: Wake}, at(w))
				sent = append(sent, texts(out)...)
			}
			if !slices.Equal(sent, []string{"three days", "two days"}) || st.StepName != "d1" || st.Step != 2 {
				t.Fatalf("before the edit: sent %q, pending %q (%d); want d3 and d2 sent, d1 pending", sent, st.StepName, st.Step)
			}
			edited := mustReminder(t, c.edited)
			for _, w := range c.wakes {
				var out Output
				st, out = stepR(t, edited, st, ReminderInput{Kind: Wake}, at(w.at))
				if got := texts(out); !slices.Equal(got, w.sends) {
					t.Errorf("wake at %s: sent %q, want %q", w.at, got, w.sends)
				}
				if got := journal(out); !slices.Equal(got, w.journey) {
					t.Errorf("wake at %s: journey\n\t%s\nwant\n\t%s", w.at, strings.Join(got, "\n\t"), strings.Join(w.journey, "\n\t"))
				}
				if st.Status == Active && (st.Step < 0 || st.Step >= len(c.edited.Steps) || c.edited.Steps[st.Step].Name != st.StepName) {
					t.Errorf("wake at %s: pending %d %q, not a step of the edited reminder", w.at, st.Step, st.StepName)
				}
			}
			if st.Status != c.status {
				t.Errorf("status %s (%s), want %s", st.Status, st.Reason, c.status)
			}
		})
	}
}

// States as a store may hold them — written before states named their
// step, damaged, of a status not known — are taken without a panic.
func TestReminderStoredStates(t *testing.T) {
	goal := at("2026-11-10 15:00")
	m := mustReminder(t, Reminder{Name: "visit", Steps: []ReminderStep{
		daysBefore("d3", 3, "10:00", "three days"), daysBefore("d2", 2, "10:00", "two days"), daysBefore("d1", 1, "10:00", "one day")}})
	active := func(step int, due string) ReminderState {
		return ReminderState{Version: 1, Run: 1, Status: Active, Goal: goal, Step: step, Due: at(due), Done: 2}
	}
	for _, c := range []struct {
		name    string
		st      ReminderState
		in      InputKind
		now     string
		sends   []string
		journey []string
		status  Status
	}{
		{"WithoutNameAsWritten", active(2, "2026-11-09 10:00"), Wake, "2026-11-09 10:00",
			[]string{"one day"}, []string{"d1 sent", "ended finished: completed"}, Finished},
		{"WithoutNameNotYetDue", active(2, "2026-11-09 10:00"), Wake, "2026-11-08 12:00", nil, nil, Active},
		// A pending step not found is cancelled; the steps timed before its
		// due as written came before it (gone through: not recorded again).
		{"WithoutNameIndexOutOfRange", active(7, "2026-11-09 10:00"), Wake, "2026-11-08 12:00", nil, []string{
			"cancelled: removed from the reminder"}, Active},
		{"WithoutNameNegativeIndex", active(-3, "2026-11-09 10:00"), Wake, "2026-11-09 10:00", []string{"one day"}, []string{
			"cancelled: removed from the reminder",
			"d1 sent", "ended finished: completed"}, Finished},
		{"WithoutNameIndexMismatched", active(1, "2026-11-09 10:00"), Wake, "2026-11-08 12:00", nil, []string{
			"cancelled: removed from the reminder"}, Active},
		{"NameUnknown", func() ReminderState { s := active(2, "2026-11-09 10:00"); s.StepName = "nope"; return s }(), Cancel, "2026-11-08 12:00", nil, []string{
			"nope cancelled: removed from the reminder",
			"d1 cancelled: cancelled", "ended exited: cancelled"}, Exited},
		{"NameWinsOverIndex", func() ReminderState { s := active(0, "2026-11-09 10:00"); s.StepName = "d1"; return s }(), Wake, "2026-11-09 10:00",
			[]string{"one day"}, []string{"d1 sent", "ended finished: completed"}, Finished},
		{"NegativeDone", func() ReminderState { s := active(2, "2026-11-09 10:00"); s.Done = -5; return s }(), Wake, "2026-11-09 10:00",
			[]string{"one day"}, []string{"d1 sent", "ended finished: completed"}, Finished},
		{"StatusUnknownWake", ReminderState{Run: 1, Status: "paused", Step: 9}, Wake, "2026-11-09 10:00", nil, nil, "paused"},
		{"StatusUnknownSet", ReminderState{Run: 1, Status: "paused", Step: 9}, SetGoal, "2026-11-08 12:00", nil, []string{"entered: goal 2026-11-10 15:00",
			"d3 skipped: its time had passed", "d2 skipped: its time had passed"}, Active},
		{"FinishedStepOutOfRange", ReminderState{Run: 1, Status: Finished, Step: 99}, Wake, "2026-11-09 10:00", nil, nil, Finished},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, out := stepR(t, m, c.st, ReminderInput{Kind: c.in, Goal: goal, Reason: "cancelled"}, at(c.now))
			if got := texts(out); !slices.Equal(got, c.sends) {
				t.Errorf("sent %q, want %q", got, c.sends)
			}
			if got := journal(out); !slices.Equal(got, c.journey) {
				t.Errorf("journey\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(c.journey, "\n\t"))
			}
			if st.Status != c.status {
				t.Errorf("status %s, want %s", st.Status, c.status)
			}
			if st.Status == Active && (m.steps[st.Step].Name != st.StepName || !st.Due.After(at(c.now))) {
				t.Errorf("pending %d %q due %s: not a step of the reminder, or not ahead", st.Step, st.StepName, st.Due)
			}
			for _, s := range out.Sends {
				if strings.Contains(s.Key, "-") {
					t.Errorf("key %q", s.Key)
				}
			}
		})
	}
}

// A goal at or before now is reminded of no more, whatever IfPast says:
// every step skipped, nothing sent (a booking dated 9 days ago queued "see
// you in an hour" under if_past: now).
func TestReminderGoalPassed(t *testing.T) {
	steps := []ReminderStep{daysBefore("d1", 1, "18:00", "see you tomorrow"), before("h1", time.Hour, "see you in an hour")}
	now := at("2026-11-10 09:00")
	for _, policy := range []PastPolicy{Now, Skip} {
		m := mustReminder(t, Reminder{Name: "r", IfPast: policy, Steps: steps})
		for _, c := range []struct {
			name    string
			goal    time.Time
			sends   []string
			journey []string
		}{
			{"NineDaysAgo", at("2026-11-01 15:00"), nil, []string{"entered: goal 2026-11-01 15:00",
				"d1 skipped: the goal has passed", "h1 skipped: the goal has passed", "ended finished: completed"}},
			{"Now", now, nil, []string{"entered: goal 2026-11-10 09:00",
				"d1 skipped: the goal has passed", "h1 skipped: the goal has passed", "ended finished: completed"}},
			{"InHalfAnHour", at("2026-11-10 09:30"), map[PastPolicy][]string{Now: {"see you in an hour"}}[policy],
				map[PastPolicy][]string{
					Now:  {"entered: goal 2026-11-10 09:30", "d1 skipped: superseded by a later step, also past", "h1 sent", "ended finished: completed"},
					Skip: {"entered: goal 2026-11-10 09:30", "d1 skipped: its time had passed", "h1 skipped: its time had passed", "ended finished: completed"},
				}[policy]},
		} {
			t.Run(fmt.Sprintf("%s/%s", policy, c.name), func(t *testing.T) {
				st, out := stepR(t, m, ReminderState{}, ReminderInput{Kind: SetGoal, Goal: c.goal}, now)
				if got := texts(out); !slices.Equal(got, c.sends) {
					t.Errorf("sent %q, want %q", got, c.sends)
				}
				if got := journal(out); !slices.Equal(got, c.journey) {
					t.Errorf("journey\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(c.journey, "\n\t"))
				}
				if st.Status != Finished {
					t.Errorf("status %s, want finished", st.Status)
				}
			})
		}
	}
	// A wake that comes after the goal (the caller was down) skips the
	// steps that remind of it; a step timed after the goal still runs.
	t.Run("LateWake", func(t *testing.T) {
		m := mustReminder(t, Reminder{Name: "r", IfPast: Now, Steps: append(slices.Clone(steps), daysBefore("thanks", 0, "23:00", "thank you"))})
		st, _ := stepR(t, m, ReminderState{}, ReminderInput{Kind: SetGoal, Goal: at("2026-11-10 15:00")}, at("2026-11-01 09:00"))
		st, out := stepR(t, m, st, ReminderInput{Kind: Wake}, at("2026-11-10 16:00"))
		want := []string{"d1 skipped: the goal has passed", "h1 skipped: the goal has passed"}
		if got := journal(out); len(out.Sends) != 0 || !slices.Equal(got, want) || st.StepName != "thanks" {
			t.Errorf("sent %q, journey %q, pending %q; want nothing sent, %q, thanks pending", texts(out), got, st.StepName, want)
		}
		_, out = stepR(t, m, st, ReminderInput{Kind: Wake}, at("2026-11-10 23:00"))
		if got := texts(out); !slices.Equal(got, []string{"thank you"}) {
			t.Errorf("sent %q, want the step after the goal", got)
		}
	})
	// A wake at the goal itself: a step before it is late and skipped, a
	// step at it runs.
	t.Run("WakeAtTheGoal", func(t *testing.T) {
		m := mustReminder(t, Reminder{Name: "r", Steps: []ReminderStep{before("h1", time.Hour, "in an hour"), before("start", 0, "starting")}})
		st, _ := stepR(t, m, ReminderState{}, ReminderInput{Kind: SetGoal, Goal: at("2026-11-10 15:00")}, at("2026-11-01 09:00"))
		_, out := stepR(t, m, st, ReminderInput{Kind: Wake}, at("2026-11-10 15:00"))
		want := []string{"h1 skipped: the goal has passed", "start sent", "ended finished: completed"}
		if got := journal(out); !slices.Equal(texts(out), []string{"starting"}) || !slices.Equal(got, want) {
			t.Errorf("sent %q, journey %q; want %q", texts(out), got, want)
		}
	})
}

// The edit of the issue, while a goal is pending with "3 days before"
// sent: "2 days before" added, "1 day before" (pending) removed, "1 hour
// before" renamed, the steps reordered. Each step of the goal ends in
// exactly one recorded way; "3 days before" is not sent again; the step
// added is sent at its time if the goal is woken by then (the engine wakes
// the goals of an edited reminder at once), else follows IfPast.
func TestReminderEditWhilePending(t *testing.T) {
	goal := at("2026-11-10 15:00")
	base := Reminder{Name: "lesson", Steps: []ReminderStep{
		daysBefore("3d", 3, "10:00", "in 3 days"), daysBefore("1d", 1, "10:00", "tomorrow"), before("1h", time.Hour, "in an hour")}}
	edited := func(p PastPolicy) Reminder {
		return Reminder{Name: "lesson", IfPast: p, Steps: []ReminderStep{
			before("hour-before", time.Hour, "in an hour"), daysBefore("2d", 2, "10:00", "in 2 days"), daysBefore("3d", 3, "10:00", "in 3 days")}}
	}
	for _, c := range []struct {
		name    string
		edited  Reminder
		wakes   []string // after the edit
		journey []string // of the whole goal, after "3d sent"
	}{
		{"WokenAtTheEdit", edited(Skip), []string{"2026-11-07 12:00", "2026-11-08 10:00", "2026-11-10 14:00"}, []string{
			"1d cancelled: removed from the reminder", "1h cancelled: removed from the reminder",
			"2d sent", "hour-before sent", "ended finished: completed"}},
		{"WokenAtThePendingTimeSkip", edited(Skip), []string{"2026-11-09 10:00", "2026-11-10 14:00"}, []string{
			"1d cancelled: removed from the reminder", "1h cancelled: removed from the reminder",
			"2d skipped: its time had passed", "hour-before sent", "ended finished: completed"}},
		{"WokenAtThePendingTimeNow", edited(Now), []string{"2026-11-09 10:00", "2026-11-10 14:00"}, []string{
			"1d cancelled: removed from the reminder", "1h cancelled: removed from the reminder",
			"2d sent", "hour-before sent", "ended finished: completed"}},
		{"SentStepRenamedNow", Reminder{Name: "lesson", IfPast: Now, Steps: []ReminderStep{
			daysBefore("three-days", 3, "10:00", "in 3 days"), daysBefore("1d", 1, "10:00", "tomorrow"), before("1h", time.Hour, "in an hour")}},
			[]string{"2026-11-07 12:00", "2026-11-09 10:00", "2026-11-10 14:00"}, []string{
				"three-days skipped: its time had passed", "1d sent", "1h sent", "ended finished: completed"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := mustReminder(t, base)
			st, _ := stepR(t, m, ReminderState{}, ReminderInput{Kind: SetGoal, Goal: goal}, at("2026-11-01 09:00"))
			st, out := stepR(t, m, st, ReminderInput{Kind: Wake}, at("2026-11-07 10:00"))
			if got := journal(out); !slices.Equal(got, []string{"3d sent"}) {
				t.Fatalf("before the edit: %q", got)
			}
			e := mustReminder(t, c.edited)
			var journey []string
			for _, w := range c.wakes {
				st, out = stepR(t, e, st, ReminderInput{Kind: Wake}, at(w))
				journey = append(journey, journal(out)...)
			}
			if !slices.Equal(journey, c.journey) {
				t.Errorf("journey\n\t%s\nwant\n\t%s", strings.Join(journey, "\n\t"), strings.Join(c.journey, "\n\t"))
			}
			if !slices.Contains(st.Gone, "3d") {
				t.Errorf("gone %q, want 3d among them", st.Gone)
			}
		})
	}
}

package scenario

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// Retime re-times a run moved onto a new version by the new version's
// timing where it counts from entry, following IfPast if that time has
// passed, and keeps the due of a step timed from the step before (v2's
// step b "after: 6h" was sent at v1's 2h mark).
func TestRetime(t *testing.T) {
	entered := at("2026-11-01 09:00")
	oldDue := at("2026-11-01 11:00") // v1's b: after 2h
	for _, c := range []struct {
		name    string
		b       Timing // v2's step b
		st      State  // zero: active at b, entered at 09:00, due at v1's 11:00
		now     string
		due     string // "": not active
		journey []string
		status  Status
	}{
		{"AfterLater", Timing{Kind: AfterEntry, After: 6 * time.Hour}, State{}, "2026-11-01 09:30", "2026-11-01 15:00", nil, Active},
		{"AfterSooner", Timing{Kind: AfterEntry, After: time.Hour}, State{}, "2026-11-01 09:30", "2026-11-01 10:00", nil, Active},
		{"AfterPassedNow", Timing{Kind: AfterEntry, After: 30 * time.Minute}, State{}, "2026-11-01 10:00", "2026-11-01 10:00", nil, Active},
		{"AfterPassedSkip", Timing{Kind: AfterEntry, After: 30 * time.Minute, IfPast: Skip}, State{}, "2026-11-01 10:00", "2026-11-01 17:00",
			[]string{"b skipped: its time had passed"}, Active},
		{"DayLater", Timing{Kind: OnDay, Day: 2, At: "10:00"}, State{}, "2026-11-01 10:00", "2026-11-03 10:00", nil, Active},
		{"DayPassedNextDay", Timing{Kind: OnDay, At: "08:00"}, State{}, "2026-11-01 10:00", "2026-11-02 08:00", nil, Active},
		{"DayPassedNow", Timing{Kind: OnDay, At: "08:00", IfPast: Now}, State{}, "2026-11-01 10:00", "2026-11-01 10:00", nil, Active},
		{"DelayKept", Timing{Kind: Delay, Min: time.Hour, Max: 5 * time.Hour}, State{}, "2026-11-01 10:00", "2026-11-01 11:00", nil, Active},
		{"NextKept", Timing{Kind: NextClock, At: "20:00"}, State{}, "2026-11-01 10:00", "2026-11-01 11:00", nil, Active},
		{"ImmediatelyNow", Timing{Kind: Immediately}, State{}, "2026-11-01 10:00", "2026-11-01 10:00", nil, Active},
		{"NotActive", Timing{Kind: AfterEntry, After: 6 * time.Hour}, State{Version: 1, Run: 1, Status: Finished, Step: 1, Entered: entered},
			"2026-11-01 10:00", "", nil, Finished},
		{"StepOutOfRange", Timing{Kind: AfterEntry, After: 6 * time.Hour}, State{Version: 2, Run: 1, Status: Active, Step: 9, Entered: entered, Due: oldDue},
			"2026-11-01 10:00", "", []string{"cancelled: the state's pending step 9 is not a step of the scenario", "ended exited: the state's pending step 9 is not a step of the scenario"}, Exited},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := mustMachine(t, Definition{Name: "s", Version: 2, Steps: []Step{
				{Name: "a", Timing: Timing{Kind: AfterEntry, After: time.Hour}, Messages: text("a")},
				{Name: "b", Timing: c.b, Messages: text("b")},
				{Name: "c", Timing: Timing{Kind: AfterEntry, After: 8 * time.Hour}, Messages: text("c")},
			}})
			st := c.st
			if st == (State{}) {
				st = State{Version: 2, Run: 1, Status: Active, Entered: entered, Step: 1, Due: oldDue, Done: 1}
			}
			got, out, err := m.Retime(st, Input{Loc: tokyo}, at(c.now))
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != c.status {
				t.Errorf("status %s (%s), want %s", got.Status, got.Reason, c.status)
			}
			if c.due != "" && (!got.Due.Equal(at(c.due)) || !out.Wake.Equal(got.Due)) {
				t.Errorf("due %s, wake %s; want %s", got.Due.In(tokyo), out.Wake.In(tokyo), c.due)
			}
			if j := journal(out); !slices.Equal(j, c.journey) {
				t.Errorf("journey\n\t%s\nwant\n\t%s", strings.Join(j, "\n\t"), strings.Join(c.journey, "\n\t"))
			}
			if len(out.Sends)+len(out.Actions) != 0 {
				t.Errorf("Retime sent %d and ran %d; it runs no step", len(out.Sends), len(out.Actions))
			}
		})
	}
}

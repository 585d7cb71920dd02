package scenario

import (
	"testing"
	"time"
)

// A run a backfill began keeps its NoSendBefore: its steps due before it
// are skipped also when a later input, without one, runs them; steps due
// after it are sent.
func TestBackfilledRunKeepsNoSendBefore(t *testing.T) {
	m, err := Compile(Definition{Name: "s", Version: 1, Steps: []Step{
		{Name: "d1", Timing: Timing{Kind: OnDay, Day: 1, At: "10:00"}, Messages: text("one")},
		{Name: "d40", Timing: Timing{Kind: OnDay, Day: 40, At: "10:00"}, Messages: text("forty")},
	}}, testSchema, nil)
	if err != nil {
		t.Fatal(err)
	}
	entered := time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)
	clock := entered.AddDate(0, 0, 30)
	st, _, err := m.Step(State{}, Input{Kind: Start, NoSendBefore: clock}, entered)
	if err != nil || st.Status != Active || !st.NoSendBefore.Equal(clock) {
		t.Fatalf("%+v, %v", st, err)
	}
	st, out, err := m.Step(st, Input{Kind: Wake}, clock.Add(time.Hour))
	if err != nil || len(out.Sends) != 0 || len(out.Journey) != 1 || out.Journey[0].What != Skipped || out.Journey[0].Step != "d1" {
		t.Fatalf("the day-1 step at the first wake: %+v, %v", out, err)
	}
	_, out, err = m.Step(st, Input{Kind: Wake}, st.Due)
	if err != nil || len(out.Sends) != 1 || out.Sends[0].Step != "d40" {
		t.Fatalf("the day-40 step: %+v, %v", out, err)
	}
}

// A live run that a backfill moves keeps the backfill's NoSendBefore: the
// step it moved to, placed before the clock, is skipped when it runs.
func TestBackfilledMoveKeepsNoSendBefore(t *testing.T) {
	m, err := Compile(Definition{Name: "s", Version: 1, Steps: []Step{
		{Name: "a", Timing: Timing{Kind: OnDay, Day: 30, At: "10:00"}, Messages: text("a")},
		{Name: "b", Timing: Timing{Kind: Delay, Min: time.Hour, Max: 2 * time.Hour}, Messages: text("b")},
	}}, testSchema, nil)
	if err != nil {
		t.Fatal(err)
	}
	entered := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	clock := entered.AddDate(0, 0, 19)
	st, _, err := m.Step(State{}, Input{Kind: Start}, entered)
	if err != nil {
		t.Fatal(err)
	}
	st, _, err = m.Step(st, Input{Kind: Move, To: "b", NoSendBefore: clock}, entered.Add(time.Hour))
	if err != nil || st.Status != Active || !st.NoSendBefore.Equal(clock) {
		t.Fatalf("%+v, %v", st, err)
	}
	_, out, err := m.Step(st, Input{Kind: Wake}, clock.Add(time.Minute))
	if err != nil || len(out.Sends) != 0 {
		t.Fatalf("the moved-to step due before the backfill's clock: %+v, %v", out, err)
	}
}

package scenario

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Every duration a definition takes is bounded by MaxDuration, refused at
// Compile naming the field and the limit, so that no time a machine
// reckons overflows (a delay of max 2562047h47m16.854775807s, the largest
// time.Duration, made the first start panic).
func TestMaxDuration(t *testing.T) {
	const huge = time.Duration(1<<63 - 1)
	over := MaxDuration + time.Nanosecond
	step := func(tm Timing) Definition {
		return Definition{Name: "s", Version: 1, Steps: []Step{{Name: "a", Timing: tm, Messages: text("hi")}}}
	}
	for _, c := range []struct {
		name string
		def  Definition
		path string
	}{
		{"DelayMaxHuge", step(Timing{Kind: Delay, Max: huge}), "steps[0].timing.max"},
		{"DelayMinOver", step(Timing{Kind: Delay, Min: over, Max: over}), "steps[0].timing.min"},
		{"DelayMinNegative", step(Timing{Kind: Delay, Min: -time.Minute}), "steps[0].timing.min"},
		{"AfterOver", step(Timing{Kind: AfterEntry, After: over}), "steps[0].timing.after"},
		{"AfterNegative", step(Timing{Kind: AfterEntry, After: -time.Hour}), "steps[0].timing.after"},
		{"CooldownHuge", Definition{Name: "s", Version: 1, Entry: Entry{Cooldown: huge},
			Steps: []Step{{Name: "a", Timing: Timing{Kind: Immediately}, Messages: text("hi")}}}, "entry.cooldown"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile(c.def, testSchema, nil)
			var e *Error
			if !errors.As(err, &e) || e.Path != c.path {
				t.Fatalf("Compile: %v, want an error at %s", err, c.path)
			}
			if msg := e.Err.Error(); !strings.Contains(msg, "MaxDuration") && !strings.Contains(msg, "negative") {
				t.Errorf("Compile: %v, want the limit named", err)
			}
		})
	}
	t.Run("ReminderBeforeHuge", func(t *testing.T) {
		_, err := CompileReminder(Reminder{Name: "r", Version: 1, Steps: []ReminderStep{{Name: "a", Before: huge, Messages: text("hi")}}}, testSchema, nil)
		var e *Error
		if !errors.As(err, &e) || e.Path != "steps[0].before" || !strings.Contains(e.Err.Error(), "MaxDuration") {
			t.Fatalf("CompileReminder: %v, want steps[0].before beyond MaxDuration", err)
		}
	})
	// At the limit, every timing is reckoned without overflow.
	t.Run("AtTheLimit", func(t *testing.T) {
		t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
		for _, tm := range []Timing{{Kind: Delay, Max: MaxDuration}, {Kind: Delay, Min: MaxDuration, Max: MaxDuration}, {Kind: AfterEntry, After: MaxDuration}} {
			m := mustMachine(t, Definition{Name: "s", Version: 1, Entry: Entry{Cooldown: MaxDuration}, Steps: []Step{{Name: "a", Timing: tm, Messages: text("hi")}}})
			st, _, err := m.Step(State{}, Input{Kind: Start, Seed: 7}, t0)
			if err != nil || st.Status != Active || st.Due.Before(t0) || st.Due.After(t0.Add(MaxDuration)) {
				t.Errorf("%+v: state %+v, %v; want due within MaxDuration", tm, st, err)
			}
		}
	})
}

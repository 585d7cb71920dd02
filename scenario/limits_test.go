package scenario

import (
	"encoding/json"
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

// A timing field that the step's kind does not take is refused at its
// path, not ignored: the kinds and their fields are one table
// (TimingTakes).
func TestTimingFieldsOfTheKind(t *testing.T) {
	for _, c := range []struct {
		name   string
		timing Timing
		path   string // "": compiles
	}{
		{"ImmediatelyAt", Timing{Kind: Immediately, At: "10:00"}, "steps[0].timing.at"},
		{"ImmediatelyIfPast", Timing{Kind: Immediately, IfPast: Skip}, "steps[0].timing.if_past"},
		{"ImmediatelyAfter", Timing{Kind: Immediately, After: time.Hour}, "steps[0].timing.after"},
		{"AfterDay", Timing{Kind: AfterEntry, After: 5 * time.Minute, Day: 2}, "steps[0].timing.day"},
		{"AfterAt", Timing{Kind: AfterEntry, After: 5 * time.Minute, At: "10:00"}, "steps[0].timing.at"},
		{"AfterMin", Timing{Kind: AfterEntry, After: 5 * time.Minute, Min: time.Minute}, "steps[0].timing.min"},
		{"DayAfter", Timing{Kind: OnDay, At: "10:00", After: time.Hour}, "steps[0].timing.after"},
		{"DayMax", Timing{Kind: OnDay, At: "10:00", Max: time.Hour}, "steps[0].timing.max"},
		{"DelayIfPast", Timing{Kind: Delay, Max: time.Hour, IfPast: Now}, "steps[0].timing.if_past"},
		{"DelayDay", Timing{Kind: Delay, Max: time.Hour, Day: 1}, "steps[0].timing.day"},
		{"NextDay", Timing{Kind: NextClock, At: "10:00", Day: 1}, "steps[0].timing.day"},
		{"NextIfPast", Timing{Kind: NextClock, At: "10:00", IfPast: Skip}, "steps[0].timing.if_past"},
		{"NextMin", Timing{Kind: NextClock, At: "10:00", Min: time.Minute}, "steps[0].timing.min"},
		{"DayNeedsAt", Timing{Kind: OnDay, Day: 1}, "steps[0].timing.at"},
		{"NextNeedsAt", Timing{Kind: NextClock}, "steps[0].timing.at"},
		{"AfterIfPastNextDay", Timing{Kind: AfterEntry, After: time.Hour, IfPast: NextDay}, "steps[0].timing.if_past"},
		{"DayAll", Timing{Kind: OnDay, Day: 2, At: "10:00", IfPast: Skip}, ""},
		{"AfterIfPast", Timing{Kind: AfterEntry, After: time.Hour, IfPast: Skip}, ""},
		{"DelayBoth", Timing{Kind: Delay, Min: time.Minute, Max: time.Hour}, ""},
		{"NextAt", Timing{Kind: NextClock, At: "10:00"}, ""},
		{"Immediately", Timing{Kind: Immediately}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile(Definition{Name: "s", Version: 1, Steps: []Step{{Name: "a", Timing: c.timing, Messages: text("hi")}}}, testSchema, nil)
			if c.path == "" {
				if err != nil {
					t.Fatalf("Compile: %v, want no error", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Path != c.path || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Compile: %v, want one error at %s", err, c.path)
			}
		})
	}
	for _, c := range []struct {
		name string
		step ReminderStep
		path string
	}{
		{"BeforeAndDaysBefore", ReminderStep{Name: "a", DaysBefore: 2, Before: time.Hour}, "steps[0].before"},
		{"BeforeAndAt", ReminderStep{Name: "a", At: "10:00", Before: time.Hour}, "steps[0].before"},
		{"DaysBeforeWithoutAt", ReminderStep{Name: "a", DaysBefore: 2}, "steps[0].at"},
		{"AtAlone", ReminderStep{Name: "a", At: "10:00"}, ""},
		{"BeforeAlone", ReminderStep{Name: "a", Before: time.Hour}, ""},
	} {
		t.Run("Reminder"+c.name, func(t *testing.T) {
			c.step.Messages = text("hi")
			_, err := CompileReminder(Reminder{Name: "r", Version: 1, Steps: []ReminderStep{c.step}}, testSchema, nil)
			if c.path == "" {
				if err != nil {
					t.Fatalf("CompileReminder: %v, want no error", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Path != c.path || strings.Contains(err.Error(), "\n") {
				t.Fatalf("CompileReminder: %v, want one error at %s", err, c.path)
			}
		})
	}
}

// In a definition's JSON, a duration too long for a time.Duration names
// the limit, not the parser's error; one of the form within it is read,
// and Compile judges it.
func TestJSONDurations(t *testing.T) {
	for _, c := range []struct {
		name, json string
		want       string // in the error; "": read
	}{
		{"Overflow", `{"kind":"after","after":"99999999999h"}`, "beyond the limit of 3660 days (MaxDuration)"},
		{"OverflowSum", `{"kind":"after","after":"9223372036854775807ns1h"}`, "beyond the limit of 3660 days (MaxDuration)"},
		{"NotADuration", `{"kind":"after","after":"7 days"}`, "is not a duration"},
		{"Negative", `{"kind":"after","after":"-5m"}`, ""},
		{"Read", `{"kind":"delay","min":"15m","max":"20m"}`, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var tm Timing
			err := json.Unmarshal([]byte(c.json), &tm)
			if c.want == "" {
				if err != nil {
					t.Fatalf("%s: %v", c.json, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%s: %v, want %q", c.json, err, c.want)
			}
		})
	}
}

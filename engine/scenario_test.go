package engine

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

func courseDefs(steps ...scenario.Step) Definitions {
	return Definitions{
		Schema: segment.SchemaConfig{Fields: []segment.Field{{Name: "age", Type: stepcast.FieldInt}}, Location: tokyo,
			Segments: map[string]string{"adult": `age >= 20`}},
		Rules: []rules.Rule{{Name: "enroll", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventPostback, Name: "enroll"},
			Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.StartScenario, Name: "course"}}}},
			{Name: "age", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventAnswer, Name: "age"},
				Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.SetField, Name: "age", Text: "value"}}}}},
		Scenarios: []scenario.Definition{{Name: "course", Steps: steps}},
	}
}

func step(name string, day int, text string) scenario.Step {
	return scenario.Step{Name: name, Timing: scenario.Timing{Kind: scenario.OnDay, Day: day, At: "10:00"}, Messages: []stepcast.Message{msg(text)}}
}

func sentTexts(t *testing.T, a *Account) []string {
	t.Helper()
	rows, err := a.Deliveries(context.Background(), store.DeliveryFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		var d stepcast.Delivery
		if err := json.Unmarshal(r.Payload, &d); err != nil {
			t.Fatal(err)
		}
		var m struct{ Text string }
		json.Unmarshal(d.Messages[0], &m)
		out = append(out, m.Text)
	}
	return out
}

// Editing a live scenario never changes it under the friends in it: they
// keep the version they entered on, while new friends enter the new one;
// with Migrate, they move to the new one by the name of their step.
func TestScenarioVersions(t *testing.T) {
	for _, migrate := range []bool{false, true} {
		t.Run(map[bool]string{false: "keep", true: "migrate"}[migrate], func(t *testing.T) {
			ctx := context.Background()
			clk := &clock{t: t0}
			st := memstore.New()
			a := mustAccount(t, mustOpen(t, st, clk), "s", courseDefs(step("one", 1, "v1 one"), step("two", 2, "v1 two")))
			mustIngest(t, a, follow("f1", "U1", "", t0), ev("e1", "U1", stepcast.EventPostback, "enroll", "", t0))
			clk.Set(t0.AddDate(0, 0, 1))
			if _, err := a.Tick(ctx); err != nil {
				t.Fatal(err)
			}
			d := courseDefs(step("one", 1, "v2 one"), step("two", 2, "v2 two"), step("three", 3, "v2 three"))
			d.Scenarios[0].Migrate = migrate
			if err := a.SetDefinitions(ctx, d); err != nil {
				t.Fatal(err)
			}
			mustIngest(t, a, follow("f2", "U2", "", clk.Now()), ev("e2", "U2", stepcast.EventPostback, "enroll", "", clk.Now()))
			for day := 2; day <= 4; day++ {
				clk.Set(t0.AddDate(0, 0, day).Add(time.Hour))
				if _, err := a.Tick(ctx); err != nil {
					t.Fatal(err)
				}
			}
			want := []string{"v1 one", "v1 two", "v2 one", "v2 two", "v2 three"}
			if migrate {
				want = []string{"v1 one", "v2 two", "v2 three", "v2 one", "v2 two", "v2 three"}
			}
			got := sentTexts(t, a)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("sent %q, want %q", got, want)
			}
			// Both versions are kept.
			err := st.View(ctx, "s", func(tx store.ReadTx) error {
				ds, err := tx.Definitions(scenarioDefKind)
				if len(ds) != 2 {
					t.Errorf("stored versions %d, want 2", len(ds))
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A run migrated onto a new version is re-timed by the new version's
// timing counted from entry: v2's step b "after: 6h" goes at the 6h mark,
// not at v1's 2h.
func TestScenarioMigrateRetimes(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	after := func(name string, d time.Duration, text string) scenario.Step {
		return scenario.Step{Name: name, Timing: scenario.Timing{Kind: scenario.AfterEntry, After: d}, Messages: []stepcast.Message{msg(text)}}
	}
	a := mustAccount(t, mustOpen(t, memstore.New(), clk), "s", courseDefs(after("a", time.Hour, "v1 a"), after("b", 2*time.Hour, "v1 b")))
	mustIngest(t, a, follow("f1", "U1", "", t0), ev("e1", "U1", stepcast.EventPostback, "enroll", "", t0))
	d := courseDefs(after("a", time.Hour, "v2 a"), after("b", 6*time.Hour, "v2 b"))
	d.Scenarios[0].Migrate = true
	for _, c := range []struct {
		at   time.Duration
		sent []string
	}{
		{time.Hour, []string{"v1 a"}},
		{2 * time.Hour, []string{"v1 a"}},
		{6 * time.Hour, []string{"v1 a", "v2 b"}},
	} {
		if c.at == 2*time.Hour {
			if err := a.SetDefinitions(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		clk.Set(t0.Add(c.at))
		if _, err := a.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if got := sentTexts(t, a); !slices.Equal(got, c.sent) {
			t.Errorf("at %v: sent %q, want %q", c.at, got, c.sent)
		}
	}
	// A time from entry passed under the new version follows its if_past:
	// skipped, the run goes on to the step after it.
	clk.Set(t0)
	b := mustAccount(t, mustOpen(t, memstore.New(), clk), "s", courseDefs(after("a", time.Hour, "v1 a"), after("b", 3*time.Hour, "v1 b")))
	mustIngest(t, b, follow("f1", "U1", "", t0), ev("e1", "U1", stepcast.EventPostback, "enroll", "", t0))
	skip := after("b", 90*time.Minute, "v2 b")
	skip.Timing.IfPast = scenario.Skip
	d = courseDefs(after("a", time.Hour, "v2 a"), skip, after("c", 4*time.Hour, "v2 c"))
	d.Scenarios[0].Migrate = true
	for _, h := range []int{1, 2, 3, 4} {
		if h == 2 {
			if err := b.SetDefinitions(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		clk.Set(t0.Add(time.Duration(h) * time.Hour))
		if _, err := b.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := sentTexts(t, b); !slices.Equal(got, []string{"v1 a", "v2 c"}) {
		t.Errorf("sent %q, want v1 a and v2 c (v2's b skipped, its time passed)", got)
	}
}

// A scenario starts when a friend comes to meet its start condition — on
// the change itself, not in a nightly batch.
func TestScenarioStartsOnSegmentEntry(t *testing.T) {
	clk := &clock{t: t0}
	d := courseDefs(scenario.Step{Name: "hello", Timing: scenario.Timing{Kind: scenario.Immediately}, Messages: []stepcast.Message{msg("welcome, adult")}})
	d.Scenarios[0].StartWhen = `segment("adult")`
	a := mustAccount(t, mustOpen(t, memstore.New(), clk), "s", d)
	res := mustIngest(t, a, follow("f1", "U1", "", t0), ev("a1", "U1", stepcast.EventAnswer, "age", "17", t0),
		ev("a2", "U1", stepcast.EventAnswer, "age", "21", t0.Add(time.Minute)), ev("a3", "U1", stepcast.EventAnswer, "age", "22", t0.Add(2*time.Minute)))
	if len(res[1].Queued) != 0 || len(res[2].Queued) != 1 || len(res[3].Queued) != 0 {
		t.Errorf("queued %d %d %d, want 0 1 0 (entering once, at 21)", len(res[1].Queued), len(res[2].Queued), len(res[3].Queued))
	}
}

// Memberships written before scenarios ran — a step in the record, no
// state — get a state on the current version at that step, due at once.
func TestOldMembershipsMigrate(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	st := memstore.New()
	err := st.Update(ctx, "s", func(tx store.Tx) error {
		f, _, err := tx.AddFriend("U1")
		if err != nil {
			return err
		}
		_, err = tx.Apply(store.Change{Friend: f.ID, Kind: store.Follow, At: t0}, store.Change{Friend: f.ID, Kind: store.EnterStep, Name: "course", Number: 1})
		if err != nil {
			return err
		}
		// And a reminder's timer as the old code wrote it: due at the goal.
		_, err = tx.PutTimer(store.Timer{Friend: f.ID, Key: "reminder/visit", Due: t0.Add(48 * time.Hour), State: []byte(`{"goal":"2026-11-30T01:00:00Z","event":"b1"}`)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	d := courseDefs(step("one", 1, "one"), step("two", 2, "two"))
	d.Reminders = []scenario.Reminder{{Name: "visit", Steps: []scenario.ReminderStep{{Name: "hour-before", Before: time.Hour, Messages: []stepcast.Message{msg("soon")}}}}}
	a := mustAccount(t, mustOpen(t, st, clk), "s", d)
	clk.Set(t0.Add(time.Minute))
	if _, err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	// The hour before the goal, when the reminder's step is due (a wake at
	// the goal itself would skip it: the goal has come).
	clk.Set(t0.Add(47 * time.Hour))
	if _, err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Set(t0.Add(49 * time.Hour))
	if _, err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	got := sentTexts(t, a)
	slices.Sort(got)
	if !slices.Equal(got, []string{"soon", "two"}) {
		t.Errorf("sent %q, want the pending step two and the reminder", got)
	}
}

// Adding the first scenario with SetDefinitions changes the schema (the
// journey is counted): the journey functions work at once.
func TestFirstScenarioBySetDefinitions(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	d := courseDefs(step("one", 1, "one"))
	plain := d
	plain.Rules, plain.Scenarios = nil, nil
	a := mustAccount(t, mustOpen(t, memstore.New(), clk), "s", plain)
	if err := a.SetDefinitions(ctx, d); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, a, follow("f1", "U1", "", t0), ev("e1", "U1", stepcast.EventPostback, "enroll", "", t0))
	if n := mustCount(t, a, `scenario_entered("course")`); n != 1 {
		t.Errorf("scenario_entered counts %d", n)
	}
}

// A reminder edited while a goal is pending (steps d3, d2, d1; d3 and d2
// sent; the definition becomes one step h1) goes on without a panic: the
// pending d1, gone, is cancelled and h1 is sent at its time. With a step
// inserted in front instead, d1 is found by name: "two days" is not sent
// again, nor the new step, whose time has passed.
func TestReminderEditedWhilePending(t *testing.T) {
	const base = `
rules:
  - name: booking
    trigger: {kind: event, event: conversion, name: booking}
    steps:
      - {kind: start_reminder, name: visit, from: data.at, key: data.booking}
reminders:
  - name: visit
    steps:
`
	steps := []string{
		`      - {name: d3, days_before: 3, at: "10:00", messages: [{type: text, text: three days}]}`,
		`      - {name: d2, days_before: 2, at: "10:00", messages: [{type: text, text: two days}]}`,
		`      - {name: d1, days_before: 1, at: "10:00", messages: [{type: text, text: one day}]}`,
	}
	defs := func(lines ...string) Definitions {
		d, err := ParseDefinitions("defs.yaml", []byte(base+strings.Join(lines, "\n")+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, tokyo)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		name   string
		edited Definitions
		ticks  []string
		want   []string
	}{
		{"FewerSteps", defs(`      - {name: h1, before: 1h, messages: [{type: text, text: one hour}]}`),
			[]string{"2026-11-09 11:00", "2026-11-10 14:00"}, []string{"three days", "two days", "one hour"}},
		{"StepInsertedInFront", defs(append([]string{`      - {name: d7, days_before: 7, at: "10:00", messages: [{type: text, text: a week}]}`}, steps...)...),
			[]string{"2026-11-09 10:00", "2026-11-10 15:00"}, []string{"three days", "two days", "one day"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			clk := &clock{t: at("2026-11-01 09:00")}
			a := mustAccount(t, mustOpen(t, memstore.New(), clk), "s", defs(steps...))
			booking := ev("b1", "U1", stepcast.EventConversion, "booking", "", clk.Now())
			booking.Data = map[string]string{"at": "2026-11-10 15:00", "booking": "b1"}
			mustIngest(t, a, follow("f1", "U1", "", clk.Now()), booking)
			for _, tick := range append([]string{"2026-11-07 11:00", "2026-11-08 11:00", "edit"}, c.ticks...) {
				if tick == "edit" {
					if err := a.SetDefinitions(ctx, c.edited); err != nil {
						t.Fatal(err)
					}
					continue
				}
				clk.Set(at(tick))
				if _, err := a.Tick(ctx); err != nil {
					t.Fatalf("tick at %s: %v", tick, err)
				}
			}
			if got := sentTexts(t, a); !slices.Equal(got, c.want) {
				t.Errorf("sent %q, want %q", got, c.want)
			}
		})
	}
}

// A branch loop that a condition keeps going ends the run at
// scenario.MaxStepsPerRun steps and queues nothing of the input that
// looped.
func TestScenarioLoopQueuesNothing(t *testing.T) {
	d := courseDefs(scenario.Step{Name: "a", Timing: scenario.Timing{Kind: scenario.Immediately}, Messages: []stepcast.Message{msg("spam")},
		Branches: []scenario.Branch{{If: "following", Goto: "a"}}})
	a := mustAccount(t, mustOpen(t, memstore.New(), &clock{t: t0}), "s", d)
	res := mustIngest(t, a, follow("f1", "U1", "", t0), ev("e1", "U1", stepcast.EventPostback, "enroll", "", t0))
	if len(res[1].Queued) != 0 {
		t.Errorf("queued %d deliveries, want none", len(res[1].Queued))
	}
	if got := sentTexts(t, a); len(got) != 0 {
		t.Errorf("%d deliveries in the outbox, want none", len(got))
	}
	if n := mustCount(t, a, `scenario_exited("course")`); n != 1 {
		t.Errorf("scenario_exited counts %d, want 1", n)
	}
}

package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/render"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// placeholderDefs: a follow greeting replied, a push on a postback, a
// scenario whose day-2 step needs the name with no default, and a
// reminder, all with placeholders.
func placeholderDefs() Definitions {
	d := courseDefs(
		step("one", 1, "Welcome {{name|friend}}!"),
		step("two", 2, "{{name}}, day two"),
		step("three", 3, "day three for {{ name |you}}"))
	d.Schema.Fields = append(d.Schema.Fields, segment.Field{Name: "name", Type: stepcast.FieldString})
	d.Rules = append(d.Rules,
		rules.Rule{Name: "greet", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventFollow},
			Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.Reply, Messages: []stepcast.Message{msg("Hello {{name|there}} {{{{x}}")}}}}},
		rules.Rule{Name: "name", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventAnswer, Name: "name"},
			Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.SetField, Name: "name", Text: "value"}}}},
		rules.Rule{Name: "poke", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventPostback, Name: "poke"},
			Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.SendMessages, Messages: []stepcast.Message{msg("static"), msg("Poked, {{name}}")}}}}},
		rules.Rule{Name: "book", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventConversion, Name: "booking"},
			Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.StartReminder, Name: "lesson", Text: "data.at", Key: "data.id"}}}})
	d.Reminders = []scenario.Reminder{{Name: "lesson", Steps: []scenario.ReminderStep{remindAt("d1", 1, "Lesson tomorrow, {{name|friend}}")}}}
	return d
}

// sentByUser returns the texts of every queued message, "user: text",
// in the outbox's order.
func sentByUser(t *testing.T, a *Account, users map[stepcast.FriendID]string) []string {
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
		for _, m := range d.Messages {
			var x struct{ Text string }
			json.Unmarshal(m, &x)
			out = append(out, users[r.Friends[0]]+": "+x.Text)
		}
	}
	slices.Sort(out)
	return out
}

// Placeholders render in everything the engine queues — a follow
// greeting's reply, a rule's push, scenario and reminder steps —; a
// friend without the value and no default has that message skipped, with
// the reason in the journey, and the scenario goes on.
func TestPlaceholdersRenderEverywhere(t *testing.T) {
	for _, backend := range []string{"memstore", "pgstore"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			clk := &clock{t: t0}
			a := mustAccount(t, mustOpen(t, backends[backend](t), clk), "s", placeholderDefs())
			goal := t0.AddDate(0, 0, 5).Format(time.RFC3339)
			var evs []stepcast.Event
			for _, u := range []string{"U1", "U2"} {
				f := follow("f"+u, u, "", t0)
				f.Arrival.ReplyToken = "tok-" + u
				b := ev("b"+u, u, stepcast.EventConversion, "booking", "", t0)
				b.Data = map[string]string{"at": goal, "id": "bk"}
				evs = append(evs, f, b, ev("e"+u, u, stepcast.EventPostback, "enroll", "", t0))
			}
			evs = append(evs, ev("n", "U1", stepcast.EventAnswer, "name", "Aki", t0),
				ev("p1", "U1", stepcast.EventPostback, "poke", "", t0), ev("p2", "U2", stepcast.EventPostback, "poke", "", t0))
			res := mustIngest(t, a, evs...)
			if n := res[len(res)-1].Steps; len(n) != 1 || !strings.Contains(n[0].Note, "missing_field:name") {
				t.Errorf("U2's poke step = %+v, want a note of the missing name", n)
			}
			for day := 1; day <= 5; day++ {
				clk.Set(t0.AddDate(0, 0, day).Add(time.Hour))
				if _, err := a.Tick(ctx); err != nil {
					t.Fatal(err)
				}
			}
			users := map[stepcast.FriendID]string{}
			for _, u := range []string{"U1", "U2"} {
				v, err := a.FriendByUser(ctx, stepcast.UserID(u))
				if err != nil {
					t.Fatal(err)
				}
				users[v.ID] = u
			}
			want := []string{
				"U1: Aki, day two", "U1: Hello there {{x}}", "U1: Lesson tomorrow, Aki", "U1: Poked, Aki", "U1: Welcome Aki!",
				"U1: day three for Aki", "U1: static",
				"U2: Hello there {{x}}", "U2: Lesson tomorrow, friend", "U2: Welcome friend!", "U2: day three for you",
			}
			if got := sentByUser(t, a, users); !slices.Equal(got, want) {
				t.Errorf("sent:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			v, err := a.FriendByUser(ctx, "U2")
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(v.Recent, func(e store.Event) bool {
				return e.Kind == stepcast.EventJourney && e.Value == string(scenario.Skipped) && e.Data["step"] == "two"
			})
			if i < 0 || !strings.Contains(v.Recent[i].Data["reason"], "missing_field:name") {
				t.Errorf("U2's journey has no skip of step two for the missing name: %+v", v.Recent)
			}
			if n := mustCount(t, a, `scenario_finished("course")`); n != 2 {
				t.Errorf("%d friends finished the course, want 2: a skipped step does not stop it", n)
			}
		})
	}
}

// A placeholder the schema cannot render is a definitions error at the
// message's path, from SetDefinitions and AddAccount alike, and at its
// line in a definitions file.
func TestPlaceholderDefinitionErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(d *Definitions)
		path string
		err  error
	}{
		{"scenario step", func(d *Definitions) { d.Scenarios[0].Steps[1].Messages[0] = msg("Hi {{nickname}}") },
			"scenarios[0].steps[1].messages[0].text", render.ErrUnknownField},
		{"rule reply", func(d *Definitions) { d.Rules[2].Steps[0].Action.Messages[0] = msg("Hi {{name") },
			"rules[2].steps[0].action.messages[0].text", render.ErrUnclosed},
		{"rule push, second message", func(d *Definitions) {
			d.Rules[4].Steps[0].Action.Messages[1] = stepcast.Message(`{"type":"image","originalContentUrl":"https://x/{{name}}.jpg","previewImageUrl":"https://x/p.jpg"}`)
		}, "rules[4].steps[0].action.messages[1].originalContentUrl", render.ErrNotAllowed},
		{"reminder step", func(d *Definitions) { d.Reminders[0].Steps[0].Messages[0] = msg("{{age}} {{nope|x}}") },
			"reminders[0].steps[0].messages[0].text", render.ErrUnknownField},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := placeholderDefs()
			tc.edit(&d)
			_, err := compile(d)
			var de *DefinitionError
			if !errors.As(err, &de) || de.Path != tc.path || !errors.Is(err, tc.err) || !errors.Is(err, ErrDefinition) {
				t.Fatalf("compile = %v, want a DefinitionError at %s wrapping %v", err, tc.path, tc.err)
			}
			a := mustAccount(t, mustOpen(t, openBolt(t), &clock{t: t0}), "s", placeholderDefs())
			if err := a.SetDefinitions(context.Background(), d); !errors.Is(err, tc.err) {
				t.Errorf("SetDefinitions = %v, want %v", err, tc.err)
			}
		})
	}
}

// The sandbox runs the same units: it shows the messages rendered.
func TestSandboxRendersPlaceholders(t *testing.T) {
	a := mustAccount(t, mustOpen(t, memstore.New(), &clock{t: t0}), "s", placeholderDefs())
	rep, err := a.Sandbox(context.Background(), SandboxRun{
		Events: []stepcast.Event{follow("f", "U9", "", t0), ev("n", "U9", stepcast.EventAnswer, "name", "Mio", t0), ev("e", "U9", stepcast.EventPostback, "enroll", "", t0)},
		Until:  t0.Add(26 * time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprint(rep); !strings.Contains(s, `"Welcome Mio!"`) || strings.Contains(s, "{{name") {
		t.Errorf("sandbox report:\n%s\nwant the step rendered, Welcome Mio!", s)
	}
}

package engine

import (
	"context"
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

// TestStandbySendsNothing: an event that came while another channel had
// chat control (LINE's mode "standby") changes state — a tag, a scenario
// entered — but queues no message its unit decides: no reply, no push,
// not the scenario's immediate step; a rich menu link, not a message,
// goes. The scenario's later step, in due work, is sent. The same event
// in active mode queues them all.
func TestStandbySendsNothing(t *testing.T) {
	menu := "richmenu-" + fmt.Sprintf("%032x", 7)
	defs := Definitions{
		Rules: []rules.Rule{{Name: "book", Trigger: rules.Trigger{Kind: rules.OnKeyword, Keywords: []string{"予約"}},
			Steps: []rules.Step{
				{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "wants-booking"}},
				{Action: stepcast.Action{Kind: stepcast.Reply, Messages: []stepcast.Message{msg("replied")}}},
				{Action: stepcast.Action{Kind: stepcast.SendMessages, Messages: []stepcast.Message{msg("pushed")}}},
				{Action: stepcast.Action{Kind: stepcast.LinkRichMenu, Name: menu}},
				{Action: stepcast.Action{Kind: stepcast.StartScenario, Name: "booking"}},
			}}},
		Scenarios: []scenario.Definition{{Name: "booking", Steps: []scenario.Step{
			{Name: "now", Timing: scenario.Timing{Kind: scenario.Immediately},
				Actions: []stepcast.Action{{Kind: stepcast.SendMessages, Messages: []stepcast.Message{msg("step now")}}}},
			{Name: "later", Timing: scenario.Timing{Kind: scenario.AfterEntry, After: time.Hour},
				Actions: []stepcast.Action{{Kind: stepcast.SendMessages, Messages: []stepcast.Message{msg("step later")}}}},
		}}},
	}
	for _, tc := range []struct {
		name    string
		standby bool
		token   string
		now     []stepcast.DeliveryKind // queued by the event, in order
	}{
		{"active", false, "tok-1", []stepcast.DeliveryKind{stepcast.DeliveryPush, stepcast.DeliveryRichMenuLink, stepcast.DeliveryPush, stepcast.DeliveryReply}},
		{"standby", true, "", []stepcast.DeliveryKind{stepcast.DeliveryRichMenuLink}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			clk := &clock{t: t0}
			a := mustAccount(t, mustOpen(t, memstore.New(), clk), "s", defs)
			mustIngest(t, a, follow("f1", "U1", "", t0.Add(-time.Minute)))
			e := message("m1", "U1", "予約", tc.token, t0)
			e.Arrival.Standby = tc.standby
			res := mustIngest(t, a, e)[0]
			var kinds []stepcast.DeliveryKind
			for _, q := range res.Queued {
				kinds = append(kinds, q.Kind)
			}
			if !slices.Equal(kinds, tc.now) {
				t.Errorf("queued %v, want %v", kinds, tc.now)
			}
			if tc.standby {
				for _, st := range res.Steps {
					if (st.Action == stepcast.Reply || st.Action == stepcast.SendMessages) && st.Note != standbyNote {
						t.Errorf("step %s/%d %s: note %q, want %q", st.Rule, st.Step, st.Action, st.Note, standbyNote)
					}
				}
				// The scenario's immediate step notes it, naming itself.
				if want := []string{`scenario "booking" step 0: ` + standbyNote}; !slices.Equal(res.Notes, want) {
					t.Errorf("notes %q, want %q", res.Notes, want)
				}
			}
			f, err := a.FriendByUser(ctx, "U1")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(f.Tags, "wants-booking") || f.Scenarios["booking"] != 1 {
				t.Errorf("tags %v, scenarios %v: want the tag, and the scenario at its second step", f.Tags, f.Scenarios)
			}
			clk.Set(t0.Add(2 * time.Hour))
			if _, err := a.Tick(ctx); err != nil {
				t.Fatal(err)
			}
			later, err := a.Deliveries(ctx, store.DeliveryFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if got := sentOf(t, later); len(got) != len(tc.now)+1 || got[len(got)-1].texts[0] != "step later" {
				t.Errorf("outbox after the tick %+v, want the later step pushed too", got)
			}
		})
	}
}

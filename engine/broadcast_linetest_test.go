package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/lineadapter/linetest"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/segment"
)

// planDefs: a friend's answer sets their plan.
func planDefs() engine.Definitions {
	return engine.Definitions{
		Schema: segment.SchemaConfig{Fields: []segment.Field{{Name: "plan", Type: stepcast.FieldString}}},
		Rules: []rules.Rule{{Name: "plan", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventAnswer, Name: "plan"},
			Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.SetField, Name: "plan", Text: "value"}}}}},
	}
}

// TestBroadcastLinetest: a broadcast to 1,201 friends end to end — half
// on the pro plan, their text rendered with it, the rest with the
// default; one blocks before it goes —, dispatched through lineadapter's
// Sender into linetest, a multicast failing with a 500 on the way. By
// linetest's record, each friend who follows receives it exactly once,
// with their text, and the one who blocked nothing.
func TestBroadcastLinetest(t *testing.T) {
	for _, be := range stores {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			const n = 1201
			srv := newLINE(t, n)
			srv.Inject(linetest.ServerError(linetest.Multicast, 500, 1))
			clk := &tclock{t: time.Now().Truncate(time.Minute)}
			e, err := engine.Open(engine.Config{Store: be.open(t), Now: clk.Now, Sender: newSender(t, srv.URL, time.Second),
				RetryBase: time.Second, RetryMax: 2 * time.Second, Holder: "b1"})
			if err != nil {
				t.Fatal(err)
			}
			a, err := e.AddAccount(ctx, "shop", planDefs())
			if err != nil {
				t.Fatal(err)
			}
			followAll(t, a, n, clk.Now())
			var answers []stepcast.Event
			for i := 2; i <= n; i += 2 {
				answers = append(answers, stepcast.Event{ID: fmt.Sprintf("plan-%d", i), User: stepcast.UserID(linetest.UserID(i)),
					Kind: stepcast.EventAnswer, Name: "plan", Value: "pro", At: clk.Now()})
			}
			if _, err := a.IngestBatch(ctx, answers...); err != nil {
				t.Fatal(err)
			}
			b := engine.Broadcast{Name: "renewal", At: clk.Now().Add(time.Minute), NotificationDisabled: true,
				Messages: []stepcast.Message{stepcast.Message(`{"type":"text","text":"{{plan|standard}} plan: renew now"}`)}}
			if err := a.ScheduleBroadcast(ctx, b); err != nil {
				t.Fatal(err)
			}
			blocked := linetest.UserID(7)
			if _, err := a.Ingest(ctx, stepcast.Event{ID: "block", User: stepcast.UserID(blocked), Kind: stepcast.EventUnfollow, At: clk.Now()}); err != nil {
				t.Fatal(err)
			}
			clk.Add(time.Minute)
			if _, err := a.Tick(ctx); err != nil {
				t.Fatal(err)
			}
			for round := 0; ; round++ {
				if _, err := a.Dispatch(ctx); err != nil {
					t.Fatal(err)
				}
				rep, err := a.Broadcast(ctx, "renewal")
				if err != nil {
					t.Fatal(err)
				}
				if rep.Status == engine.BroadcastSent {
					// 600 pro, 600 standard (one blocked): 500 + 100 and 500 + 100.
					if rep.Planned != n-1 || rep.Deliveries != 4 || rep.Outbox.Sent != 4 || rep.Outbox.Recipients != n-1 {
						t.Fatalf("report %+v", rep)
					}
					break
				}
				if round == 10 {
					t.Fatalf("still %+v", rep)
				}
				clk.Add(3 * time.Second)
			}
			got := srv.Delivered()
			for i := 1; i <= n; i++ {
				u := linetest.UserID(i)
				want := `{"type":"text","text":"standard plan: renew now"}`
				if i%2 == 0 {
					want = `{"type":"text","text":"pro plan: renew now"}`
				}
				switch {
				case u == blocked:
					if len(got[u]) != 0 {
						t.Fatalf("the friend who blocked received %s", got[u])
					}
				case len(got[u]) != 1 || !jsonEqual(got[u][0], want):
					t.Fatalf("friend %d received %s, want %s once", i, got[u], want)
				}
			}
			for _, v := range srv.Violations() {
				t.Errorf("violation: %s", v)
			}
			if left := srv.PendingFaults(); left != 0 {
				t.Errorf("%d faults not met", left)
			}
		})
	}
}

func jsonEqual(a json.RawMessage, b string) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal([]byte(b), &y) == nil && fmt.Sprint(x) == fmt.Sprint(y)
}

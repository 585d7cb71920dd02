package engine_test

import (
	"context"
	"fmt"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store/memstore"
)

// clinic is an account whose friends answer their area and name: 6
// friends, 4 in Tokyo, 2 of them named.
func clinic(ctx context.Context, now func() time.Time) (*engine.Account, error) {
	e, err := engine.Open(engine.Config{Store: memstore.New(), Now: now})
	if err != nil {
		return nil, err
	}
	set := func(field string) rules.Rule {
		return rules.Rule{Name: field, Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventAnswer, Name: field},
			Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.SetField, Name: field, Text: "value"}}}}
	}
	a, err := e.AddAccount(ctx, "clinic", engine.Definitions{
		Schema: segment.SchemaConfig{Fields: []segment.Field{{Name: "area", Type: stepcast.FieldString}, {Name: "name", Type: stepcast.FieldString}}},
		Rules:  []rules.Rule{set("area"), set("name")},
	})
	if err != nil {
		return nil, err
	}
	var evs []stepcast.Event
	for i := 1; i <= 6; i++ {
		u := stepcast.UserID(fmt.Sprintf("U%032x", i))
		evs = append(evs, stepcast.Event{ID: fmt.Sprint("f", i), User: u, Kind: stepcast.EventFollow, At: now()})
		if i <= 4 {
			evs = append(evs, stepcast.Event{ID: fmt.Sprint("a", i), User: u, Kind: stepcast.EventAnswer, Name: "area", Value: "tokyo", At: now()})
		}
		if i <= 2 {
			evs = append(evs, stepcast.Event{ID: fmt.Sprint("n", i), User: u, Kind: stepcast.EventAnswer, Name: "name", Value: fmt.Sprint("Patient", i), At: now()})
		}
	}
	_, err = a.IngestBatch(ctx, evs...)
	return a, err
}

func ExampleAccount_ScheduleBroadcast() {
	ctx := context.Background()
	now := time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC) // 10:00 in Tokyo
	a, err := clinic(ctx, func() time.Time { return now })
	if err != nil {
		fmt.Println(err)
		return
	}
	// Pre-booking opens at 11:00 for Tokyo: the segment is evaluated then.
	err = a.ScheduleBroadcast(ctx, engine.Broadcast{
		Name:     "prebook-december",
		Segment:  `area == "tokyo"`,
		Messages: []stepcast.Message{stepcast.Message(`{"type":"text","text":"{{name|患者}}様、12月の予約受付を開始しました"}`)},
		At:       now.Add(time.Hour),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	rep, _ := a.Broadcast(ctx, "prebook-december")
	fmt.Println(rep.Status, rep.Due.Format("15:04 MST"))

	now = now.Add(time.Hour)
	a.Tick(ctx) // Run does this every PollInterval
	rep, _ = a.Broadcast(ctx, "prebook-december")
	fmt.Printf("%s: %d friends in %d deliveries (%d pushes), %d pending\n", rep.Status, rep.Planned, rep.Deliveries, rep.Pushes, rep.Outbox.Pending)
	// Output:
	// scheduled 02:00 UTC
	// sending: 4 friends in 3 deliveries (2 pushes), 3 pending
}

func ExampleAccount_Preview() {
	ctx := context.Background()
	now := time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)
	a, err := clinic(ctx, func() time.Time { return now })
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := a.Preview(ctx, engine.Broadcast{
		Segment: `area == "tokyo"`,
		// No default: a friend without a name is skipped.
		Messages: []stepcast.Message{stepcast.Message(`{"type":"text","text":"{{name}}様、12月の予約受付を開始しました"}`)},
	}, engine.PreviewOptions{Sample: 3, Used: 4999})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range p.Sample {
		if f.Skip != "" {
			fmt.Println(f.Friend, "skipped:", f.Skip)
			continue
		}
		fmt.Println(f.Friend, string(f.Messages[0]))
	}
	fmt.Println(p)
	// Output:
	// 1 {"type":"text","text":"Patient1様、12月の予約受付を開始しました"}
	// 2 {"type":"text","text":"Patient2様、12月の予約受付を開始しました"}
	// 3 skipped: missing_field:name
	// audience 4, recipients 2 (messages 2); skipped missing_field:name: 2 (skips for long values: in the sample only)
	// Free: +0 yen (month 0 yen) — does not fit: 2 over the plan's 200
	// Light: +0 yen (month 5000 yen) — does not fit: 1 over the plan's 5000
	// Standard: +0 yen (month 15000 yen)
	// quota: unknown
}

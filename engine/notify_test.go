package engine

import (
	"context"
	"errors"
	"testing"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store/memstore"
)

// The host hears of committed units only: a unit that fails (its rules
// loop after notifying) notifies nobody, the others of the batch do, and
// a backfill never notifies.
func TestNotifyAfterCommitOnly(t *testing.T) {
	ctx := context.Background()
	var got []string
	e, err := Open(Config{Store: memstore.New(), Now: (&clock{t: t0}).Now, Notify: func(_ context.Context, n stepcast.Notification) {
		got = append(got, n.Cause.Unit)
	}})
	if err != nil {
		t.Fatal(err)
	}
	notify := stepcast.Action{Kind: stepcast.NotifyHost, Name: "sales"}
	a := mustAccount(t, e, "n", Definitions{
		Schema: segment.SchemaConfig{Location: tokyo},
		Rules: []rules.Rule{
			{Name: "tell", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventConversion}, Steps: []rules.Step{
				{Action: notify},
				{If: `converted("loop")`, Action: stepcast.Action{Kind: stepcast.AddTag, Name: "a"}},
			}},
			{Name: "loop", Trigger: rules.Trigger{Kind: rules.OnTagAdded, Name: "a"}, Steps: []rules.Step{
				{Action: stepcast.Action{Kind: stepcast.RemoveTag, Name: "a"}},
				{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "a"}},
			}},
		},
	})
	// Conditions hold for friends who follow (the audience of a segment).
	mustIngest(t, a, follow("f1", "U1", "", t0), follow("f2", "U2", "", t0), follow("f3", "U3", "", t0))
	res0, err := a.IngestBatch(ctx,
		ev("ok1", "U1", stepcast.EventConversion, "buy", "", t0),
		ev("bad", "U2", stepcast.EventConversion, "loop", "", t0),
		ev("ok2", "U3", stepcast.EventConversion, "buy", "", t0),
	)
	if !errors.Is(err, rules.ErrLoop) {
		t.Fatalf("IngestBatch = %v, want the loop; %+v", err, res0)
	}
	if len(got) != 2 || got[0] != "ok1" || got[1] != "ok2" {
		t.Errorf("notified %v, want ok1 and ok2 only", got)
	}
	got = nil
	res, err := a.Backfill(ctx, ev("old", "U4", stepcast.EventConversion, "buy", "", t0))
	if err != nil || len(got) != 0 || len(res[0].Notified) != 0 || res[0].Steps[0].Note == "" {
		t.Errorf("backfill notified %v (%v), note %q", got, err, res[0].Steps[0].Note)
	}
}

package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// TestTickCrossesDecayingThresholds: a lead who stops clicking cools down
// with time alone, and Tick acts on it when the store says it is due.
func TestTickCrossesDecayingThresholds(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		clk := &clock{t: t0}
		a := mustAccount(t, mustOpen(t, open(t), clk), "salon", shopDefs())
		events := []stepcast.Event{follow("f1", "U1", "", t0.Add(-time.Hour))}
		for i := range 4 {
			events = append(events, ev("c"+string(rune('0'+i)), "U1", stepcast.EventClick, "campaign", "", t0.Add(time.Duration(i)*time.Minute)))
		}
		if _, err := a.Ingest(ctx, events...); err != nil {
			t.Fatal(err)
		}
		v, _ := a.FriendByUser(ctx, "U1")
		if n := mustCount(t, a, `tag("hot")`); !slices.Contains(v.Tags, "hot") || n != 1 {
			t.Fatalf("20 points should make U1 hot: %v, %d in the index", v.Tags, n)
		}
		var due time.Time
		for _, tm := range v.Timers {
			if tm.Key == scoringKey {
				due = tm.Due
			}
		}
		// 4 × 5 points, each halving in 7 days, fall below 10 at t with
		// Σ 5·2^(-(t-tᵢ)/h) = 10, i.e. t = t0 + h·log2(Σ 2^(tᵢ-t0)/h / 2).
		h := 7 * 24 * time.Hour
		var sum float64
		for i := range 4 {
			sum += math.Exp2(float64(time.Duration(i)*time.Minute) / float64(h))
		}
		want := t0.Add(time.Duration(float64(h) * math.Log2(sum/2)))
		if d := due.Sub(want); d < 0 || d > time.Millisecond {
			t.Fatalf("scoring timer due %v, want just after %v", due, want)
		}

		// (The trial offer the hot lead entered has its own steps due.)
		clk.Set(due.Add(-time.Second))
		if _, err := a.Tick(ctx); err != nil {
			t.Fatalf("tick before due: %v", err)
		}
		if n := mustCount(t, a, `tag("hot")`); n != 1 {
			t.Fatalf("a tick before the crossing cooled U1 (%d hot)", n)
		}
		clk.Set(due)
		if n, err := a.Tick(ctx); err != nil || n != 1 {
			t.Fatalf("tick at due: %d, %v", n, err)
		}
		v, _ = a.FriendByUser(ctx, "U1")
		if slices.Contains(v.Tags, "hot") {
			t.Errorf("U1 should have cooled down: %v", v.Tags)
		}
		if n := mustCount(t, a, `tag("hot")`); n != 0 {
			t.Errorf("the index did not follow the tick: %d hot", n)
		}
		if r := v.Scores["lead"].Recent; r >= 10 || r < 9.99 {
			t.Errorf("recent lead %v", r)
		}
		for _, tm := range v.Timers {
			if tm.Key == scoringKey && !tm.Due.Equal(never) {
				t.Errorf("after the last crossing the timer is due %v", tm.Due)
			}
		}
	})
}

func TestAccountsAreIsolated(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	e := mustOpen(t, memstore.New(), clk)
	salon := mustAccount(t, e, "salon", shopDefs())
	gym := mustAccount(t, e, "gym", Definitions{
		Schema: segment.SchemaConfig{Fields: []segment.Field{{Name: "plan", Type: stepcast.FieldString}}},
		Rules: []rules.Rule{{Name: "welcome", Trigger: rules.Trigger{Kind: rules.OnFollow}, Steps: []rules.Step{
			{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "gym-member"}},
		}}},
	})
	if _, err := e.AddAccount(ctx, "gym", shopDefs()); !errors.Is(err, ErrAccountExists) {
		t.Errorf("second add: %v", err)
	}
	if _, err := e.Account("nope"); !errors.Is(err, ErrUnknownAccount) {
		t.Errorf("unknown account: %v", err)
	}
	if got := e.Accounts(); !slices.Equal(got, []store.AccountID{"gym", "salon"}) {
		t.Errorf("accounts %v", got)
	}
	// The same LINE user follows both (a provider's userId is shared).
	if _, err := salon.Ingest(ctx, follow("f1", "U1", "qr-shop", t0)); err != nil {
		t.Fatal(err)
	}
	if _, err := gym.Ingest(ctx, follow("f1", "U1", "", t0)); err != nil { // the same event ID, another account
		t.Fatal(err)
	}
	sv, _ := salon.FriendByUser(ctx, "U1")
	gv, _ := gym.FriendByUser(ctx, "U1")
	if !slices.Equal(sv.Tags, []string{"route/qr-shop"}) || !slices.Equal(gv.Tags, []string{"gym-member"}) {
		t.Errorf("salon %v, gym %v", sv.Tags, gv.Tags)
	}
	if n := mustCount(t, gym, `tag("route/qr-shop")`); n != 0 {
		t.Errorf("the salon's tag is visible in the gym: %d", n)
	}
	if _, err := gym.Count(`score("lead") > 0`); err == nil {
		t.Error("the gym's schema has no lead score, Count should fail")
	}
}

func TestDefinitionsAreValidated(t *testing.T) {
	d := shopDefs()
	d.Rules = append(d.Rules,
		rules.Rule{Name: "survey", Trigger: rules.Trigger{Kind: rules.OnEvent}, Steps: []rules.Step{
			{If: `tag("x") &&`, Action: stepcast.Action{Kind: stepcast.AddTag, Name: "y"}},
		}},
		rules.Rule{Name: "bad-actions", Trigger: rules.Trigger{Kind: rules.OnThreshold, Name: "warm"}, Steps: []rules.Step{
			{Action: stepcast.Action{Kind: stepcast.SetField, Name: "plan", Value: val(stepcast.StringValue("gold"))}},
			{Action: stepcast.Action{Kind: stepcast.AddToField, Name: "plan", Number: 1}},
			{Action: stepcast.Action{Kind: stepcast.SetField, Name: "height", Value: val(stepcast.IntValue(3))}},
			{Action: stepcast.Action{Kind: stepcast.AddScore, Name: "vip", Number: 1}},
			{Action: stepcast.Action{Kind: stepcast.SendMessages}},
		}},
		rules.Rule{Name: "empty", Trigger: rules.Trigger{Kind: rules.OnFieldChanged, Name: "plan"}},
	)
	_, err := Open(Config{Store: memstore.New()})
	if err != nil {
		t.Fatal(err)
	}
	e, _ := Open(Config{Store: memstore.New()})
	_, err = e.AddAccount(context.Background(), "salon", d)
	if !errors.Is(err, ErrDefinition) {
		t.Fatalf("err = %v", err)
	}
	msg := err.Error()
	n := len(shopDefs().Rules) // the rules appended are rules[n], [n+1] and [n+2]
	for _, want := range []string{
		fmt.Sprintf(`rules[%d].name: invalid definition: the name "survey" is empty or repeated`, n),
		fmt.Sprintf(`rules[%d].trigger: invalid definition: an event trigger needs the event kind`, n),
		fmt.Sprintf("rules[%d].steps[0].if: invalid definition: unexpected token EOF (1:11)", n),
		fmt.Sprintf(`rules[%d].trigger: invalid definition: unknown threshold "warm"`, n+1),
		fmt.Sprintf(`rules[%d].steps[0].action: invalid definition: "gold" is not a choice of field "plan" (free, trial, member)`, n+1),
		fmt.Sprintf(`rules[%d].steps[1].action: invalid definition: add_to_field: field "plan" is choice, wants int or float`, n+1),
		fmt.Sprintf(`rules[%d].steps[2].action: invalid definition: set_field: unknown field "height"`, n+1),
		fmt.Sprintf(`rules[%d].steps[3].action: invalid definition: add_score: score "vip" is not defined in scoring.scores`, n+1),
		fmt.Sprintf("rules[%d].steps[4].action: invalid definition: stepcast: invalid: send_messages action: needs 1 to 5 messages (LINE's limit), has 0", n+1),
		fmt.Sprintf("rules[%d].steps: invalid definition: a rule needs at least one step", n+2),
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in\n%s", want, msg)
		}
	}
}

// TestConcurrentIngestAndQueries runs ingests on several goroutines while
// others count and read friends (run it with -race); the live index ends
// equal to a rebuild.
func TestConcurrentIngestAndQueries(t *testing.T) {
	ctx := context.Background()
	events := workload(3, 50, 800)
	clk := &clock{t: events[len(events)-1].At}
	a := mustAccount(t, mustOpen(t, memstore.New(), clk), "salon", shopDefs())
	var writers, readers sync.WaitGroup
	for w := range 4 {
		writers.Go(func() {
			for i, e := range events {
				if i%4 == w {
					// Events of one user may race: any order is a valid
					// history, and a rule loop is impossible here.
					if _, err := a.Ingest(ctx, e); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	stop := make(chan struct{})
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := a.Count(`tag("hot") || points >= 10`); err != nil {
					t.Error(err)
					return
				}
				if _, err := a.FriendByUser(ctx, "U001"); err != nil && !errors.Is(err, store.ErrNotFound) {
					t.Error(err)
				}
				if err := a.CatchUp(ctx); err != nil {
					t.Error(err)
				}
			}
		})
	}
	writers.Wait()
	close(stop)
	readers.Wait()
	now := clk.Now()
	if got, want := takeSnapshot(t, a, now).Counts, rebuiltCounts(t, a, now); !reflect.DeepEqual(got, want) {
		t.Fatalf("live %v\nrebuilt %v", got, want)
	}
}

// TestRunCatchesUpAndTicks: an engine running in the background shows what
// another engine on the same store committed, and acts on due work.
func TestRunCatchesUpAndTicks(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := memstore.New()
	clk := &clock{t: t0}
	writer := mustAccount(t, mustOpen(t, st, clk), "salon", shopDefs())
	e, err := Open(Config{Store: st, Now: clk.Now, PollInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runner := mustAccount(t, e, "salon", shopDefs())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()

	clicks := []stepcast.Event{follow("f1", "U1", "", t0.Add(-time.Hour))}
	for i := range 4 {
		clicks = append(clicks, ev("c"+string(rune('0'+i)), "U1", stepcast.EventClick, "campaign", "", t0.Add(time.Duration(i)*time.Minute)))
	}
	if _, err := writer.Ingest(ctx, clicks...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the runner to see the hot friend", func() bool { n := mustCount(t, runner, `tag("hot")`); return n == 1 })
	clk.Set(t0.AddDate(0, 0, 8)) // the lead score has halved: cooled down
	waitFor(t, "the runner to cool the friend down", func() bool { n := mustCount(t, runner, `tag("hot")`); return n == 0 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v", err)
	}
}

// waitFor polls cond until it holds, failing after 10 s (a liveness check,
// not a timing one).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestSetDefinitions: rules and schema change while the account runs.
func TestSetDefinitions(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	a := mustAccount(t, mustOpen(t, memstore.New(), clk), "salon", shopDefs())
	if _, err := a.Ingest(ctx, follow("f1", "U1", "qr-shop", t0), follow("f2", "U2", "", t0)); err != nil {
		t.Fatal(err)
	}
	ix := a.index()

	// A rule added: same schema, same index.
	d := shopDefs()
	d.Rules = append(d.Rules, rules.Rule{Name: "vip-postback", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventPostback, Name: "vip"},
		Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "vip"}}}})
	if err := a.SetDefinitions(ctx, d); err != nil {
		t.Fatal(err)
	}
	if a.index() != ix {
		t.Error("a rule change rebuilt the index")
	}
	if _, err := a.Ingest(ctx, ev("p1", "U2", stepcast.EventPostback, "vip", "", t0.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	if n, err := a.Count(`tag("vip")`); n != 1 || err != nil {
		t.Errorf("the new rule did not run: %d vips, %v", n, err)
	}

	// A field added: a new index, with everything the old one had.
	d.Schema.Fields = append(d.Schema.Fields, segment.Field{Name: "shoe_size", Type: stepcast.FieldFloat})
	d.Rules = append(d.Rules, rules.Rule{Name: "size", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventAnswer, Name: "size"},
		Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.SetField, Name: "shoe_size", Text: "value"}}}})
	if err := a.SetDefinitions(ctx, d); err != nil {
		t.Fatal(err)
	}
	if a.index() == ix {
		t.Error("a schema change kept the old index")
	}
	if _, err := a.Ingest(ctx, ev("s1", "U1", stepcast.EventAnswer, "size", "24.5", t0.Add(2*time.Minute))); err != nil {
		t.Fatal(err)
	}
	for src, want := range map[string]uint64{`shoe_size >= 24`: 1, `tag("vip")`: 1, `tag("route/qr-shop")`: 1, `following`: 2} {
		if n, err := a.Count(src); err != nil || n != want {
			t.Errorf("Count(%s) = %d, %v; want %d", src, n, err, want)
		}
	}

	// Bad definitions change nothing.
	bad := d
	bad.Rules = append(slices.Clone(d.Rules), rules.Rule{Name: "broken", Trigger: rules.Trigger{Kind: rules.OnFollow}, Steps: []rules.Step{{If: "shoe_size >", Action: stepcast.Action{Kind: stepcast.AddTag, Name: "x"}}}})
	if err := a.SetDefinitions(ctx, bad); !errors.Is(err, ErrDefinition) {
		t.Errorf("bad definitions: %v", err)
	}
	if got := len(a.Definitions().Rules); got != len(d.Rules) {
		t.Errorf("bad definitions replaced the rules: %d", got)
	}
}

// TestTickGetsPastOtherDueWork: due work of kinds Tick has no handler for
// (a later feature's), ahead of a scoring timer in the queue, does not keep
// Tick from it — nor is it leased.
func TestTickGetsPastOtherDueWork(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	st := memstore.New()
	a := mustAccount(t, mustOpen(t, st, clk), "salon", shopDefs())
	var events []stepcast.Event
	events = append(events, follow("f1", "U1", "", t0))
	for i := range 4 {
		events = append(events, ev(fmt.Sprintf("c%d", i), "U1", stepcast.EventClick, "campaign", "", t0.Add(time.Duration(i)*time.Minute)))
	}
	if _, err := a.IngestBatch(ctx, events...); err != nil {
		t.Fatal(err)
	}
	err := st.Update(ctx, "salon", func(tx store.Tx) error {
		for i := range 2*tickBatch + 10 { // due long before the scoring timer
			if _, err := tx.PutTimer(store.Timer{Key: fmt.Sprintf("unhandled/%d", i), Due: t0}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := mustCount(t, a, `tag("hot")`); n != 1 {
		t.Fatalf("%d hot", n)
	}
	clk.Set(t0.AddDate(0, 0, 8))
	if n, err := a.Tick(ctx); err != nil || n != 2 {
		t.Fatalf("Tick = %d, %v; want U1's scoring and trial-offer timers", n, err)
	}
	err = st.View(ctx, "salon", func(tx store.ReadTx) error {
		ts, err := tx.FriendTimers(0)
		for _, tm := range ts {
			if tm.LeasedBy != "" {
				t.Errorf("Tick leased %s", tm.Key)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := mustCount(t, a, `tag("hot")`); n != 0 {
		t.Errorf("%d still hot", n)
	}
}

// TestSharedCommits: concurrent callers sharing boltstore commits, one of
// them with an event whose rules loop: every other event applies once,
// the looping one not at all, and the index equals a rebuild.
func TestSharedCommits(t *testing.T) {
	ctx := context.Background()
	events := workload(5, 40, 400)
	clk := &clock{t: events[len(events)-1].At}
	e, err := Open(Config{Store: openBolt(t), Now: clk.Now, ShareCommits: true})
	if err != nil {
		t.Fatal(err)
	}
	d := shopDefs()
	d.Rules = append(d.Rules,
		rules.Rule{Name: "loop-a", Trigger: rules.Trigger{Kind: rules.OnTagAdded, Name: "loop"}, Steps: []rules.Step{
			{Action: stepcast.Action{Kind: stepcast.RemoveTag, Name: "loop"}}, {Action: stepcast.Action{Kind: stepcast.AddTag, Name: "loop2"}}}},
		rules.Rule{Name: "loop-b", Trigger: rules.Trigger{Kind: rules.OnTagAdded, Name: "loop2"}, Steps: []rules.Step{
			{Action: stepcast.Action{Kind: stepcast.RemoveTag, Name: "loop2"}}, {Action: stepcast.Action{Kind: stepcast.AddTag, Name: "loop"}}}},
		rules.Rule{Name: "start-loop", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventPostback, Name: "loop"}, Steps: []rules.Step{
			{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "loop"}}}},
	)
	a := mustAccount(t, e, "salon", d)
	events = append(events, ev("bad", "U000", stepcast.EventPostback, "loop", "", clk.Now()))
	var wg sync.WaitGroup
	var mu sync.Mutex
	failures := map[string]error{}
	for w := range 8 {
		wg.Go(func() {
			for i, ev := range events {
				if i%8 == w {
					if _, err := a.Ingest(ctx, ev); err != nil {
						mu.Lock()
						failures[ev.ID] = err
						mu.Unlock()
					}
				}
			}
		})
	}
	wg.Wait()
	if len(failures) != 1 || !errors.Is(failures["bad"], rules.ErrLoop) {
		t.Fatalf("failures: %v", failures)
	}
	now := clk.Now()
	if got, want := takeSnapshot(t, a, now).Counts, rebuiltCounts(t, a, now); !reflect.DeepEqual(got, want) {
		t.Fatalf("live %v\nrebuilt %v", got, want)
	}
	var logged int
	e.cfg.Store.View(ctx, "salon", func(tx store.ReadTx) error {
		evs, _ := tx.Events(0, 10_000)
		for _, e := range evs {
			if e.Kind != stepcast.EventJourney { // the engine's own record of scenarios
				logged++
			}
		}
		return nil
	})
	distinct := map[string]bool{}
	for _, ev := range events[:len(events)-1] {
		distinct[ev.ID] = true
	}
	if logged != len(distinct) {
		t.Errorf("%d events logged, want %d", logged, len(distinct))
	}
}

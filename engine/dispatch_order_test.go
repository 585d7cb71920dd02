package engine_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/lineadapter/linetest"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// Order across batches and engines: a friend's pushes arrive in the order
// they were queued however the lease rounds and the engines cut them, and
// an account's rich menu requests reach LINE in the order they were
// decided. (After a reviewer's repros: each failed on the dispatcher that
// ordered only within one leased batch.)

// threePushes pushes m0, m1, m2 to each friend who follows.
func threePushes() engine.Definitions {
	var steps []rules.Step
	for i := range 3 {
		steps = append(steps, rules.Step{Action: stepcast.Action{Kind: stepcast.SendMessages,
			Messages: []stepcast.Message{stepcast.Message(fmt.Sprintf(`{"type":"text","text":"m%d"}`, i))}}})
	}
	return engine.Definitions{Rules: []rules.Rule{{Name: "welcome", Trigger: rules.Trigger{Kind: rules.OnFollow}, Steps: steps}}}
}

// orderEngine opens an engine as holder over st, sending to srv, and its
// account "shop" with defs.
func orderEngine(t *testing.T, st store.Store, srv *linetest.Server, clk *tclock, holder string, defs engine.Definitions, conc int) *engine.Account {
	t.Helper()
	e, err := engine.Open(engine.Config{Store: st, Sender: newSender(t, srv.URL, 5*time.Second), Now: clk.Now, Holder: holder, DispatchConcurrency: conc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	a, err := e.AddAccount(context.Background(), "shop", defs)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// inOrder checks that friends 1–n each received m0, m1, m2 once, in that
// order, and that LINE saw no request it would refuse.
func inOrder(t *testing.T, srv *linetest.Server, n int) {
	t.Helper()
	got := srv.Delivered()
	for i := 1; i <= n; i++ {
		m := got[linetest.UserID(i)]
		if len(m) != 3 {
			t.Errorf("friend %d received %d messages, want 3: %s", i, len(m), m)
			continue
		}
		for j := range m {
			if want := fmt.Sprintf(`{"type":"text","text":"m%d"}`, j); string(m[j]) != want {
				t.Errorf("friend %d's message %d is %s, want %s: %s", i, j, m[j], want, m)
				break
			}
		}
	}
	for _, v := range srv.Violations() {
		t.Errorf("violation: %s", v)
	}
}

func TestDispatchOrderAcrossBatches(t *testing.T) {
	cases := []struct {
		name   string
		faults func() []linetest.Fault
		rounds int
	}{
		{"no faults", func() []linetest.Fault { return nil }, 3},
		{"slow", func() []linetest.Fault {
			return []linetest.Fault{linetest.Slow(linetest.Push, 5*time.Millisecond, 200)}
		}, 3},
		{"503 and dropped answers", func() []linetest.Fault {
			return []linetest.Fault{linetest.ServerError(linetest.Push, 503, 10), linetest.AcceptedThenDropped(linetest.Push, 10)}
		}, 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := &tclock{t: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
			srv := newLINE(t, 50, linetest.WithClock(clk.Now))
			a := orderEngine(t, memstore.New(), srv, clk, "A", threePushes(), 0)
			followAll(t, a, 50, clk.Now())
			srv.Inject(tc.faults()...)
			for range tc.rounds {
				if _, err := a.Dispatch(context.Background()); err != nil {
					t.Fatal(err)
				}
				clk.Add(11 * time.Minute)
			}
			inOrder(t, srv, 50)
		})
	}
}

func TestDispatchOrderTwoEngines(t *testing.T) {
	cases := []struct {
		name   string
		faults func() []linetest.Fault
	}{
		{"no faults", func() []linetest.Fault { return nil }},
		{"slow", func() []linetest.Fault {
			return []linetest.Fault{linetest.Slow(linetest.Push, 20*time.Millisecond, 30)}
		}},
		{"503", func() []linetest.Fault { return []linetest.Fault{linetest.ServerError(linetest.Push, 503, 10)} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := &tclock{t: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
			srv := newLINE(t, 50, linetest.WithClock(clk.Now))
			st := memstore.New()
			a := orderEngine(t, st, srv, clk, "A", threePushes(), 0)
			b := orderEngine(t, st, srv, clk, "B", threePushes(), 0)
			followAll(t, a, 50, clk.Now())
			srv.Inject(tc.faults()...)
			for range 10 {
				var wg sync.WaitGroup
				for _, x := range []*engine.Account{a, b} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if _, err := x.Dispatch(context.Background()); err != nil {
							t.Error(err)
						}
					}()
				}
				wg.Wait()
				clk.Add(11 * time.Minute)
			}
			inOrder(t, srv, 50)
		})
	}
}

// A push queued to a friend who then unfollowed is not sent: it fails,
// saying why, without a request.
func TestDispatchUnfollowedAfterQueued(t *testing.T) {
	ctx := context.Background()
	clk := &tclock{t: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	srv := newLINE(t, 2, linetest.WithClock(clk.Now))
	a := orderEngine(t, memstore.New(), srv, clk, "A", threePushes(), 0)
	followAll(t, a, 2, clk.Now())
	if _, err := a.Ingest(ctx, stepcast.Event{ID: "unfollow-1", User: stepcast.UserID(linetest.UserID(1)), Kind: stepcast.EventUnfollow, At: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	srv.Block(linetest.UserID(1))
	rep, err := a.Dispatch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sent != 3 || rep.Failed != 3 {
		t.Errorf("report %+v, want 3 sent (friend 2) and 3 failed (friend 1)", rep)
	}
	for _, r := range srv.Requests() {
		if strings.Contains(string(r.Body), linetest.UserID(1)+`"`) {
			t.Errorf("a request went to friend 1, who unfollowed: %s", r.Body)
		}
	}
	ds, err := a.Deliveries(ctx, store.DeliveryFilter{Friend: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 3 {
		t.Fatalf("friend 1 has %d deliveries, want 3", len(ds))
	}
	for _, d := range ds {
		if d.Status != store.Failed || d.Error != engine.ReasonNotFollowing {
			t.Errorf("delivery %s: %v %q, want failed %q", d.Key, d.Status, d.Error, engine.ReasonNotFollowing)
		}
	}
	if m := srv.Delivered()[linetest.UserID(2)]; len(m) != 3 {
		t.Errorf("friend 2, who follows, received %d messages, want 3", len(m))
	}
	for _, v := range srv.Violations() {
		t.Errorf("violation: %s", v)
	}
}

const memberMenuDefs = `
schema:
  fields:
    - {name: rich_menu, type: string}
rules:
  - name: member-menu
    trigger: {kind: event, event: conversion, name: join}
    steps:
      - {kind: link_rich_menu, name: richmenu-000000000000000000000000000000bb}
`

// A rule's link decided after a segment's bulk link goes after it: LINE
// ends with the rule's menu, as the engine's rich_menu field says.
func TestDispatchRichMenuLinkAfterBulk(t *testing.T) {
	for _, conc := range []int{1, 4} {
		for run := range 5 {
			t.Run(fmt.Sprintf("concurrency=%d/%d", conc, run), func(t *testing.T) {
				ctx := context.Background()
				clk := &tclock{t: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
				srv := newLINE(t, 1200, linetest.WithClock(clk.Now))
				defs, err := engine.ParseDefinitions("defs.yaml", []byte(memberMenuDefs))
				if err != nil {
					t.Fatal(err)
				}
				a := orderEngine(t, memstore.New(), srv, clk, "A", defs, conc)
				evs := make([]stepcast.Event, 1200)
				for i := range evs {
					evs[i] = stepcast.Event{ID: fmt.Sprint("f", i+1), User: stepcast.UserID(linetest.UserID(i + 1)), Kind: stepcast.EventFollow, At: clk.Now()}
				}
				if _, err := a.IngestBatch(ctx, evs...); err != nil {
					t.Fatal(err)
				}
				if _, err := a.LinkRichMenu(ctx, "all", linetest.RichMenuID(0xaa), `true`); err != nil {
					t.Fatal(err)
				}
				if _, err := a.Ingest(ctx, stepcast.Event{ID: "join-20", User: stepcast.UserID(linetest.UserID(20)), Kind: stepcast.EventConversion, Name: "join", At: clk.Now()}); err != nil {
					t.Fatal(err)
				}
				rep, err := a.Dispatch(ctx)
				if err != nil || rep.Sent != 4 {
					t.Fatalf("%+v, %v; want 4 sent (3 bulk links, 1 link)", rep, err)
				}
				if l, _ := srv.RichMenu(linetest.UserID(20)); l != linetest.RichMenuID(0xbb) {
					t.Errorf("LINE links friend 20 to %s, want the rule's %s", l, linetest.RichMenuID(0xbb))
				}
				if l, _ := srv.RichMenu(linetest.UserID(21)); l != linetest.RichMenuID(0xaa) {
					t.Errorf("LINE links friend 21 to %s, want the segment's %s", l, linetest.RichMenuID(0xaa))
				}
				for _, v := range srv.Violations() {
					t.Errorf("violation: %s", v)
				}
			})
		}
	}
}

// The later of two default rich menus set is the one LINE keeps.
func TestDispatchRichMenuDefaultTwice(t *testing.T) {
	for run := range 20 {
		t.Run(fmt.Sprint(run), func(t *testing.T) {
			ctx := context.Background()
			clk := &tclock{t: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
			srv := newLINE(t, 1, linetest.WithClock(clk.Now))
			a := orderEngine(t, memstore.New(), srv, clk, "A", engine.Definitions{}, 0)
			if _, err := a.SetDefaultRichMenu(ctx, linetest.RichMenuID(1)); err != nil {
				t.Fatal(err)
			}
			if _, err := a.SetDefaultRichMenu(ctx, linetest.RichMenuID(2)); err != nil {
				t.Fatal(err)
			}
			if rep, err := a.Dispatch(ctx); err != nil || rep.Sent != 2 {
				t.Fatalf("%+v, %v; want 2 sent", rep, err)
			}
			if _, def := srv.RichMenu(linetest.UserID(1)); def != linetest.RichMenuID(2) {
				t.Errorf("LINE's default menu is %s, want the later %s", def, linetest.RichMenuID(2))
			}
		})
	}
}

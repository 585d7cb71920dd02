package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/scoring"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// trialMenu is the trial's rich menu.
const trialMenu = "richmenu-0123456789abcdef0123456789abcdef"

// trialDefs: a follow tags, sets a field, scores, links a rich menu and
// starts a three-step trial scenario; a score of 10 notifies the host.
func trialDefs() Definitions {
	return Definitions{
		Schema: segment.SchemaConfig{Location: tokyo, Fields: []segment.Field{
			{Name: "plan", Type: stepcast.FieldString}, {Name: RichMenuField, Type: stepcast.FieldString}}},
		Scoring: scoring.Config{Scores: map[string]scoring.Decay{"interest": {}},
			Thresholds: []scoring.Threshold{{Name: "hot", Score: "interest", At: 10, Actions: []stepcast.Action{
				{Kind: stepcast.NotifyHost, Name: "hot-lead", Text: "a trial friend is hot"}}}}},
		Rules: []rules.Rule{
			{Name: "welcome", Trigger: rules.Trigger{Kind: rules.OnFollow}, Steps: []rules.Step{
				{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "lead"}},
				{Action: stepcast.Action{Kind: stepcast.SetField, Name: "plan", Value: val(stepcast.StringValue("free"))}},
				{Action: stepcast.Action{Kind: stepcast.LinkRichMenu, Name: trialMenu}},
				{Action: stepcast.Action{Kind: stepcast.StartScenario, Name: "trial"}},
			}},
			{Name: "pricing", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventClick, Name: "pricing"}, Steps: []rules.Step{
				{Action: stepcast.Action{Kind: stepcast.AddScore, Name: "interest", Number: 10}},
				{Action: stepcast.Action{Kind: stepcast.RemoveTag, Name: "lead"}},
			}},
		},
		Scenarios: []scenario.Definition{{Name: "trial", Steps: []scenario.Step{
			{Name: "welcome", Timing: scenario.Timing{Kind: scenario.Immediately}, Messages: []stepcast.Message{msg("Welcome!")}},
			step("day1", 1, "Day one"),
			{Name: "day2", Timing: scenario.Timing{Kind: scenario.OnDay, Day: 2, At: "10:00"}, Messages: []stepcast.Message{msg("Day two")},
				Actions: []stepcast.Action{{Kind: stepcast.AddTag, Name: "trial-done"}}},
		}}},
	}
}

func export(t *testing.T, st store.Store, a store.AccountID) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := store.Export(context.Background(), st, a, &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// actions lists the kinds and names of a friend's sandbox actions, as
// "kind name".
func actions(f SandboxFriend) []string {
	var out []string
	for _, u := range f.Units {
		for _, a := range u.Actions {
			out = append(out, strings.TrimSpace(string(a.Kind)+" "+a.Name))
		}
	}
	return out
}

func hasAll(t *testing.T, got []string, want ...string) {
	t.Helper()
	for _, w := range want {
		found := false
		for _, g := range got {
			if g == w {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("missing %q in %q", w, got)
		}
	}
}

// A sandbox run leaves the store byte for byte as it was, on every
// backend, the index and the host's callback untouched, while its report
// lists every follow-up action: a follow that starts a scenario, and the
// scenario's next steps at a future time.
func TestSandboxTouchesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		st := open(t)
		clk := &clock{t: t0}
		notified := 0
		e, err := Open(Config{Store: st, Now: clk.Now, Holder: "test",
			Notify: func(context.Context, stepcast.Notification) { notified++ }})
		if err != nil {
			t.Fatal(err)
		}
		a := mustAccount(t, e, "sb", trialDefs())
		mustIngest(t, a, follow("f1", "U1", "", t0))
		notified = 0
		before := export(t, st, "sb")
		leads := mustCount(t, a, `tag("lead")`)
		cur := a.Cursor()

		until := t0.AddDate(0, 0, 1).Add(30 * time.Minute) // tomorrow 10:30
		rep, err := a.Sandbox(ctx, SandboxRun{
			Events: []stepcast.Event{
				follow("f2", "U2", "", t0.Add(time.Minute)),
				ev("c1", "U1", stepcast.EventClick, "pricing", "", t0.Add(2*time.Minute)),
			},
			Until: until,
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := export(t, st, "sb"); !bytes.Equal(got, before) {
			t.Fatalf("the store changed:\nbefore %s\nafter  %s", before, got)
		}
		if n := mustCount(t, a, `tag("lead")`); n != leads || a.Cursor() != cur {
			t.Fatalf("the index moved: %d leads (was %d), cursor %v (was %v)", n, leads, a.Cursor(), cur)
		}
		if notified != 0 {
			t.Fatalf("Config.Notify called %d times", notified)
		}
		if len(rep.Friends) != 2 {
			t.Fatalf("friends: %+v", rep)
		}
		u2, u1 := rep.Friends[0], rep.Friends[1] // in order of first sight
		if u1.User != "U1" || u1.Added || u2.User != "U2" || !u2.Added {
			t.Fatalf("friends: %v %v %v %v", u1.User, u1.Added, u2.User, u2.Added)
		}
		// U1's click: points, a threshold crossed, a notification; and
		// tomorrow's step of the trial U1 entered for real.
		hasAll(t, actions(u1), "score interest", "threshold hot", "notification hot-lead", "tag_removed lead",
			"scenario trial", "delivery", "due scenario/trial")
		// U2's follow starts the trial: welcome now, day one tomorrow.
		hasAll(t, actions(u2), "followed", "tag_added lead", "field_set plan", "scenario trial", "delivery", "due scenario/trial")
		var texts []string
		var menus int
		for _, u := range u2.Units {
			for _, act := range u.Actions {
				if d := act.Delivery; d != nil {
					if d.Kind == stepcast.DeliveryRichMenuLink {
						menus++
						continue
					}
					texts = append(texts, messageText(d.Messages[0]))
				}
			}
		}
		if want := []string{`"Welcome!"`, `"Day one"`}; strings.Join(texts, ",") != strings.Join(want, ",") || menus != 1 {
			t.Fatalf("U2's deliveries: %q, %d rich menu links; want %q and 1", texts, menus, want)
		}
		if rep.Events != 2 || rep.Wakeups != 2 || rep.Stopped != "" {
			t.Fatalf("units: %d events, %d wake-ups, stopped %q", rep.Events, rep.Wakeups, rep.Stopped)
		}
		s := rep.String()
		for _, want := range []string{"friend 2 (U2, new)", "tag +lead", `scenario "trial" step "welcome" sent`,
			`push 1 message at 2026-11-28 10:01 (scenario "trial" step 0): "Welcome!"`,
			`push 1 message at 2026-11-29 10:00 (scenario "trial" step 1): "Day one"`,
			`notify host "hot-lead"`, "due scenario/trial at 2026-11-30 10:00"} {
			if !strings.Contains(s, want) {
				t.Errorf("String() lacks %q:\n%s", want, s)
			}
		}

		// The real run is still to come: Tick does tomorrow's step once.
		clk.Set(until)
		if n, err := a.Tick(ctx); err != nil || n != 1 {
			t.Fatalf("Tick: %d, %v", n, err)
		}
	})
}

// A sandbox run with nothing but a time shows what due work does by
// then, for the friends named.
func TestSandboxFuture(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	st := backends["memstore"](t)
	a := mustAccount(t, mustOpen(t, st, clk), "sb", trialDefs())
	res := mustIngest(t, a, follow("f1", "U1", "", t0))
	id := res[0].Friend
	before := export(t, st, "sb")
	rep, err := a.Sandbox(ctx, SandboxRun{Until: t0.AddDate(0, 0, 2).Add(time.Hour), Friends: []stepcast.FriendID{id}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(export(t, st, "sb"), before) {
		t.Fatal("the store changed")
	}
	if len(rep.Friends) != 1 || len(rep.Friends[0].Units) != 2 {
		t.Fatalf("%s", rep)
	}
	day2 := rep.Friends[0].Units[1]
	if !day2.Wakeup || !day2.At.Equal(t0.AddDate(0, 0, 2)) {
		t.Fatalf("day two's unit: %+v", day2)
	}
	hasAll(t, actions(rep.Friends[0]), "tag_added trial-done", "scenario trial", "due_cleared scenario/trial")
	if s := rep.String(); !strings.Contains(s, `2026-11-30 10:00 due work: scenario "trial" step "day2" sent`) || !strings.Contains(s, "tag +trial-done") {
		t.Fatalf("String():\n%s", s)
	}
	// By userId, the same; an unknown one is left out.
	byUser, err := a.Sandbox(ctx, SandboxRun{Until: t0.AddDate(0, 0, 2).Add(time.Hour), Users: []stepcast.UserID{"U1", "Unknown"}})
	if err != nil || byUser.String() != rep.String() {
		t.Fatalf("%v\n%s\nwant\n%s", err, byUser, rep)
	}
	// Before the step's time, nothing would happen.
	rep, err = a.Sandbox(ctx, SandboxRun{Until: t0.Add(time.Hour), Friends: []stepcast.FriendID{id}})
	if err != nil || len(rep.Friends) != 0 || rep.String() != "nothing would happen\n" {
		t.Fatalf("%v %s", err, rep)
	}
}

// Bad input is refused before anything runs; a unit failing by its own
// fault is reported, and the others go on.
func TestSandboxErrors(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	d := trialDefs()
	// A rule that loops: a tag added adds a tag that removes it…
	d.Rules = append(d.Rules,
		rules.Rule{Name: "ping", Trigger: rules.Trigger{Kind: rules.OnTagAdded, Name: "ping"}, Steps: []rules.Step{
			{Action: stepcast.Action{Kind: stepcast.RemoveTag, Name: "ping"}}, {Action: stepcast.Action{Kind: stepcast.AddTag, Name: "pong"}}}},
		rules.Rule{Name: "pong", Trigger: rules.Trigger{Kind: rules.OnTagAdded, Name: "pong"}, Steps: []rules.Step{
			{Action: stepcast.Action{Kind: stepcast.RemoveTag, Name: "pong"}}, {Action: stepcast.Action{Kind: stepcast.AddTag, Name: "ping"}}}},
		rules.Rule{Name: "loop", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventClick, Name: "loop"}, Steps: []rules.Step{
			{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "ping"}}}})
	st := backends["memstore"](t)
	a := mustAccount(t, mustOpen(t, st, clk), "sb", d)
	mustIngest(t, a, follow("f1", "U1", "", t0))
	before := export(t, st, "sb")

	many := make([]stepcast.Event, MaxSandboxEvents+1)
	for i := range many {
		many[i] = ev("m"+string(rune('a'+i%26))+time.Duration(i).String(), "U1", stepcast.EventClick, "x", "", t0)
	}
	for name, run := range map[string]SandboxRun{
		"too many events":  {Events: many},
		"too many friends": {Friends: make([]stepcast.FriendID, MaxSandboxFriends+1)},
		"friend 0":         {Friends: []stepcast.FriendID{0}},
		"future event":     {Events: []stepcast.Event{follow("f9", "U9", "", t0.Add(3*time.Hour))}},
		"reserved ID":      {Events: []stepcast.Event{follow("wake/1", "U9", "", t0)}},
	} {
		if _, err := a.Sandbox(ctx, run); !errors.Is(err, stepcast.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	// A future event is taken when the run goes that far.
	if _, err := a.Sandbox(ctx, SandboxRun{Events: []stepcast.Event{follow("f9", "U9", "", t0.Add(3*time.Hour))}, Until: t0.Add(3 * time.Hour)}); err != nil {
		t.Errorf("future event within Until: %v", err)
	}

	rep, err := a.Sandbox(ctx, SandboxRun{Events: []stepcast.Event{
		ev("c1", "U1", stepcast.EventClick, "pricing", "", t0),
		ev("l1", "U1", stepcast.EventClick, "loop", "", t0),
		follow("f1", "U1", "", t0), // recorded before
		follow("f2", "U2", "", t0),
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := actions(rep.Friends[0])
	hasAll(t, got, "score interest", "failed", "duplicate")
	var failed error
	for _, u := range rep.Friends[0].Units {
		if u.ID == "l1" {
			failed = u.Result.Err
		}
	}
	if !errors.Is(failed, rules.ErrLoop) {
		t.Fatalf("l1: %v", failed)
	}
	if len(rep.Friends) != 2 || !rep.Friends[1].Added {
		t.Fatalf("%s", rep)
	}
	if !bytes.Equal(export(t, st, "sb"), before) {
		t.Fatal("the store changed")
	}

	// Many failures: the run stops at the 21st.
	var loops []stepcast.Event
	for i := range 30 {
		loops = append(loops, ev(fmt.Sprintf("l%d", i), "U1", stepcast.EventClick, "loop", "", t0))
	}
	rep, err = a.Sandbox(ctx, SandboxRun{Events: loops})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Events != maxSandboxFailures || !strings.Contains(rep.Stopped, `stopped at "l20": 20 units failed`) {
		t.Fatalf("%d events, stopped %q", rep.Events, rep.Stopped)
	}
	if !bytes.Equal(export(t, st, "sb"), before) {
		t.Fatal("the store changed")
	}
}

// A run that would go past MaxSandboxUnits stops there, says so, and
// still touches nothing.
func TestSandboxStopsAtMaxUnits(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	d := trialDefs()
	var steps []scenario.Step
	for day := range 6 {
		steps = append(steps, step(fmt.Sprintf("day%d", day), day+1, fmt.Sprintf("Day %d", day+1)))
	}
	d.Scenarios[0].Steps = append(d.Scenarios[0].Steps[:1], steps...)
	st := memstore.New()
	a := mustAccount(t, mustOpen(t, st, clk), "sb", d)
	before := export(t, st, "sb")
	events := make([]stepcast.Event, MaxSandboxEvents)
	for i := range events {
		events[i] = follow(fmt.Sprintf("f%d", i), fmt.Sprintf("U%d", i), "", t0)
	}
	rep, err := a.Sandbox(ctx, SandboxRun{Events: events, Until: t0.AddDate(0, 0, 10)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Events != MaxSandboxEvents || rep.Events+rep.Wakeups != MaxSandboxUnits || !strings.Contains(rep.Stopped, "MaxSandboxUnits") {
		t.Fatalf("%d events, %d wake-ups, stopped %q", rep.Events, rep.Wakeups, rep.Stopped)
	}
	if !strings.HasSuffix(rep.String(), rep.Stopped+"\n") {
		t.Fatal("String() does not say where the run stopped")
	}
	if !bytes.Equal(export(t, st, "sb"), before) {
		t.Fatal("the store changed")
	}
}

// A booking sets a reminder: the sandbox shows the goal set, its steps
// the day before at 18:00 and an hour before, and the reminder done.
func TestSandboxReminder(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	st := memstore.New()
	a := mustAccount(t, mustOpen(t, st, clk), "salon", shopDefs())
	mustIngest(t, a, follow("f1", "U1", "", t0))
	before := export(t, st, "salon")
	visit := t0.AddDate(0, 0, 3) // Tuesday 10:00
	booking := ev("b1", "U1", stepcast.EventConversion, "booking", "", t0.Add(time.Minute))
	booking.Data = map[string]string{"at": visit.Format(time.RFC3339)}
	rep, err := a.Sandbox(ctx, SandboxRun{Events: []stepcast.Event{booking}, Until: visit})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(export(t, st, "salon"), before) {
		t.Fatal("the store changed")
	}
	s := rep.String()
	for _, want := range []string{
		"2026-11-30 18:00 due work: reminder \"visit\"", `"See you tomorrow"`,
		"2026-12-01 09:00 due work: reminder \"visit\"", `"See you in an hour"`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("String() lacks %q:\n%s", want, s)
		}
	}
	hasAll(t, actions(rep.Friends[0]), "reminder visit", "delivery")
}

// Sandbox runs alongside real units of work: each waits for the other's
// transaction, and nothing of the sandbox's reaches the store.
func TestSandboxConcurrent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		st := open(t)
		clk := &clock{t: t0}
		a := mustAccount(t, mustOpen(t, st, clk), "sb", trialDefs())
		done := make(chan error)
		go func() {
			for i := range 20 {
				if _, err := a.Ingest(ctx, follow(fmt.Sprintf("real%d", i), fmt.Sprintf("Ureal%d", i), "", t0)); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		for i := range 10 {
			rep, err := a.Sandbox(ctx, SandboxRun{Events: []stepcast.Event{follow(fmt.Sprintf("sb%d", i), fmt.Sprintf("Usb%d", i), "", t0)},
				Until: t0.AddDate(0, 0, 1)})
			if err != nil || len(rep.Friends) != 1 || !rep.Friends[0].Added {
				t.Fatalf("%v\n%s", err, rep)
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n := mustCount(t, a, `tag("lead")`); n != 20 {
			t.Fatalf("%d leads, want the 20 real ones", n)
		}
		if ex := export(t, st, "sb"); bytes.Contains(ex, []byte("Usb")) {
			t.Fatal("a sandbox friend reached the store")
		}
	})
}

// An experiment's tally written in a unit (A/B in the engine) is told,
// and rolled back with the rest.
func TestSandboxTally(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	errBack := errors.New("back")
	err := st.Update(ctx, "sb", func(tx store.Tx) error {
		u := &unit{}
		stx := &sandboxTx{Tx: tx, u: u}
		if _, err := stx.AddToTally(store.Tally{Experiment: "welcome", Variant: "B", Recipients: 1, Revenue: 4980}); err != nil {
			return err
		}
		r := sandboxRecorder{loc: tokyo, byFriend: map[stepcast.FriendID]int{}}
		r.unit(u, stx)
		acts := r.Friends[0].Units[0].Actions
		if len(acts) != 1 || acts[0].Kind != SandboxTally {
			t.Fatalf("%+v", acts)
		}
		if got, want := acts[0].String(), `experiment "welcome" variant "B" tally +1 recipient, +4980 revenue`; got != want {
			t.Fatalf("%s, want %s", got, want)
		}
		return errBack
	})
	if !errors.Is(err, errBack) {
		t.Fatal(err)
	}
}

// A/B in the sandbox: the variant assigned, the variant's push, the
// tallies a send and a click would add — and the experiment's real
// report unmoved.
func TestSandboxExperiment(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		clk := &clock{t: t0}
		st := open(t)
		a := mustAccount(t, mustOpen(t, st, clk), "ab", abDefs(0, nil))
		mustIngest(t, a, follow("f1", "U1", "", t0))
		before, report := export(t, st, "ab"), mustExpReport(t, a, "offer")
		rep, err := a.Sandbox(ctx, SandboxRun{Events: []stepcast.Event{
			follow("f2", "U2", "", t0.Add(time.Minute)), click("c2", "U2", "coupon", t0.Add(2*time.Minute))}})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(export(t, st, "ab"), before) {
			t.Fatal("the store changed")
		}
		// (Compared as printed: its result holds values DeepEqual does not
		// find equal to themselves.)
		if after := mustExpReport(t, a, "offer"); fmt.Sprintf("%+v", after) != fmt.Sprintf("%+v", report) {
			t.Fatalf("the experiment's report changed:\n%+v\n%+v", report, after)
		}
		hasAll(t, actions(rep.Friends[0]), "variant offer", "tally offer", "delivery")
		var tallies []store.Tally
		var variant string
		for _, u := range rep.Friends[0].Units {
			for _, act := range u.Actions {
				switch act.Kind {
				case SandboxTally:
					tallies = append(tallies, *act.Tally)
				case SandboxDelivery:
					variant = act.Delivery.Variant
				}
			}
		}
		if len(tallies) != 2 || tallies[0].Recipients != 1 || tallies[1].Clickers != 1 || tallies[0].Variant != variant || variant == "" {
			t.Fatalf("tallies %+v, variant %q\n%s", tallies, variant, rep)
		}
		if s := rep.String(); !strings.Contains(s, `experiment "offer" variant "`+variant+`" tally +1 clicker`) {
			t.Fatalf("String():\n%s", s)
		}
	})
}

// A timer kept with no due time (a score's, a finished scenario's: due
// at never) is not due work, however late Until is: a run to the end of
// time runs the scenario's steps and stops, not MaxSandboxUnits wake-ups
// that do nothing.
func TestSandboxUntilEndOfTime(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	st := memstore.New()
	a := mustAccount(t, mustOpen(t, st, clk), "sb", trialDefs())
	rep, err := a.Sandbox(ctx, SandboxRun{
		Events: []stepcast.Event{
			follow("f1", "U1", "", t0),
			ev("c1", "U1", stepcast.EventClick, "pricing", "", t0.Add(time.Minute)), // a score: its timer is due never
		},
		Until: stepcast.MaxTime,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The follow, the click, the trial's day one and day two.
	if rep.Events != 2 || rep.Wakeups != 2 || rep.Stopped != "" {
		t.Fatalf("%d events, %d wake-ups, stopped %q:\n%s", rep.Events, rep.Wakeups, rep.Stopped, rep)
	}
}

// cancelStore cancels a context when an event is appended, as a caller
// giving up while a run holds the write transaction would.
type cancelStore struct {
	store.Store
	on      string
	cancel  context.CancelFunc
	appends *int
}

type cancelTx struct {
	store.Tx
	s cancelStore
}

func (s cancelStore) Update(ctx context.Context, a store.AccountID, fn func(store.Tx) error) error {
	return s.Store.Update(ctx, a, func(tx store.Tx) error { return fn(cancelTx{tx, s}) })
}

func (t cancelTx) AppendEvent(e stepcast.Event) (uint64, error) {
	*t.s.appends++
	if e.ID == t.s.on {
		t.s.cancel()
	}
	return t.Tx.AppendEvent(e)
}

// A sandbox run ends when its context does, between units, on a store
// that makes no round trip to notice it: the write transaction is let go
// at once, and the run fails with the context's error.
func TestSandboxCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	appends := 0
	st := cancelStore{Store: memstore.New(), on: "f2", cancel: cancel, appends: &appends}
	a := mustAccount(t, mustOpen(t, st, &clock{t: t0}), "sb", trialDefs())
	events := make([]stepcast.Event, 10)
	for i := range events {
		events[i] = follow(fmt.Sprintf("f%d", i), fmt.Sprintf("U%d", i), "", t0)
	}
	rep, err := a.Sandbox(ctx, SandboxRun{Events: events})
	if !errors.Is(err, context.Canceled) || rep != nil {
		t.Fatalf("err = %v, report %v", err, rep)
	}
	// f0, f1, f2 appended (and their journey records); nothing after f2.
	before := appends
	if _, err := a.Sandbox(context.Background(), SandboxRun{Events: events[:3]}); err != nil {
		t.Fatal(err)
	}
	if appends-before != before {
		t.Fatalf("the cancelled run appended %d events, a run of f0–f2 appends %d", before, appends-before)
	}
}

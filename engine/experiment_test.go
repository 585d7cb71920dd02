package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/abtest"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// abDefs: a friend who follows enters "welcome", whose one step sends
// variant A or B of experiment "offer" at once; clicks of link "coupon"
// and conversions "purchase" within three days count.
func abDefs(holdout float64, plan *ExperimentPlan) Definitions {
	return Definitions{
		Schema: segment.SchemaConfig{Location: tokyo},
		Rules: []rules.Rule{{Name: "welcome", Trigger: rules.Trigger{Kind: rules.OnFollow},
			Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.StartScenario, Name: "welcome"}}}}},
		Scenarios: []scenario.Definition{{Name: "welcome", Steps: []scenario.Step{{
			Name: "offer", Timing: scenario.Timing{Kind: scenario.Immediately}, Experiment: "offer",
			Variants: []scenario.StepVariant{{Name: "A", Messages: []stepcast.Message{msg("10% off")}}, {Name: "B", Messages: []stepcast.Message{msg("a free gift")}}},
		}}}},
		Experiments: []Experiment{{
			Name: "offer", Variants: []abtest.Variant{{Name: "A", Weight: 1}, {Name: "B", Weight: 1}}, Holdout: holdout,
			Links: []string{"coupon"}, Conversions: []string{"purchase"}, Window: 72 * time.Hour,
			Analysis: abtest.Config{Metric: abtest.Clicks, MinRecipients: 50}, Plan: plan,
		}},
	}
}

func click(id, user, link string, at time.Time) stepcast.Event {
	return ev(id, user, stepcast.EventClick, link, "", at)
}

func purchase(id, user string, amount float64, at time.Time) stepcast.Event {
	e := ev(id, user, stepcast.EventConversion, "purchase", "", at)
	e.Amount = amount
	return e
}

// abSent returns the text and the experiment's variant of each push queued,
// by friend.
func abSent(t *testing.T, a *Account) map[stepcast.FriendID][]string {
	t.Helper()
	out := map[stepcast.FriendID][]string{}
	var after uint64
	for {
		rows, err := a.Deliveries(context.Background(), store.DeliveryFilter{After: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 0 {
			return out
		}
		for _, r := range rows {
			after = r.ID
			var d stepcast.Delivery
			if err := json.Unmarshal(r.Payload, &d); err != nil {
				t.Fatal(err)
			}
			var m struct{ Text string }
			json.Unmarshal(d.Messages[0], &m)
			out[r.Friends[0]] = append(out[r.Friends[0]], m.Text+"|"+d.Experiment+"|"+d.Variant)
		}
	}
}

func tallyOf(t *testing.T, r ExperimentReport, variant string) store.Tally {
	t.Helper()
	if variant == HoldoutVariant {
		return r.Holdout
	}
	for _, x := range r.Tallies {
		if x.Variant == variant {
			return x
		}
	}
	t.Fatalf("no tally of %s in %+v", variant, r.Tallies)
	return store.Tally{}
}

func mustExpReport(t *testing.T, a *Account, name string) ExperimentReport {
	t.Helper()
	r, err := a.Experiment(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Assignment follows the weights and the holdout on 10,000 friends, is
// what segments see, what each friend is sent and what the tallies count.
// The userIds are fixed, so the shares are too: the bounds (4 standard
// errors) are checked against one fixed outcome and cannot flake.
func TestExperimentAssignment(t *testing.T) {
	const n = 10_000
	clk := &clock{t: t0}
	defs := abDefs(0.1, nil)
	defs.Experiments[0].Variants[1].Weight = 3 // A 25%, B 75% of those in the test
	a := mustAccount(t, mustOpen(t, memstore.New(), clk), "assign", defs)
	events := make([]stepcast.Event, n)
	for i := range events {
		events[i] = follow(fmt.Sprintf("f%d", i), fmt.Sprintf("U%032x", i*7919), "", t0)
	}
	results, err := a.IngestBatch(context.Background(), events...)
	if err != nil {
		t.Fatal(err)
	}
	nA, nB, nH := mustCount(t, a, `variant("offer") == "A"`), mustCount(t, a, `variant("offer") == "B"`), mustCount(t, a, `variant("offer") == "holdout"`)
	if nA+nB+nH != n {
		t.Fatalf("assigned %d + %d + %d, want %d", nA, nB, nH, n)
	}
	within := func(what string, got uint64, total float64, p float64) {
		sd := math.Sqrt(total * p * (1 - p))
		if math.Abs(float64(got)-total*p) > 4*sd {
			t.Errorf("%s: %d of %.0f, want %.0f ± %.0f", what, got, total, total*p, 4*sd)
		}
	}
	within("holdout", nH, n, 0.1)
	within("A", nA, float64(nA+nB), 0.25)

	r := mustExpReport(t, a, "offer")
	if got := tallyOf(t, r, "A").Recipients; got != int64(nA) {
		t.Errorf("A recipients %d, want %d", got, nA)
	}
	if got := tallyOf(t, r, "B").Recipients; got != int64(nB) {
		t.Errorf("B recipients %d, want %d", got, nB)
	}
	if got := r.Holdout.Recipients; got != int64(nH) {
		t.Errorf("holdout %d, want %d", got, nH)
	}
	if !r.Started.Equal(t0) || r.Result == nil || r.Explanation == "" {
		t.Errorf("report: started %v, result %v, explanation %q", r.Started, r.Result, r.Explanation)
	}
	// A friend in the holdout is told why nothing was sent, and the
	// journey says so.
	held, err := a.Evaluate(`variant("offer") == "holdout"`)
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range results {
		if held.Contains(uint32(res.Friend)) {
			if !strings.Contains(strings.Join(res.Notes, "\n"), `experiment "offer": the friend is in the holdout`) {
				t.Errorf("friend %d in the holdout: notes %q", res.Friend, res.Notes)
			}
			h, err := a.History(context.Background(), res.Friend, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			if e := h[0].Event; e.Kind != stepcast.EventJourney || e.Value != string(NotSent) || e.Data["step"] != "offer" || e.Data["run"] != "1" {
				t.Errorf("friend %d in the holdout: last journey record %+v", res.Friend, e)
			}
			break
		}
	}
	// Each friend got their variant's message, in the experiment; the
	// holdout nothing.
	bits, err := a.Evaluate(`variant("offer") == "B"`)
	if err != nil {
		t.Fatal(err)
	}
	got := abSent(t, a)
	if len(got) != int(nA+nB) {
		t.Fatalf("%d friends sent, want %d", len(got), nA+nB)
	}
	for f, texts := range got {
		want := "10% off|offer|A"
		if bits.Contains(uint32(f)) {
			want = "a free gift|offer|B"
		}
		if len(texts) != 1 || texts[0] != want {
			t.Fatalf("friend %d sent %q, want %q", f, texts, want)
		}
	}
}

// Tallies grow with the event that counts, in its unit of work: a click of
// the experiment's link once a friend, within the window of the send; a
// conversion once, with its revenue; nothing for a friend not in it, a
// repeated or replayed event, another link, or a time outside the window.
func TestExperimentTallies(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		clk := &clock{t: t0}
		defs := abDefs(0, nil)
		a := mustAccount(t, mustOpen(t, open(t), clk), "tally", defs)
		users := []string{"Ua", "Ub", "Uc", "Ud", "Ue", "Uf"}
		for i, u := range users {
			mustIngest(t, a, follow(fmt.Sprintf("f%d", i), u, "", t0))
		}
		mustIngest(t, a, click("stranger-click", "Ustranger", "coupon", t0)) // never assigned
		variant := map[string]string{}
		for _, u := range users {
			f, err := a.FriendByUser(ctx, stepcast.UserID(u))
			if err != nil {
				t.Fatal(err)
			}
			variant[u] = f.Variants["offer"]
		}
		h := time.Hour
		clk.Set(t0.Add(80 * h)) // the events come in late, each dated when it happened
		mustIngest(t, a,
			click("c1", "Ua", "coupon", t0.Add(h)),
			click("c2", "Ua", "coupon", t0.Add(2*h)),          // a second click: counted once
			click("c3", "Ub", "other", t0.Add(h)),             // another link
			click("c4", "Uc", "coupon", t0.Add(80*h)),         // after the 72h window
			click("c5", "Ud", "coupon", t0.Add(-time.Minute)), // before the send
			purchase("p1", "Ua", 3000, t0.Add(5*h)),
			purchase("p2", "Ua", 5000, t0.Add(6*h)),  // a second conversion
			purchase("p3", "Ue", 1200, t0.Add(72*h)), // at the window's edge: counts
			purchase("p4", "Uf", 900, t0.Add(73*h)),  // beyond it
			click("c6", "Ue", "coupon", t0.Add(3*h)),
		)
		// A redelivered event is a duplicate: counted nothing again.
		if res := mustIngest(t, a, click("c6", "Ue", "coupon", t0.Add(3*h))); !res[0].Duplicate {
			t.Fatalf("redelivery: %+v", res[0])
		}
		want := map[string]store.Tally{}
		add := func(u string, d store.Tally) {
			w := want[variant[u]]
			w.Recipients += d.Recipients
			w.Clickers += d.Clickers
			w.Converters += d.Converters
			w.Revenue += d.Revenue
			want[variant[u]] = w
		}
		for _, u := range users {
			add(u, store.Tally{Recipients: 1})
		}
		add("Ua", store.Tally{Clickers: 1, Converters: 1, Revenue: 3000})
		add("Ue", store.Tally{Clickers: 1, Converters: 1, Revenue: 1200})
		r := mustExpReport(t, a, "offer")
		for _, v := range []string{"A", "B"} {
			got := tallyOf(t, r, v)
			w := want[v]
			if got.Recipients != w.Recipients || got.Clickers != w.Clickers || got.Converters != w.Converters || got.Revenue != w.Revenue {
				t.Errorf("%s: got %+v, want %+v", v, got, w)
			}
		}
		if n := mustCount(t, a, `variant("offer") == "A" or variant("offer") == "B"`); n != uint64(len(users)) {
			t.Errorf("%d friends in the experiment, want %d", n, len(users))
		}
	})
}

// The auto-winner plan end to end: half the friends are in the test, the
// rest get the control until the decision; after the wait B wins on
// clicks, and every friend who follows from then on is sent B, outside the
// test. Replaying the wake-up changes nothing.
func TestExperimentPlanWinner(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		clk := &clock{t: t0}
		plan := &ExperimentPlan{TestShare: 0.5, Wait: 24 * time.Hour, Deadline: 72 * time.Hour}
		a := mustAccount(t, mustOpen(t, open(t), clk), "plan", abDefs(0, plan))
		const n = 400
		var events []stepcast.Event
		for i := range n {
			events = append(events, follow(fmt.Sprintf("f%d", i), fmt.Sprintf("U%d", i), "", t0))
		}
		if _, err := a.IngestBatch(ctx, events...); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Tick(ctx); err != nil { // the plan starts: testing
			t.Fatal(err)
		}
		r := mustExpReport(t, a, "offer")
		if r.Plan.Phase != abtest.Testing || !r.Due.Equal(t0.Add(24*time.Hour)) {
			t.Fatalf("plan %+v due %v, want testing until %v", r.Plan, r.Due, t0.Add(24*time.Hour))
		}
		inTest := int(tallyOf(t, r, "A").Recipients + tallyOf(t, r, "B").Recipients)
		if inTest < n/2-60 || inTest > n/2+60 {
			t.Fatalf("%d friends in the test of %d", inTest, n)
		}
		// Outside the test: the control, recorded in no experiment.
		rest := 0
		for _, texts := range abSent(t, a) {
			if texts[0] == "10% off||" {
				rest++
			}
		}
		if rest != n-inTest {
			t.Fatalf("%d friends sent the control outside the test, want %d", rest, n-inTest)
		}
		// B's friends click far more.
		var clicks []stepcast.Event
		for i := range n {
			u := fmt.Sprintf("U%d", i)
			f, err := a.FriendByUser(ctx, stepcast.UserID(u))
			if err != nil {
				t.Fatal(err)
			}
			v := f.Variants["offer"]
			if (v == "B" && i%2 == 0) || (v == "A" && i%10 == 0) {
				clicks = append(clicks, click("c"+u, u, "coupon", t0.Add(time.Hour)))
			}
		}
		if _, err := a.IngestBatch(ctx, clicks...); err != nil {
			t.Fatal(err)
		}
		clk.Set(t0.Add(12 * time.Hour))
		if done, err := a.Tick(ctx); err != nil || done != 0 {
			t.Fatalf("tick before the wait: %d, %v", done, err)
		}
		clk.Set(t0.Add(24 * time.Hour))
		if _, err := a.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		r = mustExpReport(t, a, "offer")
		if r.Plan.Phase != abtest.Done || r.Plan.Winner != "B" || !r.Due.IsZero() {
			t.Fatalf("plan %+v due %v; %s", r.Plan, r.Due, r.Explanation)
		}
		if r.Result.Decision.Kind != abtest.Winner || !strings.Contains(r.Explanation, "B") {
			t.Errorf("decision %v: %s", r.Result.Decision, r.Explanation)
		}
		before := r.Tallies
		mustIngest(t, a, follow("late", "Ulate", "", clk.Now()))
		f, err := a.FriendByUser(ctx, "Ulate")
		if err != nil {
			t.Fatal(err)
		}
		if got := abSent(t, a)[f.ID]; len(got) != 1 || got[0] != "a free gift||" {
			t.Fatalf("a friend after the decision was sent %q, want B outside the test", got)
		}
		if _, in := f.Variants["offer"]; in {
			t.Errorf("a friend after the decision is recorded in the test: %v", f.Variants)
		}
		if after := mustExpReport(t, a, "offer").Tallies; fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("tallies moved after the decision: %v, then %v", before, after)
		}
	})
}

// A person's choice overrides the analysis at once; without a winner by the
// deadline the fallback applies: the control, or nothing.
func TestExperimentPlanOverrideAndFallback(t *testing.T) {
	ctx := context.Background()
	start := func(t *testing.T, plan *ExperimentPlan) (*Account, *clock) {
		clk := &clock{t: t0}
		a := mustAccount(t, mustOpen(t, memstore.New(), clk), "p", abDefs(0, plan))
		for i := range 20 {
			mustIngest(t, a, follow(fmt.Sprintf("f%d", i), fmt.Sprintf("U%d", i), "", t0))
		}
		if _, err := a.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		return a, clk
	}
	lateSent := func(t *testing.T, a *Account, clk *clock) []string {
		res := mustIngest(t, a, follow("late", "Ulate", "", clk.Now()))
		return abSent(t, a)[res[0].Friend]
	}
	t.Run("override", func(t *testing.T) {
		a, clk := start(t, &ExperimentPlan{TestShare: 1, Wait: 24 * time.Hour})
		if err := a.DecideExperiment(ctx, "offer", "C"); !errors.Is(err, stepcast.ErrInvalid) {
			t.Fatalf("override with no such variant: %v", err)
		}
		if err := a.DecideExperiment(ctx, "nope", "A"); !errors.Is(err, ErrNoExperiment) {
			t.Fatalf("override of no such experiment: %v", err)
		}
		clk.Set(t0.Add(time.Hour))
		if err := a.DecideExperiment(ctx, "offer", "B"); err != nil {
			t.Fatal(err)
		}
		if got := lateSent(t, a, clk); len(got) != 1 || got[0] != "a free gift||" {
			t.Fatalf("after the override: %q", got)
		}
		if _, err := a.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		r := mustExpReport(t, a, "offer")
		if r.Plan.Phase != abtest.Done || r.Plan.Winner != "B" || r.Plan.Reason != "chosen by a person" {
			t.Fatalf("plan %+v", r.Plan)
		}
		if err := a.DecideExperiment(ctx, "offer", "A"); !errors.Is(err, stepcast.ErrInvalid) {
			t.Fatalf("override of a done plan: %v", err)
		}
	})
	for _, fb := range []abtest.Fallback{abtest.SendControl, abtest.SendNothing} {
		t.Run(fmt.Sprintf("fallback %d", fb), func(t *testing.T) {
			a, clk := start(t, &ExperimentPlan{TestShare: 1, Wait: 24 * time.Hour, Deadline: 48 * time.Hour, Fallback: fb})
			clk.Set(t0.Add(24 * time.Hour))
			if _, err := a.Tick(ctx); err != nil {
				t.Fatal(err)
			}
			if r := mustExpReport(t, a, "offer"); r.Plan.Phase != abtest.Testing || !r.Due.Equal(t0.Add(48*time.Hour)) {
				t.Fatalf("before the deadline: %+v due %v", r.Plan, r.Due)
			}
			clk.Set(t0.Add(48 * time.Hour))
			if _, err := a.Tick(ctx); err != nil {
				t.Fatal(err)
			}
			r := mustExpReport(t, a, "offer")
			got := lateSent(t, a, clk)
			switch fb {
			case abtest.SendControl:
				if r.Plan.Winner != "A" || len(got) != 1 || got[0] != "10% off||" {
					t.Fatalf("control fallback: %+v, late friend sent %q", r.Plan, got)
				}
			case abtest.SendNothing:
				if r.Plan.Phase != abtest.Done || r.Plan.Winner != "" || len(got) != 0 {
					t.Fatalf("nothing fallback: %+v, late friend sent %q", r.Plan, got)
				}
			}
		})
	}
}

// Experiments are checked with the definitions, each problem named where
// it is.
func TestExperimentDefinitionErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(d *Definitions)
		want string
	}{
		{"unknown experiment", func(d *Definitions) { d.Scenarios[0].Steps[0].Experiment = "nope" }, "scenarios[0].steps[0].experiment: invalid definition: no experiment"},
		{"missing variant", func(d *Definitions) { d.Scenarios[0].Steps[0].Variants[1].Name = "C" }, "scenarios[0].steps[0].variants[1].name"},
		{"holdout name", func(d *Definitions) { d.Experiments[0].Variants[1].Name = "holdout" }, "experiments[0].variants[1].name"},
		{"one variant", func(d *Definitions) { d.Experiments[0].Variants = d.Experiments[0].Variants[:1] }, "needs at least two variants"},
		{"negative window", func(d *Definitions) { d.Experiments[0].Window = -time.Hour }, "experiments[0].window"},
		{"bad test share", func(d *Definitions) { d.Experiments[0].Plan = &ExperimentPlan{TestShare: 0} }, "experiments[0].plan"},
		{"bad link", func(d *Definitions) { d.Experiments[0].Links = []string{""} }, "experiments[0].links[0]"},
		{"twice", func(d *Definitions) { d.Experiments = append(d.Experiments, d.Experiments[0]) }, "experiments[1].name"},
		{"messages beside variants", func(d *Definitions) { d.Scenarios[0].Steps[0].Messages = []stepcast.Message{msg("x")} }, "steps[0].messages"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := abDefs(0, nil)
			tc.edit(&d)
			_, err := compile(d)
			if err == nil || !errors.Is(err, ErrDefinition) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := compile(abDefs(0.2, &ExperimentPlan{TestShare: 0.3, Wait: time.Hour})); err != nil {
		t.Fatal(err)
	}
}

// abYAML is abDefs(0.1, plan) as a definitions file.
const abYAML = `
schema: {time_zone: Asia/Tokyo}
rules:
  - name: welcome
    trigger: {kind: follow}
    steps:
      - {kind: start_scenario, name: welcome}
scenarios:
  - name: welcome
    steps:
      - name: offer
        immediately: true
        experiment: offer
        variants:
          - name: A
            messages: [{type: text, text: 10% off}]
          - name: B
            messages: [{type: text, text: a free gift}]
experiments:
  - name: offer
    variants: [{name: A}, {name: B, weight: 1.0}]
    holdout: 0.1
    links: [coupon]
    conversions: [purchase]
    window: 3d
    analysis: {metric: clicks, min_recipients: 50}
    plan: {test_share: 0.5, wait: 1d, deadline: 3d, fallback: nothing}
`

// Experiments and steps with variants read from a file as they are in Go,
// and a problem in one is reported at its line.
func TestExperimentFile(t *testing.T) {
	got, err := ParseDefinitions("ab.yaml", []byte(abYAML))
	if err != nil {
		t.Fatal(err)
	}
	want := abDefs(0.1, &ExperimentPlan{TestShare: 0.5, Wait: 24 * time.Hour, Deadline: 72 * time.Hour, Fallback: abtest.SendNothing})
	gx, wx := got.Experiments[0], want.Experiments[0]
	if gx.Plan == nil || *gx.Plan != *wx.Plan {
		t.Errorf("plan %+v, want %+v", gx.Plan, wx.Plan)
	}
	gx.Plan, wx.Plan = nil, nil
	if !reflect.DeepEqual(gx, wx) {
		t.Errorf("experiment:\n%+v\nwant\n%+v", gx, wx)
	}
	gs, ws := got.Scenarios[0].Steps[0], want.Scenarios[0].Steps[0]
	same := gs.Experiment == ws.Experiment && len(gs.Variants) == len(ws.Variants)
	for i := range gs.Variants {
		var g, w any
		json.Unmarshal(gs.Variants[i].Messages[0], &g)
		json.Unmarshal(ws.Variants[i].Messages[0], &w)
		same = same && gs.Variants[i].Name == ws.Variants[i].Name && reflect.DeepEqual(g, w)
	}
	if !same {
		t.Errorf("step:\n%+v\nwant\n%+v", gs, ws)
	}
	for _, tc := range []struct{ edit, with, want string }{
		{"metric: clicks", "metric: views", `ab.yaml:26: experiments[0].analysis.metric: invalid definition: unknown metric "views" (want conversions or clicks)`},
		{"holdout: 0.1", "holdout: lots", `ab.yaml:22: experiments[0].holdout: invalid definition: "lots" is not a number`},
		{"fallback: nothing", "fallback: B", `ab.yaml:27: experiments[0].plan.fallback: invalid definition: unknown fallback "B" (want control or nothing)`},
		{"experiment: offer\n", "experiment: offers\n", `ab.yaml:13: scenarios[0].steps[0].experiment: invalid definition: no experiment "offers" in the definitions`},
		{"test_share: 0.5", "test_share: 2", `ab.yaml:27: experiments[0].plan: invalid definition: test share 2 is outside (0, 1]`},
	} {
		src := strings.Replace(abYAML, tc.edit, tc.with, 1)
		_, err := ParseDefinitions("ab.yaml", []byte(src))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s → %s:\ngot  %v\nwant %s", tc.edit, tc.with, err, tc.want)
		}
	}
}

// abWorkload: users follow (some twice, after a block), click the coupon
// or another link, sometimes twice, and buy, over a few days.
func abWorkload(seed uint64, users, n int) []stepcast.Event {
	r := rand.New(rand.NewPCG(seed, 13))
	at := t0
	var out []stepcast.Event
	followed := map[string]bool{}
	for i := range n {
		at = at.Add(time.Duration(r.IntN(1200)) * time.Second)
		u := fmt.Sprintf("U%03d", r.IntN(users))
		id := fmt.Sprintf("ab%d-%d", seed, i)
		switch k := r.IntN(10); {
		case !followed[u] || k == 0:
			followed[u] = true
			out = append(out, follow(id, u, "", at))
		case k == 1:
			out = append(out, ev(id, u, stepcast.EventUnfollow, "", "", at))
		case k < 6:
			out = append(out, click(id, u, []string{"coupon", "coupon", "other"}[r.IntN(3)], at))
		default:
			out = append(out, purchase(id, u, float64(100*(1+r.IntN(50))), at))
		}
		if r.IntN(20) == 0 {
			out = append(out, out[len(out)-1]) // sent twice
		}
	}
	return out
}

// abState is what an experiment left: each friend's variant and exposure,
// and the tallies.
func abState(t *testing.T, a *Account) (map[stepcast.UserID]string, []store.Tally, store.Tally) {
	t.Helper()
	ctx := context.Background()
	variants := map[stepcast.UserID]string{}
	for id := stepcast.FriendID(1); ; id++ {
		f, err := a.Friend(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		exp := ""
		for _, tm := range f.Timers {
			if strings.HasPrefix(tm.Key, "variant/") {
				exp = string(tm.State)
			}
		}
		variants[f.User] = f.Variants["offer"] + " " + exp
	}
	r := mustExpReport(t, a, "offer")
	return variants, r.Tallies, r.Holdout
}

// Assignments and tallies depend on the events alone: a fresh engine fed
// the same events in batches, or an index rebuilt from the store, agrees,
// and the events again are duplicates that count nothing.
func TestExperimentReplay(t *testing.T) {
	events := abWorkload(1, 60, 800)
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		clk := &clock{t: events[len(events)-1].At}
		st := open(t)
		a := mustAccount(t, mustOpen(t, st, clk), "ab", abDefs(0.1, nil))
		if _, err := a.Ingest(ctx, events...); err != nil {
			t.Fatal(err)
		}
		v1, t1, h1 := abState(t, a)
		if t1[0].Clickers == 0 || t1[1].Converters == 0 || h1.Recipients == 0 {
			t.Fatalf("the workload exercises too little: %+v %+v", t1, h1)
		}
		b := mustAccount(t, mustOpen(t, memstore.New(), clk), "ab", abDefs(0.1, nil))
		for i := 0; i < len(events); i += 50 {
			if _, err := b.IngestBatch(ctx, events[i:min(i+50, len(events))]...); err != nil {
				t.Fatal(err)
			}
		}
		v2, t2, h2 := abState(t, b)
		if !reflect.DeepEqual(v1, v2) || !reflect.DeepEqual(t1, t2) || h1 != h2 {
			t.Fatalf("replay differs:\n%v %v %v\n%v %v %v", t1, h1, v1, t2, h2, v2)
		}
		if _, err := a.Ingest(ctx, events...); err != nil {
			t.Fatal(err)
		}
		if v3, t3, h3 := abState(t, a); !reflect.DeepEqual(v1, v3) || !reflect.DeepEqual(t1, t3) || h1 != h3 {
			t.Fatalf("duplicates changed the experiment:\n%v %v\n%v %v", t1, h1, t3, h3)
		}
		// An index rebuilt from the store counts the same variants.
		c := mustAccount(t, mustOpen(t, st, clk), "ab", abDefs(0.1, nil))
		for _, src := range []string{`variant("offer") == "A"`, `variant("offer") == "B"`, `variant("offer") == "holdout"`} {
			if x, y := mustCount(t, a, src), mustCount(t, c, src); x != y || x == 0 {
				t.Errorf("%s: live %d, rebuilt %d", src, x, y)
			}
		}
	})
}

// Two engine instances on one PostgreSQL database run one experiment at
// once — each creating its start, adding to the same tallies —, and end
// where one engine alone does.
func TestExperimentTwoEngines(t *testing.T) {
	ctx := context.Background()
	s1 := openPG(t, "")
	s2 := openPG(t, s1.Schema())
	events := abWorkload(2, 40, 500)
	clk := &clock{t: events[len(events)-1].At}
	a := mustAccount(t, mustOpen(t, s1, clk), "ab", abDefs(0.1, nil))
	b := mustAccount(t, mustOpen(t, s2, clk), "ab", abDefs(0.1, nil))
	var wg sync.WaitGroup
	for i, acc := range []*Account{a, b} {
		wg.Go(func() {
			for _, e := range events {
				if int(e.User[len(e.User)-1]-'0')%2 == i {
					if _, err := acc.Ingest(ctx, e); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	one := mustAccount(t, mustOpen(t, memstore.New(), clk), "ab", abDefs(0.1, nil))
	if _, err := one.Ingest(ctx, events...); err != nil {
		t.Fatal(err)
	}
	v1, t1, h1 := abState(t, a)
	v2, t2, h2 := abState(t, one)
	if !reflect.DeepEqual(t1, t2) || h1 != h2 || len(v1) != len(v2) {
		t.Fatalf("two engines %v %v, one %v %v", t1, h1, t2, h2)
	}
	for u, v := range v2 {
		if v1[u] != v {
			t.Errorf("%s: two engines %q, one %q", u, v1[u], v)
		}
	}
}

// A broken split (the weights edited during the test: the friends
// assigned before keep their variant) blocks the decision: the plan asks
// for a review, looks again later, and a person's choice ends it.
func TestExperimentPlanReview(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	defs := abDefs(0, &ExperimentPlan{TestShare: 1, Wait: 24 * time.Hour, Deadline: 72 * time.Hour})
	a := mustAccount(t, mustOpen(t, memstore.New(), clk), "review", defs)
	var events []stepcast.Event
	for i := range 300 {
		events = append(events, follow(fmt.Sprintf("f%d", i), fmt.Sprintf("U%d", i), "", t0))
	}
	if _, err := a.IngestBatch(ctx, events...); err != nil {
		t.Fatal(err)
	}
	defs.Experiments[0].Variants[1].Weight = 9
	if err := a.SetDefinitions(ctx, defs); err != nil {
		t.Fatal(err)
	}
	events = events[:0]
	for i := 300; i < 600; i++ {
		events = append(events, follow(fmt.Sprintf("f%d", i), fmt.Sprintf("U%d", i), "", t0))
	}
	if _, err := a.IngestBatch(ctx, events...); err != nil {
		t.Fatal(err)
	}
	clk.Set(t0.Add(24 * time.Hour))
	if _, err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	r := mustExpReport(t, a, "offer")
	if r.Plan.Phase != abtest.Testing || !strings.Contains(r.Review, "not split as the weights say") || !r.Due.Equal(clk.Now().Add(24*time.Hour)) {
		t.Fatalf("plan %+v, review %q, due %v", r.Plan, r.Review, r.Due)
	}
	if err := a.DecideExperiment(ctx, "offer", "A"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if r := mustExpReport(t, a, "offer"); r.Plan.Phase != abtest.Done || r.Plan.Winner != "A" || r.Review != "" {
		t.Fatalf("after the choice: %+v, review %q", r.Plan, r.Review)
	}
}

// audienceVariant, for a planner of an audience in the account's unit of
// work (a broadcast's chunk): friends are assigned as in a scenario step,
// recorded for segments, counted once however often they are planned, and
// the recipients reach the tallies once a chunk.
func TestExperimentAudience(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		clk := &clock{t: t0}
		defs := abDefs(0.2, nil)
		defs.Rules = nil // friends follow and are in no scenario
		a := mustAccount(t, mustOpen(t, open(t), clk), "aud", defs)
		var events []stepcast.Event
		for i := range 200 {
			events = append(events, follow(fmt.Sprintf("f%d", i), fmt.Sprintf("U%d", i), "", t0))
		}
		if _, err := a.IngestBatch(ctx, events...); err != nil {
			t.Fatal(err)
		}
		plan := func() map[string]int {
			got := map[string]int{}
			var changes []store.Change
			err := a.e.st.Update(ctx, a.id, func(tx store.Tx) error {
				u := &unit{a: a, def: a.def.Load(), ix: a.index(), tx: tx, at: clk.Now(), id: "chunk"}
				x := u.def.experiments["offer"]
				tally := audienceTally{}
				for id := stepcast.FriendID(1); id <= 200; id++ {
					f, err := tx.Friend(id)
					if err != nil {
						return err
					}
					v, in, err := u.audienceVariant(x, &f, tally)
					if err != nil {
						return err
					}
					if in != (v != HoldoutVariant) || f.Variants["offer"] != v {
						return fmt.Errorf("friend %d: %q %v, recorded %q", id, v, in, f.Variants["offer"])
					}
					got[v]++
				}
				if err := u.flushRecipients(x, tally); err != nil {
					return err
				}
				if _, err := tx.Apply(u.res.Changes...); err != nil {
					return err
				}
				changes = u.res.Changes
				return u.saveExperiments()
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := a.afterCommit(ctx, changes, nil); err != nil {
				t.Fatal(err)
			}
			return got
		}
		first := plan()
		clk.Set(t0.Add(time.Hour))
		if again := plan(); !reflect.DeepEqual(first, again) {
			t.Fatalf("planned again: %v, then %v", first, again)
		}
		r := mustExpReport(t, a, "offer")
		for _, v := range []string{"A", "B", HoldoutVariant} {
			if got := tallyOf(t, r, v).Recipients; got != int64(first[v]) || got == 0 {
				t.Errorf("%s: %d recipients, assigned %d", v, got, first[v])
			}
			if n := mustCount(t, a, fmt.Sprintf(`variant("offer") == %q`, v)); n != uint64(first[v]) {
				t.Errorf("%s: segment counts %d, assigned %d", v, n, first[v])
			}
		}
		if !r.Started.Equal(t0) {
			t.Errorf("started %v, want %v", r.Started, t0)
		}
		// A friend assigned in a chunk is the same friend a step sends to:
		// their click counts.
		mustIngest(t, a, click("c1", "U7", "coupon", clk.Now()))
		f, _ := a.FriendByUser(ctx, "U7")
		if v := f.Variants["offer"]; v != HoldoutVariant && tallyOf(t, mustExpReport(t, a, "offer"), v).Clickers != 1 {
			t.Errorf("the click of a friend of the audience did not count")
		}
	})
}

// A plan given to an experiment under way starts with its next send, and
// the test counts from the experiment's first.
func TestExperimentPlanAdded(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	a := mustAccount(t, mustOpen(t, memstore.New(), clk), "added", abDefs(0, nil))
	mustIngest(t, a, follow("f1", "U1", "", t0))
	clk.Set(t0.Add(time.Hour))
	if done, err := a.Tick(ctx); err != nil || done != 0 {
		t.Fatalf("tick without a plan: %d, %v", done, err)
	}
	if err := a.SetDefinitions(ctx, abDefs(0, &ExperimentPlan{TestShare: 1, Wait: 24 * time.Hour})); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, a, follow("f2", "U2", "", clk.Now()))
	if _, err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	r := mustExpReport(t, a, "offer")
	if r.Plan.Phase != abtest.Testing || !r.Plan.TestSentAt.Equal(t0) || !r.Due.Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("plan %+v due %v", r.Plan, r.Due)
	}
}

// Concurrent units of one account share the experiment's decoded state:
// every friend is counted once, whatever the interleaving (run with -race).
func TestExperimentConcurrentIngest(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	a := mustAccount(t, mustOpen(t, memstore.New(), clk), "conc", abDefs(0.1, &ExperimentPlan{TestShare: 0.5, Wait: time.Hour}))
	const workers, each = 4, 100
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				u := fmt.Sprintf("U%d-%d", w, i)
				if _, err := a.Ingest(ctx, follow("f"+u, u, "", t0), click("c"+u, u, "coupon", t0)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	r := mustExpReport(t, a, "offer")
	var recipients, clickers int64
	for _, x := range append(r.Tallies, r.Holdout) {
		recipients += x.Recipients
		clickers += x.Clickers
	}
	inTest := mustCount(t, a, `variant("offer") == "A" or variant("offer") == "B" or variant("offer") == "holdout"`)
	if recipients != int64(inTest) || clickers != int64(inTest) || inTest == 0 || inTest == workers*each {
		t.Fatalf("%d recipients, %d clickers, %d friends in the test of %d", recipients, clickers, inTest, workers*each)
	}
}

package lineadapter

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stepcast/stepcast"
)

func TestGroupPushes(t *testing.T) {
	hi, bye := text("hi"), text("bye")
	cause := stepcast.Cause{Kind: stepcast.CauseBroadcast, Name: "spring", Step: 0, Unit: "b1"}
	p := func(i int, m stepcast.Message) stepcast.Delivery {
		d := push(userID(i), m)
		d.To[0].Friend = stepcast.FriendID(i + 1)
		d.Cause = cause
		return d
	}
	kinds := func(gs []Grouped) string {
		var s []string
		for _, g := range gs {
			s = append(s, fmt.Sprintf("%s%d%v", g.Delivery.Kind, len(g.Delivery.To), g.From))
		}
		return strings.Join(s, " ")
	}
	tests := []struct {
		name string
		ds   []stepcast.Delivery
		opt  GroupOptions
		want string
	}{
		{"Empty", nil, GroupOptions{}, ""},
		{"OnePushStays", []stepcast.Delivery{p(0, hi)}, GroupOptions{}, "push1[0]"},
		{"SameMessagesMulticast", []stepcast.Delivery{p(0, hi), p(1, bye), p(2, hi)}, GroupOptions{}, "multicast2[0 2] push1[1]"},
		{"Personalized", []stepcast.Delivery{p(0, text("hi A")), p(1, text("hi B"))}, GroupOptions{}, "push1[0] push1[1]"},
		{"OptionsSplit", []stepcast.Delivery{p(0, hi), func() stepcast.Delivery { d := p(1, hi); d.NotificationDisabled = true; return d }()},
			GroupOptions{}, "push1[0] push1[1]"},
		{"StepSplits", []stepcast.Delivery{p(0, hi), func() stepcast.Delivery { d := p(1, hi); d.Cause.Step = 2; return d }()},
			GroupOptions{}, "push1[0] push1[1]"},
		{"VariantSplits", []stepcast.Delivery{func() stepcast.Delivery { d := p(0, hi); d.Experiment, d.Variant = "w", "A"; return d }(),
			func() stepcast.Delivery { d := p(1, hi); d.Experiment, d.Variant = "w", "B"; return d }()}, GroupOptions{}, "push1[0] push1[1]"},
		{"NoteSplits", []stepcast.Delivery{p(0, hi), func() stepcast.Delivery { d := p(1, hi); d.Note = "stands in for a reply"; return d }()},
			GroupOptions{}, "push1[0] push1[1]"},
		{"DuplicateRecipient", []stepcast.Delivery{p(0, hi), p(1, hi), p(0, hi)}, GroupOptions{}, "multicast2[0 1] push1[2]"},
		{"OtherKindsPass", []stepcast.Delivery{p(0, hi), {Kind: stepcast.DeliveryBroadcast, Messages: []stepcast.Message{hi}}, p(1, hi)},
			GroupOptions{}, "multicast2[0 2] broadcast0[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gs, err := GroupPushes(tt.ds, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if got := kinds(gs); got != tt.want {
				t.Errorf("GroupPushes = %s, want %s", got, tt.want)
			}
			for _, g := range gs {
				if err := g.Delivery.Validate(); err != nil {
					t.Errorf("planned request invalid: %v", err)
				}
			}
		})
	}
}

func TestGroupPushesChunks(t *testing.T) {
	ds := make([]stepcast.Delivery, 1001)
	for i := range ds {
		ds[i] = push(userID(i), text("same"))
		ds[i].Priority = i % 3
		ds[i].Cause = stepcast.Cause{Kind: stepcast.CauseScenario, Name: "trial", Step: 1, Unit: fmt.Sprint("wake/", i)}
	}
	gs, err := GroupPushes(ds, GroupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for _, g := range gs {
		sizes = append(sizes, len(g.Delivery.To))
	}
	if !slices.Equal(sizes, []int{500, 500, 1}) {
		t.Fatalf("sizes %v, want [500 500 1]", sizes)
	}
	m := gs[0].Delivery
	if m.Kind != stepcast.DeliveryMulticast || m.Priority != 2 || m.Cause.Unit != "" || m.Cause.Name != "trial" || m.Cause.Step != 1 {
		t.Errorf("multicast %+v: want priority 2, the cause without a unit", m)
	}
	if last := gs[2].Delivery; last.Kind != stepcast.DeliveryPush || last.Cause.Unit != "wake/1000" {
		t.Errorf("last request %+v: want the push itself", last)
	}
}

func TestGroupPushesVariantUnits(t *testing.T) {
	var ds []stepcast.Delivery
	for i, v := range []string{"A", "B", "A", "B", "A"} {
		d := push(userID(i), text("same"))
		d.Experiment, d.Variant = "welcome", v
		ds = append(ds, d)
	}
	ds[4].AggregationUnit = "mine" // its own unit wins
	gs, err := GroupPushes(ds, GroupOptions{VariantUnits: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range gs {
		got = append(got, fmt.Sprint(g.Delivery.AggregationUnit, g.From))
	}
	if want := []string{"welcome_A[0 2]", "welcome_B[1 3]", "mine[4]"}; !slices.Equal(got, want) {
		t.Errorf("units %v, want %v", got, want)
	}
}

func TestGroupPushesRefusesInvalid(t *testing.T) {
	_, err := GroupPushes([]stepcast.Delivery{push("U1", text("a")), push("U2")}, GroupOptions{})
	if !errors.Is(err, stepcast.ErrInvalid) || !strings.Contains(err.Error(), "delivery 1") {
		t.Fatalf("GroupPushes = %v, want ErrInvalid naming delivery 1", err)
	}
}

// TestGroupPushesProperty compares GroupPushes with a naive grouping on
// random plans: every planned delivery is carried once, by a request that
// sends it the same messages with the same options to the same friend;
// requests hold at most 500 distinct recipients; the number of requests
// is the fewest the grouping allows; and the output does not depend on
// anything but the input.
func TestGroupPushesProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rounds := 60
	if testing.Short() {
		rounds = 15
	}
	for round := range rounds {
		n := rng.IntN(1500)
		users := 1 + rng.IntN(2000)
		ds := make([]stepcast.Delivery, n)
		for i := range ds {
			d := push(userID(rng.IntN(users)), text(fmt.Sprint("m", rng.IntN(4))))
			if rng.IntN(2) == 0 {
				d.Messages = append(d.Messages, text("p.s."))
			}
			d.NotificationDisabled = rng.IntN(5) == 0
			d.Cause = stepcast.Cause{Kind: stepcast.CauseScenario, Name: "s", Step: rng.IntN(2)}
			if rng.IntN(3) == 0 {
				d.Experiment, d.Variant = "e", []string{"A", "B"}[rng.IntN(2)]
			}
			if rng.IntN(50) == 0 {
				d = stepcast.Delivery{Kind: stepcast.DeliveryBroadcast, Messages: d.Messages}
			}
			ds[i] = d
		}
		opt := GroupOptions{VariantUnits: round%2 == 0}
		gs, err := GroupPushes(ds, opt)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := GroupPushes(slices.Clone(ds), opt)
		if !reflect.DeepEqual(gs, again) {
			t.Fatalf("round %d: not deterministic", round)
		}
		// Naive: what each planned delivery must receive, and how many
		// requests each group needs (its most repeated recipient, or its
		// size over 500, whichever is more).
		naiveKey := func(d stepcast.Delivery) string {
			return fmt.Sprintf("%s|%q|%v|%s|%v|%s|%s", d.Kind, d.Messages, d.NotificationDisabled, unitOf(d, opt), d.Cause.Step, d.Experiment, d.Variant)
		}
		type bucket struct {
			n     int
			count map[stepcast.UserID]int
		}
		buckets := map[string]*bucket{}
		for _, d := range ds {
			if d.Kind != stepcast.DeliveryPush {
				continue
			}
			b := buckets[naiveKey(d)]
			if b == nil {
				b = &bucket{count: map[stepcast.UserID]int{}}
				buckets[naiveKey(d)] = b
			}
			b.n++
			b.count[d.To[0].User]++
		}
		minRequests := 0
		for _, b := range buckets {
			most := 0
			for _, c := range b.count {
				most = max(most, c)
			}
			// Each round r holds the users seen more than r times.
			for r := range most {
				inRound := 0
				for _, c := range b.count {
					if c > r {
						inRound++
					}
				}
				minRequests += (inRound + 499) / 500
			}
		}
		seen := make([]int, n)
		pushes := 0
		for _, g := range gs {
			d := g.Delivery
			if d.Kind == stepcast.DeliveryBroadcast {
				continue
			}
			pushes++
			if len(d.To) != len(g.From) || len(d.To) > stepcast.MaxMulticastTargets {
				t.Fatalf("round %d: a request of %d recipients carries %d deliveries", round, len(d.To), len(g.From))
			}
			users := map[stepcast.UserID]bool{}
			for j, i := range g.From {
				seen[i]++
				src := ds[i]
				want := src
				want.AggregationUnit = unitOf(src, opt)
				got := d
				got.Kind, got.To = stepcast.DeliveryPush, []stepcast.Recipient{d.To[j]}
				if naiveKey(got) != naiveKey(want) || d.To[j] != src.To[0] {
					t.Fatalf("round %d: delivery %d sent as %s to %v, want %s to %v", round, i, naiveKey(got), d.To[j], naiveKey(want), src.To[0])
				}
				if users[d.To[j].User] {
					t.Fatalf("round %d: %s twice in one request", round, d.To[j].User)
				}
				users[d.To[j].User] = true
			}
			if (len(d.To) == 1) != (d.Kind == stepcast.DeliveryPush) {
				t.Fatalf("round %d: a %s of %d recipients", round, d.Kind, len(d.To))
			}
		}
		for i, c := range seen {
			if c != 1 && ds[i].Kind == stepcast.DeliveryPush {
				t.Fatalf("round %d: delivery %d carried %d times", round, i, c)
			}
		}
		if pushes != minRequests {
			t.Fatalf("round %d: %d requests, the naive grouping needs %d", round, pushes, minRequests)
		}
	}
}

func TestVariantUnit(t *testing.T) {
	tests := []struct{ experiment, variant, want string }{
		{"welcome", "B", "welcome_B"},
		{"spring_2026", "control", "spring_2026_control"},
		{"a", "b", "a_b"},
	}
	for _, tt := range tests {
		if got := VariantUnit(tt.experiment, tt.variant); got != tt.want {
			t.Errorf("VariantUnit(%q, %q) = %q, want %q", tt.experiment, tt.variant, got, tt.want)
		}
	}
	// Names LINE would refuse are made valid and stay distinct.
	seen := map[string]string{}
	for _, pair := range [][2]string{{"春のキャンペーン", "A"}, {"春のキャンペーン", "B"}, {"a-b", "c"}, {"a_b", "c"}, {"a", "b_c"},
		{strings.Repeat("x", 40), "A"}, {strings.Repeat("x", 40), "B"}, {"", ""}, {"", "x"}, {"x", ""}} {
		u := VariantUnit(pair[0], pair[1])
		d := push("U1", text("x"))
		d.AggregationUnit = u
		if err := d.Validate(); err != nil {
			t.Errorf("VariantUnit(%q, %q) = %q: %v", pair[0], pair[1], u, err)
		}
		if prev, ok := seen[u]; ok {
			t.Errorf("VariantUnit(%q, %q) = %q, as for %s", pair[0], pair[1], u, prev)
		}
		seen[u] = fmt.Sprint(pair)
	}
}

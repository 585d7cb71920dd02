package engine

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// routeDefs: a default friend-add scenario, an ad's route with a scenario
// of its own (first follows only), and a poster's route that only tags.
const routeDefs = `
schema:
  events: [click, route]
rules:
  - name: default-welcome
    trigger: {kind: follow}
    steps:
      - {kind: add_tag, name: followed}
      - {kind: start_scenario, name: welcome}
  - name: ad
    trigger: {kind: follow, route: ad, first_only: true}
    steps:
      - {kind: start_scenario, name: ad-course}
  - name: poster
    trigger: {kind: follow, route: poster}
    steps:
      - {kind: add_tag, name: route/poster}
scenarios:
  - name: welcome
    steps:
      - {name: hello, delay: {min: 24h, max: 24h}, messages: [{type: text, text: "ようこそ"}]}
  - name: ad-course
    steps:
      - {name: hello, delay: {min: 24h, max: 24h}, messages: [{type: text, text: "広告からようこそ"}]}
`

func routeVisit(id, user, route, value string, at time.Time) stepcast.Event {
	return ev(id, user, stepcast.EventRoute, route, value, at)
}

func routeAccount(t *testing.T, wait time.Duration) (*Account, *clock) {
	t.Helper()
	return routeAccountOn(t, memstore.New(), wait)
}

func routeAccountOn(t *testing.T, st store.Store, wait time.Duration) (*Account, *clock) {
	t.Helper()
	defs, err := ParseDefinitions("routes.yaml", []byte(routeDefs))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: t0.Add(24 * time.Hour)}
	e, err := Open(Config{Store: st, Now: c.Now, Holder: "test", RouteWait: wait})
	if err != nil {
		t.Fatal(err)
	}
	return mustAccount(t, e, "shop", defs), c
}

func TestRoutes(t *testing.T) {
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	unfollow := func(id string, m int) stepcast.Event { return ev(id, "U1", stepcast.EventUnfollow, "", "", at(m)) }
	for _, tc := range []struct {
		name   string
		wait   time.Duration
		events []stepcast.Event
		tick   time.Duration // after the events, Tick at t0+tick (0: no tick)
		want   map[string]uint64
		counts RouteCounts
	}{
		{
			name:   "VisitThenFollow",
			events: []stepcast.Event{routeVisit("v1", "U1", "ad", stepcast.RouteVisitor, at(0)), follow("f1", "U1", "", at(1))},
			want:   map[string]uint64{`in_scenario("ad-course")`: 1, `in_scenario("welcome")`: 0, `tag("followed")`: 1, `did("route", "ad")`: 1},
			counts: RouteCounts{Route: "ad", Visitors: 1, NewFriends: 1},
		},
		{
			name:   "FollowThenVisitWaiting",
			wait:   time.Minute,
			events: []stepcast.Event{follow("f1", "U1", "", at(0)), routeVisit("v1", "U1", "ad", stepcast.RouteAdded, at(0))},
			tick:   time.Hour,
			want:   map[string]uint64{`in_scenario("ad-course")`: 1, `in_scenario("welcome")`: 0, `tag("followed")`: 1},
			counts: RouteCounts{Route: "ad", Visitors: 1, NewFriends: 1},
		},
		{
			name:   "FollowWithoutVisitWaitsThenRuns",
			wait:   time.Minute,
			events: []stepcast.Event{follow("f1", "U1", "", at(0))},
			tick:   2 * time.Minute,
			want:   map[string]uint64{`in_scenario("ad-course")`: 0, `in_scenario("welcome")`: 1, `tag("followed")`: 1},
			counts: RouteCounts{Route: "ad"},
		},
		{
			name:   "FollowWaitingNotYetOver",
			wait:   time.Minute,
			events: []stepcast.Event{follow("f1", "U1", "", at(0))},
			want:   map[string]uint64{`following`: 1, `in_scenario("welcome")`: 0, `tag("followed")`: 0},
			counts: RouteCounts{Route: "ad"},
		},
		{
			name:   "FollowThenVisitNoWait",
			events: []stepcast.Event{follow("f1", "U1", "", at(0)), routeVisit("v1", "U1", "ad", stepcast.RouteAdded, at(0))},
			// Too late for precedence: the default scenario started at
			// the follow; the route's rule runs when its visit comes,
			// without its start — one friend-add scenario.
			want:   map[string]uint64{`in_scenario("ad-course")`: 0, `in_scenario("welcome")`: 1, `tag("followed")`: 1},
			counts: RouteCounts{Route: "ad", Visitors: 1, NewFriends: 1},
		},
		{
			name:   "LateVisitTooLate",
			events: []stepcast.Event{follow("f1", "U1", "", at(0)), routeVisit("v1", "U1", "ad", stepcast.RouteAdded, at(11))},
			want:   map[string]uint64{`in_scenario("ad-course")`: 0, `in_scenario("welcome")`: 1},
			counts: RouteCounts{Route: "ad", Visitors: 1},
		},
		{
			name: "LateVisitsAttributedOnce",
			events: []stepcast.Event{follow("f1", "U1", "", at(0)), routeVisit("v1", "U1", "poster", stepcast.RouteAdded, at(1)),
				routeVisit("v2", "U1", "ad", stepcast.RouteAdded, at(2))},
			want:   map[string]uint64{`in_scenario("ad-course")`: 0, `tag("route/poster")`: 1},
			counts: RouteCounts{Route: "ad", Visitors: 1},
		},
		{
			name: "HeldRouteNotAttributedAgain",
			events: []stepcast.Event{routeVisit("v1", "U1", "poster", stepcast.RouteVisitor, at(0)), follow("f1", "U1", "", at(1)),
				routeVisit("v2", "U1", "ad", stepcast.RouteAdded, at(2))},
			want:   map[string]uint64{`in_scenario("ad-course")`: 0, `tag("route/poster")`: 1},
			counts: RouteCounts{Route: "poster", Visitors: 1, NewFriends: 1},
		},
		{
			name:   "AlreadyAFriend",
			wait:   time.Minute,
			events: []stepcast.Event{follow("f1", "U1", "", at(0)), routeVisit("v1", "U1", "ad", stepcast.RouteFriend, at(60))},
			tick:   2 * time.Hour,
			want:   map[string]uint64{`in_scenario("ad-course")`: 0, `in_scenario("welcome")`: 1},
			counts: RouteCounts{Route: "ad", Visitors: 1, AlreadyFriends: 1},
		},
		{
			name:   "OrganicFollowThenFriendVisitWithinWait",
			wait:   time.Minute,
			events: []stepcast.Event{follow("f1", "U1", "", at(0)), routeVisit("v1", "U1", "ad", stepcast.RouteFriend, at(0))},
			tick:   time.Hour,
			want:   map[string]uint64{`in_scenario("ad-course")`: 0, `in_scenario("welcome")`: 1},
			counts: RouteCounts{Route: "ad", Visitors: 1, AlreadyFriends: 1},
		},
		{
			name:   "RouteWithoutScenarioKeepsDefault",
			events: []stepcast.Event{routeVisit("v1", "U1", "poster", stepcast.RouteVisitor, at(0)), follow("f1", "U1", "", at(1))},
			want:   map[string]uint64{`tag("route/poster")`: 1, `in_scenario("welcome")`: 1},
			counts: RouteCounts{Route: "poster", Visitors: 1, NewFriends: 1},
		},
		{
			name:   "HeldRouteExpired",
			events: []stepcast.Event{routeVisit("v1", "U1", "ad", stepcast.RouteVisitor, at(0)), follow("f1", "U1", "", at(25*60))},
			want:   map[string]uint64{`in_scenario("ad-course")`: 0, `in_scenario("welcome")`: 1},
			counts: RouteCounts{Route: "ad", Visitors: 1},
		},
		{
			name: "LatestVisitWins",
			events: []stepcast.Event{routeVisit("v1", "U1", "poster", stepcast.RouteVisitor, at(0)),
				routeVisit("v2", "U1", "ad", stepcast.RouteVisitor, at(5)), follow("f1", "U1", "", at(6))},
			want:   map[string]uint64{`in_scenario("ad-course")`: 1, `tag("route/poster")`: 0},
			counts: RouteCounts{Route: "ad", Visitors: 1, NewFriends: 1},
		},
		{
			name: "ReturningIsNotFirst",
			events: []stepcast.Event{follow("f0", "U1", "", at(0)), unfollow("u0", 1),
				routeVisit("v1", "U1", "ad", stepcast.RouteVisitor, at(2)), follow("f1", "U1", "", at(3))},
			// FirstOnly keeps the ad's scenario from a returning friend;
			// the default rule runs as for any return.
			want:   map[string]uint64{`in_scenario("ad-course")`: 0, `in_scenario("welcome")`: 1},
			counts: RouteCounts{Route: "ad", Visitors: 1, Returning: 1},
		},
		{
			name:   "RedeliveredFollowCountsOnce",
			events: []stepcast.Event{routeVisit("v1", "U1", "ad", stepcast.RouteVisitor, at(0)), follow("f1", "U1", "", at(1)), follow("f1", "U1", "", at(1))},
			want:   map[string]uint64{`in_scenario("ad-course")`: 1, `in_scenario("welcome")`: 0},
			counts: RouteCounts{Route: "ad", Visitors: 1, NewFriends: 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
				ctx := context.Background()
				a, c := routeAccountOn(t, open(t), tc.wait)
				c.Set(at(0).Add(-time.Minute))
				for _, e := range tc.events {
					if e.At.After(c.Now()) {
						c.Set(e.At)
					}
					if _, err := a.Ingest(ctx, e); err != nil {
						t.Fatalf("ingest %s: %v", e.ID, err)
					}
				}
				if tc.tick > 0 {
					c.Set(at(0).Add(tc.tick))
					if _, err := a.Tick(ctx); err != nil {
						t.Fatal(err)
					}
				}
				for src, want := range tc.want {
					if got := mustCount(t, a, src); got != want {
						t.Errorf("%s = %d, want %d", src, got, want)
					}
				}
				got, err := a.RouteCounts(tc.counts.Route)
				if err != nil {
					t.Fatal(err)
				}
				if got != tc.counts {
					t.Errorf("RouteCounts = %+v, want %+v", got, tc.counts)
				}
			})
		})
	}
}

// TestRouteSkipNote: the default rule's start is reported skipped, and
// why; its other steps ran.
func TestRouteSkipNote(t *testing.T) {
	ctx := context.Background()
	a, c := routeAccount(t, 0)
	c.Set(t0.Add(time.Minute))
	if _, err := a.Ingest(ctx, routeVisit("v1", "U1", "ad", stepcast.RouteVisitor, t0)); err != nil {
		t.Fatal(err)
	}
	res, err := a.Ingest(ctx, follow("f1", "U1", "", t0.Add(time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	var skipped, tagged bool
	for _, st := range res[0].Steps {
		if st.Rule == "default-welcome" && st.Action == stepcast.StartScenario {
			skipped = !st.Ran && st.Note != ""
		}
		if st.Rule == "default-welcome" && st.Action == stepcast.AddTag {
			tagged = st.Ran
		}
	}
	if !skipped || !tagged {
		t.Errorf("steps %+v: want the default start skipped with a note, its tag added", res[0].Steps)
	}
}

func TestRouteEventsRefused(t *testing.T) {
	a, c := routeAccount(t, 0)
	c.Set(t0)
	for _, e := range []stepcast.Event{
		routeVisit("v1", "U1", "", stepcast.RouteVisitor, t0),
		routeVisit("v2", "U1", "ad", stepcast.RouteFollowed, t0),
		routeVisit("route/x", "U1", "ad", stepcast.RouteVisitor, t0),
	} {
		if _, err := a.Ingest(context.Background(), e); !errors.Is(err, stepcast.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", e.ID, err)
		}
	}
	var n int
	err := a.e.st.View(context.Background(), a.id, func(tx store.ReadTx) error {
		_, err := tx.FriendByUser("U1")
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		n++
		return err
	})
	if err != nil || n != 0 {
		t.Errorf("friends %d, %v: want none recorded", n, err)
	}
}

func TestRouteCountsNeedTheKind(t *testing.T) {
	c := &clock{t: t0}
	a := mustAccount(t, mustOpen(t, memstore.New(), c), "x", Definitions{})
	if _, err := a.RouteCounts("ad"); !errors.Is(err, stepcast.ErrInvalid) {
		t.Errorf("RouteCounts without route events counted: %v, want ErrInvalid", err)
	}
}

// TestRouteFirstOnlyChangedLater: "only on the first follow" is a
// definition, changed like any other (L-step fixes it at creation).
func TestRouteFirstOnlyChangedLater(t *testing.T) {
	ctx := context.Background()
	a, c := routeAccount(t, 0)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	c.Set(at(100))
	ingest := func(evs ...stepcast.Event) {
		t.Helper()
		if _, err := a.Ingest(ctx, evs...); err != nil {
			t.Fatal(err)
		}
	}
	ingest(follow("f0", "U1", "", at(0)), ev("u0", "U1", stepcast.EventUnfollow, "", "", at(1)),
		routeVisit("v1", "U1", "ad", stepcast.RouteVisitor, at(2)), follow("f1", "U1", "", at(3)))
	if n := mustCount(t, a, `in_scenario("ad-course")`); n != 0 {
		t.Fatalf("first_only: a returning friend entered the ad's scenario")
	}
	defs := a.Definitions()
	for i := range defs.Rules {
		if defs.Rules[i].Name == "ad" {
			defs.Rules[i].Trigger.FirstOnly = false
		}
	}
	if err := a.SetDefinitions(ctx, defs); err != nil {
		t.Fatal(err)
	}
	ingest(ev("u1", "U1", stepcast.EventUnfollow, "", "", at(4)),
		routeVisit("v2", "U1", "ad", stepcast.RouteVisitor, at(5)), follow("f2", "U1", "", at(6)))
	if n := mustCount(t, a, `in_scenario("ad-course")`); n != 1 {
		t.Errorf("every time: the returning friend is not in the ad's scenario")
	}
	if got, want := must(a.RouteCounts("ad")), (RouteCounts{Route: "ad", Visitors: 1, Returning: 1}); got != want {
		t.Errorf("RouteCounts %+v, want %+v", got, want)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestRouteLateVisitAfterTheWait: the wait over, the follow's rules ran
// without a route; the visit that comes then sets off the route's rules
// alone.
func TestRouteLateVisitAfterTheWait(t *testing.T) {
	ctx := context.Background()
	a, c := routeAccount(t, time.Minute)
	c.Set(t0)
	if _, err := a.Ingest(ctx, follow("f1", "U1", "", t0)); err != nil {
		t.Fatal(err)
	}
	c.Set(t0.Add(2 * time.Minute))
	if n, err := a.Tick(ctx); err != nil || n != 1 {
		t.Fatalf("Tick: %d, %v; want the waiting follow", n, err)
	}
	if n := mustCount(t, a, `in_scenario("welcome")`); n != 1 {
		t.Fatalf("the wait over, the default scenario did not start")
	}
	res, err := a.Ingest(ctx, routeVisit("v1", "U1", "ad", stepcast.RouteAdded, t0.Add(2*time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	// The default scenario started when the wait ran out: the route's
	// rule runs, its start skipped with the reason.
	if n := mustCount(t, a, `in_scenario("ad-course")`); n != 0 {
		t.Errorf("the late visit started the route's scenario after the default one")
	}
	var noted bool
	for _, st := range res[0].Steps {
		if st.Rule == "ad" && st.Action == stepcast.StartScenario {
			noted = !st.Ran && strings.Contains(st.Note, "after the follow rules without a route started a scenario")
		}
	}
	if !noted {
		t.Errorf("steps %+v: want the route's start skipped with a note", res[0].Steps)
	}
	if got, want := must(a.RouteCounts("ad")), (RouteCounts{Route: "ad", Visitors: 1, NewFriends: 1}); got != want {
		t.Errorf("RouteCounts %+v, want %+v", got, want)
	}
}

// TestRouteCountsWithoutRouteRules: an account whose rules name no route
// still counts its routes, in either order.
func TestRouteCountsWithoutRouteRules(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: t0.Add(time.Hour)}
	a := mustAccount(t, mustOpen(t, memstore.New(), c), "x", Definitions{Schema: segment.SchemaConfig{Events: []string{"route"}}})
	if _, err := a.Ingest(ctx,
		follow("f1", "U1", "", t0), routeVisit("v1", "U1", "ad", stepcast.RouteAdded, t0.Add(5*time.Second)),
		routeVisit("v2", "U2", "ad", stepcast.RouteVisitor, t0), follow("f2", "U2", "", t0.Add(time.Minute)),
	); err != nil {
		t.Fatal(err)
	}
	if got, want := must(a.RouteCounts("ad")), (RouteCounts{Route: "ad", Visitors: 2, NewFriends: 2}); got != want {
		t.Errorf("RouteCounts %+v, want %+v", got, want)
	}
}

package rules

import (
	"slices"
	"testing"

	"github.com/stepcast/stepcast"
)

// TestFollowRoutePrecedence: a follow rule of the follow's route that
// starts a scenario makes the route-less follow rules skip their starts.
func TestFollowRoutePrecedence(t *testing.T) {
	start := func(name string) Step { return Step{Action: stepcast.Action{Kind: stepcast.StartScenario, Name: name}} }
	tag := func(name string) Step { return Step{Action: stepcast.Action{Kind: stepcast.AddTag, Name: name}} }
	s := mustCompile(t, []Rule{
		{Name: "default", Trigger: Trigger{Kind: OnFollow}, Steps: []Step{tag("followed"), start("welcome")}},
		{Name: "ad", Trigger: Trigger{Kind: OnFollow, Route: "ad", FirstOnly: true}, Steps: []Step{start("ad-course")}},
		{Name: "poster", Trigger: Trigger{Kind: OnFollow, Route: "poster"}, Steps: []Step{tag("poster")}},
		{Name: "on-follow-event", Trigger: Trigger{Kind: OnEvent, Event: stepcast.EventFollow}, Steps: []Step{tag("x")}},
	})
	if !s.HasRoutes() {
		t.Error("HasRoutes: false")
	}
	if mustCompile(t, []Rule{{Name: "d", Trigger: Trigger{Kind: OnFollow}, Steps: []Step{tag("t")}}}).HasRoutes() {
		t.Error("HasRoutes of a set without routes: true")
	}
	type act struct {
		name       string
		skip, late bool
	}
	run := func(fn func(r *Run) error) []act {
		r := s.Start("u", 8)
		if err := fn(r); err != nil {
			t.Fatal(err)
		}
		var out []act
		for a := r.Next(); a != nil; a = r.Next() {
			out = append(out, act{a.Name, a.SkipStarts, a.LateRoute})
		}
		return out
	}
	follow := func(route string) stepcast.Event {
		ev := stepcast.Event{Kind: stepcast.EventFollow}
		if route != "" {
			ev.Data = map[string]string{stepcast.DataRoute: route}
		}
		return ev
	}
	for _, tc := range []struct {
		name string
		fn   func(r *Run) error
		want []act
	}{
		{"NoRoute", func(r *Run) error { return r.Event(follow(""), true, true) },
			[]act{{"default", false, false}, {"on-follow-event", false, false}}},
		{"RouteStarts", func(r *Run) error { return r.Event(follow("ad"), true, true) },
			[]act{{"default", true, false}, {"ad", false, false}, {"on-follow-event", false, false}}},
		{"RouteStartsNotOnReturn", func(r *Run) error { return r.Event(follow("ad"), true, false) },
			[]act{{"default", false, false}, {"on-follow-event", false, false}}},
		{"RouteOnlyTags", func(r *Run) error { return r.Event(follow("poster"), true, true) },
			[]act{{"default", false, false}, {"poster", false, false}, {"on-follow-event", false, false}}},
		{"NotFollowing", func(r *Run) error { return r.Event(follow("ad"), false, true) },
			[]act{{"on-follow-event", false, false}}},
		{"FollowLater", func(r *Run) error { return r.Follow("ad", true, false) },
			[]act{{"default", true, false}, {"ad", false, false}}},
		// The default scenario started at the follow: the route's rule
		// runs without its start.
		{"FollowLaterRouteOnly", func(r *Run) error { return r.Follow("ad", true, true) },
			[]act{{"ad", true, true}}},
		{"FollowLaterRouteOnlyTags", func(r *Run) error { return r.Follow("poster", true, true) },
			[]act{{"poster", true, true}}}, // nothing to skip: its tag runs
		{"FollowLaterNoRoute", func(r *Run) error { return r.Follow("", true, false) },
			[]act{{"default", false, false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(tc.fn); !slices.Equal(got, tc.want) {
				t.Errorf("activations %v, want %v", got, tc.want)
			}
		})
	}
}

// TestFollowLateRouteDefaultNoStart: a route known after the follow's
// rules ran keeps its scenario when those rules started none.
func TestFollowLateRouteDefaultNoStart(t *testing.T) {
	s := mustCompile(t, []Rule{
		{Name: "default", Trigger: Trigger{Kind: OnFollow}, Steps: []Step{{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "followed"}}}},
		{Name: "ad", Trigger: Trigger{Kind: OnFollow, Route: "ad"}, Steps: []Step{{Action: stepcast.Action{Kind: stepcast.StartScenario, Name: "ad-course"}}}},
	})
	r := s.Start("u", 8)
	if err := r.Follow("ad", true, true); err != nil {
		t.Fatal(err)
	}
	a := r.Next()
	if a == nil || a.Name != "ad" || a.SkipStarts || a.LateRoute || r.Next() != nil {
		t.Errorf("activation %+v, want ad's, its start not skipped", a)
	}
}

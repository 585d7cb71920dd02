package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// Inflow routes (流入経路). A visit through a route's URL arrives as an
// event of kind stepcast.EventRoute (Name the route, User the visitor's
// LINE userId, Value what the visit found: RouteVisitor, RouteAdded,
// RouteFriend), and a follow is attributed to the route whichever of the
// two comes first:
//
//   - The visit first (a visitor who is not following): the route is held
//     for them in a timer "route" until they follow, for Config.RouteHold;
//     a later visit replaces it — unless the held visit added the account
//     (RouteAdded: the follow is on its way from it) and the later one
//     did not (another route opened in the same browser). Their follow
//     then carries the route (Data["route"]) as if LINE had sent it: it
//     is logged with it and sets off the route's follow rules.
//   - The follow first — LINE's add-friend prompt inside LINE Login
//     (bot_prompt) sends the follow webhook before the visitor is back at
//     the callback. With Config.RouteWait, on an account with follow
//     rules naming a route, the rules of a follow that came with no route
//     wait that long in a timer "follow": a visit that says the visitor
//     added the account (RouteAdded) within the wait sets them off for its
//     route, so that the route's scenario replaces the default one (see
//     rules.OnFollow); otherwise they run without a route when the wait is
//     over (in Tick). Without a wait — or after it — they run at once,
//     and a RouteAdded visit within lateRouteWindow of the follow sets off
//     the rules naming its route alone, without their start_scenario
//     steps when a follow rule without a route starts a scenario: the
//     default scenario has started, and a friend gets one (rules.Run.Follow).
//
// Each attribution through a visit is logged as an event of kind
// EventRoute, Value stepcast.RouteFollowed (the friend's first follow) or
// RouteRefollowed, which Account.RouteCounts counts. A follow that arrives
// with its route already in Data (from the host) is not such a record.

// The kinds of due work of inflow routes.
const (
	// DueFollow holds a follow that came with no route, for its route to
	// come (Config.RouteWait), or for a late visit to be attributed.
	DueFollow DueKind = "follow"
	// DueRoute holds the route a visitor came through until they follow;
	// it is due when the hold expires.
	DueRoute DueKind = "route"
)

// DefaultRouteHold is Config.RouteHold's zero value: a visitor who follows
// within a day of the visit followed through the route.
const DefaultRouteHold = 24 * time.Hour

// lateRouteWindow is how long after a follow whose rules ran with no
// route a visit that added the account is still attributed to it, for
// the rules naming its route: a LINE Login callback comes seconds after
// the add-friend prompt.
const lateRouteWindow = 10 * time.Minute

var (
	followKey = string(DueFollow)
	routeKey  = string(DueRoute)
)

// followWait is the state of a DueFollow timer.
type followWait struct {
	First bool `json:"first,omitempty"` // the follow was the friend's first
}

// heldRoute is the state of a DueRoute timer.
type heldRoute struct {
	Route string `json:"route"`
	// Added: the visit added the account at LINE Login's prompt
	// (RouteAdded), the follow webhook yet to come; see routeVisit.
	Added bool `json:"added,omitempty"`
}

// checkRouteEvent refuses route events the engine would misread: with no
// route, or claiming an attribution, which only the engine records.
func checkRouteEvent(ev stepcast.Event) error {
	if ev.Kind != stepcast.EventRoute {
		return nil
	}
	switch {
	case ev.Name == "":
		return fmt.Errorf("%w: event %s: a route event names its route", stepcast.ErrInvalid, stepcast.Quote(ev.ID))
	case ev.Value == stepcast.RouteFollowed || ev.Value == stepcast.RouteRefollowed:
		return fmt.Errorf("%w: event %s: route value %q is the engine's own record of a follow", stepcast.ErrInvalid, stepcast.Quote(ev.ID), ev.Value)
	}
	return nil
}

// heldRouteFor gives a follow of friend that came with no route the route
// held for them, if one is and has not expired by the follow's time. It
// returns the timer to delete once the follow is logged.
func (u *unit) heldRouteFor(ev *stepcast.Event, friend stepcast.FriendID) (*store.Timer, error) {
	if ev.Kind != stepcast.EventFollow || ev.Data[stepcast.DataRoute] != "" || len(ev.Data) >= stepcast.MaxDataKeys {
		return nil, nil
	}
	t, err := u.tx.Timer(friend, routeKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("engine: %s: held route: %w", u.what(), err)
	}
	var h heldRoute
	if err := json.Unmarshal(t.State, &h); err != nil || h.Route == "" || !ev.At.Before(t.Due) {
		return &t, nil // unreadable or expired: put away, not used
	}
	ev.Data = maps.Clone(ev.Data)
	if ev.Data == nil {
		ev.Data = map[string]string{}
	}
	ev.Data[stepcast.DataRoute] = h.Route
	return &t, nil
}

// eventRules sets off the rules of the unit's event, with what inflow
// routes add: a follow attributed to its route, or held back for it; a
// visit attributed to a follow waiting for it, or held until one comes.
// held is the route timer a follow took its route from.
func (u *unit) eventRules(ev stepcast.Event, held *store.Timer) error {
	if held != nil {
		if err := u.tx.DeleteTimer(held.Friend, held.Key, held.Version); err != nil {
			return fmt.Errorf("engine: %s: held route: %w", u.what(), err)
		}
	}
	switch ev.Kind {
	case stepcast.EventFollow:
		route := ev.Data[stepcast.DataRoute]
		if !u.following {
			break
		}
		if held != nil && route != "" {
			if err := u.attribute(route, u.firstFollow); err != nil {
				return err
			}
		}
		wait := u.a.e.cfg.RouteWait
		if route != "" || !u.def.rules.HasRoutes() || wait <= 0 || u.backfill {
			// Backfill: history waits for nothing (Tick, which would
			// send, would run the rules).
			break
		}
		if err := u.putRouteTimer(followKey, followWait{First: u.firstFollow}, ev.At.Add(wait)); err != nil {
			return err
		}
		return u.rules.Event(ev, false, u.firstFollow) // the follow rules wait
	case stepcast.EventRoute:
		if err := u.routeVisit(ev); err != nil {
			return err
		}
	}
	return u.rules.Event(ev, u.following, u.firstFollow)
}

// routeVisit attributes a waiting follow to the visit's route — or a
// follow whose rules ran without a route moments ago, for the rules naming
// the route —, or holds the route for a visitor who does not follow.
func (u *unit) routeVisit(ev stepcast.Event) error {
	t, err := u.tx.Timer(u.friend.ID, followKey)
	switch {
	case err == nil && u.friend.Following && ev.Value == stepcast.RouteAdded:
		var st followWait
		if err := json.Unmarshal(t.State, &st); err != nil {
			return fmt.Errorf("engine: %s: waiting follow: %w", u.what(), err)
		}
		if err := u.tx.DeleteTimer(t.Friend, t.Key, t.Version); err != nil {
			return fmt.Errorf("engine: %s: waiting follow: %w", u.what(), err)
		}
		if err := u.attribute(ev.Name, st.First); err != nil {
			return err
		}
		return u.rules.Follow(ev.Name, st.First, false)
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("engine: %s: waiting follow: %w", u.what(), err)
	}
	if !u.friend.Following {
		if ev.Value != stepcast.RouteAdded {
			// A visit that added the account is where the follow on its
			// way comes from: another route opened in the same browser
			// meanwhile (LINE says friend, or visitor) does not take it.
			held, err := u.heldRoute(ev.At)
			if err != nil || held.Added {
				return err
			}
		}
		hold := u.a.e.cfg.RouteHold
		if hold <= 0 {
			hold = DefaultRouteHold
		}
		return u.putRouteTimer(routeKey, heldRoute{Route: ev.Name, Added: ev.Value == stepcast.RouteAdded}, ev.At.Add(hold))
	}
	if ev.Value != stepcast.RouteAdded {
		return nil // a friend already: counted, nothing held
	}
	late, err := u.lateFollow(ev.At)
	if err != nil || !late {
		return err
	}
	first := u.friend.UnfollowedAt.IsZero() // never blocked: their one follow
	if err := u.attribute(ev.Name, first); err != nil {
		return err
	}
	return u.rules.Follow(ev.Name, first, true)
}

// heldRoute reads the route held for the friend at at, if any (zero if
// none, expired or unreadable).
func (u *unit) heldRoute(at time.Time) (heldRoute, error) {
	var h heldRoute
	t, err := u.tx.Timer(u.friend.ID, routeKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return h, nil
	case err != nil:
		return h, fmt.Errorf("engine: %s: held route: %w", u.what(), err)
	}
	if json.Unmarshal(t.State, &h) != nil || !at.Before(t.Due) {
		return heldRoute{}, nil // replaced
	}
	return h, nil
}

// lateScan bounds the friend's latest events lateFollow reads.
const lateScan = 50

// lateFollow reports whether the friend's latest follow came with no route
// within lateRouteWindow before at, and no visit was attributed to it
// since: a follow whose rules ran without the route a visit now brings.
func (u *unit) lateFollow(at time.Time) (bool, error) {
	evs, err := u.tx.FriendEvents(u.friend.ID, 0, lateScan)
	if err != nil {
		return false, fmt.Errorf("engine: %s: the friend's latest follow: %w", u.what(), err)
	}
	for _, e := range evs { // latest first
		switch {
		case e.Kind == stepcast.EventRoute && (e.Value == stepcast.RouteFollowed || e.Value == stepcast.RouteRefollowed):
			return false, nil // attributed already
		case e.Kind == stepcast.EventFollow:
			return e.Data[stepcast.DataRoute] == "" && !e.At.After(at) && at.Sub(e.At) <= lateRouteWindow, nil
		}
	}
	return false, nil
}

// putRouteTimer writes the friend's timer key with state, due at due,
// replacing the one there.
func (u *unit) putRouteTimer(key string, state any, due time.Time) error {
	b, err := json.Marshal(state)
	if err != nil {
		return err
	}
	var version uint64
	switch old, err := u.tx.Timer(u.friend.ID, key); {
	case err == nil:
		version = old.Version
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("engine: %s: timer %s: %w", u.what(), key, err)
	}
	if due.After(stepcast.MaxTime) {
		due = stepcast.MaxTime
	}
	if _, err := u.tx.PutTimer(store.Timer{Friend: u.friend.ID, Key: key, Due: due, State: b, Version: version}); err != nil {
		return fmt.Errorf("engine: %s: timer %s: %w", u.what(), key, err)
	}
	return nil
}

// attribute logs that the friend's follow came through route: an event
// of kind EventRoute, RouteFollowed for their first follow, else
// RouteRefollowed, with an ID fixed by the unit.
func (u *unit) attribute(route string, first bool) error {
	h := sha256.Sum256([]byte(u.id))
	ev := stepcast.Event{
		ID: "route/" + hex.EncodeToString(h[:12]), Friend: u.friend.ID, Kind: stepcast.EventRoute,
		Name: route, Value: stepcast.RouteRefollowed, At: u.at,
	}
	if first {
		ev.Value = stepcast.RouteFollowed
	}
	seq, err := u.tx.AppendEvent(ev)
	if errors.Is(err, store.ErrDuplicate) {
		return nil // a replay of the unit
	}
	if err != nil {
		return fmt.Errorf("engine: %s: route %q: %w", u.what(), route, err)
	}
	u.logged = append(u.logged, store.Event{Seq: seq, Event: ev})
	u.hist[u.friend.ID] = append(u.hist[u.friend.ID], ev)
	return nil
}

// wakeFollow ends a follow's wait for its route: its follow rules run
// without one, if the friend still follows.
func wakeFollow(u *unit, t store.Timer) error {
	if err := u.tx.DeleteTimer(t.Friend, t.Key, t.Version); err != nil {
		return fmt.Errorf("engine: %s: %w", u.what(), err)
	}
	var st followWait
	if err := json.Unmarshal(t.State, &st); err != nil {
		return fmt.Errorf("engine: %s: waiting follow: %w", u.what(), err)
	}
	if !u.friend.Following {
		return nil
	}
	return u.rules.Follow("", st.First, false)
}

// wakeRoute puts away a held route that expired before its visitor
// followed.
func wakeRoute(u *unit, t store.Timer) error {
	if err := u.tx.DeleteTimer(t.Friend, t.Key, t.Version); err != nil {
		return fmt.Errorf("engine: %s: %w", u.what(), err)
	}
	return nil
}

// RouteCounts are the counts of one inflow route, in friends (each
// counted once however often they came): Account.RouteCounts.
type RouteCounts struct {
	Route string
	// Visitors came through the route's URL, whatever they did then.
	Visitors uint64
	// NewFriends followed for the first time through it (the engine's
	// RouteFollowed records).
	NewFriends uint64
	// Returning followed again through it: they had blocked the account
	// (RouteRefollowed).
	Returning uint64
	// AlreadyFriends came through it while already following
	// (RouteFriend visits), and never followed through it: a friend who
	// became one through the route, then came through it again — or
	// whose second tab of the route's login found them a friend of the
	// first — is a new (or returning) friend of it only.
	AlreadyFriends uint64
}

// RouteCounts counts route's visitors, new and returning friends, and
// friends who already followed, from the live index: a few bitmap
// cardinalities (and a difference), whatever the number of friends. The schema must count
// route events (SchemaConfig.Events, "events" in a definitions file,
// listing "route"); otherwise the error wraps stepcast.ErrInvalid.
func (a *Account) RouteCounts(route string) (RouteCounts, error) {
	ix := a.index()
	if !slices.Contains(ix.Schema().Events(), string(stepcast.EventRoute)) {
		return RouteCounts{}, fmt.Errorf("%w: engine: account %q: route counts need the schema to count %q events (schema.events)",
			stepcast.ErrInvalid, a.id, stepcast.EventRoute)
	}
	k := string(stepcast.EventRoute)
	return RouteCounts{
		Route:          route,
		Visitors:       ix.EventFriends(k, route, ""),
		NewFriends:     ix.EventFriends(k, route, stepcast.RouteFollowed),
		Returning:      ix.EventFriends(k, route, stepcast.RouteRefollowed),
		AlreadyFriends: ix.EventFriendsExcept(k, route, stepcast.RouteFriend, stepcast.RouteFollowed, stepcast.RouteRefollowed),
	}, nil
}

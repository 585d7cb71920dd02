package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/scoring"
	"github.com/stepcast/stepcast/store"
)

// Result is what ingesting one event did.
type Result struct {
	Event     string
	Friend    stepcast.FriendID
	Duplicate bool           // the event was recorded before: nothing changed
	Changes   []store.Change // the state changes committed, in order, with their Seqs
	Steps     []StepResult   // every rule step considered, in the order they ran
	Points    []scoring.Entry
	Crossings []scoring.Crossing
	Queued    []store.Delivery // outbox entries queued (messages, rich menus)
	// Notified are the notify_host actions handed to Config.Notify after
	// the commit.
	Notified []stepcast.Notification
	// Notes say what the unit could not do but did not fail for: a scoring
	// rule whose condition failed on this event.
	Notes []string
	Err   error // why the event changed nothing, if it failed
}

// StepResult is one step of a rule considered for an event.
type StepResult struct {
	Rule   string // the rule, or "threshold:<name>" for a threshold's own actions
	Step   int
	Depth  int // 0 for rules the event set off, +1 per rule in between
	Action stepcast.ActionKind
	Ran    bool   // false: its condition did not hold
	Note   string // why a step that ran did nothing: the event lacked the value it reads, or it did not fit
}

// Ingest records events and acts on them, one unit of work per event, in
// order: the friend is created on first sight (from Event.User), follow
// status changes, the scoring model scores, and the rules the event sets
// off run — each of their steps tested against the friend as the steps
// before left it. Each event commits atomically, with its state changes,
// scoring state and outbox entries, then the live index moves.
//
// An event whose ID was recorded before changes nothing (Result.Duplicate).
// An event that fails — an unknown friend, rules looping — changes nothing
// and does not stop the others; Ingest returns the failures joined, and
// each Result says what happened to its event.
func (a *Account) Ingest(ctx context.Context, events ...stepcast.Event) ([]Result, error) {
	results := make([]Result, len(events))
	var errs []error
	for i, ev := range events {
		if err := ctx.Err(); err != nil {
			for j := i; j < len(events); j++ {
				results[j] = Result{Event: events[j].ID, Err: err}
			}
			return results, err
		}
		results[i] = a.ingestUnits(ctx, []stepcast.Event{ev}, false)[0]
		if results[i].Err != nil {
			errs = append(errs, results[i].Err)
		}
	}
	return results, errors.Join(errs...)
}

// IngestBatch is Ingest with one commit for all the events: much faster on
// stores whose commits are costly (an fsync, a round trip), at the price of
// latency. Each event still takes effect wholly or not at all: one that
// fails is left out and the others are committed without it.
func (a *Account) IngestBatch(ctx context.Context, events ...stepcast.Event) ([]Result, error) {
	return a.ingestAll(ctx, events, false)
}

// Backfill is IngestBatch for history: events from before the account used
// stepcast (an export from another tool, a CRM's purchases). They build
// state — tags, fields, scores, scenario membership, reminders — exactly
// as IngestBatch would, but send nothing: send_messages, reply,
// link_rich_menu, unlink_rich_menu and notify_host steps are skipped with
// a note (and the rich_menu field is left as it was), so that importing a year of
// events does not message friends about it today.
func (a *Account) Backfill(ctx context.Context, events ...stepcast.Event) ([]Result, error) {
	return a.ingestAll(ctx, events, true)
}

func (a *Account) ingestAll(ctx context.Context, events []stepcast.Event, backfill bool) ([]Result, error) {
	results := a.ingestUnits(ctx, events, backfill)
	var errs []error
	for _, r := range results {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
	}
	return results, errors.Join(errs...)
}

// ingestUnits checks events where they enter and runs the valid ones as
// units of work in one transaction (see runUnits).
func (a *Account) ingestUnits(ctx context.Context, events []stepcast.Event, backfill bool) []Result {
	results := make([]Result, len(events))
	failed := make([]bool, len(events))
	inputs := make([]input, len(events))
	now := a.e.cfg.Now()
	for i := range events {
		results[i].Event = events[i].ID
		inputs[i] = input{event: &events[i]}
		if err := a.e.checkEvent(events[i], now); err != nil {
			results[i].Err = err
			failed[i] = true
		}
	}
	a.runUnits(ctx, inputs, results, failed, backfill)
	return results
}

// reservedIDs begin the IDs the engine gives what it records and runs
// itself — journey records, units of due work — which an ingested event
// must not take from them.
var reservedIDs = []string{"journey/", "wake/", "route/"}

// checkEvent is the entry check of an event, before any unit of work:
// well-formed and within the input limits (Event.Validate), naming its
// friend, and dated no later than the clock allows.
func (e *Engine) checkEvent(ev stepcast.Event, now time.Time) error {
	if err := ev.Validate(); err != nil {
		return err
	}
	if ev.Kind == stepcast.EventJourney {
		return fmt.Errorf("%w: event %s: kind journey is the engine's own record of scenarios, not an event to ingest", stepcast.ErrInvalid, stepcast.Quote(ev.ID))
	}
	for _, p := range reservedIDs {
		if strings.HasPrefix(ev.ID, p) {
			return fmt.Errorf("%w: event %s: IDs beginning %q are the engine's own (journey records, due work)", stepcast.ErrInvalid, stepcast.Quote(ev.ID), p)
		}
	}
	if err := checkRouteEvent(ev); err != nil {
		return err
	}
	if ev.Friend == 0 && ev.User == "" {
		return fmt.Errorf("%w: event %s has neither a friend nor a LINE userId", stepcast.ErrInvalid, stepcast.Quote(ev.ID))
	}
	if tol := e.cfg.FutureTolerance; tol >= 0 && ev.At.After(now.Add(tol)) {
		return fmt.Errorf("%w: %w: event %s is dated %s, %v after the engine's clock (Config.FutureTolerance is %v)",
			stepcast.ErrInvalid, ErrFutureEvent, stepcast.Quote(ev.ID), ev.At.UTC().Format(time.RFC3339), ev.At.Sub(now), tol)
	}
	return nil
}

package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/render"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
)

// Broadcasts (セグメント配信): messages for the friends of a segment,
// evaluated when the broadcast is due, not when it was scheduled, with
// placeholders for friend fields (package render), planned as multicasts
// into the outbox in bounded chunks as the account's due work.

// DueBroadcast is the account's due work of a scheduled broadcast
// ("broadcast/<name>", friend 0): due at its time, then at once for each
// chunk of its audience until all are queued.
const DueBroadcast DueKind = "broadcast"

// BroadcastChunk is how many friends of a broadcast's audience one unit of
// work plans — reads, renders and queues, in one transaction with the
// broadcast's cursor: a multiple of stepcast.MaxMulticastTargets, so that
// a message every friend shares fills whole multicasts.
const BroadcastChunk = 10 * stepcast.MaxMulticastTargets

// BroadcastChunksPerTick bounds the chunks of broadcasts one Tick plans
// (20: 100,000 friends), the rest going on at the next: so that Run
// starts sending a large broadcast while it is planned, and the due work
// of other accounts does not wait for a million friends to be planned.
const BroadcastChunksPerTick = 20

// BroadcastPriority is the priority of a broadcast's deliveries when the
// broadcast sets none: below the 0 of pushes (a rule's, a scenario's
// step) and ReplyPriority, so that a campaign to a million friends does
// not hold up the messages friends are waiting for, and above the rich
// menu switches (RichMenuPriority).
const BroadcastPriority = -1

// ErrBroadcastExists is a broadcast name used before, by a broadcast that
// has started (or was cancelled after it started): a name keys its
// deliveries, so a new broadcast needs a new name.
var ErrBroadcastExists = errors.New("engine: the broadcast name is taken")

// ErrNoBroadcast is a broadcast name the account does not know.
var ErrNoBroadcast = errors.New("engine: no such broadcast")

// Broadcast is a message to the friends of a segment at a minute.
type Broadcast struct {
	// Name identifies the broadcast ("spring-sale"): its deliveries'
	// cause is "broadcast:<name>" (stepcast.CauseBroadcast).
	Name string `json:"name"`
	// Segment is a segment expression (tag("vip") && area in ["tokyo"],
	// segment("saved")), evaluated over the live index when the broadcast
	// is due; "" means every friend who follows. Whatever it says, only
	// friends who follow then are sent to.
	Segment string `json:"segment,omitempty"`
	// Messages are 1 to 5 LINE message objects, with placeholders
	// (package render: {{name}}, {{name|default}}).
	Messages []stepcast.Message `json:"messages"`
	// Experiment names an A/B test of the account's definitions
	// (Experiment), and Variants holds the messages of each of its
	// variants, in place of Messages: each friend gets their variant's,
	// recorded (variant("name")) and tallied as a scenario step's are;
	// friends in the holdout get nothing (skipped "holdout"). With the
	// experiment's Plan, only its test share is sent when the broadcast
	// is due; the broadcast then waits, its audience frozen, until the
	// plan decides, and the rest get the winner (or nothing, by the
	// fallback). Preview renders the control's messages.
	Experiment string             `json:"experiment,omitempty"`
	Variants   []BroadcastVariant `json:"variants,omitempty"`
	// At is when the broadcast goes, truncated to the minute; zero or
	// past means at once (the next Tick).
	At time.Time `json:"at,omitzero"`
	// NotificationDisabled sends without a push notification.
	NotificationDisabled bool `json:"notification_disabled,omitempty"`
	// Priority orders the deliveries against others pending; 0 means
	// BroadcastPriority.
	Priority int `json:"priority,omitempty"`
	// AggregationUnit names LINE's statistics unit (customAggregationUnits)
	// of every request: 1 to 30 letters, digits or '_'.
	AggregationUnit string `json:"aggregation_unit,omitempty"`
}

// BroadcastStatus is where a broadcast stands.
type BroadcastStatus string

// The statuses of a broadcast.
const (
	BroadcastScheduled BroadcastStatus = "scheduled" // waiting for its time
	// BroadcastSending: its audience is being planned into the outbox, or
	// its deliveries are pending there.
	BroadcastSending   BroadcastStatus = "sending"
	BroadcastSent      BroadcastStatus = "sent"      // planned, and nothing pending in the outbox
	BroadcastCancelled BroadcastStatus = "cancelled" // CancelBroadcast; Reason says why
	// BroadcastFailed: it could not be planned when due (its segment or a
	// placeholder no longer fits the schema); Reason says why.
	BroadcastFailed BroadcastStatus = "failed"
)

// BroadcastReport says where a broadcast stands: as scheduled, its
// status, what planning did and what the outbox did with it.
type BroadcastReport struct {
	Broadcast Broadcast
	Status    BroadcastStatus
	Reason    string    // why it was cancelled, or failed
	Due       time.Time // when it goes (scheduled), or went
	CreatedAt time.Time
	StartedAt time.Time // when its audience was evaluated and frozen
	PlannedAt time.Time // when the last chunk was queued
	EndedAt   time.Time // when it was cancelled or failed
	// Audience is how many friends the segment held when the broadcast
	// started (frozen: a restart plans the same friends).
	Audience uint64
	// Planned is how many friends have been queued; Skipped how many
	// were not, by reason: "not_following" (blocked since the index
	// heard, or no LINE userId), or render's skip keys
	// ("missing_field:company", "invalid_message").
	Planned int
	Skipped map[string]int
	// Deliveries and Pushes are the outbox rows queued: multicasts of
	// friends whose rendered messages are byte-identical, and of them
	// pushes (a friend alone with their messages in a chunk).
	Deliveries, Pushes int
	Chunks             int
	// Outbox counts the deliveries by status, and the recipients sent to
	// (cause "broadcast:<name>").
	Outbox store.DeliveryProgress
}

// broadcastPhase is where planning stands, as the timer keeps it.
type broadcastPhase string

const (
	phaseScheduled broadcastPhase = "scheduled"
	phasePlanning  broadcastPhase = "planning"
	phasePlanned   broadcastPhase = "planned"
	phaseCancelled broadcastPhase = "cancelled"
	phaseFailed    broadcastPhase = "failed"
	// phaseWaiting: an A/B broadcast's test share is planned; the rest
	// wait for the experiment's plan to decide.
	phaseWaiting broadcastPhase = "waiting"
)

// broadcastState is what a broadcast's timer keeps (JSON): the broadcast
// and its planning. The frozen audience is in a timer of its own
// (audienceKey), written once, so that each chunk rewrites only this.
type broadcastState struct {
	Broadcast  Broadcast      `json:"broadcast"`
	Phase      broadcastPhase `json:"phase"`
	Reason     string         `json:"reason,omitempty"`
	CreatedAt  time.Time      `json:"created_at"`
	StartedAt  time.Time      `json:"started_at,omitzero"`
	PlannedAt  time.Time      `json:"planned_at,omitzero"`
	EndedAt    time.Time      `json:"ended_at,omitzero"`
	Audience   uint64         `json:"audience,omitempty"`
	Cursor     uint32         `json:"cursor,omitempty"` // the last friend planned
	Chunks     int            `json:"chunks,omitempty"`
	Planned    int            `json:"planned,omitempty"`
	Deliveries int            `json:"deliveries,omitempty"`
	Pushes     int            `json:"pushes,omitempty"`
	Skipped    map[string]int `json:"skipped,omitempty"`
	// Rest: the pass over the audience outside an A/B test's share,
	// sending Winner.
	Rest   bool   `json:"rest,omitempty"`
	Winner string `json:"winner,omitempty"`
}

// broadcastKey is the timer key of broadcast name: "broadcast/<KeyName>".
func broadcastKey(name string) string { return string(DueBroadcast) + "/" + scenario.KeyName(name) }

// audienceKey is the timer key of its frozen audience, never due.
func audienceKey(name string) string { return broadcastKey(name) + "/audience" }

// broadcastCause is the cause of broadcast name's deliveries.
func broadcastCause(name string) stepcast.Cause {
	return stepcast.Cause{Kind: stepcast.CauseBroadcast, Name: name}
}

// checkBroadcast validates b against the account's definitions c:
// name, segment, messages and their placeholders, options. It returns
// the compiled segment and template.
func (a *Account) checkBroadcast(c *compiled, b *Broadcast) (*segment.Segment, *render.Template, error) {
	if err := stepcast.CheckName("broadcast name", b.Name); err != nil {
		return nil, nil, err
	}
	src := b.Segment
	if strings.TrimSpace(src) == "" {
		src = "following"
	}
	seg, err := segment.Compile(src, c.schema)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: segment: %w", stepcast.ErrInvalid, err)
	}
	msgs := b.Messages
	if b.Experiment != "" || len(b.Variants) > 0 {
		if msgs, err = checkBroadcastVariants(c, b); err != nil {
			return nil, nil, err
		}
	}
	tpl, err := render.Parse(msgs, c.schema)
	if err != nil {
		return nil, nil, err
	}
	if b.Priority < math.MinInt32 || b.Priority > math.MaxInt32 {
		return nil, nil, fmt.Errorf("%w: priority %d is beyond an int32", stepcast.ErrInvalid, b.Priority)
	}
	// The options, as LINE will see them, on a stand-in multicast.
	d := stepcast.Delivery{Kind: stepcast.DeliveryMulticast, To: []stepcast.Recipient{{Friend: 1, User: "U0"}},
		Messages: msgs, AggregationUnit: b.AggregationUnit, Cause: broadcastCause(b.Name)}
	if err := d.ValidateChecked(); err != nil {
		return nil, nil, err
	}
	return seg, tpl, nil
}

// ScheduleBroadcast schedules b: at b.At (truncated to the minute; zero
// or past, the next Tick) its segment is evaluated over the live index,
// its messages rendered for each friend who follows then, and queued as
// multicasts (see the package doc, Broadcasts). It checks b first: a
// name (stepcast.CheckName), a segment that compiles against the schema
// (saved segments included; a *segment.Error with its position), 1 to 5
// messages each of which passes stepcast.CheckMessage after a trial
// render, placeholders naming fields of the schema (a *render.Error with
// the message and position), a valid aggregation unit, a time before
// 9999 (zero, or not before year 1) — all wrapping
// stepcast.ErrInvalid, nothing scheduled.
//
// Scheduling again under the name of a broadcast still scheduled, or
// cancelled before it started, replaces it (a new time, a new text); a
// name whose broadcast has started, been cancelled after starting, or
// sent is ErrBroadcastExists.
func (a *Account) ScheduleBroadcast(ctx context.Context, b Broadcast) error {
	fail := func(err error) error {
		return fmt.Errorf("engine: account %q: broadcast %s: %w", a.id, stepcast.Quote(b.Name), err)
	}
	if _, _, err := a.checkBroadcast(a.def.Load(), &b); err != nil {
		return fail(err)
	}
	if err := stepcast.CheckText("timer key", audienceKey(b.Name), stepcast.MaxIDLen); err != nil {
		return fail(err)
	}
	if !b.At.IsZero() {
		// Years JSON can write (the state is JSON), before the engine's
		// never (9999-01-01), when due work no longer comes due.
		if err := stepcast.CheckTime("broadcast time", b.At); err != nil {
			return fail(err)
		}
		if !b.At.Before(never) {
			return fail(fmt.Errorf("%w: broadcast time %s is not before %s, when due work no longer comes due",
				stepcast.ErrInvalid, b.At.UTC().Format(time.RFC3339), never.Format(time.RFC3339)))
		}
	}
	now := a.e.cfg.Now()
	b.At = b.At.Truncate(time.Minute).UTC()
	due := b.At
	if due.Before(now) {
		due = now
	}
	b.Messages = cloneMessages(b.Messages)
	b.Variants = append([]BroadcastVariant(nil), b.Variants...)
	for i := range b.Variants {
		b.Variants[i].Messages = cloneMessages(b.Variants[i].Messages)
	}
	st := broadcastState{Broadcast: b, Phase: phaseScheduled, CreatedAt: now}
	body, err := json.Marshal(st)
	if err != nil {
		return fail(err)
	}
	key := broadcastKey(b.Name)
	err = a.updateRetrying(ctx, func(tx store.Tx) error {
		t := store.Timer{Key: key, Due: due, State: body}
		old, err := tx.Timer(0, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		default:
			var prev broadcastState
			if err := json.Unmarshal(old.State, &prev); err != nil {
				return err
			}
			// Still scheduled, or cancelled before it started: nothing was
			// queued under the name, which is free again.
			reusable := prev.Phase == phaseScheduled || prev.Phase == phaseCancelled && prev.StartedAt.IsZero()
			if prev.Broadcast.Name != b.Name || !reusable {
				// Said in the report's status words (Broadcast), not
				// the timer's phases.
				rep, err := broadcastReport(tx, old)
				if err != nil {
					return err
				}
				return fmt.Errorf("%w: %s is %s", ErrBroadcastExists, stepcast.Quote(prev.Broadcast.Name), rep.Status)
			}
			t.Version = old.Version
		}
		_, err = tx.PutTimer(t)
		return err
	})
	if err != nil {
		return fail(err)
	}
	return nil
}

// updateRetrying runs fn in a transaction, again on a version conflict
// (another instance wrote the same timer meanwhile).
func (a *Account) updateRetrying(ctx context.Context, fn func(tx store.Tx) error) error {
	err := a.e.st.Update(ctx, a.id, fn)
	for conflicts := 0; errors.Is(err, store.ErrConflict) && conflicts < maxConflictRetries; conflicts++ {
		err = a.e.st.Update(ctx, a.id, fn)
	}
	return err
}

func cloneMessages(ms []stepcast.Message) []stepcast.Message {
	out := make([]stepcast.Message, len(ms))
	for i, m := range ms {
		out[i] = append(stepcast.Message(nil), m...)
	}
	return out
}

// CancelBroadcast cancels the broadcast name, saying why (reason, free
// text of at most stepcast.MaxReasonLen bytes, ErrInvalid beyond, kept in
// the report and on each delivery taken back). One still
// scheduled is never evaluated: its due work ends. One being planned
// stops planning at once (a chunk committing now is the last), and its
// deliveries still pending in the outbox are taken back
// (CancelDeliveries with its cause); those in flight or sent are not.
// It returns how many deliveries it took back. An unknown name is
// ErrNoBroadcast; cancelling one cancelled, failed or fully planned
// takes back what is pending and changes nothing else.
func (a *Account) CancelBroadcast(ctx context.Context, name, reason string) (int, error) {
	fail := func(err error) (int, error) {
		return 0, fmt.Errorf("engine: account %q: cancel broadcast %s: %w", a.id, stepcast.Quote(name), err)
	}
	if err := stepcast.CheckText("reason", reason, stepcast.MaxReasonLen); err != nil {
		return fail(err)
	}
	now := a.e.cfg.Now()
	key := broadcastKey(name)
	err := a.updateRetrying(ctx, func(tx store.Tx) error {
		t, err := tx.Timer(0, key)
		if errors.Is(err, store.ErrNotFound) {
			return ErrNoBroadcast
		}
		if err != nil {
			return err
		}
		var st broadcastState
		if err := json.Unmarshal(t.State, &st); err != nil {
			return err
		}
		if st.Broadcast.Name != name {
			return ErrNoBroadcast
		}
		if st.Phase != phaseScheduled && st.Phase != phasePlanning && st.Phase != phaseWaiting {
			return nil
		}
		st.Phase, st.Reason, st.EndedAt = phaseCancelled, reason, now
		if t.State, err = json.Marshal(st); err != nil {
			return err
		}
		t.Due = never
		if _, err := tx.PutTimer(t); err != nil {
			return err
		}
		if aud, err := tx.Timer(0, audienceKey(name)); err == nil {
			return tx.DeleteTimer(0, aud.Key, aud.Version)
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	n, err := a.CancelDeliveries(ctx, store.DeliverySelector{Cause: broadcastCause(name).Key()}, reason)
	if err != nil {
		return n, fmt.Errorf("engine: account %q: cancel broadcast %s: %w", a.id, stepcast.Quote(name), err)
	}
	return n, nil
}

// Broadcast reports on the broadcast name, or ErrNoBroadcast.
func (a *Account) Broadcast(ctx context.Context, name string) (BroadcastReport, error) {
	var rep BroadcastReport
	err := a.e.st.View(ctx, a.id, func(tx store.ReadTx) error {
		t, err := tx.Timer(0, broadcastKey(name))
		if errors.Is(err, store.ErrNotFound) {
			return ErrNoBroadcast
		}
		if err != nil {
			return err
		}
		rep, err = broadcastReport(tx, t)
		if err == nil && rep.Broadcast.Name != name {
			err = ErrNoBroadcast
		}
		return err
	})
	if err != nil {
		return rep, fmt.Errorf("engine: account %q: broadcast %s: %w", a.id, stepcast.Quote(name), err)
	}
	return rep, nil
}

// Broadcasts reports on every broadcast of the account, scheduled or
// past, ordered by due time then name.
func (a *Account) Broadcasts(ctx context.Context) ([]BroadcastReport, error) {
	var out []BroadcastReport
	err := a.e.st.View(ctx, a.id, func(tx store.ReadTx) error {
		ts, err := tx.FriendTimers(0)
		if err != nil {
			return err
		}
		for _, t := range ts {
			k := ParseTimerKey(t.Key)
			if k.Kind != DueBroadcast || strings.Contains(k.Name, "/") {
				continue // another kind, or an audience
			}
			rep, err := broadcastReport(tx, t)
			if err != nil {
				return err
			}
			out = append(out, rep)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("engine: account %q: broadcasts: %w", a.id, err)
	}
	sortReports(out)
	return out, nil
}

func sortReports(rs []BroadcastReport) {
	slices.SortFunc(rs, func(x, y BroadcastReport) int {
		return cmp.Or(x.Due.Compare(y.Due), cmp.Compare(x.Broadcast.Name, y.Broadcast.Name))
	})
}

// broadcastReport reads a broadcast's timer and its outbox progress.
func broadcastReport(tx store.ReadTx, t store.Timer) (BroadcastReport, error) {
	var st broadcastState
	if err := json.Unmarshal(t.State, &st); err != nil {
		return BroadcastReport{}, fmt.Errorf("timer %s: %w", t.Key, err)
	}
	rep := BroadcastReport{Broadcast: st.Broadcast, Reason: st.Reason, Due: t.Due, CreatedAt: st.CreatedAt,
		StartedAt: st.StartedAt, PlannedAt: st.PlannedAt, EndedAt: st.EndedAt, Audience: st.Audience,
		Planned: st.Planned, Skipped: st.Skipped, Deliveries: st.Deliveries, Pushes: st.Pushes, Chunks: st.Chunks}
	if !st.StartedAt.IsZero() {
		rep.Due = st.StartedAt
	} else if st.Phase != phaseScheduled {
		rep.Due = st.Broadcast.At
	}
	var err error
	if st.Phase != phaseScheduled {
		if rep.Outbox, err = tx.DeliveryProgress(broadcastCause(st.Broadcast.Name).Key()); err != nil {
			return rep, err
		}
	}
	switch st.Phase {
	case phaseScheduled:
		rep.Status = BroadcastScheduled
	case phasePlanning:
		rep.Status = BroadcastSending
	case phaseWaiting:
		rep.Status = BroadcastSending
		rep.Reason = fmt.Sprintf("the test share is sent; the rest wait for experiment %s to decide", stepcast.Quote(st.Broadcast.Experiment))
	case phasePlanned:
		rep.Status = BroadcastSent
		if rep.Outbox.Pending > 0 {
			rep.Status = BroadcastSending
		}
	case phaseCancelled:
		rep.Status = BroadcastCancelled
	default:
		rep.Status = BroadcastFailed
	}
	return rep, nil
}

package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/store"
)

// What a unit does with a machine's output: the queued messages of a run
// that ended taken back, the journey recorded as events, the sends
// queued, the actions run, the switch made.

// Withdrawn is the journey record of queued messages taken back from the
// outbox, unsent, because their run ended (an exit, a goal, a block).
const Withdrawn scenario.What = "withdrawn"

// ReplyPushed is the journey record of a step's reply action whose
// messages were pushed, not replied: the step ran in due work, which has
// no reply token, or its event's token had expired (Reason says why).
const ReplyPushed scenario.What = "reply_pushed"

// NotSent is the journey record of a step with A/B variants whose
// messages went to nobody: the friend is in the experiment's holdout, or
// its plan decided to send the rest nothing (Reason says which).
const NotSent scenario.What = "not_sent"

// ReplyDropped is the journey record of a step's reply action whose
// messages could be neither replied nor pushed: the friend does not
// follow, or the event is older than Config.ReplyPushWithin (Reason says
// which).
const ReplyDropped scenario.What = "reply_dropped"

// runOf names whose run a machine's output is of: a scenario's or a
// reminder's goal (kind, name, key), and the outbox key prefix of the
// friend's.
type runOf struct {
	kind      stepcast.CauseKind
	name, key string
	prefix    string
}

// carryOut does what a scenario's or a reminder's machine decided, under
// the outbox key prefix of the friend's scenario or goal.
func (u *unit) carryOut(r runOf, out scenario.Output, depth int, stepIndex func(string) int) error {
	kind, name, prefix := r.kind, r.name, r.prefix
	journey := out.Journey
	if out.CancelRun != 0 {
		n, err := u.tx.CancelDeliveries(store.DeliverySelector{KeyPrefix: prefix + scenario.RunPrefix(name, out.CancelRun)}, "the run ended or moved", u.at)
		if err != nil {
			return fmt.Errorf("engine: %s: %w", u.what(), err)
		}
		if n > 0 {
			// Steps recorded sent whose messages were still in the outbox:
			// taken back, and said so.
			journey = append(slices.Clone(journey), scenario.Record{At: u.at, Run: out.CancelRun, What: Withdrawn,
				Reason: fmt.Sprintf("%d queued message(s) of the run taken back unsent", n)})
		}
	}
	if err := u.journey(r, journey); err != nil {
		return err
	}
	f := &u.friend
	for _, s := range out.Sends {
		// A send draws nothing at random: no seed. scenario.Compile and
		// CompileReminder checked its messages.
		src := source{cause: stepcast.Cause{Kind: kind, Name: name, Step: stepIndex(s.Step), Unit: u.id}, key: prefix + s.Key, depth: depth, compiled: true}
		d := stepcast.Delivery{Kind: stepcast.DeliveryPush, Messages: s.Messages, Priority: s.Priority}
		if len(s.Variants) > 0 {
			msgs, exp, variant, note, err := u.variantSend(s)
			if err != nil {
				return err
			}
			if len(msgs) == 0 {
				prev := u.enter(src)
				u.note(note)
				u.leave(prev)
				rec := scenario.Record{At: u.at, Run: sentRun(journey, s.Step), Step: s.Step, What: NotSent, Reason: note}
				if err := u.journey(r, []scenario.Record{rec}); err != nil {
					return err
				}
				continue
			}
			d.Messages, d.Experiment, d.Variant = msgs, exp, variant
		}
		msgs, why := u.render(d.Messages)
		if why != "" {
			// The friend lacks a value the messages need: the step is
			// recorded skipped, and the run goes on to its next step.
			prev := u.enter(src)
			u.note(why)
			u.leave(prev)
			if err := u.journey(r, []scenario.Record{{At: u.at, Run: sentRun(journey, s.Step), Step: s.Step, What: scenario.Skipped, Reason: why}}); err != nil {
				return err
			}
			continue
		}
		d.Messages = msgs
		d.To = []stepcast.Recipient{{Friend: f.ID, User: f.User}}
		if err := u.queueDelivery(src, d); err != nil {
			return err
		}
	}
	for _, a := range out.Actions {
		src := stepSource(kind, name, stepIndex(a.Step), u.id, prefix+a.Key, depth)
		run := r // taken by address only here: r itself stays off the heap
		src.of, src.step = &run, a.Step
		for _, rec := range journey { // the run the step was recorded in (a restart ends one and begins another)
			if rec.Step == a.Step && (rec.What == scenario.Sent || rec.What == scenario.Ran) {
				src.run = rec.Run
			}
		}
		if err := u.do(src, a.Action); err != nil {
			return err
		}
	}
	if out.Switch != "" {
		if u.def.scenarios[out.Switch] == nil {
			return u.dangling(stepcast.Action{Kind: stepcast.StartScenario, Name: out.Switch})
		}
		return u.stepScenario(out.Switch, scenario.Input{Kind: scenario.Start}, depth+1)
	}
	return nil
}

// sentRun is the run step was recorded sent in, in journey.
func sentRun(journey []scenario.Record, step string) int {
	run := 0
	for _, j := range journey {
		if j.Step == step && j.What == scenario.Sent {
			run = j.Run
		}
	}
	return run
}

// journey records a machine's journey as events of the friend.
func (u *unit) journey(run runOf, records []scenario.Record) error {
	if len(records) == 0 {
		return nil
	}
	// IDs are the unit's and a count of the unit's journey records: fixed
	// by the unit, so that a replay records nothing twice, and distinct
	// however often the unit steps one scenario.
	h := sha256.Sum256([]byte(u.id))
	var buf [64]byte
	base := append(buf[:0], "journey/"...)
	base = hex.AppendEncode(base, h[:12])
	base = append(base, '/')
	for _, r := range records {
		u.journeyN++
		id := string(strconv.AppendInt(base, int64(u.journeyN), 10))
		data := map[string]string{"run": strconv.Itoa(r.Run), "of": string(run.kind)}
		if r.Step != "" {
			data["step"] = r.Step
		}
		if r.Status != "" {
			data["status"] = string(r.Status)
		}
		if r.Reason != "" {
			data["reason"] = truncate(r.Reason, stepcast.MaxTextLen)
		}
		of, what := run.name, string(r.What)
		if run.kind == stepcast.CauseReminder {
			data["key"] = run.key
			of = "reminder/" + run.name // reminders and scenarios name apart
		}
		if r.What == scenario.Ended {
			what = string(r.Status) // finished or exited, as the segment language asks
		}
		ev := stepcast.Event{ID: id, Friend: u.friend.ID, Kind: stepcast.EventJourney, Name: of, Value: what, Data: data, At: r.At}
		seq, err := u.tx.AppendEvent(ev)
		if errors.Is(err, store.ErrDuplicate) {
			continue // a replay of the unit
		}
		if err != nil {
			return fmt.Errorf("engine: %s: journey of %q: %w", u.what(), run.name, err)
		}
		u.logged = append(u.logged, store.Event{Seq: seq, Event: ev})
		u.pending(ev)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

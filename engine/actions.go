package engine

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/store"
)

// source is where an action comes from — a step of a rule, or a step of a
// scenario or reminder — and what follows from that: the cause recorded on
// what it queues, the key of what it queues, and its random numbers.
type source struct {
	// act is the rule activation; nil for a scenario's step. Rules set off
	// by what the action changes count their depth from it.
	act   *rules.Activation
	cause stepcast.Cause
	key   string // the outbox key of a delivery the action queues
	seed  *rand.Rand
	depth int // scenarios started from scenarios, for the loop guard
	// of is the run of a scenario or reminder a step's action is of, and
	// run and step name that step in the journey; nil for a rule's step.
	of   *runOf
	run  int
	step string
	// compiled: the messages a delivery sends are a compiled definition's
	// step's, checked when it was compiled (stepcast.CheckMessage).
	compiled bool
}

// ruleSource is the source of step i of a rule activation: its key is fixed
// by the unit, the activation and the step.
func (u *unit) ruleSource(act *rules.Activation, i int) source {
	prefix := "event/"
	if u.ev == nil {
		prefix = "" // the unit's id says "wake/…"
	}
	return source{
		act:   act,
		cause: stepcast.Cause{Kind: stepcast.CauseRule, Name: act.Name, Step: i, Unit: u.id},
		key:   fmt.Sprintf("%s%s/%s#%d/%d", prefix, u.id, act.Name, act.Seq, i),
		seed:  rules.Seed(u.id, act, i),
	}
}

// stepSource is the source of an action or a send of a scenario's or a
// reminder's step: its key is the machine's, under prefix.
func stepSource(kind stepcast.CauseKind, name string, step int, unit, key string, depth int) source {
	h := fnv.New64a()
	h.Write([]byte(key))
	return source{
		cause: stepcast.Cause{Kind: kind, Name: name, Step: step, Unit: unit},
		key:   key,
		seed:  rand.New(rand.NewPCG(h.Sum64(), 0x5eed)),
		depth: depth,
	}
}

// do carries out an action: rules decides what it does to the friend, and
// the unit applies that to its transaction.
func (u *unit) do(src source, a stepcast.Action) error {
	defer u.leave(u.enter(src))
	f := &u.friend
	d := u.def.rules.Decide(a, rules.Friend{Fields: f.Fields, Scenarios: f.Scenarios},
		rules.Context{At: u.at, Event: u.ev, Rand: src.seed})
	if d.Note != "" {
		u.note(d.Note)
	}
	orig, a := a, d.Action
	switch a.Kind {
	case "":
		return nil
	case stepcast.AddTag:
		return u.change(store.Change{Kind: store.SetTag, Name: a.Name}, src.act)
	case stepcast.RemoveTag:
		return u.change(store.Change{Kind: store.ClearTag, Name: a.Name}, src.act)
	case stepcast.SetField:
		return u.change(store.Change{Kind: store.SetField, Name: a.Name, Value: *a.Value}, src.act)
	case stepcast.AddScore:
		return u.grant(src, a)
	case stepcast.StartScenario, stepcast.StopScenario, stepcast.MoveScenario:
		if u.def.scenarios[a.Name] == nil {
			// Only a step of an older version can name a scenario the
			// definitions no longer have (they are checked when given).
			return u.dangling(a)
		}
		switch a.Kind {
		case stepcast.StartScenario:
			return u.stepScenario(a.Name, scenario.Input{Kind: scenario.Start}, src.depth+1)
		case stepcast.StopScenario:
			return u.stepScenario(a.Name, scenario.Input{Kind: scenario.Stop, Reason: "stop_scenario"}, src.depth+1)
		}
		to, err := moveTarget(u.def.scenarios[a.Name], a)
		if err != nil {
			u.note(err.Error() + " (an older version's step names it)")
			return nil
		}
		return u.stepScenario(a.Name, scenario.Input{Kind: scenario.Move, To: to}, src.depth+1)
	case stepcast.StartReminder, stepcast.CancelReminder:
		if u.def.reminders[a.Name] == nil {
			return u.dangling(a)
		}
		key, ok := orig.ReminderKey(u.ev)
		if !ok {
			u.note(fmt.Sprintf("the event has no %s to key the reminder by", orig.Key))
			return nil
		}
		in := scenario.ReminderInput{Kind: scenario.Cancel, Reason: "cancel_reminder"}
		if a.Kind == stepcast.StartReminder {
			in = scenario.ReminderInput{Kind: scenario.SetGoal, Goal: a.Value.Any().(time.Time)}
		}
		return u.stepReminder(a.Name, key, in, src.depth+1)
	case stepcast.SendMessages:
		msgs, why := u.render(a.Messages)
		if why != "" {
			u.note(why)
			return nil
		}
		to := []stepcast.Recipient{{Friend: f.ID, User: f.User}}
		return u.queueDelivery(src, stepcast.Delivery{Kind: stepcast.DeliveryPush, To: to, Messages: msgs, Priority: a.Priority})
	case stepcast.Reply:
		u.reply(src, a)
		return nil
	case stepcast.LinkRichMenu, stepcast.UnlinkRichMenu:
		return u.switchRichMenu(src, a)
	case stepcast.NotifyHost:
		u.notify(src, a)
		return nil
	}
	return errors.New("engine: action " + string(a.Kind) + " is not supported")
}

// dangling skips an action that names a scenario or reminder the
// definitions no longer have, saying so in the step's note and the log.
func (u *unit) dangling(a stepcast.Action) error {
	what := "scenario"
	if a.Kind == stepcast.StartReminder || a.Kind == stepcast.CancelReminder {
		what = "reminder"
	}
	why := fmt.Sprintf("%s: no %s %s any more (a step of an older version names it)", a.Kind, what, stepcast.Quote(a.Name))
	u.note(why)
	u.a.e.log.Warn("action skipped", "account", u.a.id, "unit", u.what(), "why", why)
	return nil
}

// notify keeps a notify_host action for the host's callback, which gets it
// once the unit has committed (Config.Notify).
func (u *unit) notify(src source, a stepcast.Action) {
	defer u.leave(u.enter(src))
	switch {
	case u.backfill:
		u.note("backfill: nothing is sent")
		return
	case u.a.e.cfg.Notify == nil && !u.sandbox:
		u.note("Config.Notify is not set: the notification is dropped")
		return
	}
	u.res.Notified = append(u.res.Notified, stepcast.Notification{
		Account: string(u.a.id), Friend: u.friend.ID, User: u.friend.User, Name: a.Name, Text: a.Text, Cause: src.cause, At: u.at,
	})
}

// note explains why the step running did nothing: on the rule step's
// result, or — for a scenario's or a reminder's step, which has no result
// of its own — among the unit's notes, naming the step.
func (u *unit) note(why string) {
	if s := &u.acting; s.set && s.src.act == nil {
		u.res.Notes = append(u.res.Notes, fmt.Sprintf("%s %s step %d: %s", s.src.cause.Kind, stepcast.Quote(s.src.cause.Name), s.src.cause.Step, why))
		return
	}
	if n := len(u.res.Steps); n > 0 {
		u.res.Steps[n-1].Note = why
	}
}

// acting is the source of the action or send being carried out, if set.
type acting struct {
	src source
	set bool
}

// enter makes src the source being carried out (see note) and returns the
// one before, for leave.
func (u *unit) enter(src source) acting {
	prev := u.acting
	u.acting = acting{src: src, set: true}
	return prev
}

// leave restores the source carried out before enter.
func (u *unit) leave(prev acting) { u.acting = prev }

package engine

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/store"
)

// do carries out one action of act's step i: rules decides what it does
// to the friend, and the unit applies that to its transaction.
func (u *unit) do(act *rules.Activation, i int, a stepcast.Action) error {
	f := &u.friend
	d := u.def.rules.Decide(a, rules.Friend{Fields: f.Fields, Scenarios: f.Scenarios},
		rules.Context{At: u.at, Event: u.ev, Rand: rules.Seed(u.id, act, i)})
	if d.Note != "" {
		u.note(d.Note)
	}
	a = d.Action
	switch a.Kind {
	case "":
		return nil
	case stepcast.AddTag:
		return u.change(store.Change{Kind: store.SetTag, Name: a.Name}, act)
	case stepcast.RemoveTag:
		return u.change(store.Change{Kind: store.ClearTag, Name: a.Name}, act)
	case stepcast.SetField:
		return u.change(store.Change{Kind: store.SetField, Name: a.Name, Value: *a.Value}, act)
	case stepcast.AddScore:
		return u.grant(act, a)
	case stepcast.StartScenario:
		return u.change(store.Change{Kind: store.EnterStep, Name: a.Name, Number: 0}, act)
	case stepcast.StopScenario:
		return u.change(store.Change{Kind: store.LeaveScenario, Name: a.Name}, act)
	case stepcast.MoveScenario:
		return u.change(store.Change{Kind: store.EnterStep, Name: a.Name, Number: a.Number}, act)
	case stepcast.StartReminder:
		return u.startReminder(a.Name, a.Value.Any().(time.Time))
	case stepcast.CancelReminder:
		return u.cancelReminder(a.Name)
	case stepcast.SendMessages:
		to := []stepcast.Recipient{{Friend: f.ID, User: f.User}}
		return u.queueDelivery(act, i, stepcast.Delivery{Kind: stepcast.DeliveryPush, To: to, Messages: a.Messages})
	case stepcast.LinkRichMenu:
		to := []stepcast.Recipient{{Friend: f.ID, User: f.User}}
		return u.queueDelivery(act, i, stepcast.Delivery{Kind: stepcast.DeliveryRichMenuLink, To: to, RichMenu: a.Name})
	case stepcast.NotifyHost:
		u.notify(act, i, a)
		return nil
	}
	return errors.New("engine: action " + string(a.Kind) + " is not supported")
}

// notify keeps a notify_host action for the host's callback, which gets it
// once the unit has committed (Config.Notify).
func (u *unit) notify(act *rules.Activation, i int, a stepcast.Action) {
	switch {
	case u.backfill:
		u.note("backfill: nothing is sent")
		return
	case u.a.e.cfg.Notify == nil:
		u.note("Config.Notify is not set: the notification is dropped")
		return
	}
	u.res.Notified = append(u.res.Notified, stepcast.Notification{
		Account: string(u.a.id), Friend: u.friend.ID, User: u.friend.User, Name: a.Name, Text: a.Text,
		Cause: stepcast.Cause{Kind: stepcast.CauseRule, Name: act.Name, Step: i, Unit: u.id}, At: u.at,
	})
}

// note explains why the step running did nothing.
func (u *unit) note(why string) {
	if n := len(u.res.Steps); n > 0 {
		u.res.Steps[n-1].Note = why
	}
}

func (u *unit) startReminder(name string, goal time.Time) error {
	key := TimerKey{Kind: DueReminder, Name: name}.String()
	var version uint64
	if t, err := u.tx.Timer(u.friend.ID, key); err == nil {
		version = t.Version
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	state, _ := json.Marshal(map[string]any{"goal": goal, "event": u.id})
	_, err := u.tx.PutTimer(store.Timer{Friend: u.friend.ID, Key: key, Due: goal, State: state, Version: version})
	return err
}

func (u *unit) cancelReminder(name string) error {
	key := TimerKey{Kind: DueReminder, Name: name}.String()
	t, err := u.tx.Timer(u.friend.ID, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return u.tx.DeleteTimer(u.friend.ID, key, t.Version)
}

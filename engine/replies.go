package engine

import (
	"fmt"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/scenario"
)

// Replies: the reply actions of a unit of work answer its event with the
// event's reply token — one reply of up to five messages, free of charge —
// and what cannot go that way is pushed, saying why.

// DefaultReplyWithin is Config.ReplyWithin's zero value: LINE's minute
// (stepcast.ReplyTokenValidity) less ten seconds for the commit and the
// dispatcher to send the reply before the token lapses.
const DefaultReplyWithin = stepcast.ReplyTokenValidity - 10*time.Second

// DefaultReplyPushWithin is Config.ReplyPushWithin's zero value: ten
// minutes. Long enough for a webhook LINE redelivers after a short outage
// of the server, and for a dispatcher that was behind, to still answer;
// short enough that the answer does not arrive after the friend has moved
// on, or asked again and been answered.
const DefaultReplyPushWithin = 10 * time.Minute

// standbyNote says why a unit of a standby event sends nothing.
const standbyNote = "standby: another channel has chat control (LINE's mode), and the bot should send no messages: nothing is sent"

// ReplyPriority is the priority of a queued reply, above everything else
// the engine queues (0 unless a step, reminder step or send_messages
// action sets its Priority, which is held to MaxStepPriority): a dispatcher sends it before the
// pushes and broadcasts waiting, as its token lapses within a minute. A
// queued reply's CreatedAt is its event's time, so a dispatcher can tell
// one whose token has lapsed (older than stepcast.ReplyTokenValidity)
// before LINE refuses it.
const ReplyPriority = 100

// replyPart is one reply action of the unit, kept until the unit's end,
// when all of them are answered together.
type replyPart struct {
	src      source
	messages []stepcast.Message
	step     int // its index in the unit's Result.Steps; -1 for a scenario's or reminder's step
}

// reply keeps a reply action's messages for the unit's one reply (see
// flushReplies). A backfill sends nothing, nor does the unit of an event
// that came in standby (Arrival.Standby). A friend who does not follow is
// still answered with a live token: a reply answers whoever wrote.
func (u *unit) reply(src source, a stepcast.Action) {
	defer u.leave(u.enter(src))
	switch {
	case u.backfill:
		u.note("backfill: nothing is sent")
		return
	case u.standby():
		u.note(standbyNote)
		return
	}
	msgs, why := u.render(a.Messages)
	if why != "" {
		u.note(why)
		return
	}
	step := -1
	if src.act != nil {
		step = len(u.res.Steps) - 1
	}
	u.replies = append(u.replies, replyPart{src: src, messages: msgs, step: step})
}

// replyToken returns the token the unit's replies may use, or why there
// is none: the unit is due work, the event came without one (not from a
// webhook, or of a kind LINE gives none), or the event is older, by the
// engine's clock, than Config.ReplyWithin. The event's time is when it
// happened, no later than the webhook that carried it, so its age is at
// least the token's; a redelivered webhook's event keeps its first time.
func (u *unit) replyToken() (token, why string) {
	switch {
	case u.ev == nil:
		return "", "due work has no reply token"
	case u.ev.Arrival.ReplyToken == "":
		return "", "the event came without a reply token"
	}
	within := u.a.e.cfg.ReplyWithin
	if within < 0 {
		return "", "replies are off (Config.ReplyWithin is negative)"
	}
	if age := u.a.e.cfg.Now().Sub(u.ev.At); age > within {
		return "", fmt.Sprintf("the reply token has expired: the event is %s old, beyond Config.ReplyWithin (%s; LINE honours a token for about a minute)",
			age.Round(time.Second), within)
	}
	return u.ev.Arrival.ReplyToken, ""
}

// standby reports whether the unit is of an event that came in standby
// mode: another channel has chat control, and nothing may be sent.
func (u *unit) standby() bool { return u.ev != nil && u.ev.Arrival.Standby }

// replyFallback says what becomes of reply messages that cannot go with
// the token (why): pushed, or — for a friend who does not follow (a push
// reaches only friends), or an event older than Config.ReplyPushWithin —
// dropped; and the note the steps get.
func (u *unit) replyFallback(why string) (push bool, note string) {
	if !u.friend.Following {
		return false, "dropped: " + why + ", and a push reaches only friends: the friend does not follow"
	}
	if u.ev == nil {
		return true, "pushed, not replied: " + why
	}
	within := u.a.e.cfg.ReplyPushWithin
	if within < 0 {
		return false, "dropped, not pushed: " + why + ", and replies are never pushed (Config.ReplyPushWithin is negative)"
	}
	if age := u.a.e.cfg.Now().Sub(u.ev.At); age > within {
		return false, fmt.Sprintf("dropped, not pushed: %s, and the event is %s old, beyond Config.ReplyPushWithin (%s): too late to answer it",
			why, age.Round(time.Second), within)
	}
	return true, "pushed, not replied: " + why
}

// flushReplies queues the unit's reply actions, in the order they ran: their
// messages, up to stepcast.MaxMessages, as one reply with the event's
// token (single-use: one reply per event), whether or not the friend
// follows; the others — all of them when there is no token to use — as
// pushes of up to MaxMessages messages each (a push counts once against
// the quota however many messages it holds), each with a note saying why,
// or dropped (see replyFallback). Every step whose messages were pushed
// or dropped says so: a rule's step in its StepResult.Note, a scenario's
// or a reminder's in Result.Notes and in the friend's journey
// (ReplyPushed, ReplyDropped). A combined delivery's cause and key are
// those of the action its first message comes from, its key suffixed
// "#reply" or "#push".
func (u *unit) flushReplies() error {
	parts := u.replies
	u.replies = nil
	if len(parts) == 0 {
		return nil
	}
	type message struct {
		m    stepcast.Message
		part int
	}
	var all []message
	for i, p := range parts {
		for _, m := range p.messages {
			all = append(all, message{m, i})
		}
	}
	messages := func(ms []message) []stepcast.Message {
		out := make([]stepcast.Message, len(ms))
		for i, m := range ms {
			out[i] = m.m
		}
		return out
	}
	token, why := u.replyToken()
	replied := 0
	if token != "" {
		replied = min(len(all), stepcast.MaxMessages)
		src := parts[all[0].part].src
		src.key += "#reply"
		d := stepcast.Delivery{Kind: stepcast.DeliveryReply, ReplyToken: token, Messages: messages(all[:replied]), Priority: ReplyPriority}
		if err := u.queueDelivery(src, d); err != nil {
			return err
		}
		why = fmt.Sprintf("%d messages to reply to one event, and a reply takes %d (LINE's limit)", len(all), stepcast.MaxMessages)
	}
	rest := all[replied:]
	if len(rest) == 0 {
		return nil
	}
	push, note := u.replyFallback(why)
	what := ReplyPushed
	if !push {
		what, rest = ReplyDropped, nil
	}
	to := []stepcast.Recipient{{Friend: u.friend.ID, User: u.friend.User}}
	for len(rest) > 0 {
		chunk := rest[:min(len(rest), stepcast.MaxMessages)]
		rest = rest[len(chunk):]
		src := parts[chunk[0].part].src
		src.key += "#push"
		if err := u.queueDelivery(src, stepcast.Delivery{Kind: stepcast.DeliveryPush, To: to, Messages: messages(chunk), Note: note}); err != nil {
			return err
		}
	}
	pushed := make([]int, len(parts))
	for _, m := range all[replied:] {
		pushed[m.part]++
	}
	for i, p := range parts {
		if pushed[i] == 0 {
			continue
		}
		n := note
		if pushed[i] < len(p.messages) {
			n = fmt.Sprintf("%d of its %d messages %s", pushed[i], len(p.messages), note)
		}
		if p.step >= 0 {
			u.res.Steps[p.step].Note = n
			continue
		}
		c := p.src.cause
		u.res.Notes = append(u.res.Notes, fmt.Sprintf("%s %s step %d: reply %s", c.Kind, stepcast.Quote(c.Name), c.Step, n))
		if p.src.of != nil {
			rec := scenario.Record{At: u.at, Run: p.src.run, Step: p.src.step, What: what, Reason: n}
			if err := u.journey(*p.src.of, []scenario.Record{rec}); err != nil {
				return err
			}
		}
	}
	return nil
}

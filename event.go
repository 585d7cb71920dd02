package stepcast

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrInvalid is returned (wrapped, saying what and where) when an Event or
// an Action is malformed.
var ErrInvalid = errors.New("stepcast: invalid")

// NewInvalid returns a new sentinel error with text msg that is also
// ErrInvalid, for a package's own input errors: errors.Is(err, ErrInvalid)
// then classifies the input errors of every package at once, while the
// package's sentinel still tells them apart.
func NewInvalid(msg string) error { return invalidSentinel{msg} }

type invalidSentinel struct{ msg string }

func (e invalidSentinel) Error() string        { return e.msg }
func (e invalidSentinel) Is(target error) bool { return target == ErrInvalid }

// EventKind is what a friend did.
type EventKind string

// The event kinds. Follow, unfollow, message and postback come from LINE's
// webhooks; click from our tracking links; answer from forms and surveys;
// conversion is reported by the host (a purchase, a booking, a
// cancellation); custom is anything else the host records.
const (
	EventFollow     EventKind = "follow"
	EventUnfollow   EventKind = "unfollow"
	EventMessage    EventKind = "message"
	EventPostback   EventKind = "postback"
	EventClick      EventKind = "click"
	EventAnswer     EventKind = "answer"
	EventConversion EventKind = "conversion"
	EventCustom     EventKind = "custom"
	// EventJourney is recorded by the engine, not done by the friend: a
	// step of their way through a scenario or a reminder. Name is the
	// scenario's, or "reminder/<name>" for a reminder; Value what happened:
	// entered, not_entered (the entry policy refused), sent, ran (a step of
	// actions only), skipped (its condition did not hold, or its time had
	// passed), moved, cancelled (a pending step dropped), withdrawn (queued
	// messages taken back), reply_pushed (a step's reply action was pushed,
	// not replied), reply_dropped (neither: the friend does not follow, or
	// the event was too old to answer), finished or exited (the run
	// ended). Data holds run (its number), of (scenario or reminder), and
	// as they apply step, status, reason and key (a reminder's goal key).
	// It makes the journey part of the friend's history; events of this
	// kind cannot be ingested.
	EventJourney EventKind = "journey"
)

// Event is something a friend did.
type Event struct {
	ID     string   `json:"id"` // for deduplication: LINE's webhookEventId or the host's own
	Friend FriendID `json:"friend"`
	// User is the friend's LINE userId, for events that arrive with it
	// (webhooks) rather than with an internal ID: the engine resolves it
	// into Friend, creating the friend on first sight, and logs the event
	// with Friend alone.
	User   UserID            `json:"user,omitempty"`
	Kind   EventKind         `json:"kind"`
	Name   string            `json:"name,omitempty"`   // what it was about: a link, a question, a conversion
	Value  string            `json:"value,omitempty"`  // the answer, the message text, the postback data
	Amount float64           `json:"amount,omitempty"` // revenue of a conversion
	Data   map[string]string `json:"data,omitempty"`   // anything else, e.g. an inflow route
	At     time.Time         `json:"at"`
	// Arrival is how LINE delivered the event. The engine acts on it in the
	// event's unit of work but never stores it: it is not part of what the
	// friend did, and a reply token is useless once its minute has passed.
	Arrival Arrival `json:"-"`
}

// Arrival is what LINE's webhook says about one delivery of an event:
// facts that matter while the event is handled, and never afterwards.
type Arrival struct {
	// ReplyToken answers the event through the Reply API: free of charge
	// and not counted against the monthly quota, single-use, and valid for
	// about one minute after the webhook was sent (LINE's documentation).
	ReplyToken string
	// Redelivered is LINE's deliveryContext.isRedelivery: the webhook was
	// sent before and not acknowledged. The event's ID is the same as
	// before, so the store recognizes a repeat whatever this says.
	Redelivered bool
	// Unblocked is a follow event's follow.isUnblocked: the friend had
	// blocked the account and unblocked it, rather than adding it anew.
	Unblocked bool
	// Standby is LINE's mode "standby" (the webhook's common properties):
	// another channel — a module channel — has chat control of the
	// account, and LINE's reference says the bot that received the event
	// should not send messages. The engine records such an event and
	// changes state for it (tags, fields, scores, scenarios) but queues
	// no message its unit decides: no reply, no push (LINE sends a
	// standby event without a reply token anyway).
	Standby bool
}

// Validate reports what is malformed in e, wrapping ErrInvalid: a missing
// ID, kind or time, and anything beyond the input limits (see MaxIDLen):
// text that is too long, not UTF-8 or holds NUL, a non-finite amount, a
// time before MinEventTime or after MaxTime. The message quotes at most a
// short prefix of the event's ID, kind, name and data keys, and never its
// value or data values — what a friend wrote, which errors must not carry
// into logs —: of those it gives only the length and the problem.
func (e Event) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: event %s: %s", ErrInvalid, Quote(e.ID), fmt.Sprintf(format, args...))
	}
	text := func(what, s string, max int) error {
		if p := textProblem(s, max); p != "" {
			return bad("%s %s %s", what, Quote(s), p)
		}
		return nil
	}
	// secret is text for a friend's words: its length, never its bytes.
	secret := func(what, s string, max int) error {
		if p := textProblem(s, max); p != "" {
			return bad("%s (%d bytes) %s", what, len(s), p)
		}
		return nil
	}
	switch {
	case e.ID == "":
		return fmt.Errorf("%w: event of friend %d has no ID", ErrInvalid, e.Friend)
	case e.Kind == "":
		return bad("no kind")
	case e.At.IsZero():
		return bad("no time")
	case e.At.Before(MinEventTime) || e.At.After(MaxTime):
		return bad("time %s is outside %d to %d", e.At.UTC().Format(time.RFC3339), MinEventTime.Year(), MaxTime.Year())
	case math.IsNaN(e.Amount) || math.IsInf(e.Amount, 0):
		return bad("amount is %v; numbers must be finite", e.Amount)
	case len(e.Data) > MaxDataKeys:
		return bad("%d data entries; the limit is %d", len(e.Data), MaxDataKeys)
	}
	if p := textProblem(e.ID, MaxIDLen); p != "" {
		return bad("the ID %s", p)
	}
	for _, err := range []error{
		text("kind", string(e.Kind), MaxNameLen),
		text("name", e.Name, MaxNameLen),
		secret("value", e.Value, MaxTextLen),
		text("LINE userId", string(e.User), MaxIDLen),
	} {
		if err != nil {
			return err
		}
	}
	for k, v := range e.Data {
		if k == "" {
			return bad("a data key is empty")
		}
		if err := text("data key", k, MaxNameLen); err != nil {
			return err
		}
		// The key is quoted only for an error: every journey event has
		// data, and Validate runs for each.
		if p := textProblem(v, MaxTextLen); p != "" {
			return bad("data %s (%d bytes) %s", Quote(k), len(v), p)
		}
	}
	return nil
}

// ActionKind is what an action does.
type ActionKind string

// The actions (アクション): data, not code, carried out by the engine in
// order, each after the ones before it took effect.
const (
	AddTag         ActionKind = "add_tag"          // Name
	RemoveTag      ActionKind = "remove_tag"       // Name
	SetField       ActionKind = "set_field"        // Name, Value — or Text: the event's "value", "amount" or "data.<key>"
	AddToField     ActionKind = "add_to_field"     // Name, Number (negative subtracts)
	RandomField    ActionKind = "random_field"     // Name, Min..Max inclusive (L-step's 乱数)
	ShiftDateField ActionKind = "shift_date_field" // Name: a time field set to Number days (±) after Text: "" for now, or another time field
	AddScore       ActionKind = "add_score"        // Name, Number
	StartScenario  ActionKind = "start_scenario"   // Name
	StopScenario   ActionKind = "stop_scenario"    // Name
	MoveScenario   ActionKind = "move_scenario"    // Name, Text: the step's name — or Number: its index from 0
	StartReminder  ActionKind = "start_reminder"   // Name, Value: the goal time — or Text: where in the event it is, as for set_field; Key
	CancelReminder ActionKind = "cancel_reminder"  // Name, Key
	SendMessages   ActionKind = "send_messages"    // Messages, pushed
	LinkRichMenu   ActionKind = "link_rich_menu"   // Name: the rich menu ID ("richmenu-" and 32 hex digits)
	UnlinkRichMenu ActionKind = "unlink_rich_menu" // no name: the friend sees the account's default menu again
	NotifyHost     ActionKind = "notify_host"      // Name, Text

	// Reply (Messages) answers the unit's event through the Reply API —
	// free, not counted against the monthly quota — with its reply token,
	// or pushes the messages when it cannot (no token, the token expired,
	// more than MaxMessages messages replied in one unit) and says why.
	Reply ActionKind = "reply"
)

// Message is one LINE message object, in the JSON the Messaging API takes.
type Message = json.RawMessage

// Action is one action.
type Action struct {
	Kind     ActionKind `json:"kind"`
	Name     string     `json:"name,omitempty"`
	Value    *Value     `json:"value,omitempty"`
	Number   int64      `json:"number,omitempty"`
	Min      int64      `json:"min,omitempty"`
	Max      int64      `json:"max,omitempty"`
	Text     string     `json:"text,omitempty"`
	Messages []Message  `json:"messages,omitempty"`
	// Key tells one goal of a reminder from the friend's others (one per
	// booking): literal text, or where in the event to read it — "value",
	// "amount" or "data.<key>" (a booking ID). Empty: the reminder's one
	// goal.
	Key string `json:"key,omitempty"`
	// Priority is the priority of the push a send_messages action queues
	// (Delivery.Priority): higher goes first, and a dispatcher's guards
	// may exempt it. Only send_messages takes one; the engine holds it
	// below its replies' priority.
	Priority int `json:"priority,omitempty"`
}

// ReminderKey returns the key a start_reminder or cancel_reminder action
// names for the unit's event (nil for due work): read from the event when
// Key names a part of one, else Key itself; and whether it could be read.
func (a Action) ReminderKey(ev *Event) (string, bool) {
	if !IsEventSource(a.Key) {
		return a.Key, true
	}
	if ev == nil {
		return "", false
	}
	return ev.Source(a.Key)
}

// Validate reports what is malformed in a.
func (a Action) Validate() error {
	kind := string(a.Kind)
	if len(kind) > 40 || textProblem(kind, 40) != "" {
		kind = Quote(kind)
	}
	bad := func(what string) error { return fmt.Errorf("%w: %s action: %s", ErrInvalid, kind, what) }
	if a.Name != "" {
		if p := textProblem(a.Name, MaxNameLen); p != "" {
			return bad("the name " + Quote(a.Name) + " " + p)
		}
	}
	if p := textProblem(a.Text, MaxTextLen); p != "" {
		return bad("the text " + Quote(a.Text) + " " + p)
	}
	if p := textProblem(a.Key, MaxNameLen); p != "" {
		return bad("the key " + Quote(a.Key) + " " + p)
	}
	if a.Priority != 0 && a.Kind != SendMessages {
		return bad("only send_messages takes a priority")
	}
	if a.Key != "" && a.Kind != StartReminder && a.Kind != CancelReminder {
		return bad("only start_reminder and cancel_reminder take a key")
	}
	switch a.Kind {
	case AddTag, RemoveTag, AddToField, ShiftDateField, AddScore, StartScenario, StopScenario, CancelReminder, NotifyHost:
		if a.Name == "" {
			return bad("no name")
		}
	case LinkRichMenu:
		if p := richMenuProblem(a.Name); p != "" {
			return bad("the rich menu " + Quote(a.Name) + " " + p)
		}
	case UnlinkRichMenu:
		if a.Name != "" {
			return bad("takes no name: it unlinks whatever menu the friend has")
		}
	case SetField, StartReminder:
		switch {
		case a.Name == "":
			return bad("no name")
		case a.Value == nil && a.Text == "", a.Value != nil && a.Text != "":
			return bad(`needs either a value or where in the event to take it from ("value", "amount" or "data.<key>")`)
		case a.Value != nil && a.Value.Validate() != nil:
			return bad(a.Value.Validate().Error())
		case a.Text != "" && !IsEventSource(a.Text):
			return bad(fmt.Sprintf(`%q is not a part of an event: want "value", "amount" or "data.<key>"`, a.Text))
		case a.Kind == StartReminder && a.Value != nil && a.Value.Type() != FieldTime:
			return bad("the goal must be a time")
		}
	case RandomField:
		if a.Name == "" || a.Min > a.Max {
			return bad("needs a name and min <= max")
		}
	case MoveScenario:
		if a.Name == "" || a.Number < 0 {
			return bad("needs a scenario and a step >= 0")
		}
	case SendMessages, Reply:
		if len(a.Messages) == 0 || len(a.Messages) > 5 {
			return bad(fmt.Sprintf("needs 1 to 5 messages (LINE's limit), has %d", len(a.Messages)))
		}
		for i, m := range a.Messages {
			if err := CheckMessage(m); err != nil {
				return bad(fmt.Sprintf("message %d: %v", i, err))
			}
		}
	default:
		return bad("unknown kind")
	}
	return nil
}

// IsEventSource reports whether src names a part of an event an action can
// take a value from: "value", "amount" or "data.<key>".
func IsEventSource(src string) bool {
	return src == "value" || src == "amount" || (strings.HasPrefix(src, "data.") && len(src) > len("data."))
}

// Source returns the part of e that src names (see IsEventSource) as text,
// and whether e has it.
func (e Event) Source(src string) (string, bool) {
	switch {
	case src == "value":
		return e.Value, e.Value != ""
	case src == "amount":
		return strconv.FormatFloat(e.Amount, 'f', -1, 64), true
	case strings.HasPrefix(src, "data."):
		v, ok := e.Data[src[len("data."):]]
		return v, ok
	}
	return "", false
}

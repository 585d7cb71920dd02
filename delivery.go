package stepcast

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// DeliveryKind is what a delivery asks of LINE's Messaging API. The set is
// closed: the engine queues only these, and a Sender sends only these.
type DeliveryKind string

// The delivery kinds, each with the Messaging API endpoint it calls and the
// recipients it takes (LINE's limits, from its OpenAPI specification).
const (
	DeliveryPush       DeliveryKind = "push"       // POST /v2/bot/message/push: one recipient
	DeliveryMulticast  DeliveryKind = "multicast"  // POST /v2/bot/message/multicast: 1–500 recipients
	DeliveryNarrowcast DeliveryKind = "narrowcast" // POST /v2/bot/message/narrowcast: Audience (recipient, filter, limit)
	DeliveryBroadcast  DeliveryKind = "broadcast"  // POST /v2/bot/message/broadcast: every friend, no recipients
	DeliveryReply      DeliveryKind = "reply"      // POST /v2/bot/message/reply: ReplyToken, free of charge
	// Rich menus: link one to a friend, unlink theirs, link or unlink one
	// for up to 500 friends at once, or set the account's default.
	DeliveryRichMenuLink       DeliveryKind = "rich_menu_link"        // POST /v2/bot/user/{userId}/richmenu/{richMenuId}: one recipient
	DeliveryRichMenuUnlink     DeliveryKind = "rich_menu_unlink"      // DELETE /v2/bot/user/{userId}/richmenu: one recipient
	DeliveryRichMenuBulkLink   DeliveryKind = "rich_menu_bulk_link"   // POST /v2/bot/richmenu/bulk/link: 1–500 recipients
	DeliveryRichMenuBulkUnlink DeliveryKind = "rich_menu_bulk_unlink" // POST /v2/bot/richmenu/bulk/unlink: 1–500 recipients
	DeliveryRichMenuDefault    DeliveryKind = "rich_menu_default"     // POST /v2/bot/user/all/richmenu/{richMenuId}: no recipients
)

// DeliveryKinds lists every delivery kind.
var DeliveryKinds = []DeliveryKind{
	DeliveryPush, DeliveryMulticast, DeliveryNarrowcast, DeliveryBroadcast, DeliveryReply,
	DeliveryRichMenuLink, DeliveryRichMenuUnlink, DeliveryRichMenuBulkLink, DeliveryRichMenuBulkUnlink, DeliveryRichMenuDefault,
}

// LINE's limits on one request.
const (
	MaxMessages          = 5   // messages in one push, multicast, narrowcast, broadcast or reply
	MaxMulticastTargets  = 500 // recipients of a multicast, or of a rich menu bulk link or unlink
	MaxAggregationUnitID = 30  // characters of a customAggregationUnits name
)

// RetryKeyValidity is how long LINE honours an X-Line-Retry-Key: a request
// retried later than this after its first attempt may be taken as new, so
// the dispatcher fails it rather than risk sending it twice.
const RetryKeyValidity = 24 * time.Hour

// ReplyTokenValidity is how long LINE honours a reply token: about one
// minute after the webhook that carried it; later use is not guaranteed
// (https://developers.line.biz/en/reference/messaging-api/#send-reply-message,
// the externalDocs of ReplyMessageRequest in LINE's OpenAPI spec). A token
// is single-use — one reply per event, of up to MaxMessages messages — and
// a reply is free of charge: it does not count against the monthly quota.
const ReplyTokenValidity = time.Minute

// IsRetryKey reports whether s has the form LINE takes for an
// X-Line-Retry-Key: a UUID, 8-4-4-4-12 hexadecimal digits in either case
// (any version: the engine derives v8 keys) — what the regular expression
// ^[0-9a-fA-F]{8}-…-[0-9a-fA-F]{12}$ matches, without its cost on every
// delivery queued and sent.
func IsRetryKey(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// TakesRetryKey reports whether LINE accepts an X-Line-Retry-Key on this
// kind of request: push, multicast, narrowcast and broadcast do; a reply
// (its token is single-use) and rich menu calls do not.
func (k DeliveryKind) TakesRetryKey() bool {
	switch k {
	case DeliveryPush, DeliveryMulticast, DeliveryNarrowcast, DeliveryBroadcast:
		return true
	}
	return false
}

// SendsMessages reports whether the kind sends messages (and counts
// against the monthly quota, but for replies).
func (k DeliveryKind) SendsMessages() bool {
	switch k {
	case DeliveryPush, DeliveryMulticast, DeliveryNarrowcast, DeliveryBroadcast, DeliveryReply:
		return true
	}
	return false
}

// Valid reports whether k is one of the delivery kinds.
func (k DeliveryKind) Valid() bool {
	for _, x := range DeliveryKinds {
		if k == x {
			return true
		}
	}
	return false
}

// recipients returns how many recipients the kind takes, at least and at most.
func (k DeliveryKind) recipients() (lo, hi int) {
	switch k {
	case DeliveryPush, DeliveryRichMenuLink, DeliveryRichMenuUnlink:
		return 1, 1
	case DeliveryMulticast, DeliveryRichMenuBulkLink, DeliveryRichMenuBulkUnlink:
		return 1, MaxMulticastTargets
	}
	return 0, 0 // narrowcast names its audience, broadcast and default take none, reply a token
}

// Recipient is one friend a delivery goes to: the account's own ID and the
// LINE userId it is sent to.
type Recipient struct {
	Friend FriendID `json:"friend"`
	User   UserID   `json:"user"`
}

// CauseKind says what decided a delivery.
type CauseKind string

// The causes of a delivery.
const (
	CauseRule      CauseKind = "rule"      // a step of an action rule, or a threshold's actions
	CauseScenario  CauseKind = "scenario"  // a step of a scenario
	CauseReminder  CauseKind = "reminder"  // a step of a reminder
	CauseBroadcast CauseKind = "broadcast" // a broadcast (segment delivery)
	CauseRichMenu  CauseKind = "rich_menu" // a rich menu switch for a segment, or the default menu
	CauseTest      CauseKind = "test"      // a test send to staff
)

// Cause says why a delivery was queued: which rule, scenario or broadcast,
// which step, and the unit of work (event or wake-up) that decided it.
type Cause struct {
	Kind CauseKind `json:"kind"`
	Name string    `json:"name"`           // the rule, scenario or broadcast
	Step int       `json:"step"`           // the step within it
	Unit string    `json:"unit,omitempty"` // the event ID or wake-up that decided it
}

// Key returns "kind:name", the key by which an outbox cancels or counts
// the deliveries of one rule, scenario or broadcast.
func (c Cause) Key() string { return string(c.Kind) + ":" + c.Name }

// Delivery is one request to LINE, decided by a unit of work and queued in
// the outbox in the same commit. Messages are the exact JSON message
// objects LINE takes (placeholders already rendered).
type Delivery struct {
	Kind DeliveryKind `json:"kind"`
	// To are the recipients: one for push and a rich menu link or unlink,
	// 1–500 for multicast and bulk rich menu calls, none otherwise.
	To       []Recipient `json:"to,omitempty"`
	Messages []Message   `json:"messages,omitempty"` // 1–5 for the kinds that send messages
	// ReplyToken is a reply's token (valid about a minute after the event).
	ReplyToken string `json:"reply_token,omitempty"`
	// RichMenu is the rich menu ID of a link, bulk link or default.
	RichMenu string `json:"rich_menu,omitempty"`
	// Audience is a narrowcast's recipient, filter and limit objects, as
	// LINE's NarrowcastRequest holds them: {"recipient":…,"filter":…,"limit":…}.
	Audience json.RawMessage `json:"audience,omitempty"`
	// NotificationDisabled sends without a push notification.
	NotificationDisabled bool `json:"notification_disabled,omitempty"`
	// AggregationUnit names the statistics unit of a push or multicast
	// (LINE's customAggregationUnits): 1–30 letters, digits or '_'.
	AggregationUnit string `json:"aggregation_unit,omitempty"`
	Cause           Cause  `json:"cause"`
	// Experiment and Variant name the A/B test arm the delivery belongs to.
	Experiment string `json:"experiment,omitempty"`
	Variant    string `json:"variant,omitempty"`
	// Priority orders pending deliveries: higher first (a reply before a
	// broadcast); equal priorities go oldest first.
	Priority int `json:"priority,omitempty"`
	// Note says what the kind and cause do not: a push that stands in for
	// a reply, and why ("the reply token has expired …").
	Note string `json:"note,omitempty"`
}

// Validate reports, wrapping ErrInvalid, what LINE would refuse in d, or
// what the outbox could not keep: an unknown kind, the wrong number of
// recipients or messages, a message CheckMessage refuses (the error names
// the message and its property), a missing reply token or rich menu, text
// beyond the input limits. It does not hold a recipient's User to the
// form of LINE's userIds — hosts and tests may name users their own way
// until a delivery reaches LINE — lineadapter's Sender does, before any
// request.
func (d Delivery) Validate() error { return d.validate(true) }

// ValidateChecked is Validate for a delivery whose messages each passed
// CheckMessage already — a compiled definition's, checked when it was
// compiled —: it checks all the rest, and how many messages there are,
// without reading every message's JSON again for every friend.
func (d Delivery) ValidateChecked() error { return d.validate(false) }

func (d Delivery) validate(checkMessages bool) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s delivery: %s", ErrInvalid, Quote(string(d.Kind)), fmt.Sprintf(format, args...))
	}
	if !d.Kind.Valid() {
		return bad("unknown kind")
	}
	if lo, hi := d.Kind.recipients(); len(d.To) < lo || len(d.To) > hi {
		if lo == hi {
			return bad("takes %d recipients, has %d", lo, len(d.To))
		}
		return bad("takes %d to %d recipients, has %d", lo, hi, len(d.To))
	}
	for i, r := range d.To {
		if r.User == "" {
			return bad("recipient %d (friend %d) has no LINE userId", i, r.Friend)
		}
		if p := textProblem(string(r.User), MaxIDLen); p != "" {
			return bad("recipient %d: the userId %s %s", i, Quote(string(r.User)), p)
		}
	}
	if d.Kind.SendsMessages() {
		if len(d.Messages) < 1 || len(d.Messages) > MaxMessages {
			return bad("needs 1 to %d messages (LINE's limit), has %d", MaxMessages, len(d.Messages))
		}
		if checkMessages {
			for i, m := range d.Messages {
				if err := CheckMessage(m); err != nil {
					return bad("message %d: %v", i, err)
				}
			}
		}
	} else if len(d.Messages) > 0 {
		return bad("sends no messages, has %d", len(d.Messages))
	}
	switch d.Kind {
	case DeliveryReply:
		if d.ReplyToken == "" {
			return bad("has no reply token")
		}
	case DeliveryRichMenuLink, DeliveryRichMenuBulkLink, DeliveryRichMenuDefault:
		if d.RichMenu == "" {
			return bad("names no rich menu")
		}
	case DeliveryNarrowcast:
		if len(d.Audience) > 0 && !json.Valid(d.Audience) {
			return bad("the audience is not JSON")
		}
	}
	if u := d.AggregationUnit; u != "" {
		if d.Kind != DeliveryPush && d.Kind != DeliveryMulticast {
			return bad("only push and multicast take an aggregation unit")
		}
		if len(u) > MaxAggregationUnitID || !isWord(u) {
			return bad("aggregation unit %s: want 1 to %d letters, digits or '_'", Quote(u), MaxAggregationUnitID)
		}
	}
	if p := textProblem(d.Note, MaxTextLen); p != "" {
		return bad("the note %s %s", Quote(d.Note), p)
	}
	for _, f := range [...]struct{ what, s string }{{"reply token", d.ReplyToken}, {"rich menu", d.RichMenu},
		{"experiment", d.Experiment}, {"variant", d.Variant}, {"cause", d.Cause.Name}, {"unit", d.Cause.Unit}} {
		if p := textProblem(f.s, MaxNameLen); p != "" {
			return bad("the %s %s %s", f.what, Quote(f.s), p)
		}
	}
	return nil
}

func isWord(s string) bool {
	for _, r := range s {
		if !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return s != ""
}

// Sender sends deliveries to LINE. The engine's dispatcher consumes it;
// lineadapter implements it over the Messaging API, and tests use fakes.
//
// Send makes one attempt at d. retryKey is the X-Line-Retry-Key to send
// with the kinds that take one (the same on every attempt at d, so that
// LINE accepts the request once), "" for the others. It returns LINE's
// request ID on success — also when LINE answers 409 because a retry of
// an accepted request was accepted before. Errors are classified by what
// they wrap:
//
//   - ErrRetryLater: not delivered, or delivered at most once whatever
//     comes next — a rate limit, a 5xx, a timeout or a dropped connection
//     of a request with a retry key (LINE answers its repeat with 409), a
//     request LINE did not process (a rate limit's 429, a 408, a 425), a
//     request that was never made (the wait for a rate limit ended first,
//     the connection was refused). Another attempt may succeed.
//   - ErrUncertain: the request may have been delivered and nothing can
//     tell: a 5xx, a timeout or a dropped connection of a request that
//     sends messages without a retry key (LINE: after a 5xx or a timeout
//     "there is a possibility that your message was delivered") — a
//     reply (LINE takes no retry key on one, and its token is
//     single-use: a second attempt is refused, or delivers twice) or a
//     push sent without a key. Do not retry; record it as possibly
//     delivered.
//   - ErrQuotaExceeded: the account's monthly message quota cannot cover
//     the send (LINE refuses a request whose messages exceed what is left,
//     used up or not).
//   - ErrUnauthorized: LINE refused the channel access token (401: expired,
//     revoked or wrong). Nothing was delivered, and every other request
//     would be refused alike until the token is replaced: stop sending,
//     and fail nothing for it.
//   - anything else: permanent; another attempt would fail alike.
type Sender interface {
	Send(ctx context.Context, d Delivery, retryKey string) (requestID string, err error)
}

// Errors a Sender classifies its failures with.
var (
	ErrRetryLater    = errors.New("stepcast: send failed; retry later")
	ErrQuotaExceeded = errors.New("stepcast: the monthly message quota cannot cover the send")
	// ErrUncertain is a request that may have been delivered, with no
	// retry key to make another attempt safe: not to be retried.
	ErrUncertain = errors.New("stepcast: the request may have been delivered; not retried")
	// ErrUnauthorized is LINE refusing the channel access token: the
	// channel's trouble, not the delivery's.
	ErrUnauthorized = errors.New("stepcast: LINE refused the channel access token")
)

// Notification is what a notify_host action tells the host application
// (a hot lead for sales, a booking to confirm): never sent to LINE.
type Notification struct {
	Account string    `json:"account"`
	Friend  FriendID  `json:"friend"`
	User    UserID    `json:"user"`
	Name    string    `json:"name"` // the action's name: what it is about
	Text    string    `json:"text,omitempty"`
	Cause   Cause     `json:"cause"`
	At      time.Time `json:"at"`
}

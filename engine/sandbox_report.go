package engine

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/scoring"
	"github.com/stepcast/stepcast/store"
)

// SandboxReport is what a sandbox run (Account.Sandbox) would have done,
// per friend, in the order it would have happened. String gives it in
// words, a line per unit of work.
type SandboxReport struct {
	// Friends are the friends the run acted on, in order of first sight.
	Friends []SandboxFriend
	// Events and Wakeups count the units of work run: events, and due
	// work waking up.
	Events, Wakeups int
	// Stopped says why the run stopped before the end — MaxSandboxUnits
	// reached —; "" when it ran everything.
	Stopped string
	loc     *time.Location
}

// SandboxFriend is what a sandbox run did to one friend.
type SandboxFriend struct {
	Friend stepcast.FriendID // in the sandbox: a friend Added has an ID that means nothing outside it
	User   stepcast.UserID
	// Added: the friend was first seen in the run (their first event),
	// and exists in the sandbox only.
	Added bool
	Units []SandboxUnit // in the order they ran
}

// SandboxUnit is one unit of work of a sandbox run: an event, or due work
// waking up, and what it did.
type SandboxUnit struct {
	ID      string    // the event's ID, or the wake-up's ("wake/<friend>/<timer key>/<due µs>")
	At      time.Time // the unit's time: the event's, or when the wake-up ran
	Wakeup  bool      // due work, not an event
	Actions []SandboxAction
	// Result is the unit's result as Ingest or Tick would return it, for
	// what the actions leave out (every rule step considered, points by
	// scoring rule); its Seqs and delivery IDs are the sandbox's.
	Result Result
}

// SandboxActionKind says what a sandbox action is.
type SandboxActionKind string

// The kinds of SandboxAction.
const (
	SandboxFollowed     SandboxActionKind = "followed"     // the friend follows (At: since when)
	SandboxBlocked      SandboxActionKind = "blocked"      // the friend blocked the account
	SandboxProfile      SandboxActionKind = "profile"      // display name (Name) and time zone (Value)
	SandboxTagAdded     SandboxActionKind = "tag_added"    // Name
	SandboxTagRemoved   SandboxActionKind = "tag_removed"  // Name
	SandboxFieldSet     SandboxActionKind = "field_set"    // Name, Value
	SandboxFieldUnset   SandboxActionKind = "field_unset"  // Name
	SandboxScore        SandboxActionKind = "score"        // Name, Value: the score's new value
	SandboxThreshold    SandboxActionKind = "threshold"    // Name: the threshold crossed, Value: how
	SandboxVariant      SandboxActionKind = "variant"      // Name: the experiment, Value: the variant ("" cleared)
	SandboxScenario     SandboxActionKind = "scenario"     // Name: the scenario, Value: what happened (journey), Step
	SandboxReminder     SandboxActionKind = "reminder"     // Name: the reminder, Value: what happened, Step, Key
	SandboxDelivery     SandboxActionKind = "delivery"     // Delivery, At: when it may be sent
	SandboxNotification SandboxActionKind = "notification" // Notification: what Config.Notify would get
	SandboxTally        SandboxActionKind = "tally"        // Name: the experiment, Value: the variant, Tally: the counts added
	SandboxDue          SandboxActionKind = "due"          // Name: the timer's key, At: when it comes due
	SandboxDueCleared   SandboxActionKind = "due_cleared"  // Name: the timer's key: nothing more due (the timer deleted, or kept with no due time)
	SandboxNote         SandboxActionKind = "note"         // Value: what a step could not do, and why
	SandboxDuplicate    SandboxActionKind = "duplicate"    // the event was recorded before: nothing happens
	SandboxStale        SandboxActionKind = "stale"        // the due work is gone: nothing happens
	SandboxFailed       SandboxActionKind = "failed"       // Err: the unit fails and changes nothing
)

// SandboxAction is one thing a sandbox unit did.
type SandboxAction struct {
	Kind  SandboxActionKind
	Name  string
	Value string
	Step  string // a scenario's or reminder's step
	Key   string // a reminder's goal key
	At    time.Time
	// Delivery is a delivery that would be queued, as the dispatcher would
	// send it: messages rendered, cause, recipients (sandbox friend IDs).
	Delivery     *stepcast.Delivery
	Notification *stepcast.Notification
	// Tally is what an experiment's tally would gain (recipients,
	// clickers, converters, revenue).
	Tally *store.Tally
	Err   error
}

// sandboxRecorder builds the report of an attempt.
type sandboxRecorder struct {
	SandboxReport
	loc      *time.Location
	byFriend map[stepcast.FriendID]int // index in Friends
	stopped  string
}

func (r *sandboxRecorder) done() *SandboxReport {
	rep := r.SandboxReport
	rep.Stopped, rep.loc = r.stopped, r.loc
	return &rep
}

// time formats t in the account's zone, to the minute.
func (r *sandboxRecorder) time(t time.Time) string { return t.In(r.loc).Format("2006-01-02 15:04") }

func (r *sandboxRecorder) friend(id stepcast.FriendID, user stepcast.UserID, added bool) *SandboxFriend {
	i, ok := r.byFriend[id]
	if !ok || id == 0 {
		i = len(r.Friends)
		r.Friends = append(r.Friends, SandboxFriend{Friend: id, User: user, Added: added})
		r.byFriend[id] = i
	}
	return &r.Friends[i]
}

func (r *sandboxRecorder) add(f *SandboxFriend, in input, id string, at time.Time, res Result, acts []SandboxAction) {
	if in.timer != nil {
		r.Wakeups++
	} else {
		r.Events++
	}
	f.Units = append(f.Units, SandboxUnit{ID: id, At: at, Wakeup: in.timer != nil, Actions: acts, Result: res})
}

// skipped records a duplicate event or stale due work.
func (r *sandboxRecorder) skipped(u *unit, in input, id string, duplicate bool) {
	friend, user, at := u.friend.ID, u.friend.User, in.now
	if in.event != nil {
		at, user = in.event.At, in.event.User
		if u.ev != nil {
			friend = u.ev.Friend
		}
	}
	act := SandboxAction{Kind: SandboxStale, Value: "the due work changed since: nothing happens"}
	if duplicate {
		act = SandboxAction{Kind: SandboxDuplicate, Value: "recorded before: nothing happens"}
	}
	r.add(r.friend(friend, user, false), in, id, at, Result{Event: id, Friend: friend, Duplicate: true}, []SandboxAction{act})
}

// failedUnit records a unit that failed by its own fault.
func (r *sandboxRecorder) failedUnit(in input, id string, err error, tx *sandboxTx) {
	var friend stepcast.FriendID
	var user stepcast.UserID
	at := in.now
	if in.event != nil {
		friend, user, at = in.event.Friend, in.event.User, in.event.At
		if user != "" {
			if f, ferr := tx.FriendByUser(user); ferr == nil {
				friend = f.ID
			}
		}
	} else {
		friend = in.timer.Friend
	}
	if user == "" && friend != 0 {
		if f, ferr := tx.Friend(friend); ferr == nil {
			user = f.User
		}
	}
	r.add(r.friend(friend, user, false), in, id, at, Result{Event: id, Friend: friend, Err: err},
		[]SandboxAction{{Kind: SandboxFailed, Err: err}})
}

// unit records what a unit that went through did.
func (r *sandboxRecorder) unit(u *unit, tx *sandboxTx) {
	var acts []SandboxAction
	add := func(a SandboxAction) { acts = append(acts, a) }
	crossed := make([]bool, len(u.res.Crossings))
	changes := 0 // how many of the unit's changes are told
	tell := func(upto int) {
		for ; changes < upto; changes++ {
			c := u.res.Changes[changes]
			switch c.Kind {
			case store.Follow:
				add(SandboxAction{Kind: SandboxFollowed, At: c.At})
			case store.Unfollow:
				add(SandboxAction{Kind: SandboxBlocked, At: c.At})
			case store.SetProfile:
				add(SandboxAction{Kind: SandboxProfile, Name: c.Name, Value: c.Text})
			case store.SetTag:
				add(SandboxAction{Kind: SandboxTagAdded, Name: c.Name})
			case store.ClearTag:
				add(SandboxAction{Kind: SandboxTagRemoved, Name: c.Name})
			case store.SetField:
				v := c.Value.String()
				if at, ok := c.Value.Any().(time.Time); ok {
					v = at.In(r.loc).Format(time.RFC3339) // in the account's zone, as conditions read it
				}
				add(SandboxAction{Kind: SandboxFieldSet, Name: c.Name, Value: v})
			case store.UnsetField:
				add(SandboxAction{Kind: SandboxFieldUnset, Name: c.Name})
			case store.SetScore:
				add(SandboxAction{Kind: SandboxScore, Name: c.Name, Value: fmt.Sprint(c.Number)})
				// The thresholds the new value crossed follow it.
				for i, x := range u.res.Crossings {
					if !crossed[i] && x.Score == c.Name {
						crossed[i] = true
						add(crossing(x))
					}
				}
			case store.SetVariant:
				add(SandboxAction{Kind: SandboxVariant, Name: c.Name, Value: c.Text})
			case store.ClearVariant:
				add(SandboxAction{Kind: SandboxVariant, Name: c.Name})
			}
			// EnterStep and LeaveScenario: the journey says it in words.
		}
	}
	for _, op := range tx.ops {
		tell(min(op.changes, len(u.res.Changes)))
		switch {
		case op.journey != nil:
			add(journeyAction(op.journey.Event))
		case op.delivery != nil:
			var d stepcast.Delivery
			if err := json.Unmarshal(op.delivery.Payload, &d); err != nil {
				add(SandboxAction{Kind: SandboxNote, Value: fmt.Sprintf("a queued delivery cannot be read back: %v", err)})
				continue
			}
			add(SandboxAction{Kind: SandboxDelivery, Delivery: &d, At: op.delivery.NextAt})
		case op.tally != nil:
			add(SandboxAction{Kind: SandboxTally, Name: op.tally.Experiment, Value: op.tally.Variant, Tally: op.tally})
		}
	}
	tell(len(u.res.Changes))
	for i, x := range u.res.Crossings {
		if !crossed[i] {
			add(crossing(x))
		}
	}
	for i := range u.res.Notified {
		add(SandboxAction{Kind: SandboxNotification, Name: u.res.Notified[i].Name, Notification: &u.res.Notified[i], At: u.res.Notified[i].At})
	}
	for _, st := range u.res.Steps {
		if st.Note != "" {
			add(SandboxAction{Kind: SandboxNote, Name: st.Rule, Value: fmt.Sprintf("rule %s step %d (%s): %s", stepcast.Quote(st.Rule), st.Step, st.Action, st.Note)})
		}
	}
	for _, n := range u.res.Notes {
		add(SandboxAction{Kind: SandboxNote, Value: n})
	}
	for _, t := range tx.timers {
		if t.deleted || !t.due.Before(never) {
			add(SandboxAction{Kind: SandboxDueCleared, Name: t.key})
		} else {
			add(SandboxAction{Kind: SandboxDue, Name: t.key, At: t.due})
		}
	}
	f := r.friend(u.friend.ID, u.friend.User, tx.added[u.friend.ID])
	r.add(f, input{event: u.ev, timer: u.timer}, u.id, u.at, u.res, acts)
}

func crossing(c scoring.Crossing) SandboxAction {
	return SandboxAction{Kind: SandboxThreshold, Name: c.Threshold, Value: fmt.Sprintf("%s %g → %g", c.Score, c.From, c.To), At: c.At}
}

// journeyAction tells a journey record of a scenario or a reminder.
func journeyAction(e stepcast.Event) SandboxAction {
	a := SandboxAction{Kind: SandboxScenario, Name: e.Name, Value: e.Value, Step: e.Data["step"], At: e.At}
	if name, ok := strings.CutPrefix(e.Name, "reminder/"); ok {
		a.Kind, a.Name, a.Key = SandboxReminder, name, e.Data["key"]
	}
	if why := e.Data["reason"]; why != "" {
		a.Value += " (" + why + ")"
	}
	return a
}

// String gives the report in words: a line per unit of work, each
// friend's in order, times in the account's zone, e.g.
//
//	friend 1 (U1, new)
//	  2026-11-30 10:00 event "f1": follows; tag +lead; scenario "trial" entered; scenario "trial" step "welcome" sent; push 1 message at 10:00: "Welcome!"; due scenario/trial at 2026-12-01 10:00
func (r *SandboxReport) String() string {
	loc := r.loc
	if loc == nil {
		loc = time.UTC
	}
	tf := func(t time.Time) string { return t.In(loc).Format("2006-01-02 15:04") }
	var b strings.Builder
	if len(r.Friends) == 0 {
		b.WriteString("nothing would happen\n")
	}
	for _, f := range r.Friends {
		fmt.Fprintf(&b, "friend %d (%s", f.Friend, f.User)
		if f.Added {
			b.WriteString(", new")
		}
		b.WriteString(")\n")
		for _, u := range f.Units {
			what := "event " + stepcast.Quote(u.ID)
			if u.Wakeup {
				what = "due work"
			}
			fmt.Fprintf(&b, "  %s %s: ", tf(u.At), what)
			if len(u.Actions) == 0 {
				b.WriteString("nothing")
			}
			for i, a := range u.Actions {
				if i > 0 {
					b.WriteString("; ")
				}
				b.WriteString(a.text(tf))
			}
			b.WriteByte('\n')
		}
	}
	if r.Stopped != "" {
		b.WriteString(r.Stopped)
		b.WriteByte('\n')
	}
	return b.String()
}

// String says what a does, times in UTC.
func (a SandboxAction) String() string {
	return a.text(func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04Z") })
}

func (a SandboxAction) text(tf func(time.Time) string) string {
	q := quoteShort
	switch a.Kind {
	case SandboxFollowed:
		return "follows"
	case SandboxBlocked:
		return "blocked"
	case SandboxProfile:
		return fmt.Sprintf("profile %s, zone %s", q(a.Name), q(a.Value))
	case SandboxTagAdded:
		return "tag +" + a.Name
	case SandboxTagRemoved:
		return "tag -" + a.Name
	case SandboxFieldSet:
		return fmt.Sprintf("field %s = %s", a.Name, q(a.Value))
	case SandboxFieldUnset:
		return fmt.Sprintf("field %s unset", a.Name)
	case SandboxScore:
		return fmt.Sprintf("score %s = %s", a.Name, a.Value)
	case SandboxThreshold:
		return fmt.Sprintf("threshold %s crossed (%s)", q(a.Name), a.Value)
	case SandboxVariant:
		if a.Value == "" {
			return fmt.Sprintf("experiment %s: variant cleared", q(a.Name))
		}
		return fmt.Sprintf("experiment %s: variant %s", q(a.Name), q(a.Value))
	case SandboxScenario, SandboxReminder:
		s := fmt.Sprintf("%s %s", a.Kind, q(a.Name))
		if a.Key != "" {
			s += " goal " + q(a.Key)
		}
		if a.Step != "" {
			s += " step " + q(a.Step)
		}
		return s + " " + a.Value
	case SandboxDelivery:
		return deliveryText(a.Delivery, tf(a.At))
	case SandboxNotification:
		s := "notify host " + q(a.Name)
		if a.Notification != nil && a.Notification.Text != "" {
			s += ": " + q(clipRunes(a.Notification.Text, 40))
		}
		return s
	case SandboxTally:
		var parts []string
		if t := a.Tally; t != nil {
			for _, c := range []struct {
				n    int64
				what string
			}{{t.Recipients, "recipient"}, {t.Clickers, "clicker"}, {t.Converters, "converter"}} {
				if c.n != 0 {
					parts = append(parts, fmt.Sprintf("%+d %s", c.n, c.what))
				}
			}
			if t.Revenue != 0 {
				parts = append(parts, fmt.Sprintf("%+g revenue", t.Revenue))
			}
		}
		return fmt.Sprintf("experiment %s variant %s tally %s", q(a.Name), q(a.Value), strings.Join(parts, ", "))
	case SandboxDue:
		return fmt.Sprintf("due %s at %s", a.Name, tf(a.At))
	case SandboxDueCleared:
		return fmt.Sprintf("due %s: nothing more", a.Name)
	case SandboxNote:
		return "note: " + a.Value
	case SandboxDuplicate, SandboxStale:
		return a.Value
	case SandboxFailed:
		return fmt.Sprintf("fails, changing nothing: %v", a.Err)
	}
	return string(a.Kind) + " " + a.Name + " " + a.Value
}

// deliveryText says what a delivery asks of LINE: "push 1 message at
// 10:00 (scenario "trial" step 0): "Welcome!"".
func deliveryText(d *stepcast.Delivery, at string) string {
	if d == nil {
		return "delivery"
	}
	var s string
	switch {
	case d.Kind.SendsMessages():
		s = fmt.Sprintf("%s %d message", d.Kind, len(d.Messages))
		if len(d.Messages) != 1 {
			s += "s"
		}
	case d.RichMenu != "":
		s = fmt.Sprintf("%s %s", d.Kind, quoteShort(d.RichMenu))
	default:
		s = string(d.Kind)
	}
	s += " at " + at
	if c := d.Cause; c.Kind != "" {
		s += fmt.Sprintf(" (%s %s step %d)", c.Kind, quoteShort(c.Name), c.Step)
	}
	if len(d.Messages) > 0 {
		s += ": " + messageText(d.Messages[0])
	}
	return s
}

// messageText is a short form of a message: a text message's text, else
// its type.
func messageText(m stepcast.Message) string {
	var v struct{ Type, Text, AltText string }
	if json.Unmarshal(m, &v) != nil {
		return "(unreadable)"
	}
	switch {
	case v.Text != "":
		return stepcast.Quote(clipRunes(v.Text, 40))
	case v.AltText != "":
		return v.Type + " " + stepcast.Quote(clipRunes(v.AltText, 40))
	}
	return "(" + v.Type + ")"
}

// quoteShort quotes s, cut to 64 runes: a report line stays readable, and
// a rich menu ID (41 bytes) whole.
func quoteShort(s string) string { return strconv.Quote(clipRunes(s, 64)) }

// clipRunes cuts s to n runes, marking the cut.
func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

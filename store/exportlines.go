package store

import (
	"fmt"
	"time"

	"github.com/stepcast/stepcast"
)

// The lines of the export format (see export.go), as Go types.

const exportFormat = "stepcast-export"

type exportHeader struct {
	Format  string    `json:"format"`
	Version int       `json:"version"`
	Account AccountID `json:"account"`
}

// The sections of an export, in their order.
const (
	secFriends = iota
	secChanges
	secEvents
	secTimers
	secDefinitions
	secTallies
	secDeliveries
	sections
)

var sectionNames = [sections]string{"friends", "changes", "events", "timers", "definitions", "tallies", "deliveries"}

// exportLine is a line of version 2 after the header: exactly one field is
// set.
type exportLine struct {
	Friend *Friend        `json:"friend,omitempty"`
	Change *Change        `json:"change,omitempty"`
	Event  *Event         `json:"event,omitempty"`
	Timer  *timerLine     `json:"timer,omitempty"`
	Def    *defLine       `json:"definition,omitempty"`
	Tally  *tallyLine     `json:"tally,omitempty"`
	Del    *deliveryLine  `json:"delivery,omitempty"`
	End    *exportTrailer `json:"end,omitempty"`
}

// lineV1 is a line of version 1: tallies and deliveries with Go's field
// names and a numeric delivery status.
type lineV1 struct {
	Friend *Friend    `json:"friend,omitempty"`
	Change *Change    `json:"change,omitempty"`
	Event  *Event     `json:"event,omitempty"`
	Timer  *timerLine `json:"timer,omitempty"`
	Def    *defLine   `json:"definition,omitempty"`
	Tally  *Tally     `json:"tally,omitempty"`
	Del    *Delivery  `json:"delivery,omitempty"`
}

// v2 returns l in version 2's form.
func (l *lineV1) v2() exportLine {
	out := exportLine{Friend: l.Friend, Change: l.Change, Event: l.Event, Timer: l.Timer, Def: l.Def}
	if l.Tally != nil {
		t := tallyOut(*l.Tally)
		out.Tally = &t
	}
	if l.Del != nil {
		d := deliveryOut(*l.Del)
		out.Del = &d
	}
	return out
}

// section returns the section of the record l holds, and how many records
// it holds.
func (l *exportLine) section() (sec, n int) {
	sec = -1
	for i, set := range [...]bool{l.Friend != nil, l.Change != nil, l.Event != nil, l.Timer != nil, l.Def != nil, l.Tally != nil, l.Del != nil} {
		if set {
			sec = i
			n++
		}
	}
	return sec, n
}

// changeOut is c as a change line: its time in UTC to the microsecond.
func changeOut(c Change) *Change {
	c.At = c.At.UTC().Truncate(time.Microsecond)
	return &c
}

// eventOut is e as an event line: its time in UTC to the microsecond.
func eventOut(e Event) *Event {
	e.At = e.At.UTC().Truncate(time.Microsecond)
	return &e
}

type timerLine struct {
	Friend stepcast.FriendID `json:"friend"`
	Key    string            `json:"key"`
	Due    time.Time         `json:"due"`
	State  []byte            `json:"state,omitempty"`
}

func (l *timerLine) timer() Timer {
	return Timer{Friend: l.Friend, Key: l.Key, Due: l.Due, State: l.State}
}

type defLine struct {
	Kind      string    `json:"kind"`
	Name      string    `json:"name"`
	Body      []byte    `json:"body,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

func (l *defLine) definition() Definition {
	return Definition{Kind: l.Kind, Name: l.Name, Body: l.Body, UpdatedAt: l.UpdatedAt}
}

type tallyLine struct {
	Experiment string  `json:"experiment"`
	Variant    string  `json:"variant"`
	Recipients int64   `json:"recipients"`
	Clickers   int64   `json:"clickers"`
	Converters int64   `json:"converters"`
	Revenue    float64 `json:"revenue"`
}

func tallyOut(t Tally) tallyLine { return tallyLine(t) }

func (l *tallyLine) tally() Tally { return Tally(*l) }

// deliveryLine is a delivery without its lease.
type deliveryLine struct {
	ID             uint64                `json:"id"`
	Key            string                `json:"key"`
	RetryKey       string                `json:"retry_key,omitempty"`
	Kind           stepcast.DeliveryKind `json:"kind"`
	Payload        []byte                `json:"payload,omitempty"`
	Cause          string                `json:"cause,omitempty"`
	Friends        []stepcast.FriendID   `json:"friends,omitempty"`
	Priority       int                   `json:"priority,omitempty"`
	Status         statusName            `json:"status"`
	Attempts       int                   `json:"attempts"`
	NextAt         time.Time             `json:"next_at"`
	FirstAttemptAt time.Time             `json:"first_attempt_at,omitzero"`
	Error          string                `json:"error,omitempty"`
	Reason         string                `json:"reason,omitempty"`
	RequestID      string                `json:"request_id,omitempty"`
	CreatedAt      time.Time             `json:"created_at"`
	DoneAt         time.Time             `json:"done_at,omitzero"`
}

func deliveryOut(d Delivery) deliveryLine {
	return deliveryLine{ID: d.ID, Key: d.Key, RetryKey: d.RetryKey, Kind: d.Kind, Payload: d.Payload, Cause: d.Cause, Friends: d.Friends,
		Priority: d.Priority, Status: statusName(d.Status), Attempts: d.Attempts, NextAt: d.NextAt, FirstAttemptAt: d.FirstAttemptAt,
		Error: d.Error, Reason: d.Reason, RequestID: d.RequestID, CreatedAt: d.CreatedAt, DoneAt: d.DoneAt}
}

func (l *deliveryLine) delivery() Delivery {
	return Delivery{ID: l.ID, Key: l.Key, RetryKey: l.RetryKey, Kind: l.Kind, Payload: l.Payload, Cause: l.Cause, Friends: l.Friends,
		Priority: l.Priority, Status: DeliveryStatus(l.Status), Attempts: l.Attempts, NextAt: l.NextAt, FirstAttemptAt: l.FirstAttemptAt,
		Error: l.Error, Reason: l.Reason, RequestID: l.RequestID, CreatedAt: l.CreatedAt, DoneAt: l.DoneAt}
}

// statusName is a DeliveryStatus written by name: "pending", "sent",
// "failed", "cancelled".
type statusName DeliveryStatus

func (s statusName) MarshalText() ([]byte, error) {
	if DeliveryStatus(s) >= Pending && DeliveryStatus(s) <= Cancelled {
		return []byte(DeliveryStatus(s).String()), nil
	}
	return nil, fmt.Errorf("%w: delivery status %d", ErrInvalid, uint8(s))
}

func (s *statusName) UnmarshalText(b []byte) error {
	for _, st := range DeliveryStatuses {
		if st.String() == string(b) {
			*s = statusName(st)
			return nil
		}
	}
	return fmt.Errorf("unknown delivery status %s", stepcast.Quote(string(b)))
}

// exportTrailer is the last line of version 2: how many records each
// section holds, and the SHA-256 of every byte before the trailer, in
// lowercase hex.
type exportTrailer struct {
	Friends     int    `json:"friends"`
	Changes     int    `json:"changes"`
	Events      int    `json:"events"`
	Timers      int    `json:"timers"`
	Definitions int    `json:"definitions"`
	Tallies     int    `json:"tallies"`
	Deliveries  int    `json:"deliveries"`
	SHA256      string `json:"sha256"`
}

func (t *exportTrailer) counts() [sections]int {
	return [sections]int{t.Friends, t.Changes, t.Events, t.Timers, t.Definitions, t.Tallies, t.Deliveries}
}

func trailerOf(counts [sections]int, sum []byte) exportTrailer {
	return exportTrailer{Friends: counts[secFriends], Changes: counts[secChanges], Events: counts[secEvents], Timers: counts[secTimers],
		Definitions: counts[secDefinitions], Tallies: counts[secTallies], Deliveries: counts[secDeliveries], SHA256: fmt.Sprintf("%x", sum)}
}

package store

import "github.com/stepcast/stepcast"

// LogReader reads an account's two logs: the change log (every Change
// applied, by Seq) and the event log (every event recorded, by its own
// Seq).
type LogReader interface {
	// Changes returns up to limit changes with Seq above after, in
	// ascending Seq order (none for a limit not positive).
	Changes(after uint64, limit int) ([]Change, error)
	// LastSeq returns the Seq of the last change, 0 if none.
	LastSeq() (uint64, error)
	// Events returns up to limit recorded events with Seq above after, in
	// ascending Seq (recording) order (none for a limit not positive).
	Events(after uint64, limit int) ([]Event, error)
	// FriendEvents returns up to limit of the friend's recorded events
	// with Seq below before (0: from the latest), latest first — one page
	// of the friend's history; fewer than limit means the end.
	FriendEvents(friend stepcast.FriendID, before uint64, limit int) ([]Event, error)
	// HasEvent reports whether an event with this ID was recorded (false
	// for an ID AppendEvent would refuse).
	HasEvent(id string) (bool, error)
}

// LogWriter records events. (Changes are logged by FriendWriter.Apply.)
type LogWriter interface {
	// AppendEvent records e, assigning it the next event Seq. An ID seen
	// before is ErrDuplicate: the caller skips the event; an event beyond
	// the limits of stepcast.Event.Validate, or carrying a User (the log
	// keeps Friend alone), is ErrInvalid; one of a friend the account does
	// not know ErrNotFound. Times are kept to the microsecond in UTC.
	AppendEvent(e stepcast.Event) (uint64, error)
}

// Event is an event as recorded in the event log: the event and its
// position in the log.
//
// Its JSON form is the event's with the Seq first: the export format's
// event line, and what JSON backends store (without the Seq).
type Event struct {
	Seq uint64 `json:"seq,omitempty"` // assigned by AppendEvent
	stepcast.Event
}

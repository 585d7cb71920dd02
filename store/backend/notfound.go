package backend

import (
	"fmt"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// TimerNotFound is store.ErrNotFound for the timer key of friend, in a
// backend's words ("boltstore: timer 7/\"cap/day\": store: not found").
// A miss is an ordinary answer — the dispatcher's guards look up a
// friend's cap and experiment timers per recipient and most have none —
// so the message is made only when it is read: a miss costs one small
// allocation, not a formatted string. errors.Is(err, store.ErrNotFound)
// holds.
func TimerNotFound(backend string, friend stepcast.FriendID, key string) error {
	return &timerNotFound{backend: backend, friend: friend, key: key}
}

type timerNotFound struct {
	backend string
	friend  stepcast.FriendID
	key     string
}

func (e *timerNotFound) Error() string {
	return fmt.Sprintf("%s: timer %d/%s: %v", e.backend, e.friend, stepcast.Quote(e.key), store.ErrNotFound)
}

func (e *timerNotFound) Unwrap() error { return store.ErrNotFound }

// NotFound is store.ErrNotFound naming the record what says, its message
// made only when read (see TimerNotFound).
func NotFound(backend string, what fmt.Stringer) error {
	return &notFound{backend: backend, what: what}
}

type notFound struct {
	backend string
	what    fmt.Stringer
}

func (e *notFound) Error() string {
	return e.backend + ": " + e.what.String() + ": " + store.ErrNotFound.Error()
}

func (e *notFound) Unwrap() error { return store.ErrNotFound }

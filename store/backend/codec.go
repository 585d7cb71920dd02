package backend

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// The JSON forms of change and event records, for the backends that store
// JSON (boltstore's change log, pgstore). A Friend encodes as itself. The
// export format (store.Export) writes the same shapes, but is its own
// contract: a backend's storage may change without changing it.

type changeJSON struct {
	Friend stepcast.FriendID `json:"friend"`
	Kind   store.ChangeKind  `json:"kind"`
	Name   string            `json:"name,omitempty"`
	Value  *stepcast.Value   `json:"value,omitempty"`
	Number int64             `json:"number,omitempty"`
	Text   string            `json:"text,omitempty"`
	At     time.Time         `json:"at"`
}

type eventJSON struct {
	ID     string             `json:"id"`
	Friend stepcast.FriendID  `json:"friend"`
	Kind   stepcast.EventKind `json:"kind"`
	Name   string             `json:"name,omitempty"`
	Value  string             `json:"value,omitempty"`
	Amount float64            `json:"amount,omitempty"`
	Data   map[string]string  `json:"data,omitempty"`
	At     time.Time          `json:"at"`
}

// changeRecord is the JSON form of c, its time in UTC to the microsecond.
func changeRecord(c store.Change) changeJSON {
	r := changeJSON{Friend: c.Friend, Kind: c.Kind, Name: c.Name, Number: c.Number, Text: c.Text, At: c.At.UTC().Truncate(time.Microsecond)}
	if c.Value.Type() != 0 {
		v := c.Value
		r.Value = &v
	}
	return r
}

// change returns the change r encodes, with seq.
func (r changeJSON) change(seq uint64) store.Change {
	c := store.Change{Seq: seq, Friend: r.Friend, Kind: r.Kind, Name: r.Name, Number: r.Number, Text: r.Text, At: r.At}
	if r.Value != nil {
		c.Value = *r.Value
	}
	return c
}

// eventRecord is the JSON form of e, its time in UTC to the microsecond.
func eventRecord(e stepcast.Event) eventJSON {
	return eventJSON{ID: e.ID, Friend: e.Friend, Kind: e.Kind, Name: e.Name, Value: e.Value, Amount: e.Amount, Data: e.Data,
		At: e.At.UTC().Truncate(time.Microsecond)}
}

// event returns the event r encodes, with seq.
func (r eventJSON) event(seq uint64) store.Event {
	return store.Event{Seq: seq, Event: stepcast.Event{ID: r.ID, Friend: r.Friend, Kind: r.Kind, Name: r.Name, Value: r.Value, Amount: r.Amount, Data: r.Data, At: r.At}}
}

// MarshalChange encodes c without its Seq (backends key records by it),
// with its time in UTC to the microsecond.
func MarshalChange(c store.Change) ([]byte, error) { return json.Marshal(changeRecord(c)) }

// UnmarshalChange decodes a change stored under seq.
func UnmarshalChange(seq uint64, b []byte) (store.Change, error) {
	var r changeJSON
	if err := json.Unmarshal(b, &r); err != nil {
		return store.Change{}, fmt.Errorf("%w: change %d: %w", store.ErrCorrupt, seq, err)
	}
	return r.change(seq), nil
}

// MarshalEvent encodes e without its Seq.
func MarshalEvent(e store.Event) ([]byte, error) { return json.Marshal(eventRecord(e.Event)) }

// UnmarshalEvent decodes an event stored under seq.
func UnmarshalEvent(seq uint64, b []byte) (store.Event, error) {
	var r eventJSON
	if err := json.Unmarshal(b, &r); err != nil {
		return store.Event{}, fmt.Errorf("%w: event %d: %w", store.ErrCorrupt, seq, err)
	}
	return r.event(seq), nil
}

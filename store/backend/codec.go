package backend

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/stepcast/stepcast/store"
)

// The JSON codec of change and event records, for backends that store JSON
// (boltstore's change log, pgstore): the records' own JSON forms (see
// store.Change and store.Event), without the Seq, by which backends key
// them, and with times in UTC to the microsecond.

// MarshalChange encodes c without its Seq.
func MarshalChange(c store.Change) ([]byte, error) {
	c.Seq, c.At = 0, c.At.UTC().Truncate(time.Microsecond)
	return json.Marshal(c)
}

// UnmarshalChange decodes a change stored under seq; an undecodable one
// is store.ErrCorrupt.
func UnmarshalChange(seq uint64, b []byte) (store.Change, error) {
	var c store.Change
	if err := json.Unmarshal(b, &c); err != nil {
		return store.Change{}, fmt.Errorf("%w: change %d: %w", store.ErrCorrupt, seq, err)
	}
	c.Seq = seq
	return c, nil
}

// MarshalEvent encodes e without its Seq.
func MarshalEvent(e store.Event) ([]byte, error) {
	e.Seq, e.At = 0, e.At.UTC().Truncate(time.Microsecond)
	return json.Marshal(e)
}

// UnmarshalEvent decodes an event stored under seq; an undecodable one is
// store.ErrCorrupt.
func UnmarshalEvent(seq uint64, b []byte) (store.Event, error) {
	var e store.Event
	if err := json.Unmarshal(b, &e); err != nil {
		return store.Event{}, fmt.Errorf("%w: event %d: %w", store.ErrCorrupt, seq, err)
	}
	e.Seq = seq
	return e, nil
}

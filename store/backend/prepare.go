package backend

import (
	"errors"
	"fmt"
	"strings"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// PrepareChanges validates changes (ValidateChange) and applies them, in
// order, to copies of the friends' records read through tx
// (store.Change.ApplyTo). The backend then stores the changes and the
// returned records. On error (store.ErrInvalid, store.ErrNotFound) nothing
// has been written.
func PrepareChanges(tx store.FriendReader, changes []store.Change) (map[stepcast.FriendID]*store.Friend, error) {
	friends := map[stepcast.FriendID]*store.Friend{}
	for _, c := range changes {
		if err := ValidateChange(c); err != nil {
			return nil, err
		}
		if friends[c.Friend] == nil {
			f, err := tx.Friend(c.Friend)
			if err != nil {
				return nil, fmt.Errorf("%v change: %w", c.Kind, err)
			}
			friends[c.Friend] = &f
		}
	}
	for _, c := range changes {
		c.ApplyTo(friends[c.Friend])
	}
	return friends, nil
}

// CheckNewEvent validates e (else store.ErrInvalid, see ValidateEvent) and
// checks that its ID is new (else store.ErrDuplicate) and its friend known
// (else store.ErrNotFound).
func CheckNewEvent(tx store.ReadTx, e stepcast.Event) error {
	if err := ValidateEvent(e); err != nil {
		return err
	}
	seen, err := tx.HasEvent(e.ID)
	if err != nil {
		return err
	}
	if seen {
		return fmt.Errorf("event %s: %w", stepcast.Quote(e.ID), store.ErrDuplicate)
	}
	if _, err := tx.Friend(e.Friend); err != nil {
		return fmt.Errorf("event %s: %w", stepcast.Quote(e.ID), err)
	}
	return nil
}

// OfKind reports whether a timer's key is of one of kinds, as Lease
// selects: equal to one, or starting with one and a "/". Any key is of no
// kinds at all.
func OfKind(key string, kinds []string) bool {
	if len(kinds) == 0 {
		return true
	}
	for _, k := range kinds {
		if strings.HasPrefix(key, k) && (len(key) == len(k) || key[len(k)] == '/') {
			return true
		}
	}
	return false
}

// CheckPut reports, for a versioned write (PutTimer, PutDefinition) of the
// record what at version, store.ErrConflict unless the current record has
// that version — or, for version 0, unless there is none (exists false).
func CheckPut(what string, exists bool, current, version uint64) error {
	if (exists && current != version) || (!exists && version != 0) {
		return fmt.Errorf("%s at version %d: %w", what, version, store.ErrConflict)
	}
	return nil
}

// CheckDelete reports, for a versioned delete (DeleteTimer,
// DeleteDefinition) of the record what at version, store.ErrNotFound if
// there is none, store.ErrConflict if its version is another.
func CheckDelete(what string, exists bool, current, version uint64) error {
	if !exists {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return CheckPut(what, true, current, version)
}

// CheckTimer validates t (ValidateTimer) and checks, through tx, that its
// friend exists (else store.ErrNotFound); friend 0, the account's own,
// needs none. Backends call it in PutTimer.
func CheckTimer(tx store.FriendReader, t store.Timer) error {
	if err := ValidateTimer(t); err != nil {
		return err
	}
	if t.Friend != 0 {
		if _, err := tx.Friend(t.Friend); err != nil {
			return fmt.Errorf("timer: %w", err)
		}
	}
	return nil
}

// Found splits the result of a lookup: whether the record exists, or the
// error other than store.ErrNotFound that kept it from being read.
func Found(err error) (bool, error) {
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

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
	if err := friendExists(tx, e.Friend); err != nil {
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

// CheckPut reports, for a versioned write (PutTimer, PutDefinition) of a
// record at version, store.ErrConflict unless the current record has that
// version — or, for version 0, unless there is none (exists false). The
// error names the record by format and args, formatted only when there is
// one: writes are hot.
func CheckPut(exists bool, current, version uint64, format string, args ...any) error {
	if PutConflicts(exists, current, version) {
		return fmt.Errorf("%s at version %d: %w", fmt.Sprintf(format, args...), version, store.ErrConflict)
	}
	return nil
}

// PutConflicts is CheckPut's test alone: whether a versioned write at
// version conflicts with the current record (exists, at current). A hot
// write asks it first and calls CheckPut only for the error, so that
// nothing is boxed into CheckPut's arguments when there is none.
func PutConflicts(exists bool, current, version uint64) bool {
	return (exists && current != version) || (!exists && version != 0)
}

// Quoted is s as stepcast.Quote writes it, for a %s or %v in the format of
// CheckPut and CheckDelete: quoted only when the error is written.
type Quoted string

func (q Quoted) String() string { return stepcast.Quote(string(q)) }

// CheckDelete reports, for a versioned delete (DeleteTimer,
// DeleteDefinition) of a record at version, store.ErrNotFound if there is
// none, store.ErrConflict if its version is another.
func CheckDelete(exists bool, current, version uint64, format string, args ...any) error {
	if !exists {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), store.ErrNotFound)
	}
	return CheckPut(true, current, version, format, args...)
}

// FriendFinder is what a backend's transaction may offer besides
// store.FriendReader: whether a friend exists, without copying their
// record. CheckNewEvent and CheckTimer use it when it is there.
type FriendFinder interface {
	HasFriend(id stepcast.FriendID) bool
}

func friendExists(tx store.FriendReader, id stepcast.FriendID) error {
	if ff, ok := tx.(FriendFinder); ok {
		if ff.HasFriend(id) {
			return nil
		}
		return fmt.Errorf("friend %d: %w", id, store.ErrNotFound)
	}
	_, err := tx.Friend(id)
	return err
}

// CheckTimer validates t (ValidateTimer) and checks, through tx, that its
// friend exists (else store.ErrNotFound); friend 0, the account's own,
// needs none. Backends call it in PutTimer.
func CheckTimer(tx store.FriendReader, t store.Timer) error {
	if err := ValidateTimer(t); err != nil {
		return err
	}
	if t.Friend != 0 {
		if err := friendExists(tx, t.Friend); err != nil {
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

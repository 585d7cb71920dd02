package backend

import (
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

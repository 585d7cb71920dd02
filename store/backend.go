package store

import (
	"fmt"

	"github.com/stepcast/stepcast"
)

// Helpers for backends, so that every backend checks and applies the same
// way.

// PrepareChanges validates changes and applies them, in order, to copies of
// the friends' records read through tx. The backend then stores the
// changes and the returned records. On error (ErrInvalid, ErrNotFound)
// nothing has been written.
func PrepareChanges(tx ReadTx, changes []Change) (map[stepcast.FriendID]*Friend, error) {
	friends := map[stepcast.FriendID]*Friend{}
	for _, c := range changes {
		if err := c.Validate(); err != nil {
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

// CheckNewEvent validates e (else ErrInvalid, see ValidateEvent) and checks
// that its ID is new (else ErrDuplicate) and its friend known (else
// ErrNotFound).
func CheckNewEvent(tx ReadTx, e stepcast.Event) error {
	if err := ValidateEvent(e); err != nil {
		return err
	}
	seen, err := tx.HasEvent(e.ID)
	if err != nil {
		return err
	}
	if seen {
		return fmt.Errorf("event %s: %w", stepcast.Quote(e.ID), ErrDuplicate)
	}
	if _, err := tx.Friend(e.Friend); err != nil {
		return fmt.Errorf("event %s: %w", stepcast.Quote(e.ID), err)
	}
	return nil
}

// PrepareFinish validates an attempt's outcome and reads the delivery id
// through tx, checking that holder holds it (else ErrConflict: the lease
// expired and someone else took it). The backend then stores the returned
// delivery, finished with o.
func PrepareFinish(tx ReadTx, id uint64, holder string, o Outcome) (Delivery, error) {
	if err := ValidateOutcome(o); err != nil {
		return Delivery{}, err
	}
	d, err := tx.Delivery(id)
	if err != nil {
		return Delivery{}, err
	}
	if d.Status != Pending || d.LeasedBy != holder {
		return Delivery{}, fmt.Errorf("delivery %d is %v, leased by %s, not %s: %w", id, d.Status, stepcast.Quote(d.LeasedBy), stepcast.Quote(holder), ErrConflict)
	}
	return d, nil
}

// CheckRestoreID reports, wrapping ErrInvalid, a delivery to restore whose
// ID is not next, the ID the account's outbox would give it.
func CheckRestoreID(d Delivery, next uint64) error {
	if d.ID != next {
		return invalid(nil, "restore delivery %d: the next ID is %d", d.ID, next)
	}
	return nil
}

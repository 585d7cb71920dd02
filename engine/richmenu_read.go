package engine

import (
	"errors"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// denseRead is how sparse a run of friend IDs may be and still be read as
// one range of records: at most this many records read per friend wanted.
// Sparser friends are looked up one by one.
const denseRead = 16

// friendsOf calls fn with the record of each friend of ids (ascending,
// unique) that tx has, in order. A run of IDs dense enough (at most
// denseRead records a friend) is read as one range — through
// store.FriendScanner where the store has it, into one reused record —
// and sparser IDs one by one. fn must not keep f.
func friendsOf(tx store.ReadTx, ids []stepcast.FriendID, fn func(f *store.Friend) error) error {
	scanner, _ := tx.(store.FriendScanner)
	for len(ids) > 0 {
		n := 1
		for n < len(ids) && int(ids[n]-ids[0]) < denseRead*(n+1) {
			n++
		}
		run := ids[:n]
		ids = ids[n:]
		if n == 1 {
			f, err := tx.Friend(run[0])
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if err := fn(&f); err != nil {
				return err
			}
			continue
		}
		span := int(run[n-1]-run[0]) + 1
		i := 0
		visit := func(f *store.Friend) error {
			for i < len(run) && run[i] < f.ID {
				i++ // not in the store
			}
			if i < len(run) && run[i] == f.ID {
				i++
				return fn(f)
			}
			return nil
		}
		if scanner != nil {
			if _, err := scanner.ScanFriends(run[0]-1, span, visit); err != nil {
				return err
			}
			continue
		}
		for after := run[0] - 1; after < run[n-1]; {
			fs, err := tx.Friends(after, min(span, pageSize))
			if err != nil {
				return err
			}
			for j := range fs {
				if fs[j].ID > run[n-1] {
					break
				}
				if err := visit(&fs[j]); err != nil {
					return err
				}
			}
			if len(fs) < min(span, pageSize) {
				break
			}
			after = fs[len(fs)-1].ID
		}
	}
	return nil
}

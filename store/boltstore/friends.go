package boltstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/backend"
)

// Friends ("friends", "users") and the logs ("changes", "events",
// "event-ids", "friend-events").

func (t *tx) Friend(id stepcast.FriendID) (store.Friend, error) {
	return get(t, friendsB, u32(id), backend.DecodeFriend, func() string { return fmt.Sprintf("friend %d", id) })
}

func (t *tx) FriendByUser(user stepcast.UserID) (store.Friend, error) {
	if !backend.UserKey(user) {
		return store.Friend{}, fmt.Errorf("boltstore: friend %s: %w", stepcast.Quote(string(user)), store.ErrNotFound)
	}
	b, err := t.bucket(usersB)
	if err != nil {
		return store.Friend{}, err
	}
	if b == nil || b.Get([]byte(user)) == nil {
		return store.Friend{}, fmt.Errorf("boltstore: friend %s: %w", stepcast.Quote(string(user)), store.ErrNotFound)
	}
	return t.Friend(stepcast.FriendID(binary.BigEndian.Uint32(b.Get([]byte(user)))))
}

func (t *tx) Friends(after stepcast.FriendID, limit int) ([]store.Friend, error) {
	var out []store.Friend
	_, err := t.ScanFriends(after, limit, func(f *store.Friend) error {
		out = append(out, f.Clone())
		return nil
	})
	return out, err
}

// ScanFriends implements store.FriendScanner.
func (t *tx) ScanFriends(after stepcast.FriendID, limit int, fn func(*store.Friend) error) (int, error) {
	b, err := t.bucket(friendsB)
	if err != nil || b == nil || !backend.Page(uint64(after), backend.MaxFriendID, limit) {
		return 0, err
	}
	var fd backend.FriendDecoder
	var f store.Friend
	n := 0
	c := b.Cursor()
	for k, v := c.Seek(u32(after + 1)); k != nil && n < limit; k, v = c.Next() {
		if err := fd.DecodeInto(v, &f); err != nil {
			return n, t.corrupt(fmt.Sprintf("friend %d", binary.BigEndian.Uint32(k)), err)
		}
		n++
		if err := fn(&f); err != nil {
			return n, err
		}
	}
	return n, nil
}

func (t *tx) Changes(after uint64, limit int) ([]store.Change, error) {
	return readLog(t, changesB, after, limit, backend.UnmarshalChange)
}

// readLog reads up to limit records with Seqs above after from a log
// bucket keyed by Seq.
func readLog[T any](t *tx, bucket []byte, after uint64, limit int, decode func(seq uint64, v []byte) (T, error)) ([]T, error) {
	b, err := t.bucket(bucket)
	if err != nil || b == nil || !backend.Page(after, backend.MaxSeq, limit) {
		return nil, err
	}
	var out []T
	c := b.Cursor()
	for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
		r, err := decode(binary.BigEndian.Uint64(k), v)
		if err != nil {
			return nil, t.corrupt("decode", err)
		}
		out = append(out, r)
	}
	return out, nil
}

func (t *tx) LastSeq() (uint64, error) {
	b, err := t.bucket(changesB)
	if err != nil || b == nil {
		return 0, err
	}
	return b.Sequence(), nil
}

func (t *tx) Events(after uint64, limit int) ([]store.Event, error) {
	return readLog(t, eventsB, after, limit, backend.DecodeEventRecord)
}

func (t *tx) FriendEvents(friend stepcast.FriendID, before uint64, limit int) ([]store.Event, error) {
	idx, err := t.bucket(friendEvB)
	if err != nil || idx == nil || limit <= 0 {
		return nil, err
	}
	events, _ := t.bucket(eventsB)
	if before == 0 {
		before = math.MaxUint64
	}
	prefix := u32(friend)
	c := idx.Cursor()
	k, _ := c.Seek(friendEventKey(friend, before))
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	var out []store.Event
	for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = c.Prev() {
		seq := binary.BigEndian.Uint64(k[4:])
		e, err := backend.DecodeEventRecord(seq, events.Get(u64(seq)))
		if err != nil {
			return nil, t.corrupt(fmt.Sprintf("event %d", seq), err)
		}
		out = append(out, e)
	}
	return out, nil
}

func (t *tx) HasEvent(id string) (bool, error) {
	b, err := t.bucket(eventIDsB)
	if err != nil || b == nil || !backend.EventKey(id) {
		return false, err
	}
	return b.Get([]byte(id)) != nil, nil
}

func (t *tx) putFriend(f store.Friend) error {
	b, err := t.bucket(friendsB)
	if err != nil {
		return err
	}
	return b.Put(u32(f.ID), backend.AppendFriend(nil, f))
}

func (t *tx) AddFriend(user stepcast.UserID) (store.Friend, bool, error) {
	if err := backend.CheckUser(user); err != nil {
		return store.Friend{}, false, fmt.Errorf("boltstore: %w", err)
	}
	if f, err := t.FriendByUser(user); err == nil {
		return f, false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.Friend{}, false, err
	}
	friends, err := t.bucket(friendsB)
	if err != nil {
		return store.Friend{}, false, err
	}
	users, _ := t.bucket(usersB)
	seq, err := friends.NextSequence()
	if err != nil {
		return store.Friend{}, false, err
	}
	f := store.Friend{ID: stepcast.FriendID(seq), User: user}
	if err := t.putFriend(f); err != nil {
		return store.Friend{}, false, err
	}
	return f, true, users.Put([]byte(user), u32(f.ID))
}

func (t *tx) Apply(changes ...store.Change) ([]uint64, error) {
	friends, err := backend.PrepareChanges(t, changes)
	if err != nil {
		return nil, fmt.Errorf("boltstore: %w", err)
	}
	b, err := t.bucket(changesB)
	if err != nil {
		return nil, err
	}
	seqs := make([]uint64, len(changes))
	for i, c := range changes {
		seq, err := b.NextSequence()
		if err != nil {
			return nil, err
		}
		raw, err := backend.MarshalChange(c)
		if err != nil {
			return nil, fmt.Errorf("boltstore: encode change: %w", err)
		}
		if err := b.Put(u64(seq), raw); err != nil {
			return nil, err
		}
		seqs[i] = seq
	}
	for _, f := range friends {
		if err := t.putFriend(*f); err != nil {
			return nil, err
		}
	}
	return seqs, nil
}

func (t *tx) AppendEvent(e stepcast.Event) (uint64, error) {
	if err := backend.CheckNewEvent(t, e); err != nil {
		return 0, fmt.Errorf("boltstore: %w", err)
	}
	b, err := t.bucket(eventsB)
	if err != nil {
		return 0, err
	}
	ids, _ := t.bucket(eventIDsB)
	seq, err := b.NextSequence()
	if err != nil {
		return 0, err
	}
	if err := b.Put(u64(seq), backend.AppendEventRecord(nil, e)); err != nil {
		return 0, err
	}
	if err := ids.Put([]byte(e.ID), u64(seq)); err != nil {
		return 0, err
	}
	fe, err := t.bucket(friendEvB)
	if err != nil {
		return 0, err
	}
	return seq, fe.Put(friendEventKey(e.Friend, seq), nil)
}

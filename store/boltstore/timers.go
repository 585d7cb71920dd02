package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/backend"
)

// Timers: "timers" (friend ID and key → JSON timer; friend 0 holds the
// account's own) and "due" (due time in Unix microseconds, friend ID and key
// → empty: the queue Lease walks in order).

type timerJSON struct {
	Friend     stepcast.FriendID `json:"friend"`
	Key        string            `json:"key"`
	Due        time.Time         `json:"due"`
	State      []byte            `json:"state,omitempty"`
	Version    uint64            `json:"version"`
	LeasedBy   string            `json:"leased_by,omitempty"`
	LeaseUntil time.Time         `json:"lease_until"`
}

func timerKey(friend stepcast.FriendID, key string) []byte { return append(u32(friend), key...) }

func dueKey(t store.Timer) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(t.Due.UnixMicro())), timerKey(t.Friend, t.Key)...)
}

// lazy is a name made only when an error is written.
type lazy func() string

func (l lazy) String() string { return l() }

func timerName(friend stepcast.FriendID, key string) func() string {
	return func() string { return fmt.Sprintf("timer %d/%s", friend, stepcast.Quote(key)) }
}

func (t *tx) Timer(friend stepcast.FriendID, key string) (store.Timer, error) {
	if !backend.TimerKey(key) {
		return store.Timer{}, backend.TimerNotFound("boltstore", friend, key)
	}
	b, err := t.bucket(timersB)
	if err != nil {
		return store.Timer{}, err
	}
	var raw []byte
	if b != nil {
		raw = b.Get(timerKey(friend, key))
	}
	if raw == nil {
		return store.Timer{}, backend.TimerNotFound("boltstore", friend, key)
	}
	tm, err := decodeTimer(raw)
	if err != nil {
		return tm, t.corrupt(timerName(friend, key)(), err)
	}
	return tm, nil
}

func decodeTimer(raw []byte) (store.Timer, error) {
	var j timerJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return store.Timer{}, fmt.Errorf("boltstore: decode timer: %w", err)
	}
	return store.Timer{Friend: j.Friend, Key: j.Key, Due: j.Due, State: j.State, Version: j.Version, LeasedBy: j.LeasedBy, LeaseUntil: j.LeaseUntil}, nil
}

func encodeTimer(tm store.Timer) ([]byte, error) {
	return json.Marshal(timerJSON{Friend: tm.Friend, Key: tm.Key, Due: tm.Due, State: tm.State, Version: tm.Version, LeasedBy: tm.LeasedBy, LeaseUntil: tm.LeaseUntil})
}

func (t *tx) FriendTimers(friend stepcast.FriendID) ([]store.Timer, error) {
	b, err := t.bucket(timersB)
	if err != nil || b == nil {
		return nil, err
	}
	var out []store.Timer
	prefix := u32(friend)
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && string(k[:4]) == string(prefix); k, v = c.Next() {
		tm, err := decodeTimer(v)
		if err != nil {
			return nil, err
		}
		out = append(out, tm)
	}
	return out, nil
}

// DueTimers walks the due index from after: its keys hold the timer's
// key, so a timer of another kind in the range costs a cursor step and a
// comparison of bytes; only the timers taken are read and decoded.
func (t *tx) DueTimers(kind string, after store.DuePos, before time.Time, limit int) ([]store.Timer, error) {
	if limit <= 0 || !backend.NameKey(kind) {
		return nil, nil
	}
	due, err := t.bucket(dueB)
	if err != nil || due == nil {
		return nil, err
	}
	timers, _ := t.bucket(timersB)
	from := []byte{}
	if after.Due.UnixMicro() >= 0 { // before every due time otherwise
		from = dueKey(store.Timer{Due: after.Due, Friend: after.Friend, Key: after.Key})
	}
	end, k0 := before.UnixMicro(), []byte(kind)
	var out []store.Timer
	c := due.Cursor()
	for k, _ := c.Seek(from); k != nil && len(out) < limit; k, _ = c.Next() {
		if int64(binary.BigEndian.Uint64(k[:8])) >= end {
			break
		}
		key := k[12:]
		if !bytes.HasPrefix(key, k0) || (len(key) > len(k0) && key[len(k0)] != '/') || bytes.Equal(k, from) {
			continue
		}
		tm, err := decodeTimer(timers.Get(k[8:]))
		if err != nil {
			return nil, err
		}
		out = append(out, tm)
	}
	return out, nil
}

func (t *tx) PutTimer(tm store.Timer) (uint64, error) {
	if err := backend.CheckTimer(t, tm); err != nil {
		return 0, fmt.Errorf("boltstore: %w", err)
	}
	cur, err := t.Timer(tm.Friend, tm.Key)
	exists, err := backend.Found(err)
	if err != nil {
		return 0, err
	}
	if err := backend.CheckPut(exists, cur.Version, tm.Version, "boltstore: %s", lazy(timerName(tm.Friend, tm.Key))); err != nil {
		return 0, err
	}
	timers, err := t.bucket(timersB)
	if err != nil {
		return 0, err
	}
	due, err := t.bucket(dueB)
	if err != nil {
		return 0, err
	}
	if exists {
		if err := due.Delete(dueKey(cur)); err != nil {
			return 0, err
		}
	}
	tm.Version++
	tm.Due = tm.Due.UTC().Truncate(time.Microsecond)
	tm.LeasedBy, tm.LeaseUntil = "", time.Time{}
	raw, err := encodeTimer(tm)
	if err != nil {
		return 0, err
	}
	if err := timers.Put(timerKey(tm.Friend, tm.Key), raw); err != nil {
		return 0, err
	}
	return tm.Version, due.Put(dueKey(tm), nil)
}

func (t *tx) DeleteTimer(friend stepcast.FriendID, key string, version uint64) error {
	cur, err := t.Timer(friend, key)
	exists, err := backend.Found(err)
	if err != nil {
		return err
	}
	if err := backend.CheckDelete(exists, cur.Version, version, "boltstore: %s", lazy(timerName(friend, key))); err != nil {
		return err
	}
	timers, _ := t.bucket(timersB)
	due, _ := t.bucket(dueB)
	if err := due.Delete(dueKey(cur)); err != nil {
		return err
	}
	return timers.Delete(timerKey(friend, key))
}

// Lease implements store.Timers: one write transaction walks the due
// index in order, so no two holders get the same timer — after a read
// transaction's walk found a timer to lease: with none, Lease commits
// nothing (see leasing).
//
// With kinds, it filters while it walks: the due index's keys hold the
// timer's key, so a timer of another kind costs a cursor step and a
// comparison of bytes, without reading or decoding the timer. Due timers of
// other kinds ahead of the ones asked for are stepped over on every Lease:
// 300 due reminders cost 300 steps (microseconds); a million, a walk of the
// index's million keys (some tens of milliseconds) — the engine leases the
// kinds it has handlers for, so others pile up only while no handler takes
// them.
func (s *Store) Lease(ctx context.Context, account store.AccountID, holder string, now time.Time, ttl time.Duration, limit int, kinds ...string) ([]store.Timer, error) {
	var out []store.Timer
	err := s.leasing(ctx, account, "lease", dueB, holder, now, ttl, limit, kinds, func(t *tx, due *bolt.Bucket, lease bool) (int, error) {
		timers, _ := t.bucket(timersB)
		nowMicro := uint64(now.UnixMicro())
		until := now.Add(ttl).UTC().Truncate(time.Microsecond)
		c := due.Cursor()
		for k, _ := c.First(); k != nil && len(out) < limit; k, _ = c.Next() {
			if binary.BigEndian.Uint64(k[:8]) > nowMicro {
				break
			}
			if !backend.OfKind(string(k[12:]), kinds) {
				continue
			}
			raw := timers.Get(k[8:])
			tm, err := decodeTimer(raw)
			if err != nil {
				return 0, err
			}
			if tm.LeasedBy != "" && tm.LeaseUntil.After(now) {
				continue
			}
			if !lease {
				return 1, nil
			}
			tm.LeasedBy, tm.LeaseUntil = holder, until
			raw, err = encodeTimer(tm)
			if err != nil {
				return 0, err
			}
			// Writing the timers bucket does not move the due cursor.
			if err := timers.Put(k[8:], raw); err != nil {
				return 0, err
			}
			out = append(out, tm)
		}
		return len(out), nil
	})
	return out, err
}

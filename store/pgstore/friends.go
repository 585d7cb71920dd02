package pgstore

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/backend"
)

// Friends (stepcast_friends, records as JSON) and the logs
// (stepcast_changes, stepcast_events).

func (t *ptx) friendWhere(cond string, arg any) (store.Friend, error) {
	return one(t, "friend "+quoteArg(arg), scanFriend, "SELECT record FROM stepcast_friends WHERE account = $1 AND "+cond, t.account, arg)
}

// quoteArg renders a lookup's argument for an error message: a string
// quoted and cut short (stepcast.Quote), anything else as it prints.
func quoteArg(arg any) string {
	if s, ok := arg.(string); ok {
		return stepcast.Quote(s)
	}
	return fmt.Sprint(arg)
}

func (t *ptx) Friend(id stepcast.FriendID) (store.Friend, error) {
	if f, ok := t.friends[id]; ok {
		return f.Clone(), nil
	}
	f, err := t.friendWhere("id = $2", int64(id))
	if err == nil {
		t.remember(f)
	}
	return f, err
}

func (t *ptx) remember(f store.Friend) {
	if t.friends == nil {
		t.friends = map[stepcast.FriendID]store.Friend{}
	}
	t.friends[f.ID] = f.Clone()
}

func (t *ptx) FriendByUser(user stepcast.UserID) (store.Friend, error) {
	if !backend.UserKey(user) {
		return store.Friend{}, fmt.Errorf("pgstore: friend %s: %w", stepcast.Quote(string(user)), store.ErrNotFound)
	}
	return t.friendWhere("user_id = $2", string(user))
}

func (t *ptx) Friends(after stepcast.FriendID, limit int) ([]store.Friend, error) {
	if !backend.Page(uint64(after), backend.MaxFriendID, limit) {
		return nil, nil
	}
	return list(t, "friends", scanFriend, "SELECT record FROM stepcast_friends WHERE account = $1 AND id > $2 ORDER BY id LIMIT $3", t.account, int64(after), limit)
}

func (t *ptx) Changes(after uint64, limit int) ([]store.Change, error) {
	if !backend.Page(after, backend.MaxSeq, limit) {
		return nil, nil
	}
	return list(t, "changes", scanChange, "SELECT seq, record FROM stepcast_changes WHERE account = $1 AND seq > $2 ORDER BY seq LIMIT $3", t.account, int64(after), limit)
}

func (t *ptx) LastSeq() (uint64, error) { return uint64(t.lastChange), nil }

func (t *ptx) Events(after uint64, limit int) ([]store.Event, error) {
	if !backend.Page(after, backend.MaxSeq, limit) {
		return nil, nil
	}
	return list(t, "events", scanEvent, "SELECT seq, record FROM stepcast_events WHERE account = $1 AND seq > $2 ORDER BY seq LIMIT $3", t.account, int64(after), limit)
}

func (t *ptx) FriendEvents(friend stepcast.FriendID, before uint64, limit int) ([]store.Event, error) {
	if limit <= 0 {
		return nil, nil
	}
	if before == 0 || before > math.MaxInt64 {
		before = math.MaxInt64
	}
	return list(t, "friend events", scanEvent, "SELECT seq, record FROM stepcast_events WHERE account = $1 AND friend = $2 AND seq < $3 ORDER BY seq DESC LIMIT $4",
		t.account, int64(friend), int64(before), max(limit, 0))
}

func (t *ptx) HasEvent(id string) (bool, error) {
	if !backend.EventKey(id) {
		return false, nil
	}
	var ok bool
	err := t.tx.QueryRow(t.ctx, "SELECT EXISTS (SELECT 1 FROM stepcast_events WHERE account = $1 AND event_id = $2)", t.account, id).Scan(&ok)
	if err != nil {
		return false, t.fail("event", err)
	}
	return ok, nil
}

// AddFriend tries the insert first: one round trip for a new friend, two
// for a known one.
func (t *ptx) AddFriend(user stepcast.UserID) (store.Friend, bool, error) {
	if err := backend.CheckUser(user); err != nil {
		return store.Friend{}, false, fmt.Errorf("pgstore: %w", err)
	}
	f := store.Friend{ID: stepcast.FriendID(t.lastFriend + 1), User: user}
	raw, err := json.Marshal(f)
	if err != nil {
		return store.Friend{}, false, t.fail("encode friend", err)
	}
	// One round trip whether the friend is new or known: the insert
	// returns the new record, or the select the existing one (a statement
	// sees one snapshot, so never both).
	var existing []byte
	var created bool
	err = t.tx.QueryRow(t.ctx, `WITH added AS (
			INSERT INTO stepcast_friends (account, id, user_id, record) VALUES ($1, $2, $3, $4)
			ON CONFLICT (account, user_id) DO NOTHING RETURNING record)
		SELECT record, true FROM added
		UNION ALL SELECT record, false FROM stepcast_friends WHERE account = $1 AND user_id = $3
		LIMIT 1`, t.account, int64(f.ID), string(user), raw).Scan(&existing, &created)
	if err != nil {
		return store.Friend{}, false, t.fail("add friend", err)
	}
	if !created {
		if err := json.Unmarshal(existing, &f); err != nil {
			return store.Friend{}, false, t.fail("decode friend "+stepcast.Quote(string(user)), err)
		}
		t.remember(f)
		return f, false, nil
	}
	t.lastFriend++
	t.remember(f)
	return f, true, nil
}

func (t *ptx) Apply(changes ...store.Change) ([]uint64, error) {
	friends, err := backend.PrepareChanges(t, changes)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	// The changes and the friends' new records go in one round trip.
	seqs := make([]uint64, len(changes))
	batch := &pgx.Batch{}
	for i, c := range changes {
		raw, err := backend.MarshalChange(c)
		if err != nil {
			return nil, t.fail("encode change", err)
		}
		seqs[i] = uint64(t.lastChange) + uint64(i) + 1
		batch.Queue("INSERT INTO stepcast_changes (account, seq, record) VALUES ($1, $2, $3)", t.account, int64(seqs[i]), raw)
	}
	for _, f := range friends {
		raw, err := json.Marshal(f)
		if err != nil {
			return nil, t.fail(fmt.Sprintf("encode friend %d", f.ID), err)
		}
		batch.Queue("UPDATE stepcast_friends SET record = $3 WHERE account = $1 AND id = $2", t.account, int64(f.ID), raw)
	}
	if err := t.tx.SendBatch(t.ctx, batch).Close(); err != nil {
		return nil, t.fail("write changes", err)
	}
	t.lastChange += int64(len(changes))
	for _, f := range friends {
		t.remember(*f)
	}
	return seqs, nil
}

func (t *ptx) AppendEvent(e stepcast.Event) (uint64, error) {
	if err := backend.ValidateEvent(e); err != nil {
		return 0, fmt.Errorf("pgstore: %w", err)
	}
	if _, err := t.Friend(e.Friend); err != nil { // cached after AddFriend
		return 0, fmt.Errorf("pgstore: event %s: %w", stepcast.Quote(e.ID), err)
	}
	raw, err := backend.MarshalEvent(store.Event{Event: e})
	if err != nil {
		return 0, t.fail("encode event", err)
	}
	// The unique event ID deduplicates: no separate lookup.
	tag, err := t.tx.Exec(t.ctx, `INSERT INTO stepcast_events (account, seq, event_id, record, friend) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (account, event_id) DO NOTHING`, t.account, t.lastEvent+1, e.ID, raw, int64(e.Friend))
	if err != nil {
		return 0, t.fail("write event", err)
	}
	if tag.RowsAffected() == 0 {
		return 0, fmt.Errorf("pgstore: event %s: %w", stepcast.Quote(e.ID), store.ErrDuplicate)
	}
	t.lastEvent++
	return uint64(t.lastEvent), nil
}

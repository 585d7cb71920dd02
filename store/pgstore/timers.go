package pgstore

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/backend"
)

// Timers: stepcast_timers, keyed (account, friend, key), friend 0 for the
// account's own; Lease walks the index (account, due), or (account, kind,
// due, friend, key) for some kinds, as DueTimers does.

const timerColumns = "friend, key, due, state, version, leased_by, lease_until"

func scanTimer(row pgx.Row) (store.Timer, error) {
	var tm store.Timer
	var friend, version int64
	var until *time.Time
	if err := row.Scan(&friend, &tm.Key, &tm.Due, &tm.State, &version, &tm.LeasedBy, &until); err != nil {
		return store.Timer{}, err
	}
	tm.Friend, tm.Version, tm.Due = stepcast.FriendID(friend), uint64(version), tm.Due.UTC()
	if until != nil {
		tm.LeaseUntil = until.UTC()
	}
	return tm, nil
}

func (t *ptx) Timer(friend stepcast.FriendID, key string) (store.Timer, error) {
	what := fmt.Sprintf("timer %d/%s", friend, stepcast.Quote(key))
	if !backend.TimerKey(key) {
		return store.Timer{}, fmt.Errorf("pgstore: %s: %w", what, store.ErrNotFound)
	}
	return one(t, what, scanTimer,
		"SELECT "+timerColumns+" FROM stepcast_timers WHERE account = $1 AND friend = $2 AND key = $3", t.account, int64(friend), key)
}

func (t *ptx) FriendTimers(friend stepcast.FriendID) ([]store.Timer, error) {
	return list(t, "timers", scanTimer, "SELECT "+timerColumns+" FROM stepcast_timers WHERE account = $1 AND friend = $2 ORDER BY key COLLATE \"C\"", t.account, int64(friend))
}

// DueTimers walks the index (account, kind, due, friend, key) from after:
// the row comparison is its condition, so a page reads its own rows, also
// among many timers due at the same instant.
func (t *ptx) DueTimers(kind string, after store.DuePos, before time.Time, limit int) ([]store.Timer, error) {
	if limit <= 0 || !backend.NameKey(kind) {
		return nil, nil
	}
	if after.Due.Before(stepcast.MinEventTime) { // before every due time
		after = store.DuePos{Due: stepcast.MinEventTime.Add(-time.Microsecond)}
	}
	root, _, _ := strings.Cut(kind, "/")
	return list(t, "timers of kind "+stepcast.Quote(kind), scanTimer, "SELECT "+timerColumns+` FROM stepcast_timers
		WHERE account = $1 AND kind = $2 AND (key = $3 OR starts_with(key, $3 || '/'))
		  AND (due, friend, key COLLATE "C") > ($4, $5, $6 COLLATE "C") AND due < $7
		ORDER BY due, friend, key COLLATE "C" LIMIT $8`,
		t.account, root, kind, after.Due.UTC().Truncate(time.Microsecond), int64(after.Friend), after.Key,
		before.UTC().Truncate(time.Microsecond), limit)
}

func (t *ptx) PutTimer(tm store.Timer) (uint64, error) {
	if err := backend.CheckTimer(t, tm); err != nil { // t caches the friend
		return 0, fmt.Errorf("pgstore: %w", err)
	}
	return t.putVersioned(fmt.Sprintf("timer %d/%s", tm.Friend, stepcast.Quote(tm.Key)), tm.Version,
		`INSERT INTO stepcast_timers (account, friend, key, due, state, version) VALUES ($1, $2, $3, $4, $5, 1) ON CONFLICT DO NOTHING`,
		`UPDATE stepcast_timers SET due = $4, state = $5, version = version + 1, leased_by = '', lease_until = NULL
			WHERE account = $1 AND friend = $2 AND key = $3 AND version = $6`,
		t.account, int64(tm.Friend), tm.Key, tm.Due.UTC().Truncate(time.Microsecond), tm.State)
}

func (t *ptx) DeleteTimer(friend stepcast.FriendID, key string, version uint64) error {
	get := func() error { _, err := t.Timer(friend, key); return err }
	if !backend.TimerKey(key) {
		return get()
	}
	return t.deleteVersioned(fmt.Sprintf("timer %d/%s", friend, stepcast.Quote(key)), version, get,
		"DELETE FROM stepcast_timers WHERE account = $1 AND friend = $2 AND key = $3 AND version = $4", t.account, int64(friend), key)
}

// Lease implements store.Timers in one statement: SKIP LOCKED lets
// concurrent leasers pass each other's rows instead of waiting or taking
// them twice. The rows to lease are chosen once, in a materialized CTE: as
// a subquery joined by the UPDATE, PostgreSQL may evaluate the LIMIT again
// for each row it updates and lease more than limit.
//
// With kinds, the generated column kind (the key up to its first "/") and
// the index (account, kind, due) find the due timers of those kinds without
// reading the others; a kind that holds a "/" itself is matched exactly on
// the key after that.
func (s *Store) Lease(ctx context.Context, account store.AccountID, holder string, now time.Time, ttl time.Duration, limit int, kinds ...string) ([]store.Timer, error) {
	if err := account.Validate(); err != nil {
		return nil, fmt.Errorf("pgstore: lease: %w", err)
	}
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: lease %q: %w", account, err)
	}
	if err := backend.ValidateLease(holder, now, ttl, limit, kinds...); err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	until := now.Add(ttl).UTC().Truncate(time.Microsecond)
	now = now.UTC().Truncate(time.Microsecond)
	args := []any{account, holder, now, until, limit}
	byKind := ""
	if len(kinds) > 0 {
		roots := make([]string, len(kinds))
		for i, k := range kinds {
			roots[i], _, _ = strings.Cut(k, "/")
		}
		byKind = ` AND kind = ANY($6::text[]) AND EXISTS (SELECT 1 FROM unnest($7::text[]) AS k (kind)
		          WHERE key = k.kind OR starts_with(key, k.kind || '/'))`
		args = append(args, roots, kinds)
	}
	out, err := queryAll(ctx, s.pool, scanTimer, `WITH d AS MATERIALIZED (SELECT friend, key FROM stepcast_timers
		      WHERE account = $1 AND due <= $3 AND (leased_by = '' OR lease_until <= $3)`+byKind+`
		      ORDER BY due, friend, key COLLATE "C" LIMIT $5 FOR UPDATE SKIP LOCKED)
		UPDATE stepcast_timers t SET leased_by = $2, lease_until = $4 FROM d
		WHERE t.account = $1 AND t.friend = d.friend AND t.key = d.key
		RETURNING t.friend, t.key, t.due, t.state, t.version, t.leased_by, t.lease_until`,
		args...)
	if err != nil {
		return nil, fmt.Errorf("pgstore: lease %q: %w", account, err)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Due.Equal(out[j].Due) {
			return out[i].Due.Before(out[j].Due)
		}
		if out[i].Friend != out[j].Friend {
			return out[i].Friend < out[j].Friend
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}

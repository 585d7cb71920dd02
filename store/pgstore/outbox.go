package pgstore

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/backend"
)

// The outbox: stepcast_outbox, one row a delivery, with the indexes of
// migration 7 — the queue (account, priority DESC, next_at, id) of pending
// rows, (account, status, id), (account, cause, status, id) and the
// pending rows' keys in byte order —, and stepcast_outbox_friends, a row
// for each recipient of each delivery, keyed (account, friend, id).

// deliveryColumns returns the columns scanDelivery reads, of the table
// named alias ("o"), or unqualified ("").
func deliveryColumns(alias string) string {
	if alias != "" {
		alias += "."
	}
	return strings.ReplaceAll(`@id, @key, coalesce(@retry_key::text, ''), @kind, @payload, @cause, @friends, @priority, @status, @attempts,
		@next_at, @first_attempt_at, @error, @reason, @request_id, @created_at, @done_at, @leased_by, @lease_until`, "@", alias)
}

func scanDelivery(row pgx.Row) (store.Delivery, error) {
	var d store.Delivery
	var id int64
	var status int16
	var friends []int64
	var first, doneAt, until *time.Time
	if err := row.Scan(&id, &d.Key, &d.RetryKey, &d.Kind, &d.Payload, &d.Cause, &friends, &d.Priority, &status, &d.Attempts, &d.NextAt,
		&first, &d.Error, &d.Reason, &d.RequestID, &d.CreatedAt, &doneAt, &d.LeasedBy, &until); err != nil {
		return store.Delivery{}, err
	}
	d.ID, d.Status, d.NextAt, d.CreatedAt = uint64(id), store.DeliveryStatus(status), d.NextAt.UTC(), d.CreatedAt.UTC()
	for _, f := range friends {
		d.Friends = append(d.Friends, stepcast.FriendID(f))
	}
	d.FirstAttemptAt, d.DoneAt, d.LeaseUntil = utc(first), utc(doneAt), utc(until)
	return d, nil
}

// utc returns *t in UTC, or the zero time for NULL.
func utc(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// nullTime is t for a nullable column: NULL when zero, else to the
// microsecond in UTC.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC().Truncate(time.Microsecond)
	return &t
}

func friendIDs(ids []stepcast.FriendID) []int64 {
	out := make([]int64, len(ids))
	for i, f := range ids {
		out[i] = int64(f)
	}
	return out
}

func (t *ptx) deliveryWhere(cond string, arg any) (store.Delivery, error) {
	return one(t, "delivery "+quoteArg(arg), scanDelivery, "SELECT "+deliveryColumns("")+" FROM stepcast_outbox WHERE account = $1 AND "+cond, t.account, arg)
}

func (t *ptx) Delivery(id uint64) (store.Delivery, error) {
	return t.deliveryWhere("id = $2", int64(id))
}

func (t *ptx) DeliveryByKey(key string) (store.Delivery, error) {
	if !backend.DeliveryKey(key) {
		return store.Delivery{}, fmt.Errorf("pgstore: delivery %s: %w", stepcast.Quote(key), store.ErrNotFound)
	}
	return t.deliveryWhere("key = $2", key)
}

// insertDelivery writes d with id and its recipients in one statement;
// false if its key is taken.
func (t *ptx) insertDelivery(id int64, d store.Delivery) (bool, error) {
	var n int
	err := t.tx.QueryRow(t.ctx, `WITH d AS (
			INSERT INTO stepcast_outbox (account, id, key, retry_key, kind, payload, cause, friends, priority, status, attempts, next_at,
				first_attempt_at, error, reason, request_id, created_at, done_at)
			VALUES ($1, $2, $3, nullif($4, '')::uuid, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
			ON CONFLICT (account, key) DO NOTHING RETURNING id),
		f AS (INSERT INTO stepcast_outbox_friends (account, friend, id) SELECT $1, unnest($8::bigint[]), id FROM d)
		SELECT count(*) FROM d`,
		t.account, id, d.Key, d.RetryKey, string(d.Kind), d.Payload, d.Cause, friendIDs(d.Friends), d.Priority, int16(d.Status), d.Attempts,
		d.NextAt.UTC().Truncate(time.Microsecond), nullTime(d.FirstAttemptAt), d.Error, d.Reason, d.RequestID,
		d.CreatedAt.UTC().Truncate(time.Microsecond), nullTime(d.DoneAt)).Scan(&n)
	return n == 1, err
}

func (t *ptx) Enqueue(d store.Delivery) (uint64, error) {
	if err := backend.ValidateDelivery(d); err != nil {
		return 0, err
	}
	d = backend.Enqueued(d)
	id := t.lastDelivery + 1
	ok, err := t.insertDelivery(id, d)
	if err != nil {
		return 0, t.fail("enqueue", err)
	}
	if !ok {
		return 0, fmt.Errorf("pgstore: delivery %s: %w", stepcast.Quote(d.Key), store.ErrDuplicate)
	}
	t.lastDelivery = id
	return uint64(id), nil
}

func (t *ptx) RestoreDelivery(d store.Delivery) error {
	if err := backend.ValidateRestored(d); err != nil {
		return err
	}
	if err := backend.CheckRestoreID(d, uint64(t.lastDelivery)+1); err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	ok, err := t.insertDelivery(int64(d.ID), d)
	if err != nil {
		return t.fail("restore delivery", err)
	}
	if !ok {
		return fmt.Errorf("pgstore: delivery %s: %w", stepcast.Quote(d.Key), store.ErrDuplicate)
	}
	t.lastDelivery = int64(d.ID)
	return nil
}

func (t *ptx) FinishDelivery(id uint64, holder string, o store.Outcome) error {
	d, err := backend.PrepareFinish(t, id, holder, o)
	if err != nil {
		return err
	}
	backend.Finish(&d, o)
	_, err = t.tx.Exec(t.ctx, `UPDATE stepcast_outbox SET status = $3, error = $4, request_id = $5, done_at = $6, next_at = $7,
		reason = $8, attempts = $9, first_attempt_at = $10, leased_by = '', lease_until = NULL WHERE account = $1 AND id = $2`,
		t.account, int64(id), int16(d.Status), d.Error, d.RequestID, nullTime(d.DoneAt), d.NextAt, d.Reason, d.Attempts, nullTime(d.FirstAttemptAt))
	if err != nil {
		return t.fail("finish delivery", err)
	}
	return nil
}

// CancelDeliveries implements store.Tx in one statement, through the
// index on (account, cause, status) or on the pending rows' keys.
func (t *ptx) CancelDeliveries(sel store.DeliverySelector, reason string, at time.Time) (int, error) {
	if err := backend.ValidateCancel(sel, reason, at); err != nil {
		return 0, err
	}
	at = at.UTC().Truncate(time.Microsecond)
	args := []any{t.account, reason, at}
	var where string
	switch end, bounded := prefixEnd(sel.KeyPrefix); {
	case sel.Cause != "":
		where, args = "cause = $4", append(args, sel.Cause)
	case bounded:
		where, args = `key COLLATE "C" >= $4 AND key COLLATE "C" < $5`, append(args, sel.KeyPrefix, end)
	default:
		where, args = `key COLLATE "C" >= $4 AND starts_with(key, $4)`, append(args, sel.KeyPrefix)
	}
	var n int
	err := t.tx.QueryRow(t.ctx, `WITH c AS (UPDATE stepcast_outbox SET status = 4, reason = $2, done_at = $3, leased_by = '', lease_until = NULL
		WHERE account = $1 AND status = 1 AND (leased_by = '' OR lease_until <= $3) AND `+where+` RETURNING 1)
		SELECT count(*) FROM c`, args...).Scan(&n)
	if err != nil {
		return 0, t.fail("cancel deliveries", err)
	}
	return n, nil
}

// prefixEnd returns the least string above every string that starts with
// p, in byte (and code point) order: p with its last character that can be
// increased increased, and what follows it dropped; false if there is
// none (p is empty or all U+10FFFF).
func prefixEnd(p string) (string, bool) {
	for p != "" {
		r, n := utf8.DecodeLastRuneInString(p)
		p = p[:len(p)-n]
		switch {
		case r == utf8.MaxRune:
			continue
		case r == 0xD7FF: // the surrogates are no characters
			r = 0xE000
		default:
			r++
		}
		return p + string(r), true
	}
	return "", false
}

// Deliveries implements store.ReadTx: a friend's deliveries through
// stepcast_outbox_friends, the others through the indexes on status and
// cause.
func (t *ptx) Deliveries(f store.DeliveryFilter) ([]store.Delivery, error) {
	if err := backend.ValidateFilter(f); err != nil {
		return nil, err
	}
	if !backend.Page(f.After, backend.MaxSeq, f.Limit) || !backend.CauseKey(f.Cause) {
		return nil, nil
	}
	after := int64(f.After)
	args := []any{t.account, after, f.Limit}
	query := "SELECT " + deliveryColumns("o") + " FROM stepcast_outbox o WHERE o.account = $1 AND o.id > $2"
	order := " ORDER BY o.id LIMIT $3"
	if f.Friend != 0 {
		args = append(args, int64(f.Friend))
		query = "SELECT " + deliveryColumns("o") + ` FROM stepcast_outbox_friends r JOIN stepcast_outbox o ON o.account = r.account AND o.id = r.id
			WHERE r.account = $1 AND r.friend = $4 AND r.id > $2`
		order = " ORDER BY r.id LIMIT $3"
	}
	if f.Status != 0 {
		args = append(args, int16(f.Status))
		query += " AND o.status = $" + strconv.Itoa(len(args))
	}
	if f.Cause != "" {
		args = append(args, f.Cause)
		query += " AND o.cause = $" + strconv.Itoa(len(args))
	}
	return list(t, "deliveries", scanDelivery, query+order, args...)
}

// DeliveryProgress implements store.ReadTx through the index on (account,
// cause, status).
func (t *ptx) DeliveryProgress(cause string) (store.DeliveryProgress, error) {
	var p store.DeliveryProgress
	if !backend.CauseKey(cause) {
		return p, nil
	}
	rows, err := t.tx.Query(t.ctx, `SELECT status, count(*), coalesce(sum(cardinality(friends)) FILTER (WHERE status = 2), 0)
		FROM stepcast_outbox WHERE account = $1 AND cause = $2 GROUP BY status`, t.account, cause)
	if err != nil {
		return p, t.fail("delivery progress", err)
	}
	defer rows.Close()
	for rows.Next() {
		var status int16
		var n, recipients int64
		if err := rows.Scan(&status, &n, &recipients); err != nil {
			return p, t.fail("delivery progress", err)
		}
		switch store.DeliveryStatus(status) {
		case store.Pending:
			p.Pending = int(n)
		case store.Sent:
			p.Sent, p.Recipients = int(n), int(recipients)
		case store.Failed:
			p.Failed = int(n)
		case store.Cancelled:
			p.Cancelled = int(n)
		}
	}
	return p, rows.Err()
}

// LeaseDeliveries implements store.Deliveries in one statement, like
// Lease, walking the queue index in its order — once a read of the index
// by due time (account, next_at) found a delivery to lease: the queue
// index's walk, which cannot stop at the first delivery not yet due, would
// read every delivery waiting for later to find that none is due.
func (s *Store) LeaseDeliveries(ctx context.Context, account store.AccountID, holder string, now time.Time, ttl time.Duration, limit int) ([]store.Delivery, error) {
	if err := account.Validate(); err != nil {
		return nil, fmt.Errorf("pgstore: lease deliveries: %w", err)
	}
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: lease deliveries %q: %w", account, err)
	}
	if err := backend.ValidateLease(holder, now, ttl, limit); err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	until := now.Add(ttl).UTC().Truncate(time.Microsecond)
	now = now.UTC().Truncate(time.Microsecond)
	if limit == 0 {
		return nil, nil
	}
	var due bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM stepcast_outbox
		WHERE account = $1 AND status = 1 AND next_at <= $2 AND (leased_by = '' OR lease_until <= $2))`, account, now).Scan(&due)
	if err != nil {
		return nil, fmt.Errorf("pgstore: lease deliveries %q: %w", account, err)
	}
	if !due {
		return nil, nil
	}
	out, err := queryAll(ctx, s.pool, scanDelivery, `WITH p AS MATERIALIZED (SELECT id FROM stepcast_outbox
		      WHERE account = $1 AND status = 1 AND next_at <= $3 AND (leased_by = '' OR lease_until <= $3)
		      ORDER BY priority DESC, next_at, id LIMIT $5 FOR UPDATE SKIP LOCKED)
		UPDATE stepcast_outbox o SET leased_by = $2, lease_until = $4, attempts = o.attempts + 1,
			first_attempt_at = CASE WHEN o.attempts = 0 THEN $3 ELSE o.first_attempt_at END FROM p
		WHERE o.account = $1 AND o.id = p.id
		RETURNING `+deliveryColumns("o"),
		account, holder, now, until, limit)
	if err != nil {
		return nil, fmt.Errorf("pgstore: lease deliveries %q: %w", account, err)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case a.Priority != b.Priority:
			return a.Priority > b.Priority
		case !a.NextAt.Equal(b.NextAt):
			return a.NextAt.Before(b.NextAt)
		}
		return a.ID < b.ID
	})
	return out, nil
}

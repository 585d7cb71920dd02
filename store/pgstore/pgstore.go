// Package pgstore keeps stepcast's data in PostgreSQL, for hosts that run
// several engine instances on one database. Writers to one account are
// serialized by a row lock on the account, so friend IDs stay dense and the
// change log has no gaps; readers get repeatable-read snapshots. Timestamps
// are written from Go (never SQL now()), so the injected clock governs what
// is stored.
//
// The schema is created and upgraded by versioned migrations embedded in
// the package, under an advisory lock; a database at a newer version than
// this package knows is refused.
package pgstore

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/backend"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrSchemaVersion is returned by Open for a database whose stepcast schema
// is newer than this package.
var ErrSchemaVersion = errors.New("pgstore: database schema is newer than this version of stepcast")

// migrationLock is the advisory lock key held while migrating.
const migrationLock = 0x5732ca57

// Options configure Open. The zero value uses the connection's search_path.
type Options struct {
	// Schema is the PostgreSQL schema the tables live in; it is created
	// if missing and set as every connection's search_path.
	Schema string
}

// Store is a PostgreSQL store.
type Store struct {
	pool   *pgxpool.Pool
	schema string
	closed atomic.Bool
}

// Schema returns the schema given in Options ("" for the search_path).
func (s *Store) Schema() string { return s.schema }

// The store and its transactions implement every aggregate's interface.
var (
	_ store.Store            = (*Store)(nil)
	_ store.FriendReader     = (*ptx)(nil)
	_ store.FriendWriter     = (*ptx)(nil)
	_ store.LogReader        = (*ptx)(nil)
	_ store.LogWriter        = (*ptx)(nil)
	_ store.TimerReader      = (*ptx)(nil)
	_ store.TimerWriter      = (*ptx)(nil)
	_ store.OutboxReader     = (*ptx)(nil)
	_ store.OutboxWriter     = (*ptx)(nil)
	_ store.DefinitionReader = (*ptx)(nil)
	_ store.DefinitionWriter = (*ptx)(nil)
	_ store.TallyReader      = (*ptx)(nil)
	_ store.TallyWriter      = (*ptx)(nil)
	_ store.Tx               = (*ptx)(nil)
)

// Open connects to the database at dsn and migrates its schema.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgstore: parse DSN: %w", err)
	}
	if opts.Schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = opts.Schema
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: connect: %w", err)
	}
	s := &Store{pool: pool, schema: opts.Schema}
	if opts.Schema != "" {
		if _, err := pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{opts.Schema}.Sanitize()); err != nil {
			pool.Close()
			return nil, fmt.Errorf("pgstore: create schema %q: %w", opts.Schema, err)
		}
	}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("pgstore: migration %s has no version prefix", e.Name())
		}
		b, err := migrations.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// SchemaVersion is the schema version this package migrates to.
func SchemaVersion() int {
	ms, _ := loadMigrations()
	return ms[len(ms)-1].version
}

func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return fmt.Errorf("pgstore: migrate: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock)
	if _, err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS stepcast_schema (version integer NOT NULL)"); err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	var current int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM stepcast_schema").Scan(&current); err != nil {
		return fmt.Errorf("pgstore: migrate: read version: %w", err)
	}
	latest := ms[len(ms)-1].version
	if current > latest {
		return fmt.Errorf("%w: the database is at version %d, this package knows up to %d", ErrSchemaVersion, current, latest)
	}
	for _, m := range ms {
		if m.version <= current {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO stepcast_schema (version) VALUES ($1)", m.version)
			return err
		})
		if err != nil {
			return fmt.Errorf("pgstore: migration %s: %w", m.name, err)
		}
	}
	return nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	if s.closed.CompareAndSwap(false, true) {
		s.pool.Close()
	}
	return nil
}

// View implements store.Store.
func (s *Store) View(ctx context.Context, account store.AccountID, fn func(store.ReadTx) error) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgstore: view %q: %w", account, err)
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("pgstore: view %q: %w", account, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	t := &ptx{ctx: ctx, tx: tx, account: string(account)}
	err = tx.QueryRow(ctx, "SELECT last_friend, last_change, last_event, last_delivery FROM stepcast_accounts WHERE account = $1", account).
		Scan(&t.lastFriend, &t.lastChange, &t.lastEvent, &t.lastDelivery)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("pgstore: view %q: %w", account, err)
	}
	return fn(t)
}

// Update implements store.Store. A unit of work costs two round trips
// besides its own statements: one begins the transaction, makes sure the
// account exists and locks it; one writes the account's counters and
// commits.
func (s *Store) Update(ctx context.Context, account store.AccountID, fn func(store.Tx) error) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgstore: update %q: %w", account, err)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("pgstore: update %q: %w", account, err)
	}
	// Released idle, or destroyed by the pool if it is still in a
	// transaction (a failed rollback).
	defer conn.Release()
	committed := false
	defer func() {
		if !committed && conn.Conn().PgConn().TxStatus() != 'I' {
			conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	t := &ptx{ctx: ctx, tx: conn, account: string(account), writable: true}
	// The row lock serializes this account's writers: IDs and sequences
	// are read and advanced under it.
	begin := &pgx.Batch{}
	begin.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	begin.Queue("INSERT INTO stepcast_accounts (account) VALUES ($1) ON CONFLICT DO NOTHING", account)
	begin.Queue("SELECT last_friend, last_change, last_event, last_delivery FROM stepcast_accounts WHERE account = $1 FOR UPDATE", account).
		QueryRow(func(row pgx.Row) error { return row.Scan(&t.lastFriend, &t.lastChange, &t.lastEvent, &t.lastDelivery) })
	if err := conn.SendBatch(ctx, begin).Close(); err != nil {
		return fmt.Errorf("pgstore: update %q: begin and lock account: %w", account, err)
	}
	if err := fn(t); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgstore: update %q: %w", account, err)
	}
	commit := &pgx.Batch{}
	commit.Queue("UPDATE stepcast_accounts SET last_friend = $2, last_change = $3, last_event = $4, last_delivery = $5 WHERE account = $1",
		account, t.lastFriend, t.lastChange, t.lastEvent, t.lastDelivery)
	commit.Queue("COMMIT")
	if err := conn.SendBatch(ctx, commit).Close(); err != nil {
		return fmt.Errorf("pgstore: commit %q: %w", account, err)
	}
	if conn.Conn().PgConn().TxStatus() != 'I' {
		return fmt.Errorf("pgstore: commit %q: the transaction is still open", account)
	}
	committed = true
	return nil
}

// querier is what a transaction's statements go through: a pgx.Tx for
// views, a pooled connection in an explicit transaction for updates.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

type ptx struct {
	ctx                               context.Context
	tx                                querier
	account                           string
	writable                          bool
	lastFriend, lastChange, lastEvent int64
	lastDelivery                      int64
	// friends caches the records this transaction read or wrote, to save
	// round trips; the transaction's own view of them cannot change under it.
	friends map[stepcast.FriendID]store.Friend
}

func (t *ptx) fail(what string, err error) error {
	return fmt.Errorf("pgstore: account %q: %s: %w", t.account, what, err)
}

func (t *ptx) friendWhere(cond string, arg any) (store.Friend, error) {
	var raw []byte
	err := t.tx.QueryRow(t.ctx, "SELECT record FROM stepcast_friends WHERE account = $1 AND "+cond, t.account, arg).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Friend{}, fmt.Errorf("pgstore: friend %s: %w", quoteArg(arg), store.ErrNotFound)
	}
	if err != nil {
		return store.Friend{}, t.fail("friend "+quoteArg(arg), err)
	}
	var f store.Friend
	if err := json.Unmarshal(raw, &f); err != nil {
		return store.Friend{}, t.fail("decode friend "+quoteArg(arg), err)
	}
	return f, nil
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
	return t.friendWhere("user_id = $2", string(user))
}

func (t *ptx) Friends(after stepcast.FriendID, limit int) ([]store.Friend, error) {
	rows, err := t.tx.Query(t.ctx, "SELECT record FROM stepcast_friends WHERE account = $1 AND id > $2 ORDER BY id LIMIT $3", t.account, int64(after), limit)
	if err != nil {
		return nil, t.fail("friends", err)
	}
	defer rows.Close()
	var out []store.Friend
	for rows.Next() {
		var raw []byte
		var f store.Friend
		if err := rows.Scan(&raw); err != nil {
			return nil, t.fail("friends", err)
		}
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, t.fail("decode friend", err)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

func (t *ptx) Changes(after uint64, limit int) ([]store.Change, error) {
	rows, err := t.tx.Query(t.ctx, "SELECT seq, record FROM stepcast_changes WHERE account = $1 AND seq > $2 ORDER BY seq LIMIT $3", t.account, int64(after), limit)
	if err != nil {
		return nil, t.fail("changes", err)
	}
	defer rows.Close()
	var out []store.Change
	for rows.Next() {
		var seq int64
		var raw []byte
		if err := rows.Scan(&seq, &raw); err != nil {
			return nil, t.fail("changes", err)
		}
		c, err := backend.UnmarshalChange(uint64(seq), raw)
		if err != nil {
			return nil, t.fail("decode", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (t *ptx) LastSeq() (uint64, error) { return uint64(t.lastChange), nil }

func (t *ptx) Events(after uint64, limit int) ([]store.Event, error) {
	rows, err := t.tx.Query(t.ctx, "SELECT seq, record FROM stepcast_events WHERE account = $1 AND seq > $2 ORDER BY seq LIMIT $3", t.account, int64(after), limit)
	if err != nil {
		return nil, t.fail("events", err)
	}
	return t.scanEvents(rows)
}

func (t *ptx) FriendEvents(friend stepcast.FriendID, before uint64, limit int) ([]store.Event, error) {
	if before == 0 || before > math.MaxInt64 {
		before = math.MaxInt64
	}
	rows, err := t.tx.Query(t.ctx, "SELECT seq, record FROM stepcast_events WHERE account = $1 AND friend = $2 AND seq < $3 ORDER BY seq DESC LIMIT $4",
		t.account, int64(friend), int64(before), max(limit, 0))
	if err != nil {
		return nil, t.fail("friend events", err)
	}
	return t.scanEvents(rows)
}

func (t *ptx) scanEvents(rows pgx.Rows) ([]store.Event, error) {
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		var seq int64
		var raw []byte
		if err := rows.Scan(&seq, &raw); err != nil {
			return nil, t.fail("events", err)
		}
		e, err := backend.UnmarshalEvent(uint64(seq), raw)
		if err != nil {
			return nil, t.fail("decode", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (t *ptx) HasEvent(id string) (bool, error) {
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

func scanDefinition(row pgx.Row) (store.Definition, error) {
	var d store.Definition
	var version int64
	if err := row.Scan(&d.Kind, &d.Name, &d.Body, &version, &d.UpdatedAt); err != nil {
		return store.Definition{}, err
	}
	d.Version, d.UpdatedAt = uint64(version), d.UpdatedAt.UTC()
	return d, nil
}

func (t *ptx) Definition(kind, name string) (store.Definition, error) {
	d, err := scanDefinition(t.tx.QueryRow(t.ctx, "SELECT kind, name, body, version, updated_at FROM stepcast_definitions WHERE account = $1 AND kind = $2 AND name = $3", t.account, kind, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Definition{}, fmt.Errorf("pgstore: definition %s/%s: %w", stepcast.Quote(kind), stepcast.Quote(name), store.ErrNotFound)
	}
	if err != nil {
		return store.Definition{}, t.fail("definition", err)
	}
	return d, nil
}

func (t *ptx) Definitions(kind string) ([]store.Definition, error) {
	rows, err := t.tx.Query(t.ctx, `SELECT kind, name, body, version, updated_at FROM stepcast_definitions
		WHERE account = $1 AND ($2 = '' OR kind = $2) ORDER BY kind COLLATE "C", name COLLATE "C"`, t.account, kind)
	if err != nil {
		return nil, t.fail("definitions", err)
	}
	defer rows.Close()
	var out []store.Definition
	for rows.Next() {
		d, err := scanDefinition(rows)
		if err != nil {
			return nil, t.fail("definitions", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func (t *ptx) PutDefinition(d store.Definition) (uint64, error) {
	if err := backend.ValidateDefinition(d); err != nil {
		return 0, err
	}
	at := d.UpdatedAt.UTC().Truncate(time.Microsecond)
	var tag pgconn.CommandTag
	var err error
	if d.Version == 0 {
		tag, err = t.tx.Exec(t.ctx, `INSERT INTO stepcast_definitions (account, kind, name, body, version, updated_at) VALUES ($1, $2, $3, $4, 1, $5)
			ON CONFLICT DO NOTHING`, t.account, d.Kind, d.Name, d.Body, at)
	} else {
		tag, err = t.tx.Exec(t.ctx, `UPDATE stepcast_definitions SET body = $4, version = version + 1, updated_at = $5
			WHERE account = $1 AND kind = $2 AND name = $3 AND version = $6`, t.account, d.Kind, d.Name, d.Body, at, int64(d.Version))
	}
	if err != nil {
		return 0, t.fail("write definition", err)
	}
	if tag.RowsAffected() != 1 {
		return 0, fmt.Errorf("pgstore: definition %s/%s at version %d: %w", stepcast.Quote(d.Kind), stepcast.Quote(d.Name), d.Version, store.ErrConflict)
	}
	return d.Version + 1, nil
}

func (t *ptx) DeleteDefinition(kind, name string, version uint64) error {
	tag, err := t.tx.Exec(t.ctx, "DELETE FROM stepcast_definitions WHERE account = $1 AND kind = $2 AND name = $3 AND version = $4", t.account, kind, name, int64(version))
	if err != nil {
		return t.fail("delete definition", err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	if _, err := t.Definition(kind, name); err != nil {
		return err
	}
	return fmt.Errorf("pgstore: definition %s/%s at version %d: %w", stepcast.Quote(kind), stepcast.Quote(name), version, store.ErrConflict)
}

func (t *ptx) Tallies(experiment string) ([]store.Tally, error) {
	rows, err := t.tx.Query(t.ctx, `SELECT experiment, variant, recipients, clickers, converters, revenue FROM stepcast_tallies
		WHERE account = $1 AND ($2 = '' OR experiment = $2) ORDER BY experiment COLLATE "C", variant COLLATE "C"`, t.account, experiment)
	if err != nil {
		return nil, t.fail("tallies", err)
	}
	defer rows.Close()
	var out []store.Tally
	for rows.Next() {
		var tl store.Tally
		if err := rows.Scan(&tl.Experiment, &tl.Variant, &tl.Recipients, &tl.Clickers, &tl.Converters, &tl.Revenue); err != nil {
			return nil, t.fail("tallies", err)
		}
		out = append(out, tl)
	}
	return out, rows.Err()
}

func (t *ptx) AddToTally(d store.Tally) (store.Tally, error) {
	if err := backend.ValidateTally(d); err != nil {
		return store.Tally{}, err
	}
	tl := store.Tally{Experiment: d.Experiment, Variant: d.Variant}
	err := t.tx.QueryRow(t.ctx, `INSERT INTO stepcast_tallies AS t (account, experiment, variant, recipients, clickers, converters, revenue)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (account, experiment, variant) DO UPDATE SET recipients = t.recipients + EXCLUDED.recipients,
			clickers = t.clickers + EXCLUDED.clickers, converters = t.converters + EXCLUDED.converters, revenue = t.revenue + EXCLUDED.revenue
		RETURNING recipients, clickers, converters, revenue`,
		t.account, d.Experiment, d.Variant, d.Recipients, d.Clickers, d.Converters, d.Revenue).
		Scan(&tl.Recipients, &tl.Clickers, &tl.Converters, &tl.Revenue)
	if err != nil {
		return store.Tally{}, t.fail("add to tally", err)
	}
	return tl, nil
}

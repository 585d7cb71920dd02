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
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
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

var (
	_ store.Store = (*Store)(nil)
	_ store.Tx    = (*ptx)(nil) // and so every aggregate's reader and writer
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
	if err := account.Validate(); err != nil {
		return fmt.Errorf("pgstore: view: %w", err)
	}
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
	if err := account.Validate(); err != nil {
		return fmt.Errorf("pgstore: update: %w", err)
	}
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

package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/backend"
)

// The shapes every read and versioned write takes: a query for one record
// or for many, scanned by the record's scanner, and the optimistic write
// and delete of a versioned record.

// queryAll runs a query through q and scans every row with scan; no row
// is a nil slice.
func queryAll[T any](ctx context.Context, q interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}, scan func(pgx.Row) (T, error), sql string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.AppendRows([]T(nil), rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
}

// list is queryAll in the transaction; an error names what.
func list[T any](t *ptx, what string, scan func(pgx.Row) (T, error), sql string, args ...any) ([]T, error) {
	out, err := queryAll(t.ctx, t.tx, scan, sql, args...)
	if err != nil {
		return nil, t.fail(what, err)
	}
	return out, nil
}

// one runs a query for one record what: store.ErrNotFound if there is none.
func one[T any](t *ptx, what string, scan func(pgx.Row) (T, error), sql string, args ...any) (T, error) {
	v, err := scan(t.tx.QueryRow(t.ctx, sql, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return v, fmt.Errorf("pgstore: %s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return v, t.fail(what, err)
	}
	return v, nil
}

// putVersioned writes the versioned record what: insert (with args) at
// version 0, else update (with args and the version last); no row changed
// is store.ErrConflict. It returns the new version.
func (t *ptx) putVersioned(what string, version uint64, insert, update string, args ...any) (uint64, error) {
	sql := insert
	if version != 0 {
		sql, args = update, append(args, int64(version))
	}
	tag, err := t.tx.Exec(t.ctx, sql, args...)
	if err != nil {
		return 0, t.fail("write "+what, err)
	}
	if tag.RowsAffected() != 1 {
		return 0, fmt.Errorf("pgstore: %s at version %d: %w", what, version, store.ErrConflict)
	}
	return version + 1, nil
}

// deleteVersioned deletes the versioned record what with del (args and the
// version last). If no row went, get tells why: its error (store.ErrNotFound
// for a record gone), else store.ErrConflict (another version).
func (t *ptx) deleteVersioned(what string, version uint64, get func() error, del string, args ...any) error {
	tag, err := t.tx.Exec(t.ctx, del, append(args, int64(version))...)
	if err != nil {
		return t.fail("delete "+what, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	if err := get(); err != nil {
		return err
	}
	return fmt.Errorf("pgstore: %s at version %d: %w", what, version, store.ErrConflict)
}

// The scanners of the records kept as JSON.

func scanFriend(row pgx.Row) (store.Friend, error) {
	var raw []byte
	var f store.Friend
	if err := row.Scan(&raw); err != nil {
		return f, err
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return f, fmt.Errorf("%w: friend: %w", store.ErrCorrupt, err)
	}
	return f, nil
}

// scanLog returns the scanner of a log's rows (seq, record) that decodes
// records with unmarshal.
func scanLog[T any](unmarshal func(seq uint64, b []byte) (T, error)) func(pgx.Row) (T, error) {
	return func(row pgx.Row) (T, error) {
		var seq int64
		var raw []byte
		if err := row.Scan(&seq, &raw); err != nil {
			var zero T
			return zero, err
		}
		return unmarshal(uint64(seq), raw)
	}
}

var (
	scanChange = scanLog(backend.UnmarshalChange)
	scanEvent  = scanLog(backend.UnmarshalEvent)
)

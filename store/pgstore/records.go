package pgstore

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/backend"
)

// Definitions (stepcast_definitions) and tallies (stepcast_tallies).

func scanDefinition(row pgx.Row) (store.Definition, error) {
	var d store.Definition
	var version int64
	if err := row.Scan(&d.Kind, &d.Name, &d.Body, &version, &d.UpdatedAt); err != nil {
		return store.Definition{}, err
	}
	d.Version, d.UpdatedAt = uint64(version), d.UpdatedAt.UTC()
	return d, nil
}

const definitionColumns = "kind, name, body, version, updated_at"

func (t *ptx) Definition(kind, name string) (store.Definition, error) {
	what := fmt.Sprintf("definition %s/%s", stepcast.Quote(kind), stepcast.Quote(name))
	if !backend.DefinitionKey(kind, name) {
		return store.Definition{}, fmt.Errorf("pgstore: %s: %w", what, store.ErrNotFound)
	}
	return one(t, what, scanDefinition,
		"SELECT "+definitionColumns+" FROM stepcast_definitions WHERE account = $1 AND kind = $2 AND name = $3", t.account, kind, name)
}

func (t *ptx) Definitions(kind string) ([]store.Definition, error) {
	if kind != "" && !backend.NameKey(kind) {
		return nil, nil
	}
	return list(t, "definitions", scanDefinition, "SELECT "+definitionColumns+` FROM stepcast_definitions
		WHERE account = $1 AND ($2 = '' OR kind = $2) ORDER BY kind COLLATE "C", name COLLATE "C"`, t.account, kind)
}

func (t *ptx) PutDefinition(d store.Definition) (uint64, error) {
	if err := backend.ValidateDefinition(d); err != nil {
		return 0, err
	}
	return t.putVersioned(fmt.Sprintf("definition %s/%s", stepcast.Quote(d.Kind), stepcast.Quote(d.Name)), d.Version,
		`INSERT INTO stepcast_definitions (account, kind, name, body, version, updated_at) VALUES ($1, $2, $3, $4, 1, $5) ON CONFLICT DO NOTHING`,
		`UPDATE stepcast_definitions SET body = $4, version = version + 1, updated_at = $5 WHERE account = $1 AND kind = $2 AND name = $3 AND version = $6`,
		t.account, d.Kind, d.Name, d.Body, d.UpdatedAt.UTC().Truncate(time.Microsecond))
}

func (t *ptx) DeleteDefinition(kind, name string, version uint64) error {
	get := func() error { _, err := t.Definition(kind, name); return err }
	if !backend.DefinitionKey(kind, name) {
		return get()
	}
	return t.deleteVersioned(fmt.Sprintf("definition %s/%s", stepcast.Quote(kind), stepcast.Quote(name)), version, get,
		"DELETE FROM stepcast_definitions WHERE account = $1 AND kind = $2 AND name = $3 AND version = $4", t.account, kind, name)
}

func scanTally(row pgx.Row) (store.Tally, error) {
	var tl store.Tally
	err := row.Scan(&tl.Experiment, &tl.Variant, &tl.Recipients, &tl.Clickers, &tl.Converters, &tl.Revenue)
	return tl, err
}

func (t *ptx) Tallies(experiment string) ([]store.Tally, error) {
	if experiment != "" && !backend.NameKey(experiment) {
		return nil, nil
	}
	return list(t, "tallies", scanTally, `SELECT experiment, variant, recipients, clickers, converters, revenue FROM stepcast_tallies
		WHERE account = $1 AND ($2 = '' OR experiment = $2) ORDER BY experiment COLLATE "C", variant COLLATE "C"`, t.account, experiment)
}

// AddToTally implements store.Tx. It reads the tally, adds in Go
// (backend.AddTally, as the other backends do: a sum that would overflow is
// refused alike, before anything is written) and writes the sum: two round
// trips, safe because the unit of work holds the account's row lock, which
// every writer of the account takes.
func (t *ptx) AddToTally(d store.Tally) (store.Tally, error) {
	if err := backend.ValidateTally(d); err != nil {
		return store.Tally{}, fmt.Errorf("pgstore: %w", err)
	}
	tl, err := one(t, "tally", scanTally, `SELECT experiment, variant, recipients, clickers, converters, revenue FROM stepcast_tallies
		WHERE account = $1 AND experiment = $2 AND variant = $3`, t.account, d.Experiment, d.Variant)
	if exists, err := backend.Found(err); err != nil {
		return store.Tally{}, err
	} else if !exists {
		tl = store.Tally{Experiment: d.Experiment, Variant: d.Variant}
	}
	if tl, err = backend.AddTally(tl, d); err != nil {
		return store.Tally{}, fmt.Errorf("pgstore: %w", err)
	}
	_, err = t.tx.Exec(t.ctx, `INSERT INTO stepcast_tallies AS t (account, experiment, variant, recipients, clickers, converters, revenue)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (account, experiment, variant) DO UPDATE SET recipients = EXCLUDED.recipients,
			clickers = EXCLUDED.clickers, converters = EXCLUDED.converters, revenue = EXCLUDED.revenue`,
		t.account, tl.Experiment, tl.Variant, tl.Recipients, tl.Clickers, tl.Converters, tl.Revenue)
	if err != nil {
		return store.Tally{}, t.fail("add to tally", err)
	}
	return tl, nil
}

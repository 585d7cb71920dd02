package boltstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/backend"
)

// Definitions and tallies: JSON records keyed "group NUL name".

func defKey(kind, name string) []byte { return []byte(kind + "\x00" + name) }

func defName(kind, name string) func() string {
	return func() string { return fmt.Sprintf("definition %s/%s", stepcast.Quote(kind), stepcast.Quote(name)) }
}

func (t *tx) Definition(kind, name string) (store.Definition, error) {
	if !backend.DefinitionKey(kind, name) {
		return store.Definition{}, fmt.Errorf("boltstore: %s: %w", defName(kind, name)(), store.ErrNotFound)
	}
	return get(t, defsB, defKey(kind, name), decodeJSON[store.Definition], defName(kind, name))
}

func (t *tx) Definitions(kind string) ([]store.Definition, error) {
	return scanJSON[store.Definition](t, defsB, kind, "definition")
}

// scanJSON decodes the JSON records of a bucket keyed "group NUL name", in
// key order: all of them, or those of one group.
func scanJSON[T any](t *tx, bucket []byte, group, what string) ([]T, error) {
	b, err := t.bucket(bucket)
	if err != nil || b == nil || (group != "" && !backend.NameKey(group)) {
		return nil, err
	}
	var out []T
	prefix := []byte{}
	if group != "" {
		prefix = []byte(group + "\x00")
	}
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var x T
		if err := json.Unmarshal(v, &x); err != nil {
			return nil, t.corrupt(what, err)
		}
		out = append(out, x)
	}
	return out, nil
}

func (t *tx) PutDefinition(d store.Definition) (uint64, error) {
	if err := backend.ValidateDefinition(d); err != nil {
		return 0, err
	}
	cur, err := t.Definition(d.Kind, d.Name)
	exists, err := backend.Found(err)
	if err != nil {
		return 0, err
	}
	if err := backend.CheckPut(exists, cur.Version, d.Version, "boltstore: %s", lazy(defName(d.Kind, d.Name))); err != nil {
		return 0, err
	}
	d.Version++
	d.UpdatedAt = d.UpdatedAt.UTC().Truncate(time.Microsecond)
	return d.Version, t.putJSON(defsB, defKey(d.Kind, d.Name), d)
}

func (t *tx) DeleteDefinition(kind, name string, version uint64) error {
	cur, err := t.Definition(kind, name)
	exists, err := backend.Found(err)
	if err != nil {
		return err
	}
	if err := backend.CheckDelete(exists, cur.Version, version, "boltstore: %s", lazy(defName(kind, name))); err != nil {
		return err
	}
	b, _ := t.bucket(defsB)
	return b.Delete(defKey(kind, name))
}

func (t *tx) Tallies(experiment string) ([]store.Tally, error) {
	return scanJSON[store.Tally](t, talliesB, experiment, "tally")
}

func (t *tx) AddToTally(d store.Tally) (store.Tally, error) {
	if err := backend.ValidateTally(d); err != nil {
		return store.Tally{}, fmt.Errorf("boltstore: %w", err)
	}
	k := defKey(d.Experiment, d.Variant)
	tl, err := get(t, talliesB, k, decodeJSON[store.Tally], func() string { return "tally" })
	if errors.Is(err, store.ErrNotFound) {
		tl, err = store.Tally{Experiment: d.Experiment, Variant: d.Variant}, nil
	}
	if err != nil {
		return store.Tally{}, err
	}
	if tl, err = backend.AddTally(tl, d); err != nil {
		return store.Tally{}, fmt.Errorf("boltstore: %w", err)
	}
	return tl, t.putJSON(talliesB, k, tl)
}

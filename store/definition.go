package store

import "time"

// Definition is a named, versioned document the host defines for an
// account: a scenario, a rule set, an experiment, a saved segment, the
// schema. The store keeps its bytes (JSON by convention) and a version for
// optimistic concurrency, so that two operators editing one scenario do not
// overwrite each other silently.
type Definition struct {
	Kind      string // scenario, rules, experiment, segment, schema, …
	Name      string
	Body      []byte
	Version   uint64    // set by the store: 1 on creation, +1 on every write
	UpdatedAt time.Time // kept to the microsecond in UTC
}

// DefinitionReader reads an account's definitions.
type DefinitionReader interface {
	// Definition returns the definition kind/name, or ErrNotFound — also
	// for a kind or name PutDefinition would refuse.
	Definition(kind, name string) (Definition, error)
	// Definitions returns the definitions of a kind ("" for all), ordered
	// by kind and name; none for a kind that is not a name.
	Definitions(kind string) ([]Definition, error)
}

// DefinitionWriter writes an account's definitions, versioned.
type DefinitionWriter interface {
	// PutDefinition creates or replaces a definition. d.Version must be
	// the version the caller read, 0 to create; otherwise ErrConflict; one
	// beyond the limits (a kind or name that is not a name, a body over
	// MaxBlobLen, no update time or one outside [stepcast.MinTime,
	// stepcast.MaxTime]) is ErrInvalid. It returns the new version.
	PutDefinition(d Definition) (uint64, error)
	// DeleteDefinition removes a definition at the version the caller
	// read: ErrConflict if it changed since, ErrNotFound if it is gone (or
	// its kind or name is one PutDefinition would refuse).
	DeleteDefinition(kind, name string, version uint64) error
}

// Clone returns a copy of d that shares no memory with it.
func (d Definition) Clone() Definition {
	d.Body = append([]byte(nil), d.Body...)
	return d
}

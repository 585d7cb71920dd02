package store

import (
	"fmt"
	"time"
)

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

// ValidateDefinition reports what is malformed in d.
func ValidateDefinition(d Definition) error {
	switch {
	case d.Kind == "" || d.Name == "":
		return fmt.Errorf("%w: definition %q/%q needs a kind and a name", ErrInvalid, d.Kind, d.Name)
	case d.UpdatedAt.IsZero():
		return fmt.Errorf("%w: definition %s/%s has no update time", ErrInvalid, d.Kind, d.Name)
	}
	return nil
}

// Clone returns a copy of d that shares no memory with it.
func (d Definition) Clone() Definition {
	d.Body = append([]byte(nil), d.Body...)
	return d
}

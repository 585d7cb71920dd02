package store

import (
	"fmt"
	"time"

	"github.com/stepcast/stepcast"
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

// ValidateDefinition reports what is malformed in d, wrapping ErrInvalid
// and stepcast.ErrInvalid: a kind or name that is not a name (empty, over
// stepcast.MaxNameLen bytes, not UTF-8, holding NUL), a body over
// MaxBlobLen bytes, no update time or one outside [stepcast.MinTime,
// stepcast.MaxTime].
func ValidateDefinition(d Definition) error {
	err := firstErr(stepcast.CheckName("kind", d.Kind), stepcast.CheckName("name", d.Name), checkBlob("body", d.Body))
	if err == nil {
		if d.UpdatedAt.IsZero() {
			err = fmt.Errorf("%w: no update time", stepcast.ErrInvalid)
		} else {
			err = stepcast.CheckTime("update time", d.UpdatedAt)
		}
	}
	if err != nil {
		return invalid(err, "definition %s/%s", stepcast.Quote(d.Kind), stepcast.Quote(d.Name))
	}
	return nil
}

// Clone returns a copy of d that shares no memory with it.
func (d Definition) Clone() Definition {
	d.Body = append([]byte(nil), d.Body...)
	return d
}

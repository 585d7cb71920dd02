package backend_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/backend"
)

// TestNotFound: the lazy errors read as the formatted ones they replace,
// and are store.ErrNotFound to errors.Is, also wrapped again.
func TestNotFound(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"Timer", backend.TimerNotFound("memstore", 7, "cap/day"), `memstore: timer 7/"cap/day": store: not found`},
		{"Named", backend.NotFound("boltstore", stringer("friend 3")), `boltstore: friend 3: store: not found`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.err.Error(); got != c.want {
				t.Errorf("Error() = %q, want %q", got, c.want)
			}
			if !errors.Is(c.err, store.ErrNotFound) || !errors.Is(fmt.Errorf("engine: %w", c.err), store.ErrNotFound) {
				t.Errorf("%v is not store.ErrNotFound", c.err)
			}
		})
	}
}

type stringer string

func (s stringer) String() string { return string(s) }

package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// untouched is a store that fails the test when anything reaches it.
type untouched struct {
	store.Store
	t *testing.T
}

func (u untouched) View(context.Context, store.AccountID, func(store.ReadTx) error) error {
	u.t.Error("the store was read")
	return errors.New("read")
}

func (u untouched) Update(context.Context, store.AccountID, func(store.Tx) error) error {
	u.t.Error("the store was written")
	return errors.New("written")
}

// TestAddAccountRefusesBadIDs: an account ID the stores would not keep
// alike is refused before anything else — before the definitions are
// compiled (these are broken), before the store is touched —, wrapping
// store.ErrInvalid and stepcast.ErrInvalid, quoting a short prefix.
func TestAddAccountRefusesBadIDs(t *testing.T) {
	broken := Definitions{Rules: []rules.Rule{{}}}
	t.Run("TheDefinitionsAreBroken", func(t *testing.T) {
		e := mustOpen(t, untouched{Store: memstore.New(), t: t}, &clock{t: t0})
		defer e.Close()
		var de *DefinitionError
		if _, err := e.AddAccount(context.Background(), "ok", broken); !errors.As(err, &de) {
			t.Fatalf("AddAccount with a valid ID = %v, want a *DefinitionError", err)
		}
	})
	for _, tt := range []struct {
		name string
		id   store.AccountID
	}{
		{"Empty", ""},
		{"NUL", "a\x00"},
		{"NotUTF8", "a\xff"},
		{"TooLong", store.AccountID(strings.Repeat("x", stepcast.MaxNameLen+1))},
		{"OfAMegabyte", store.AccountID(strings.Repeat("x", 1<<20))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := mustOpen(t, untouched{Store: memstore.New(), t: t}, &clock{t: t0})
			defer e.Close()
			_, err := e.AddAccount(context.Background(), tt.id, broken)
			if !errors.Is(err, store.ErrInvalid) || !errors.Is(err, stepcast.ErrInvalid) {
				t.Fatalf("AddAccount = %v, want store.ErrInvalid and stepcast.ErrInvalid", err)
			}
			var de *DefinitionError
			if errors.As(err, &de) || len(err.Error()) > 200 {
				t.Fatalf("AddAccount = %.300v: not the account ID's refusal alone", err)
			}
		})
	}
	t.Run("AtTheLimit", func(t *testing.T) {
		e := mustOpen(t, memstore.New(), &clock{t: t0})
		defer e.Close()
		if _, err := e.AddAccount(context.Background(), store.AccountID(strings.Repeat("会", stepcast.MaxNameLen/3)), Definitions{}); err != nil {
			t.Fatalf("AddAccount = %v", err)
		}
	})
}

package memstore_test

import (
	"context"
	"testing"

	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
	"github.com/stepcast/stepcast/store/storetest"
)

type harness struct{}

func (harness) Open(context.Context, *testing.T) (store.Store, error) { return memstore.New(), nil }
func (harness) Close()                                                {}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(context.Context, *testing.T) (storetest.Harness, error) { return harness{}, nil }, storetest.Features{})
}

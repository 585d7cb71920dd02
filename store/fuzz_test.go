package store_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// FuzzImport feeds Import arbitrary input: it never panics, and input it
// refuses leaves the account empty.
func FuzzImport(f *testing.F) {
	src := memstore.New()
	r := rand.New(rand.NewPCG(8, 8))
	events := 0
	randomWrites(&testing.T{}, src, r, time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC), &events)
	var b bytes.Buffer
	if err := store.Export(context.Background(), src, "acct", &b); err != nil {
		f.Fatal(err)
	}
	lines := strings.SplitAfter(b.String(), "\n")
	f.Add(b.String())
	f.Add(strings.Join(lines[:5], ""))
	f.Add(lines[0] + `{"change":{"seq":1,"friend":1,"kind":"SetTag","name":"x","at":"2026-01-01T00:00:00Z"}}` + "\n")
	f.Add(lines[0] + `{"delivery":{"ID":1}}` + "\n")
	f.Fuzz(func(t *testing.T, in string) {
		dst := memstore.New()
		err := store.Import(context.Background(), dst, "acct", strings.NewReader(in))
		if err == nil {
			return
		}
		dst.View(context.Background(), "acct", func(tx store.ReadTx) error {
			fs, _ := tx.Friends(0, 1)
			last, _ := tx.LastSeq()
			evs, _ := tx.Events(0, 1)
			if len(fs) != 0 || last != 0 || len(evs) != 0 {
				t.Fatalf("a refused import (%v) left data behind", err)
			}
			return nil
		})
	})
}

package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/internal/pgtest"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// FuzzImport feeds Import arbitrary input: it never panics; input it
// refuses leaves the account empty; input it takes exports, and that
// export imports again into the same bytes.
func FuzzImport(f *testing.F) {
	v2 := goldenLines(f, goldenV2)
	v1 := goldenLines(f, goldenV1)
	f.Add(join(v2...))
	f.Add(join(v2[:5]...))                                // cut at a line boundary
	f.Add(join(v2...)[:len(join(v2...))/2])               // cut inside a line
	f.Add(resign(without(v2, lineOf(f, v2, `{"timer"`)))) // a timer less, the trailer forged to match
	f.Add(resign(append(v2[:1:1], `{"change":{"seq":1,"friend":1,"kind":"SetTag","name":"x","at":"2026-01-01T00:00:00Z"}}`)))
	f.Add(resign(append(v2[:1:1], `{"delivery":{"id":1,"status":"sent"}}`)))
	f.Add(join(v1...))
	f.Add(join(v1[0], `{"delivery":{"ID":1}}`))
	f.Add(join(v1[0], `{"tally":{"Experiment":"e","Variant":"A","Recipients":1}}`))
	f.Fuzz(func(t *testing.T, in string) {
		ctx := context.Background()
		dst := memstore.New()
		err := store.Import(ctx, dst, "acct", strings.NewReader(in))
		if err != nil {
			dst.View(ctx, "acct", func(tx store.ReadTx) error {
				fs, _ := tx.Friends(0, 1)
				last, _ := tx.LastSeq()
				evs, _ := tx.Events(0, 1)
				defs, _ := tx.Definitions("")
				tallies, _ := tx.Tallies("")
				_, derr := tx.Delivery(1)
				if len(fs) != 0 || last != 0 || len(evs) != 0 || len(defs) != 0 || len(tallies) != 0 || derr == nil {
					t.Fatalf("a refused import (%v) left data behind", err)
				}
				return nil
			})
			return
		}
		first := exportOf(t, dst)
		again := memstore.New()
		if err := store.Import(ctx, again, "acct", bytes.NewReader(first)); err != nil {
			t.Fatalf("the export of an accepted import does not import: %v", err)
		}
		if !bytes.Equal(exportOf(t, again), first) {
			t.Fatalf("the export of an accepted import does not come back the same")
		}
	})
}

// FuzzEventRoundTrip: memstore, boltstore and pgstore (when
// STEPCAST_POSTGRES_DSN is set) accept and refuse the same events, with the
// same error identity; an event they accept exports to the same bytes from
// each, and that export imports into each and exports again unchanged.
//
//	go test -run '^$' -fuzz FuzzEventRoundTrip -fuzztime 15s ./store
func FuzzEventRoundTrip(f *testing.F) {
	stores := []store.Store{memstore.New(), mustBolt(f)}
	if os.Getenv(pgtest.EnvDSN) != "" {
		stores = append(stores, mustPG(f, ""))
	} else {
		f.Log(pgtest.EnvDSN + " is not set; the event round trip skips PostgreSQL")
	}
	at := time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC).UnixMicro()
	f.Add("ev-1", "click", "campaign-url", "", 0.0, "", "", at, uint16(0), "")
	f.Add("buy-1", "conversion", "purchase", "plan \"A\" <b>", 4980.5, "route", "qr-7", at, uint16(999), "")
	f.Add("a", "answer", "q", "はい\u2028", -0.0, "\x01", "\x7f", int64(0), uint16(1), "")
	f.Add("nan", "conversion", "", "", math.NaN(), "", "", at, uint16(0), "")
	f.Add("inf", "conversion", "", "", math.Inf(1), "", "", at, uint16(0), "")
	f.Add("caf\xe9", "click", "", "", 0.0, "", "", at, uint16(0), "")
	f.Add("memo", "message", "", "caf\xe9=1", 0.0, "", "", at, uint16(0), "")
	f.Add("nul", "message", "", "a\x00b", 0.0, "k", "v", at, uint16(0), "")
	f.Add(strings.Repeat("x", stepcast.MaxIDLen+1), "click", "", "", 0.0, "", "", at, uint16(0), "")
	f.Add("old", "click", "", "", 0.0, "", "", int64(-1), uint16(0), "")
	f.Add("far", "click", "", "", 0.0, "", "", int64(math.MaxInt64), uint16(0), "")
	f.Add("user", "follow", "", "", 0.0, "", "", at, uint16(0), "U4af4980629d4e4b3c2b5d3f0c6e6b7a1")
	f.Add("", "click", "", "", 0.0, "", "", at, uint16(0), "")
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, id, kind, name, value string, amount float64, key, data string, micros int64, nanos uint16, user string) {
		ctx := context.Background()
		account := store.AccountID(fmt.Sprintf("fuzz-%d", n.Add(1)))
		e := stepcast.Event{ID: id, Kind: stepcast.EventKind(kind), Name: name, Value: value, Amount: amount,
			At: time.UnixMicro(micros).Add(time.Duration(nanos%1000) * time.Nanosecond), User: stepcast.UserID(user)}
		if key != "" || data != "" {
			e.Data = map[string]string{key: data}
		}
		errs := make([]error, len(stores))
		for i, s := range stores {
			errs[i] = s.Update(ctx, account, func(tx store.Tx) error {
				fr, _, err := tx.AddFriend("U1")
				if err != nil {
					return err
				}
				ev := e
				ev.Friend = fr.ID
				_, err = tx.AppendEvent(ev)
				return err
			})
		}
		for i, err := range errs[1:] {
			if (err == nil) != (errs[0] == nil) || errors.Is(err, store.ErrInvalid) != errors.Is(errs[0], store.ErrInvalid) ||
				errors.Is(err, stepcast.ErrInvalid) != errors.Is(errs[0], stepcast.ErrInvalid) {
				t.Fatalf("%T says %v, %T says %v", stores[0], errs[0], stores[i+1], err)
			}
		}
		if errs[0] != nil {
			if !errors.Is(errs[0], store.ErrInvalid) || !errors.Is(errs[0], stepcast.ErrInvalid) {
				t.Fatalf("refused with %v, not as invalid", errs[0])
			}
			return
		}
		var first []byte
		for _, s := range stores {
			var b bytes.Buffer
			if err := store.Export(ctx, s, account, &b); err != nil {
				t.Fatalf("%T: export: %v", s, err)
			}
			if first == nil {
				first = b.Bytes()
			} else if !bytes.Equal(b.Bytes(), first) {
				t.Fatalf("%T exports the event differently:\n%s", s, firstDiff(b.Bytes(), first))
			}
		}
		for _, s := range stores {
			in := account + "-imported"
			if err := store.Import(ctx, s, in, bytes.NewReader(first)); err != nil {
				t.Fatalf("%T: import: %v", s, err)
			}
			var b bytes.Buffer
			if err := store.Export(ctx, s, in, &b); err != nil {
				t.Fatalf("%T: export after import: %v", s, err)
			}
			// The header names the account exported.
			got := bytes.Replace(b.Bytes(), []byte(`"account":"`+in+`"`), []byte(`"account":"`+account+`"`), 1)
			got = got[:bytes.LastIndex(got[:len(got)-1], []byte("\n"))+1]
			want := first[:bytes.LastIndex(first[:len(first)-1], []byte("\n"))+1]
			if !bytes.Equal(got, want) {
				t.Fatalf("%T: the event does not come back byte-identical:\n%s", s, firstDiff(got, want))
			}
		}
	})
}

package memstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/backend"
)

var pt0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// naivePending is what the index must answer: a scan of every delivery
// the tx sees.
func naivePending(t *tx, f store.DeliveryFilter) []store.Delivery {
	var out []store.Delivery
	for id := f.After + 1; len(out) < f.Limit; id++ {
		d, ok := t.delivery(id)
		if !ok {
			break
		}
		if backend.Matches(f, d) {
			out = append(out, d)
		}
	}
	return out
}

func ids(ds []store.Delivery) []uint64 {
	out := []uint64{}
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

// TestFriendPendingIndex: a friend's pending deliveries, read through the
// index, are those a scan finds — after commits that enqueue, send,
// retry, fail and cancel deliveries of one or several recipients, and
// within a tx holding writes of its own.
func TestFriendPendingIndex(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	s := New()
	const friends = 12
	n := 0
	check := func(tx *tx, when string) {
		t.Helper()
		for f := stepcast.FriendID(1); f <= friends; f++ {
			for _, after := range []uint64{0, uint64(r.IntN(n + 1))} {
				for _, limit := range []int{1, 3, 1000} {
					flt := store.DeliveryFilter{Status: store.Pending, Friend: f, After: after, Limit: limit}
					got, err := tx.Deliveries(flt)
					if err != nil {
						t.Fatal(err)
					}
					if want := naivePending(tx, flt); !slices.Equal(ids(got), ids(want)) {
						t.Fatalf("%s: friend %d after %d limit %d: index %v, scan %v", when, f, after, limit, ids(got), ids(want))
					}
				}
			}
		}
	}
	step := func(tx *tx) {
		for range 1 + r.IntN(6) {
			switch k := r.IntN(4); {
			case k < 2 || n == 0:
				rec := []stepcast.FriendID{stepcast.FriendID(1 + r.IntN(friends))}
				if r.IntN(3) == 0 {
					rec = append(rec, stepcast.FriendID(1+r.IntN(friends)))
					slices.Sort(rec)
					rec = slices.Compact(rec)
				}
				n++
				_, err := tx.Enqueue(store.Delivery{Key: fmt.Sprintf("d%d", n), RetryKey: fmt.Sprintf("123e4567-e89b-42d3-a456-%012x", n), Kind: stepcast.DeliveryPush, Payload: []byte(`[{"type":"text","text":"hi"}]`),
					Friends: rec, NextAt: pt0, CreatedAt: pt0})
				if err != nil {
					t.Fatal(err)
				}
			case k == 2:
				if _, err := tx.CancelDeliveries(store.DeliverySelector{KeyPrefix: fmt.Sprintf("d%d", 1+r.IntN(n))}, "stop", pt0); err != nil {
					t.Fatal(err)
				}
			default:
				d, ok := tx.delivery(uint64(1 + r.IntN(n)))
				if !ok || d.Status != store.Pending {
					continue
				}
				d = d.Clone()
				d.Status = []store.DeliveryStatus{store.Sent, store.Failed, store.Pending}[r.IntN(3)]
				tx.putDelivery(d)
			}
		}
	}
	for round := range 200 {
		err := s.Update(ctx, "acct", func(stx store.Tx) error {
			tx := stx.(*tx)
			step(tx)
			check(tx, fmt.Sprintf("round %d, in the tx", round))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		_ = s.View(ctx, "acct", func(stx store.ReadTx) error {
			check(stx.(*tx), fmt.Sprintf("round %d, committed", round))
			return nil
		})
	}
}

// BenchmarkFriendPending: the dispatcher's per-friend order check — a
// friend's pending deliveries from the account's first pending one — with
// a backlog of pending deliveries of other friends.
func BenchmarkFriendPending(b *testing.B) {
	ctx := context.Background()
	for _, backlog := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("pending=%d", backlog), func(b *testing.B) {
			s := New()
			err := s.Update(ctx, "acct", func(tx store.Tx) error {
				for i := range backlog {
					_, err := tx.Enqueue(store.Delivery{Key: fmt.Sprintf("d%d", i), RetryKey: fmt.Sprintf("123e4567-e89b-42d3-a456-%012x", i), Kind: stepcast.DeliveryPush, Payload: []byte(`[]`),
						Friends: []stepcast.FriendID{stepcast.FriendID(1 + i)}, NextAt: pt0, CreatedAt: pt0})
					if err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			last := stepcast.FriendID(backlog)
			_ = s.View(ctx, "acct", func(tx store.ReadTx) error {
				b.ReportAllocs()
				for b.Loop() {
					ds, err := tx.Deliveries(store.DeliveryFilter{Status: store.Pending, Friend: last, Limit: 1})
					if err != nil || len(ds) != 1 {
						b.Fatalf("%v %v", ds, err)
					}
				}
				return nil
			})
		})
	}
}

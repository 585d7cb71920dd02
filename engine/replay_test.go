package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// workload generates n events of users friends over a few days, in time
// order: follows (some through the shop's QR code), blocks and returns,
// survey answers, campaign clicks, postbacks, and now and then an event
// sent twice.
func workload(seed uint64, users, n int) []stepcast.Event {
	r := rand.New(rand.NewPCG(seed, 7))
	at := t0
	var out []stepcast.Event
	for i := range n {
		at = at.Add(time.Duration(r.IntN(600)) * time.Second)
		u := fmt.Sprintf("U%03d", r.IntN(users))
		id := fmt.Sprintf("e%d-%d", seed, i)
		var e stepcast.Event
		switch k := r.IntN(10); {
		case k < 2:
			route := []string{"", "qr-shop", "ad"}[r.IntN(3)]
			e = follow(id, u, route, at)
		case k < 3:
			e = ev(id, u, stepcast.EventUnfollow, "", "", at)
		case k < 5:
			e = ev(id, u, stepcast.EventAnswer, "interest", []string{"yes", "no"}[r.IntN(2)], at)
		case k < 8:
			e = ev(id, u, stepcast.EventClick, []string{"campaign", "menu"}[r.IntN(2)], "", at)
		default:
			e = ev(id, u, stepcast.EventPostback, "menu", "", at)
		}
		out = append(out, e)
		if r.IntN(20) == 0 {
			out = append(out, e) // LINE redelivers
		}
	}
	return out
}

// auditSegments are counted to compare indexes.
var auditSegments = []string{
	`tag("hot")`, `tag("answered") && !tag("ten")`, `plan == "free"`, `points >= 20`, `follows >= 2`,
	`score("lead") >= 10`, `clicked("campaign", 1)`, `answered("interest", "yes")`, `in_scenario("trial-offer")`,
	`blocked`, `followed_days <= 1`, `lucky in 3..4`, `has("next_contact")`,
}

// snapshot is everything an account holds, for comparing two runs.
type snapshot struct {
	Friends []store.Friend
	Timers  map[stepcast.FriendID][]string // key@due + state
	Counts  map[string]uint64
}

// timerStateText is a timer's state as text: a scenario's, in binary,
// read and written as JSON.
func timerStateText(t *testing.T, tm store.Timer) string {
	if ParseTimerKey(tm.Key).Kind != DueScenario {
		return string(tm.State)
	}
	st, err := readScenarioTimer(tm.State)
	if err != nil {
		t.Fatalf("timer %s: %v", tm.Key, err)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func takeSnapshot(t *testing.T, a *Account, now time.Time) snapshot {
	t.Helper()
	s := snapshot{Timers: map[stepcast.FriendID][]string{}, Counts: map[string]uint64{}}
	err := a.e.cfg.Store.View(context.Background(), a.id, func(tx store.ReadTx) error {
		fs, err := tx.Friends(0, 1<<20)
		if err != nil {
			return err
		}
		for _, f := range fs {
			ts, err := tx.FriendTimers(f.ID)
			if err != nil {
				return err
			}
			for _, tm := range ts {
				s.Timers[f.ID] = append(s.Timers[f.ID], fmt.Sprintf("%s@%s %s", tm.Key, tm.Due.UTC().Format(time.RFC3339Nano), timerStateText(t, tm)))
			}
			f.FollowedAt, f.UnfollowedAt = f.FollowedAt.UTC(), f.UnfollowedAt.UTC()
			s.Friends = append(s.Friends, f)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range auditSegments {
		seg := segment.MustCompile(src, a.Schema())
		n, err := seg.Count(a.index(), now)
		if err != nil {
			t.Fatal(err)
		}
		s.Counts[src] = n
	}
	return s
}

// rebuiltCounts counts the audit segments on an index rebuilt from the store.
func rebuiltCounts(t *testing.T, a *Account, now time.Time) map[string]uint64 {
	t.Helper()
	ix := segment.NewIndex(a.Schema())
	if _, err := LoadIndex(context.Background(), a.e.cfg.Store, a.id, ix); err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, src := range auditSegments {
		out[src], _ = segment.MustCompile(src, a.Schema()).Count(ix, now)
	}
	return out
}

func TestReplayIsDeterministic(t *testing.T) {
	events := workload(1, 40, 600)
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		clk := &clock{t: events[len(events)-1].At}
		now := clk.Now()

		a := mustAccount(t, mustOpen(t, open(t), clk), "salon", shopDefs())
		if _, err := a.Ingest(ctx, events...); err != nil {
			t.Fatal(err)
		}
		want := takeSnapshot(t, a, now)
		if got := rebuiltCounts(t, a, now); !reflect.DeepEqual(got, want.Counts) {
			t.Fatalf("live index %v\nrebuilt %v", want.Counts, got)
		}
		if want.Counts[`tag("hot")`] == 0 || want.Counts[`follows >= 2`] == 0 || want.Counts[`blocked`] == 0 {
			t.Fatalf("the workload exercises too little: %v", want.Counts)
		}

		// A fresh engine on a fresh store, in batches of 50.
		b := mustAccount(t, mustOpen(t, memstore.New(), clk), "salon", shopDefs())
		for i := 0; i < len(events); i += 50 {
			if _, err := b.IngestBatch(ctx, events[i:min(i+50, len(events))]...); err != nil {
				t.Fatal(err)
			}
		}
		if got := takeSnapshot(t, b, now); !reflect.DeepEqual(got, want) {
			for id, ts := range want.Timers {
				if !reflect.DeepEqual(ts, got.Timers[id]) {
					t.Errorf("friend %d timers:\n got %v\nwant %v", id, got.Timers[id], ts)
				}
			}
			for i := range want.Friends {
				if i < len(got.Friends) && !reflect.DeepEqual(want.Friends[i], got.Friends[i]) {
					t.Errorf("friend %d:\n got %+v\nwant %+v", i, got.Friends[i], want.Friends[i])
				}
			}
			t.Fatalf("replay differs:\n got %+v\nwant %+v", got.Counts, want.Counts)
		}

		// Replaying into the same engine: every event is a duplicate.
		cur := a.Cursor()
		res, err := a.Ingest(ctx, events...)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if !r.Duplicate {
				t.Fatalf("event %s was not a duplicate", r.Event)
			}
		}
		if a.Cursor() != cur || !reflect.DeepEqual(takeSnapshot(t, a, now), want) {
			t.Fatal("replaying duplicates changed something")
		}
	})
}

// TestTwoEnginesConverge: two engine instances on one PostgreSQL database
// ingest at the same time; after catching up, both indexes equal a rebuild.
func TestTwoEnginesConverge(t *testing.T) {
	ctx := context.Background()
	s1 := openPG(t, "")
	s2 := openPG(t, s1.Schema())
	events := workload(2, 30, 400)
	clk := &clock{t: events[len(events)-1].At}
	a := mustAccount(t, mustOpen(t, s1, clk), "salon", shopDefs())
	b := mustAccount(t, mustOpen(t, s2, clk), "salon", shopDefs())

	// Each user's events go to one engine, in order (as a load balancer
	// keyed by user would send them); the engines run concurrently.
	var wg sync.WaitGroup
	for i, acc := range []*Account{a, b} {
		wg.Go(func() {
			for _, e := range events {
				if int(e.User[len(e.User)-1]-'0')%2 == i {
					if _, err := acc.Ingest(ctx, e); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	for _, acc := range []*Account{a, b} {
		if err := acc.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
	}
	now := clk.Now()
	want := rebuiltCounts(t, a, now)
	sa, sb := takeSnapshot(t, a, now), takeSnapshot(t, b, now)
	if !reflect.DeepEqual(sa.Counts, want) || !reflect.DeepEqual(sb.Counts, want) {
		t.Fatalf("not converged:\n a %v\n b %v\nrebuilt %v", sa.Counts, sb.Counts, want)
	}
	if a.Cursor() != b.Cursor() {
		t.Fatalf("cursors differ: %+v %+v", a.Cursor(), b.Cursor())
	}
}

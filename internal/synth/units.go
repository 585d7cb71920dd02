package synth

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// Units of work for store and index tests: random ones, to compare what
// different paths make of the same writes, and a follow's, for benchmarks.

// RandomUnit writes into tx what one unit of work of 20 random friends out
// of 150 may: follows and blocks, tags "a" and "b", fields age, area and
// joined, score lead, scenario trial, experiment exp, timers, and clicks
// and answers with event IDs counted by nextEvent — the same for the same
// r. A timer write that fails (a conflict) is skipped; any other error is
// returned.
func RandomUnit(tx store.Tx, r *rand.Rand, now time.Time, nextEvent *int) error {
	for range 20 {
		f, created, err := tx.AddFriend(stepcast.UserID(fmt.Sprintf("U%d", r.IntN(150))))
		if err != nil {
			return err
		}
		id := f.ID
		var cs []store.Change
		if created || r.IntN(10) == 0 {
			cs = append(cs, store.Change{Friend: id, Kind: store.Follow, At: now.Add(-time.Duration(r.IntN(240)) * time.Hour)})
		}
		switch r.IntN(12) {
		case 0:
			cs = append(cs, store.Change{Friend: id, Kind: store.Unfollow, At: now})
		case 1:
			cs = append(cs, store.Change{Friend: id, Kind: store.SetTag, Name: []string{"a", "b"}[r.IntN(2)]})
		case 2:
			cs = append(cs, store.Change{Friend: id, Kind: store.ClearTag, Name: []string{"a", "b"}[r.IntN(2)]})
		case 3:
			cs = append(cs, store.Change{Friend: id, Kind: store.SetField, Name: "age", Value: stepcast.IntValue(int64(18 + r.IntN(50)))})
		case 4:
			cs = append(cs, store.Change{Friend: id, Kind: store.SetField, Name: "area", Value: stepcast.StringValue([]string{"東京都", "大阪府"}[r.IntN(2)])})
		case 5:
			cs = append(cs, store.Change{Friend: id, Kind: store.UnsetField, Name: []string{"age", "area"}[r.IntN(2)]})
		case 6:
			cs = append(cs, store.Change{Friend: id, Kind: store.SetScore, Name: "lead", Number: int64(r.IntN(10))})
		case 7:
			cs = append(cs, store.Change{Friend: id, Kind: store.EnterStep, Name: "trial", Number: int64(r.IntN(4))})
		case 8:
			cs = append(cs, store.Change{Friend: id, Kind: store.LeaveScenario, Name: "trial"})
		case 9:
			cs = append(cs, store.Change{Friend: id, Kind: store.SetVariant, Name: "exp", Text: []string{"A", "B"}[r.IntN(2)]})
		case 10:
			cs = append(cs, store.Change{Friend: id, Kind: store.SetField, Name: "joined", Value: stepcast.TimeValue(now.Add(-time.Duration(r.IntN(400)) * time.Hour))})
		case 11:
			if r.IntN(3) == 0 {
				tx.PutTimer(store.Timer{Friend: id, Key: fmt.Sprintf("scenario/s%d", r.IntN(1000000)), Due: now.Add(time.Duration(r.IntN(100)) * time.Hour), State: []byte{byte(r.IntN(256))}})
			}
			fallthrough
		default:
			*nextEvent++
			kind, name, value := "click", "url", ""
			if r.IntN(2) == 0 {
				kind, name, value = "answer", "q", []string{"yes", "no"}[r.IntN(2)]
			}
			var data map[string]string
			if r.IntN(3) == 0 {
				data = map[string]string{"route": fmt.Sprintf("qr-%d", r.IntN(5))}
			}
			if _, err := tx.AppendEvent(stepcast.Event{ID: fmt.Sprintf("e%d", *nextEvent), Friend: id, Kind: stepcast.EventKind(kind), Name: name, Value: value,
				Amount: float64(r.IntN(3)) * 1000.5, Data: data,
				At: now.Add(-time.Duration(r.IntN(120)) * time.Hour)}); err != nil {
				return err
			}
		}
		if _, err := tx.Apply(cs...); err != nil {
			return err
		}
	}
	return nil
}

// FollowUnit writes what ingesting friend n's follow costs: the friend, a
// follow, a tag of 50, a field age and a score lead, and a click event.
func FollowUnit(tx store.Tx, n int) error {
	f, _, err := tx.AddFriend(stepcast.UserID(fmt.Sprintf("U%032d", n)))
	if err != nil {
		return err
	}
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Second)
	if _, err := tx.Apply(
		store.Change{Friend: f.ID, Kind: store.Follow, At: at},
		store.Change{Friend: f.ID, Kind: store.SetTag, Name: fmt.Sprintf("t%d", n%50)},
		store.Change{Friend: f.ID, Kind: store.SetField, Name: "age", Value: stepcast.IntValue(int64(18 + n%60))},
		store.Change{Friend: f.ID, Kind: store.SetScore, Name: "lead", Number: int64(n % 30)},
	); err != nil {
		return err
	}
	_, err = tx.AppendEvent(stepcast.Event{ID: fmt.Sprintf("ev%d", n), Friend: f.ID, Kind: "click", Name: "url", At: at})
	return err
}

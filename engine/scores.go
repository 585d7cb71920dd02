package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/scoring"
	"github.com/stepcast/stepcast/store"
)

// A friend's scoring state lives in their timer of kind DueScoring, due
// when time alone may next cross a threshold (never, if nothing can).

// never is the due time of a scoring timer with no crossing ahead.
var never = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

var scoringKey = TimerKey{Kind: DueScoring}.String()

// scored turns what scoring did into score changes and sets off the
// thresholds crossed.
func (u *unit) scored(res scoring.Result, cause *rules.Activation) error {
	u.res.Notes = append(u.res.Notes, res.Notes...)
	if len(res.Entries) == 0 && len(res.Crossings) == 0 {
		return nil
	}
	u.scoreDirty = true
	u.res.Points = append(u.res.Points, res.Entries...)
	u.res.Crossings = append(u.res.Crossings, res.Crossings...)
	for _, e := range res.Entries {
		if err := u.change(store.Change{Kind: store.SetScore, Name: e.Score, Number: u.score.Lifetime[e.Score]}, cause); err != nil {
			return err
		}
	}
	for _, c := range res.Crossings {
		if err := u.rules.Crossed(c.Threshold, cause); err != nil {
			return err
		}
	}
	return nil
}

// grant carries out an add_score action.
func (u *unit) grant(src source, a stepcast.Action) error {
	if err := u.loadScoring(); err != nil {
		return err
	}
	from := "action:" + src.cause.Name // a rule's action
	if src.act == nil {
		from = string(src.cause.Kind) + ":" + src.cause.Name // a scenario's step
	}
	s, res, err := u.def.model.Grant(u.score, a.Name, a.Number, from, u.id, u.at)
	if err != nil {
		return err
	}
	u.score = s
	return u.scored(res, src.act)
}

// wakeScoring is the due work of kind DueScoring: time alone crossed (or
// may have crossed) a threshold of a decaying score: the crossings are
// judged when the wake-up runs.
func wakeScoring(u *unit, t store.Timer) error {
	if u.def.model == nil {
		return errStale // the definitions no longer score
	}
	if err := u.loadScoring(); err != nil {
		return err
	}
	if u.scoreVersion != t.Version {
		return errStale // another instance wrote it since the lease
	}
	s, res := u.def.model.Tick(u.score, u.at)
	u.score = s
	u.scoreDirty = true // at least the new due time
	return u.scored(res, nil)
}

func (u *unit) loadScoring() error {
	if u.scoreLoaded {
		return nil
	}
	s, v, err := readScoring(u.tx, u.friend.ID)
	if err != nil {
		return fmt.Errorf("engine: %s: %w", u.what(), err)
	}
	u.score, u.scoreVersion, u.scoreLoaded = s, v, true
	return nil
}

// saveScoring writes the scoring state into its timer, due when time alone
// may next cross a threshold.
func (u *unit) saveScoring() error {
	b, err := json.Marshal(u.score)
	if err != nil {
		return fmt.Errorf("engine: %s: scoring state of friend %d: %w", u.what(), u.friend.ID, err)
	}
	due, ok := u.def.model.NextCrossing(u.score, u.at)
	if !ok {
		due = never
	}
	_, err = u.tx.PutTimer(store.Timer{Friend: u.friend.ID, Key: scoringKey, Due: due, State: b, Version: u.scoreVersion})
	if err != nil {
		return fmt.Errorf("engine: %s: scoring state: %w", u.what(), err)
	}
	return nil
}

// readScoring returns a friend's scoring state and the version of the
// timer holding it (0 if none yet).
func readScoring(tx store.ReadTx, f stepcast.FriendID) (scoring.State, uint64, error) {
	t, err := tx.Timer(f, scoringKey)
	if errors.Is(err, store.ErrNotFound) {
		return scoring.State{}, 0, nil
	}
	if err != nil {
		return scoring.State{}, 0, err
	}
	var s scoring.State
	if err := json.Unmarshal(t.State, &s); err != nil {
		return s, 0, fmt.Errorf("scoring state of friend %d: %w", f, err)
	}
	return s, t.Version, nil
}

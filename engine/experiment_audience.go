package engine

import (
	"errors"
	"fmt"

	"github.com/stepcast/stepcast/store"
)

// A/B tests for an audience planned in the account's unit of work (a
// broadcast's chunk): the friends are not the unit's own, so their
// assignment and exposure are written for each by ID, and the recipients
// are added to the tallies once a chunk, per variant.

// audienceTally counts the recipients of a chunk per variant, for
// flushRecipients.
type audienceTally map[string]int64

// audienceVariant assigns friend f of an audience (read in the unit's
// transaction) in x: their recorded variant if x still has it, else
// abtest.Experiment.Assign on their userId, recorded with a SetVariant
// change (variant("name") in segments) and written to f. It records them
// sent now — their exposure timer written, counted in tally — unless they
// were sent this variant before (a second broadcast of the experiment, a
// chunk planned again after a crash), and returns the variant, or ok
// false for a friend in the holdout (recorded as HoldoutVariant, to be
// sent nothing).
func (u *unit) audienceVariant(x *compiledExperiment, f *store.Friend, tally audienceTally) (variant string, ok bool, err error) {
	name := x.def.Name
	v, recorded := f.Variants[name]
	if w := x.pick(f); w != v || !recorded {
		v = w
		c := store.Change{Friend: f.ID, Kind: store.SetVariant, Name: name, Text: v, At: u.at}
		c.ApplyTo(f)
		u.res.Changes = append(u.res.Changes, c)
	}
	var version uint64
	if recorded {
		t, err := u.tx.Timer(f.ID, x.stateKey)
		switch {
		case err == nil:
			var e exposure
			if err := decodeExposure(t.State, &e); err != nil {
				return "", false, fmt.Errorf("engine: %s: friend %d: experiment %q exposure: %w", u.what(), f.ID, name, err)
			}
			if e.Sent != 0 && e.Variant == v {
				return v, v != HoldoutVariant, nil
			}
			version = t.Version
		case !errors.Is(err, store.ErrNotFound):
			return "", false, fmt.Errorf("engine: %s: friend %d: %w", u.what(), f.ID, err)
		}
	}
	if err := u.putFriendExposure(f, x, exposure{Variant: v, Sent: u.at.UnixMicro()}, version); err != nil {
		return "", false, err
	}
	tally[v]++
	if err := u.begin(x); err != nil {
		return "", false, err
	}
	return v, v != HoldoutVariant, nil
}

// pick returns friend f's variant in x without recording it: the one
// recorded if x still has it, else abtest.Experiment.Assign's on their
// userId (HoldoutVariant for the holdout).
func (x *compiledExperiment) pick(f *store.Friend) string {
	if v, ok := f.Variants[x.def.Name]; ok && (x.variants[v] || v == HoldoutVariant) {
		return v
	}
	v, in := x.exp.Assign(string(f.User))
	if !in {
		return HoldoutVariant
	}
	return v
}

// putFriendExposure writes friend f's exposure e in x at version.
func (u *unit) putFriendExposure(f *store.Friend, x *compiledExperiment, e exposure, version uint64) error {
	b, err := encodeExposure(e)
	if err != nil {
		return err
	}
	if _, err := u.tx.PutTimer(store.Timer{Friend: f.ID, Key: x.stateKey, Due: never, State: b, Version: version}); err != nil {
		return fmt.Errorf("engine: %s: friend %d: experiment %q exposure: %w", u.what(), f.ID, x.def.Name, err)
	}
	return nil
}

// flushRecipients adds a chunk's recipients to x's tallies, one write per
// variant (in x's order, the holdout last), and empties tally.
func (u *unit) flushRecipients(x *compiledExperiment, tally audienceTally) error {
	names := make([]string, 0, len(x.def.Variants)+1)
	for _, v := range x.def.Variants {
		names = append(names, v.Name)
	}
	names = append(names, HoldoutVariant)
	for _, v := range names {
		if n := tally[v]; n > 0 {
			if _, err := u.tx.AddToTally(store.Tally{Experiment: x.def.Name, Variant: v, Recipients: n}); err != nil {
				return fmt.Errorf("engine: %s: experiment %q: %w", u.what(), x.def.Name, err)
			}
		}
	}
	clear(tally)
	return nil
}

package backend

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/internal/check"
)

// The validators: every backend calls the one of what it is given before it
// writes anything (see store's Limits), so that every backend accepts and
// refuses alike. Each refusal wraps store.ErrInvalid and
// stepcast.ErrInvalid and quotes at most a short prefix of the input.

// ValidateChange reports what is malformed in c: what its kind needs and
// does not have (a name, a time, a valid value), and — whatever the kind,
// since every field is kept in the log and exported — text beyond the
// limits (Name and Text at most stepcast.MaxNameLen bytes of UTF-8 without
// NUL), a Value that stepcast.Value.Validate refuses, a Number below
// stepcast.MinInt (math.MinInt64, which the segment index keeps for itself:
// a SetScore to it would be taken here and refused by the index, for good),
// a time outside stepcast.MinTime and stepcast.MaxTime. A SetProfile's time
// zone must be known; an EnterStep's step lies in [0, 2^30].
// PrepareChanges calls it, for Apply and so for Import.
func ValidateChange(c store.Change) error {
	bad := func(cause error, why string) error {
		what := fmt.Sprintf("%v change of friend %d", c.Kind, c.Friend)
		if why != "" {
			what += ": " + why
		}
		return check.Invalid(cause, "%s", what)
	}
	if c.Kind < store.Follow || c.Kind > store.ClearVariant {
		return bad(nil, "unknown kind")
	}
	if err := check.First(stepcast.CheckText("name", c.Name, stepcast.MaxNameLen), stepcast.CheckText("text", c.Text, stepcast.MaxNameLen)); err != nil {
		return bad(err, "")
	}
	if c.Value.Type() != 0 {
		if err := c.Value.Validate(); err != nil {
			return bad(err, "")
		}
	}
	if c.Number < stepcast.MinInt {
		return bad(nil, fmt.Sprintf("the number %d is below stepcast.MinInt (%d)", c.Number, int64(stepcast.MinInt)))
	}
	if !c.At.IsZero() {
		if err := stepcast.CheckTime("time", c.At); err != nil {
			return bad(err, "")
		}
	}
	switch c.Kind {
	case store.Follow, store.Unfollow:
		if c.At.IsZero() {
			return bad(nil, "no time")
		}
	case store.SetProfile:
		if c.Text != "" {
			if _, err := time.LoadLocation(c.Text); err != nil {
				return bad(nil, "time zone "+stepcast.Quote(c.Text)+" is unknown")
			}
		}
	case store.SetTag, store.ClearTag, store.UnsetField, store.SetScore, store.LeaveScenario, store.ClearVariant:
		if c.Name == "" {
			return bad(nil, "no name")
		}
	case store.SetField:
		if c.Name == "" || c.Value.Type() == 0 {
			return bad(nil, "no name or no value")
		}
	case store.EnterStep:
		if c.Name == "" || c.Number < 0 || c.Number > 1<<30 {
			return bad(nil, "no scenario or a step out of range")
		}
	case store.SetVariant:
		if c.Name == "" || c.Text == "" {
			return bad(nil, "no experiment or no variant")
		}
	}
	return nil
}

// CheckUser reports what makes user unfit as a friend's LINE userId (or a
// host's own user ID): empty, longer than stepcast.MaxIDLen bytes, not valid
// UTF-8 or holding NUL. Backends call it in Tx.AddFriend.
func CheckUser(user stepcast.UserID) error {
	if err := check.ID("userId", string(user)); err != nil {
		return check.Invalid(err, "add friend")
	}
	return nil
}

// ValidateEvent reports what is malformed in an event to record:
// stepcast.Event.Validate, and a User, which the log does not keep (the
// caller resolves it into Friend first).
func ValidateEvent(e stepcast.Event) error {
	if err := e.Validate(); err != nil {
		return check.Invalid(err, "append event")
	}
	if e.User != "" {
		return check.Invalid(nil, "event %s carries LINE userId %s: the log keeps the friend's internal ID alone", stepcast.Quote(e.ID), stepcast.Quote(string(e.User)))
	}
	return nil
}

// ValidateTimer reports what is malformed in t: a key that is not a name
// (empty, over stepcast.MaxNameLen bytes, not UTF-8, holding NUL), no due
// time or one outside [stepcast.MinEventTime, stepcast.MaxTime], a State
// over store.MaxBlobLen bytes. Backends call it in PutTimer.
func ValidateTimer(t store.Timer) error {
	if err := stepcast.CheckName("timer key", t.Key); err != nil {
		return check.Invalid(err, "timer of friend %d", t.Friend)
	}
	bad := func(cause error, why string) error {
		return check.Invalid(cause, "timer %s of friend %d%s", stepcast.Quote(t.Key), t.Friend, why)
	}
	if t.Due.IsZero() {
		return bad(nil, " has no due time")
	}
	if err := check.First(check.Instant("due time", t.Due), check.Blob("state", t.State, store.MaxBlobLen)); err != nil {
		return bad(err, "")
	}
	return nil
}

// ValidateLease reports what is malformed in a lease request (Lease,
// LeaseDeliveries): holder must be an identifier (see CheckUser), now an
// instant of due work, ttl positive with now+ttl within stepcast.MaxTime,
// limit not negative, and each of Lease's kinds a name (not empty, at most
// stepcast.MaxNameLen bytes of UTF-8 without NUL).
func ValidateLease(holder string, now time.Time, ttl time.Duration, limit int, kinds ...string) error {
	err := check.First(check.ID("holder", holder), check.Instant("now", now))
	switch {
	case err != nil:
	case ttl <= 0 || now.Add(ttl).After(stepcast.MaxTime):
		err = fmt.Errorf("%w: lease time %v from %s is not positive or ends after %d", stepcast.ErrInvalid, ttl, now.UTC().Format(time.RFC3339), stepcast.MaxTime.Year())
	case limit < 0:
		err = fmt.Errorf("%w: limit %d is negative", stepcast.ErrInvalid, limit)
	}
	for _, k := range kinds {
		if err == nil {
			err = stepcast.CheckName("timer kind", k)
		}
	}
	if err != nil {
		return check.Invalid(err, "lease")
	}
	return nil
}

// ValidateDefinition reports what is malformed in d: a kind or name that
// is not a name (empty, over stepcast.MaxNameLen bytes, not UTF-8, holding
// NUL), a body over store.MaxBlobLen bytes, no update time or one outside
// [stepcast.MinTime, stepcast.MaxTime].
func ValidateDefinition(d store.Definition) error {
	err := check.First(stepcast.CheckName("kind", d.Kind), stepcast.CheckName("name", d.Name), check.Blob("body", d.Body, store.MaxBlobLen))
	if err == nil {
		if d.UpdatedAt.IsZero() {
			err = fmt.Errorf("%w: no update time", stepcast.ErrInvalid)
		} else {
			err = stepcast.CheckTime("update time", d.UpdatedAt)
		}
	}
	if err != nil {
		return check.Invalid(err, "definition %s/%s", stepcast.Quote(d.Kind), stepcast.Quote(d.Name))
	}
	return nil
}

// ValidateTally reports what is malformed in a tally or a delta: an
// experiment or variant that is not a name (empty, over
// stepcast.MaxNameLen bytes, not UTF-8, holding NUL), a revenue that is NaN
// or infinite.
func ValidateTally(t store.Tally) error {
	if err := check.First(stepcast.CheckName("experiment", t.Experiment), stepcast.CheckName("variant", t.Variant),
		stepcast.CheckFloat("revenue", t.Revenue)); err != nil {
		return check.Invalid(err, "tally %s/%s", stepcast.Quote(t.Experiment), stepcast.Quote(t.Variant))
	}
	return nil
}

// AddTally returns tally t with delta d's counts added, what
// Tx.AddToTally stores: every backend computes the sum with it (pgstore
// reads the tally under its account lock), so that all agree to the bit.
// A sum that would overflow a count (beyond an int64, either way), take a
// count below zero (a negative delta may correct a count, not invent a
// negative one) or make the revenue infinite is refused, wrapping store.ErrInvalid and
// stepcast.ErrInvalid, and t is to stay as it was. d is validated first
// (ValidateTally).
func AddTally(t, d store.Tally) (store.Tally, error) {
	if err := ValidateTally(d); err != nil {
		return store.Tally{}, err
	}
	sum := t
	var over []string
	for _, c := range []struct {
		what string
		dst  *int64
		add  int64
	}{{"recipients", &sum.Recipients, d.Recipients}, {"clickers", &sum.Clickers, d.Clickers}, {"converters", &sum.Converters, d.Converters}} {
		s := *c.dst + c.add
		switch {
		case (c.add > 0 && s < *c.dst) || (c.add < 0 && s > *c.dst):
			over = append(over, fmt.Sprintf("%s %d + %d would overflow", c.what, *c.dst, c.add))
		case s < 0:
			over = append(over, fmt.Sprintf("%s %d + %d would be below zero", c.what, *c.dst, c.add))
		}
		*c.dst = s
	}
	sum.Revenue += d.Revenue
	if math.IsInf(sum.Revenue, 0) {
		over = append(over, fmt.Sprintf("revenue %g + %g", t.Revenue, d.Revenue))
	}
	if over != nil {
		return store.Tally{}, check.Invalid(nil, "tally %s/%s: %s", stepcast.Quote(d.Experiment), stepcast.Quote(d.Variant), strings.Join(over, ", "))
	}
	return sum, nil
}

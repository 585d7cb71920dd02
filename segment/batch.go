package segment

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/stepcast/stepcast"
)

// Batch is an ordered list of index updates, applied atomically by
// Index.Apply. The zero Batch is empty and ready to use. A Batch is not safe
// for concurrent use; it may be reused after Reset, and applied to several
// indexes, of any schemas, one after the other.
type Batch struct {
	ops []op
}

type opKind uint8

const (
	opFollow opKind = iota
	opUnfollow
	opSetTag
	opClearTag
	opSetField
	opUnsetField
	opSetScore
	opAddScore
	opRecordEvent
	opSetStep
	opLeaveScenario
	opSetVariant
	opClearVariant
)

var opNames = [...]string{"Follow", "Unfollow", "SetTag", "ClearTag", "SetField", "UnsetField", "SetScore", "AddScore",
	"RecordEvent", "SetScenarioStep", "LeaveScenario", "SetVariant", "ClearVariant"}

type op struct {
	kind   opKind
	f      uint32
	name   string // tag, field, score, scenario, experiment, event kind
	s1, s2 string // string value; event name and value
	i      int64  // key, score, delta, step
	t      time.Time
	v      any // SetField's value before validation
	id     int // the resolved field or score index
	// resolved is the schema id and the converted value were resolved
	// against: a Batch may be applied to indexes of different schemas,
	// where a name has another position or type.
	resolved *Schema
}

// Len returns the number of operations in b.
func (b *Batch) Len() int { return len(b.ops) }

// Reset empties b, keeping its storage.
func (b *Batch) Reset() { b.ops = b.ops[:0] }

// Follow records that f follows the account (a follow or an unblock) at at.
func (b *Batch) Follow(f stepcast.FriendID, at time.Time) {
	b.ops = append(b.ops, op{kind: opFollow, f: uint32(f), t: at})
}

// Unfollow records that f blocked the account. The time of the last follow
// is kept. A friend who never followed is not blocked by it: blocked means
// followed once and not following now.
func (b *Batch) Unfollow(f stepcast.FriendID) {
	b.ops = append(b.ops, op{kind: opUnfollow, f: uint32(f)})
}

// SetTag gives f the tag.
func (b *Batch) SetTag(f stepcast.FriendID, tag string) {
	b.ops = append(b.ops, op{kind: opSetTag, f: uint32(f), name: tag})
}

// ClearTag removes the tag from f.
func (b *Batch) ClearTag(f stepcast.FriendID, tag string) {
	b.ops = append(b.ops, op{kind: opClearTag, f: uint32(f), name: tag})
}

// SetField sets a field of f. The value must fit the field's type: a string
// (a declared choice for choice fields; "" unsets the field), any Go
// integer but math.MinInt64 for int fields (floats with no fraction are
// accepted), any number but NaN for float fields, a bool, or a time.Time
// (kept to the second).
func (b *Batch) SetField(f stepcast.FriendID, field string, value any) {
	b.ops = append(b.ops, op{kind: opSetField, f: uint32(f), name: field, v: value})
}

// UnsetField removes the value of a field of f: f then has none, and only
// != and not in hold for it (see Compile).
func (b *Batch) UnsetField(f stepcast.FriendID, field string) {
	b.ops = append(b.ops, op{kind: opUnsetField, f: uint32(f), name: field})
}

// SetScore sets a score of f; any int64 but math.MinInt64.
func (b *Batch) SetScore(f stepcast.FriendID, score string, value int64) {
	b.ops = append(b.ops, op{kind: opSetScore, f: uint32(f), name: score, i: value})
}

// AddScore adds delta (which may be negative) to a score of f.
func (b *Batch) AddScore(f stepcast.FriendID, score string, delta int64) {
	b.ops = append(b.ops, op{kind: opAddScore, f: uint32(f), name: score, i: delta})
}

// RecordEvent counts one event of f on the calendar day of at: kind is the
// event kind (click, answer, conversion…), name what it was about (a link, a
// question), value the answer if any. Kinds the schema does not count are
// ignored. Deduplication is the caller's: every call counts.
func (b *Batch) RecordEvent(f stepcast.FriendID, kind, name, value string, at time.Time) {
	b.ops = append(b.ops, op{kind: opRecordEvent, f: uint32(f), name: kind, s1: name, s2: value, t: at})
}

// SetScenarioStep records that f is in the scenario at step (0 or more).
func (b *Batch) SetScenarioStep(f stepcast.FriendID, scenario string, step int) {
	b.ops = append(b.ops, op{kind: opSetStep, f: uint32(f), name: scenario, i: int64(step)})
}

// LeaveScenario records that f is no longer in the scenario.
func (b *Batch) LeaveScenario(f stepcast.FriendID, scenario string) {
	b.ops = append(b.ops, op{kind: opLeaveScenario, f: uint32(f), name: scenario})
}

// SetVariant records the variant f is assigned in an experiment; ""
// clears the assignment, as ClearVariant does.
func (b *Batch) SetVariant(f stepcast.FriendID, experiment, variant string) {
	b.ops = append(b.ops, op{kind: opSetVariant, f: uint32(f), name: experiment, s1: variant})
}

// ClearVariant removes f's assignment in an experiment.
func (b *Batch) ClearVariant(f stepcast.FriendID, experiment string) {
	b.ops = append(b.ops, op{kind: opClearVariant, f: uint32(f), name: experiment})
}

// OpError describes an operation of a Batch that Apply rejected.
type OpError struct {
	Index  int    // position of the operation in the batch
	Op     string // "SetField", …
	Friend stepcast.FriendID
	Name   string // the field, score, … it names
	Err    error  // wraps ErrUnknownField or ErrType
}

func (e *OpError) Error() string {
	return fmt.Sprintf("segment: batch op %d %s(friend %d, %q): %v", e.Index, e.Op, e.Friend, e.Name, e.Err)
}

func (e *OpError) Unwrap() error { return e.Err }

// Apply validates every operation of b, then applies them all, in order, as
// one atomic update: concurrent readers see all of b or none of it. If any
// operation is invalid, Apply changes nothing and returns the problems
// joined, each an *OpError wrapping ErrUnknownField or ErrType.
func (ix *Index) Apply(b *Batch) error {
	var errs []error
	for i := range b.ops {
		if err := ix.resolve(&b.ops[i]); err != nil {
			o := &b.ops[i]
			errs = append(errs, &OpError{Index: i, Op: opNames[o.kind], Friend: stepcast.FriendID(o.f), Name: o.name, Err: err})
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for i := range b.ops {
		ix.apply(&b.ops[i])
	}
	return nil
}

// ApplyValid applies every operation of b that Apply would accept and
// leaves out the others, returning an *OpError for each one left out (nil
// when all were applied). It is for records that have already been
// committed elsewhere — a store's change log — which an index must follow
// even when one of them is bad (written by an older version, damaged):
// Apply would refuse the whole batch, and the index would stop there for
// good. Readers see the batch whole or not at all, as with Apply.
func (ix *Index) ApplyValid(b *Batch) []error {
	var errs []error
	bad := make(map[int]bool)
	for i := range b.ops {
		if err := ix.resolve(&b.ops[i]); err != nil {
			o := &b.ops[i]
			errs = append(errs, &OpError{Index: i, Op: opNames[o.kind], Friend: stepcast.FriendID(o.f), Name: o.name, Err: err})
			bad[i] = true
		}
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for i := range b.ops {
		if !bad[i] {
			ix.apply(&b.ops[i])
		}
	}
	return errs
}

// resolve checks an operation against the schema and converts its value to
// the stored form. It does not touch the index.
func (ix *Index) resolve(o *op) error {
	if o.resolved == ix.schema {
		return nil
	}
	switch o.kind {
	case opSetTag, opClearTag:
		if o.name == "" {
			return fmt.Errorf("empty tag name: %w", ErrType)
		}
	case opSetField, opUnsetField:
		fi, ok := ix.schema.field(o.name)
		if !ok {
			return ErrUnknownField
		}
		o.id = fi.id
		if o.kind == opSetField {
			if err := convert(o, fi); err != nil {
				return err
			}
			if fi.Type == stepcast.FieldInt || fi.Type == stepcast.FieldTime {
				if o.i == math.MinInt64 { // the one value a column cannot hold
					return fmt.Errorf("%v value is out of range: %w", fi.Type, ErrType)
				}
			}
		}
	case opSetScore, opAddScore:
		id, ok := ix.schema.scores[o.name]
		if !ok {
			return fmt.Errorf("unknown score: %w", ErrUnknownField)
		}
		o.id = id
		if o.i == math.MinInt64 {
			return fmt.Errorf("score %d is out of range: %w", o.i, ErrType)
		}
	case opSetStep:
		if o.i < 0 {
			return fmt.Errorf("step %d is negative: %w", o.i, ErrType)
		}
	}
	o.resolved = ix.schema
	return nil
}

func convert(o *op, fi *fieldInfo) error {
	bad := func() error {
		return fmt.Errorf("%v field wants %s, got %T: %w", fi.Type, wants[fi.Type], o.v, ErrType)
	}
	switch fi.Type {
	case stepcast.FieldString, stepcast.FieldChoice:
		s, ok := o.v.(string)
		if !ok {
			return bad()
		}
		if fi.Type == stepcast.FieldChoice && s != "" && !fi.choices[s] {
			return fmt.Errorf("%q is not a choice of %s: %w", s, fi.Name, ErrType)
		}
		o.s1 = s
	case stepcast.FieldBool:
		v, ok := o.v.(bool)
		if !ok {
			return bad()
		}
		o.i = 0
		if v {
			o.i = 1
		}
	case stepcast.FieldTime:
		t, ok := o.v.(time.Time)
		if !ok {
			return bad()
		}
		o.i = timeKey(t)
	case stepcast.FieldInt:
		k, ok := toInt64(o.v)
		if !ok {
			return bad()
		}
		o.i = k
	case stepcast.FieldFloat:
		f, ok := toFloat64(o.v)
		if !ok || math.IsNaN(f) {
			return bad()
		}
		o.i = floatKey(f)
	}
	return nil
}

var wants = map[stepcast.FieldType]string{
	stepcast.FieldString: "a string", stepcast.FieldChoice: "a string", stepcast.FieldBool: "a bool",
	stepcast.FieldTime: "a time.Time", stepcast.FieldInt: "an integer", stepcast.FieldFloat: "a number other than NaN",
}

func toInt64(v any) (int64, bool) {
	switch v := v.(type) {
	case int:
		return int64(v), true
	case int8:
		return int64(v), true
	case int16:
		return int64(v), true
	case int32:
		return int64(v), true
	case int64:
		return v, true
	case uint8:
		return int64(v), true
	case uint16:
		return int64(v), true
	case uint32:
		return int64(v), true
	case uint:
		if uint64(v) <= math.MaxInt64 {
			return int64(v), true
		}
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v), true
		}
	case float64:
		if v == math.Trunc(v) && v >= -9.2e18 && v <= 9.2e18 {
			return int64(v), true
		}
	case float32:
		return toInt64(float64(v))
	}
	return 0, false
}

func toFloat64(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case float32:
		return float64(v), true
	}
	if i, ok := toInt64(v); ok {
		return float64(i), true
	}
	return 0, false
}

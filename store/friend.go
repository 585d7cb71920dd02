package store

import (
	"fmt"
	"slices"
	"time"

	"github.com/stepcast/stepcast"
)

// FriendReader reads an account's friends.
type FriendReader interface {
	// Friend returns the friend with internal ID id, or ErrNotFound.
	Friend(id stepcast.FriendID) (Friend, error)
	// FriendByUser returns the friend with LINE userId user, or
	// ErrNotFound — also for a userId AddFriend would refuse.
	FriendByUser(user stepcast.UserID) (Friend, error)
	// Friends returns up to limit friends with IDs above after, in
	// ascending ID order; fewer than limit means the end (none for a limit
	// not positive).
	Friends(after stepcast.FriendID, limit int) ([]Friend, error)
}

// FriendWriter adds friends and changes their records, logging each
// change.
type FriendWriter interface {
	// AddFriend returns the friend with LINE userId user, creating it with
	// the next dense internal ID if the account has never seen it; created
	// says which. IDs start at 1 and are never reused. A userId beyond the
	// limits (empty, over stepcast.MaxIDLen bytes, not UTF-8, holding NUL)
	// is ErrInvalid.
	AddFriend(user stepcast.UserID) (f Friend, created bool, err error)
	// Apply applies changes in order to the friends' records and appends
	// them to the change log, assigning each the next Seq (returned in the
	// same order). A change to an unknown friend is ErrNotFound; a
	// malformed one (what its kind needs and does not have, text, values,
	// numbers below stepcast.MinInt or times beyond the limits)
	// ErrInvalid.
	Apply(changes ...Change) ([]uint64, error)
}

// Friend is a friend's record. Slices and maps belong to the holder.
type Friend struct {
	ID           stepcast.FriendID         `json:"id"`
	User         stepcast.UserID           `json:"user"`
	DisplayName  string                    `json:"display_name,omitempty"`
	TimeZone     string                    `json:"time_zone,omitempty"` // IANA name; empty means the account's
	Following    bool                      `json:"following"`
	FollowedAt   time.Time                 `json:"followed_at"` // the last follow (or unblock)
	UnfollowedAt time.Time                 `json:"unfollowed_at"`
	Tags         []string                  `json:"tags,omitempty"` // sorted
	Fields       map[string]stepcast.Value `json:"fields,omitempty"`
	Scores       map[string]int64          `json:"scores,omitempty"`
	Scenarios    map[string]int            `json:"scenarios,omitempty"` // scenario -> current step, for friends in it
	Variants     map[string]string         `json:"variants,omitempty"`
}

// Clone returns a deep copy of f.
func (f Friend) Clone() Friend {
	f.Tags = slices.Clone(f.Tags)
	f.Fields = cloneMap(f.Fields)
	f.Scores = cloneMap(f.Scores)
	f.Scenarios = cloneMap(f.Scenarios)
	f.Variants = cloneMap(f.Variants)
	return f
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return nil
	}
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ChangeKind says what a Change does.
type ChangeKind uint8

// The changes. Scores are recorded as absolute values, so that replaying
// the log is idempotent.
const (
	Follow        ChangeKind = iota + 1 // At: the follow time
	Unfollow                            // At: the block time
	SetProfile                          // Name: display name, Text: time zone
	SetTag                              // Name
	ClearTag                            // Name
	SetField                            // Name, Value
	UnsetField                          // Name
	SetScore                            // Name, Number
	EnterStep                           // Name: scenario, Number: step (>= 0)
	LeaveScenario                       // Name
	SetVariant                          // Name: experiment, Text: variant
	ClearVariant                        // Name
)

var kindNames = [...]string{Follow: "Follow", Unfollow: "Unfollow", SetProfile: "SetProfile", SetTag: "SetTag", ClearTag: "ClearTag",
	SetField: "SetField", UnsetField: "UnsetField", SetScore: "SetScore", EnterStep: "EnterStep", LeaveScenario: "LeaveScenario",
	SetVariant: "SetVariant", ClearVariant: "ClearVariant"}

func (k ChangeKind) String() string {
	if k >= Follow && k <= ClearVariant {
		return kindNames[k]
	}
	return fmt.Sprintf("ChangeKind(%d)", uint8(k))
}

// Change is one state change of one friend, and one entry of the change log.
//
// Its JSON form, with the kind by name and the unset fields left out, is
// the export format's change line and what JSON backends store (without
// the Seq, by which they key it).
type Change struct {
	Seq    uint64            `json:"seq,omitempty"` // assigned by Apply
	Friend stepcast.FriendID `json:"friend"`
	Kind   ChangeKind        `json:"kind"`
	Name   string            `json:"name,omitempty"`
	Value  stepcast.Value    `json:"value,omitzero"`
	Number int64             `json:"number,omitempty"`
	Text   string            `json:"text,omitempty"`
	At     time.Time         `json:"at"`
}

// ApplyTo applies c to f's record. It is what every backend does on
// Tx.Apply, shared so that they agree.
func (c Change) ApplyTo(f *Friend) {
	switch c.Kind {
	case Follow:
		f.Following, f.FollowedAt = true, c.At.UTC().Truncate(time.Microsecond)
	case Unfollow:
		f.Following, f.UnfollowedAt = false, c.At.UTC().Truncate(time.Microsecond)
	case SetProfile:
		f.DisplayName, f.TimeZone = c.Name, c.Text
	case SetTag:
		if i, found := slices.BinarySearch(f.Tags, c.Name); !found {
			f.Tags = slices.Insert(f.Tags, i, c.Name)
		}
	case ClearTag:
		if i, found := slices.BinarySearch(f.Tags, c.Name); found {
			f.Tags = slices.Delete(f.Tags, i, i+1)
		}
		if len(f.Tags) == 0 {
			f.Tags = nil // empty is nil, as every backend reads it back
		}
	case SetField:
		if f.Fields == nil {
			f.Fields = map[string]stepcast.Value{}
		}
		f.Fields[c.Name] = c.Value
	case UnsetField:
		delete(f.Fields, c.Name)
		f.Fields = nilIfEmpty(f.Fields)
	case SetScore:
		if f.Scores == nil {
			f.Scores = map[string]int64{}
		}
		f.Scores[c.Name] = c.Number
	case EnterStep:
		if f.Scenarios == nil {
			f.Scenarios = map[string]int{}
		}
		f.Scenarios[c.Name] = int(c.Number)
	case LeaveScenario:
		delete(f.Scenarios, c.Name)
		f.Scenarios = nilIfEmpty(f.Scenarios)
	case SetVariant:
		if f.Variants == nil {
			f.Variants = map[string]string{}
		}
		f.Variants[c.Name] = c.Text
	case ClearVariant:
		delete(f.Variants, c.Name)
		f.Variants = nilIfEmpty(f.Variants)
	}
}

// nilIfEmpty returns nil for an empty map: a record reads the same from
// every backend, whichever way it came to be empty.
func nilIfEmpty[K comparable, V any](m map[K]V) map[K]V {
	if len(m) == 0 {
		return nil
	}
	return m
}

// MarshalText implements encoding.TextMarshaler: the kind's name.
func (k ChangeKind) MarshalText() ([]byte, error) {
	if k < Follow || k > ClearVariant {
		return nil, fmt.Errorf("%w: change kind %d", ErrInvalid, uint8(k))
	}
	return []byte(kindNames[k]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *ChangeKind) UnmarshalText(b []byte) error {
	for i, name := range kindNames {
		if name != "" && name == string(b) {
			*k = ChangeKind(i)
			return nil
		}
	}
	return fmt.Errorf("%w: unknown change kind %s", ErrInvalid, stepcast.Quote(string(b)))
}

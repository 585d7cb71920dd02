package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/stepcast/stepcast"
)

// AccountID identifies one LINE account (channel) within a store.
type AccountID string

var (
	// ErrNotFound is returned by ReadTx.Friend and FriendByUser for a
	// friend the account does not know, and by Tx.Apply for a change to one.
	ErrNotFound = errors.New("store: not found")
	// ErrDuplicate is returned by Tx.AppendEvent for an event ID the
	// account has already recorded.
	ErrDuplicate = errors.New("store: duplicate event")
	// ErrInvalid is returned (wrapped, with what and where) for input that
	// is malformed or beyond the limits (see the package doc's Limits): a
	// change, an event, a userId, a timer, a delivery, an outcome, a
	// definition, a tally, a lease request. Such errors also match
	// stepcast.ErrInvalid. The write changes nothing, and the transaction
	// may go on.
	ErrInvalid = errors.New("store: invalid")
	// ErrClosed is returned by every method of a closed store.
	ErrClosed = errors.New("store: closed")
)

// Store is a backend. Implementations are safe for concurrent use.
type Store interface {
	Timers
	Deliveries
	// View runs fn in a read-only transaction on account: a consistent
	// snapshot. Values returned by the transaction belong to the caller.
	View(ctx context.Context, account AccountID, fn func(ReadTx) error) error
	// Update runs fn in a read-write transaction on account. It commits
	// when fn returns nil, durably for durable backends, and returns fn's
	// error after rolling everything back otherwise. ctx governs the whole
	// transaction; a canceled ctx rolls back and returns an error wrapping
	// ctx.Err().
	Update(ctx context.Context, account AccountID, fn func(Tx) error) error
	// Close releases the store; later calls return ErrClosed.
	Close() error
}

// ReadTx reads one account's data.
type ReadTx interface {
	// Friend returns the friend with internal ID id, or ErrNotFound.
	Friend(id stepcast.FriendID) (Friend, error)
	// FriendByUser returns the friend with LINE userId user, or ErrNotFound.
	FriendByUser(user stepcast.UserID) (Friend, error)
	// Friends returns up to limit friends with IDs above after, in
	// ascending ID order; fewer than limit means the end.
	Friends(after stepcast.FriendID, limit int) ([]Friend, error)
	// Changes returns up to limit changes with Seq above after, in
	// ascending Seq order.
	Changes(after uint64, limit int) ([]Change, error)
	// LastSeq returns the Seq of the last change, 0 if none.
	LastSeq() (uint64, error)
	// Events returns up to limit recorded events with Seq above after, in
	// ascending Seq (recording) order.
	Events(after uint64, limit int) ([]Event, error)
	// FriendEvents returns up to limit of the friend's recorded events
	// with Seq below before (0: from the latest), latest first — one page
	// of the friend's history; fewer than limit means the end.
	FriendEvents(friend stepcast.FriendID, before uint64, limit int) ([]Event, error)
	// HasEvent reports whether an event with this ID was recorded.
	HasEvent(id string) (bool, error)
	// Timer returns the friend's timer with key (friend 0: the account's
	// own), or ErrNotFound.
	Timer(friend stepcast.FriendID, key string) (Timer, error)
	// FriendTimers returns the friend's timers ordered by key; friend 0
	// lists the account's own.
	FriendTimers(friend stepcast.FriendID) ([]Timer, error)
	// Delivery returns the delivery with id, or ErrNotFound.
	Delivery(id uint64) (Delivery, error)
	// DeliveryByKey returns the delivery with the caller's key, or ErrNotFound.
	DeliveryByKey(key string) (Delivery, error)
	// Deliveries returns up to f.Limit deliveries that f selects (by
	// status, by a recipient, by cause) with IDs above f.After, in
	// ascending ID order; fewer than f.Limit means the end. A filter
	// ValidateFilter refuses is ErrInvalid. Backends serve each filter
	// from an index, not by reading the whole outbox.
	Deliveries(f DeliveryFilter) ([]Delivery, error)
	// DeliveryProgress counts the deliveries of a cause key by status,
	// and the recipients of those sent (see DeliveryProgress). A cause
	// with no deliveries has zero counts.
	DeliveryProgress(cause string) (DeliveryProgress, error)
	// Definition returns the definition kind/name, or ErrNotFound.
	Definition(kind, name string) (Definition, error)
	// Definitions returns the definitions of a kind ("" for all), ordered
	// by kind and name.
	Definitions(kind string) ([]Definition, error)
	// Tallies returns the experiment's tallies ("" for every experiment),
	// ordered by experiment and variant.
	Tallies(experiment string) ([]Tally, error)
}

// Tx reads and writes one account's data within a unit of work.
type Tx interface {
	ReadTx
	// AddFriend returns the friend with LINE userId user, creating it with
	// the next dense internal ID if the account has never seen it; created
	// says which. IDs start at 1 and are never reused. A userId that
	// CheckUser refuses (empty, over stepcast.MaxIDLen bytes, not UTF-8,
	// holding NUL) is ErrInvalid.
	AddFriend(user stepcast.UserID) (f Friend, created bool, err error)
	// Apply applies changes in order to the friends' records and appends
	// them to the change log, assigning each the next Seq (returned in the
	// same order). A change to an unknown friend is ErrNotFound; a
	// malformed one (see Change.Validate) ErrInvalid.
	Apply(changes ...Change) ([]uint64, error)
	// AppendEvent records e, assigning it the next event Seq. An ID seen
	// before is ErrDuplicate: the caller skips the event; an event that
	// ValidateEvent refuses (beyond the limits, or carrying a User: the
	// log keeps Friend alone) is ErrInvalid. Times are kept to the
	// microsecond in UTC.
	AppendEvent(e stepcast.Event) (uint64, error)
	// PutTimer creates or replaces the timer (t.Friend, t.Key). t.Version
	// must be the version the caller read, 0 to create; otherwise
	// ErrConflict; a timer ValidateTimer refuses is ErrInvalid, one of a
	// friend the account does not know ErrNotFound (friend 0, the
	// account's own, needs none). Writing releases any lease. It returns
	// the new version.
	PutTimer(t Timer) (uint64, error)
	// DeleteTimer removes a timer at the version the caller read:
	// ErrConflict if it changed since, ErrNotFound if it is gone.
	DeleteTimer(friend stepcast.FriendID, key string, version uint64) error
	// Enqueue adds a pending delivery (its ID, status, attempts, first
	// attempt, error, reason, request ID, done time and lease are set by
	// the store) and returns its ID. A key already queued is
	// ErrDuplicate: the work was queued before (a replay), skip it; one
	// ValidateDelivery refuses is ErrInvalid.
	Enqueue(d Delivery) (uint64, error)
	// CancelDeliveries takes back the pending deliveries sel selects
	// (by cause, or by key prefix) that are not leased at at — a leased
	// one is in flight and finishes as it goes —: each gets Status
	// Cancelled, Reason reason and DoneAt at (to the microsecond in UTC).
	// It returns how many it cancelled. A request ValidateCancel refuses
	// is ErrInvalid. Backends find the deliveries through an index.
	CancelDeliveries(sel DeliverySelector, reason string, at time.Time) (int, error)
	// FinishDelivery records the outcome of an attempt by holder, who must
	// hold the delivery's lease (else ErrConflict: the lease expired and
	// someone else took it); an outcome ValidateOutcome refuses is
	// ErrInvalid.
	FinishDelivery(id uint64, holder string, o Outcome) error
	// PutDefinition creates or replaces a definition. d.Version must be
	// the version the caller read, 0 to create; otherwise ErrConflict; one
	// ValidateDefinition refuses is ErrInvalid. It returns the new version.
	PutDefinition(d Definition) (uint64, error)
	// DeleteDefinition removes a definition at the version the caller
	// read: ErrConflict if it changed since, ErrNotFound if it is gone.
	DeleteDefinition(kind, name string, version uint64) error
	// RestoreDelivery writes a delivery exactly as given, status, attempts
	// and times included (to the microsecond), with the next ID (d.ID must
	// be it, else ErrInvalid; see also ValidateRestored); its lease is
	// dropped. It is for Import.
	RestoreDelivery(d Delivery) error
	// AddToTally adds delta's counts to the tally of delta.Experiment and
	// delta.Variant, creating it at zero, and returns the new tally; a
	// delta ValidateTally refuses is ErrInvalid.
	AddToTally(delta Tally) (Tally, error)
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
type Change struct {
	Seq    uint64 // assigned by Apply
	Friend stepcast.FriendID
	Kind   ChangeKind
	Name   string
	Value  stepcast.Value
	Number int64
	Text   string
	At     time.Time
}

// Validate reports what is malformed in c, wrapping ErrInvalid and
// stepcast.ErrInvalid: what its kind needs and does not have (a name, a
// time, a valid value), and — whatever the kind, since every field is kept
// in the log and exported — text beyond the limits (Name and Text at most
// stepcast.MaxNameLen bytes of UTF-8 without NUL), a Value that
// stepcast.Value.Validate refuses, a time outside stepcast.MinTime and
// stepcast.MaxTime. A SetProfile's time zone must be known; an EnterStep's
// step lies in [0, 2^30].
func (c Change) Validate() error {
	bad := func(cause error, why string) error {
		what := fmt.Sprintf("%v change of friend %d", c.Kind, c.Friend)
		if why != "" {
			what += ": " + why
		}
		return invalid(cause, "%s", what)
	}
	if c.Kind < Follow || c.Kind > ClearVariant {
		return bad(nil, "unknown kind")
	}
	if err := firstErr(stepcast.CheckText("name", c.Name, stepcast.MaxNameLen), stepcast.CheckText("text", c.Text, stepcast.MaxNameLen)); err != nil {
		return bad(err, "")
	}
	if c.Value.Type() != 0 {
		if err := c.Value.Validate(); err != nil {
			return bad(err, "")
		}
	}
	if !c.At.IsZero() {
		if err := stepcast.CheckTime("time", c.At); err != nil {
			return bad(err, "")
		}
	}
	switch c.Kind {
	case Follow, Unfollow:
		if c.At.IsZero() {
			return bad(nil, "no time")
		}
	case SetProfile:
		if c.Text != "" {
			if _, err := time.LoadLocation(c.Text); err != nil {
				return bad(nil, "time zone "+stepcast.Quote(c.Text)+" is unknown")
			}
		}
	case SetTag, ClearTag, UnsetField, SetScore, LeaveScenario, ClearVariant:
		if c.Name == "" {
			return bad(nil, "no name")
		}
	case SetField:
		if c.Name == "" || c.Value.Type() == 0 {
			return bad(nil, "no name or no value")
		}
	case EnterStep:
		if c.Name == "" || c.Number < 0 || c.Number > 1<<30 {
			return bad(nil, "no scenario or a step out of range")
		}
	case SetVariant:
		if c.Name == "" || c.Text == "" {
			return bad(nil, "no experiment or no variant")
		}
	}
	return nil
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
	case SetField:
		if f.Fields == nil {
			f.Fields = map[string]stepcast.Value{}
		}
		f.Fields[c.Name] = c.Value
	case UnsetField:
		delete(f.Fields, c.Name)
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
	case SetVariant:
		if f.Variants == nil {
			f.Variants = map[string]string{}
		}
		f.Variants[c.Name] = c.Text
	case ClearVariant:
		delete(f.Variants, c.Name)
	}
}

// Event is an event as recorded in the event log: the event and its
// position in the log.
type Event struct {
	Seq uint64 // assigned by AppendEvent
	stepcast.Event
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

// FriendScanner is implemented by read transactions that can hand friends
// over one by one in a reused record, without allocating each: LoadIndex
// uses it to rebuild an index from millions of friends (boltstore).
type FriendScanner interface {
	// ScanFriends calls fn for up to limit friends with IDs above after,
	// in ascending ID order, and returns how many it visited. f and its
	// slices and maps are reused for the next friend: fn copies what it
	// keeps.
	ScanFriends(after stepcast.FriendID, limit int, fn func(f *Friend) error) (int, error)
}

// Batcher is implemented by stores that can group the units of work of
// concurrent callers into one commit (boltstore: one fsync for many),
// trading latency for throughput. Batch behaves like Update except that fn
// may run more than once, in a fresh transaction each time, so it must have
// no effects outside the transaction; only a nil return from Batch means it
// committed.
type Batcher interface {
	Batch(ctx context.Context, account AccountID, fn func(Tx) error) error
}

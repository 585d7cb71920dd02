package store

import (
	"context"
	"errors"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store/internal/check"
)

// AccountID identifies one LINE account (channel) within a store, e.g. by
// its channel ID: not empty, at most stepcast.MaxNameLen bytes of valid
// UTF-8 without NUL (stepcast.CheckName), so that every backend can keep it
// alike. Every entry point of a store — View, Update, Batch, Lease,
// LeaseDeliveries, and so Export and Import — refuses another with
// ErrInvalid before it touches anything, as engine.Engine.AddAccount does.
type AccountID string

// Validate reports, wrapping ErrInvalid and stepcast.ErrInvalid, what makes
// id unfit as an account ID (see AccountID); its message quotes at most a
// short prefix of id.
func (id AccountID) Validate() error {
	if err := stepcast.CheckName("account ID", string(id)); err != nil {
		return check.Invalid(err, "account")
	}
	return nil
}

var (
	// ErrNotFound is returned for a friend, timer, delivery or definition
	// the account does not hold: by the readers that look one up, by
	// Apply for a change to an unknown friend, by DeleteTimer and
	// DeleteDefinition for one already gone. A lookup by a key that no
	// record could have (one the writes refuse: a userId that is not
	// UTF-8, a timer key holding NUL…) is ErrNotFound too, on every
	// backend, without reaching storage.
	ErrNotFound = errors.New("store: not found")
	// ErrDuplicate is returned by AppendEvent for an event ID the account
	// has already recorded, and by Enqueue (and RestoreDelivery) for a
	// delivery key it has already queued: the work was done before (a
	// replay), skip it.
	ErrDuplicate = errors.New("store: duplicate event ID or delivery key")
	// ErrConflict is returned by the versioned writes (PutTimer,
	// DeleteTimer, PutDefinition, DeleteDefinition) when the version is
	// not the one the caller read — someone else changed it (another
	// engine instance took over an expired lease, another operator edited
	// it): the caller drops its work —, and by FinishDelivery when the
	// caller no longer holds the delivery's lease.
	ErrConflict = errors.New("store: version conflict")
	// ErrInvalid is returned (wrapped, with what and where) for input that
	// is malformed or beyond the limits (see the package doc's Limits): a
	// change, an event, a userId, a timer, a delivery, an outcome, a
	// cancel request, a filter, a definition, a tally, a lease request, an
	// account ID.
	// Such errors also match stepcast.ErrInvalid. The write changes
	// nothing, and the transaction may go on.
	ErrInvalid = check.ErrInvalid
	// ErrClosed is returned by every method of a closed store.
	ErrClosed = errors.New("store: closed")
	// ErrCorrupt is returned (wrapped, naming the record) when a backend
	// finds a stored record it cannot decode.
	ErrCorrupt = errors.New("store: corrupt record")
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

// ReadTx reads one account's data: one small interface per aggregate.
// A transaction sees its own writes.
type ReadTx interface {
	FriendReader
	LogReader
	TimerReader
	OutboxReader
	DefinitionReader
	TallyReader
}

// Tx reads and writes one account's data within a unit of work: the
// readers, and one writer per aggregate.
type Tx interface {
	ReadTx
	FriendWriter
	LogWriter
	TimerWriter
	OutboxWriter
	DefinitionWriter
	TallyWriter
}

// FriendScanner is implemented by read transactions that can hand friends
// over one by one in a reused record, without allocating each: the
// engine's index rebuild uses it to read millions of friends (boltstore).
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

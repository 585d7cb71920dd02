package backend

import (
	"math"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/internal/check"
)

// Lookups. A key that the writes refuse names no record: every backend
// answers a lookup by it as by a key it does not hold — store.ErrNotFound
// from FriendByUser, Timer, DeleteTimer, Definition, DeleteDefinition and
// DeliveryByKey, false from HasEvent, nothing from Definitions, Tallies and
// Deliveries, zero counts from DeliveryProgress — and answers it before it
// reaches its storage (PostgreSQL would refuse text that is not UTF-8 or
// holds NUL with an error of its own, and abort the transaction). Backends
// call these first in their readers; each is true for a key a record may
// have.

// UserKey reports whether a friend may have LINE userId user: whether
// CheckUser takes it (Tx.AddFriend).
func UserKey(user stepcast.UserID) bool { return check.ID("userId", string(user)) == nil }

// EventKey reports whether a recorded event may have ID id: not empty, at
// most stepcast.MaxIDLen bytes of UTF-8 without NUL (stepcast.Event.Validate).
func EventKey(id string) bool { return check.ID("event ID", id) == nil }

// TimerKey reports whether a timer may have key: a name
// (ValidateTimer).
func TimerKey(key string) bool { return NameKey(key) }

// DefinitionKey reports whether a definition may have kind and name: both
// names (ValidateDefinition).
func DefinitionKey(kind, name string) bool { return NameKey(kind) && NameKey(name) }

// DeliveryKey reports whether a delivery may have the caller's key: an
// identifier (ValidateDelivery).
func DeliveryKey(key string) bool { return check.ID("delivery key", key) == nil }

// CauseKey reports whether a delivery may have cause: "" (none) or at most
// store.MaxCauseLen bytes of UTF-8 without NUL (ValidateDelivery).
func CauseKey(cause string) bool { return stepcast.CheckText("cause", cause, store.MaxCauseLen) == nil }

// NameKey reports whether a record may be named s: a definition's kind or
// name, a timer's key, a tally's experiment or variant (stepcast.CheckName).
func NameKey(s string) bool { return stepcast.CheckName("name", s) == nil }

// Page says which records a paged read — Friends, Changes, Events,
// FriendEvents — returns for a limit and for after, the key its page
// follows (max, the largest key there is): none when the limit is not
// positive or nothing lies above after, so that no backend wraps around
// (after+1 is 0 at max) or passes a negative limit or key to its storage.
func Page(after, max uint64, limit int) bool { return limit > 0 && after < max }

// Keys of records as pgstore keeps them, a bigint, and paged reads bound
// them: the largest friend ID and sequence number.
const (
	MaxFriendID = math.MaxUint32
	MaxSeq      = math.MaxInt64
)

package store

import "github.com/stepcast/stepcast"

// Limits. Everything a backend keeps is checked once, by the validators of
// the backend kit (store/backend: ValidateChange, ValidateEvent,
// CheckUser, ValidateTimer, ValidateDelivery, ValidateRestored,
// ValidateOutcome, ValidateCancel, ValidateFilter, ValidateDefinition,
// ValidateTally and AddTally, ValidateLease) and AccountID.Validate, which
// every backend calls before it writes: so memstore, boltstore and pgstore
// accept and refuse exactly the same input, and what they accept exports
// and imports back unchanged.
//
// Beside the root's input limits (stepcast.MaxIDLen for IDs and keys,
// stepcast.MaxNameLen for names, stepcast.MaxTextLen for free text, valid
// UTF-8 without NUL, finite numbers, whole numbers from stepcast.MinInt,
// times within stepcast.MinTime and stepcast.MaxTime):
//
//   - an account ID is a name (AccountID);
//   - a change's Number, whatever its kind, is at least stepcast.MinInt;
//   - a tally's sum stays within an int64 and its revenue finite
//     (Tx.AddToTally);
//   - opaque bytes — a timer's State, a definition's Body, a delivery's
//     Payload — are at most MaxBlobLen bytes;
//   - a delivery's cause key is at most MaxCauseLen bytes, its friends at
//     most stepcast.MaxMulticastTargets, its priority within an int32;
//   - the times of due work and of deliveries (a timer's Due, a
//     delivery's CreatedAt, NextAt, FirstAttemptAt and DoneAt, an
//     outcome's times, the now of a lease or a cancel) lie within
//     [stepcast.MinEventTime, stepcast.MaxTime]: backends order them by
//     Unix time.
//
// A refusal wraps both ErrInvalid and stepcast.ErrInvalid, and its message
// quotes at most a short prefix of the offending text (stepcast.Quote).
const (
	// MaxBlobLen bounds opaque bytes, in bytes: a timer's State, a
	// definition's Body, a delivery's Payload.
	MaxBlobLen = 4 << 20
	// MaxCauseLen bounds a delivery's cause key, in bytes: a cause kind, a
	// colon and a name of up to stepcast.MaxNameLen bytes.
	MaxCauseLen = stepcast.MaxNameLen + 32
)

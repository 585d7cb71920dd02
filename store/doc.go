// Package store defines stepcast's persistence contracts — the records,
// the interfaces a backend implements, the errors they return, the input
// limits — and moves an account's data in and out (Export, Import). Three
// backends implement it: memstore (in memory, the reference and the test
// fake), boltstore (an embedded bbolt file, one process) and pgstore
// (PostgreSQL, many engine instances on one database). Each proves it with
// the conformance suite, storetest. What backends share to do it alike —
// validators, the steps of a write, codecs — is the backend author's kit,
// store/backend, as database/sql/driver is to database/sql; code that
// uses a store needs only this package.
//
// Everything belongs to one LINE account (channel): a Store holds many
// accounts, and every transaction is opened on one of them, so nothing can
// cross from one account to another.
//
// # Interfaces
//
// A transaction is composed of one small interface per aggregate, each
// with a read half (composing ReadTx) and a write half (adding up to Tx):
// FriendReader and FriendWriter (friends and their changes), LogReader and
// LogWriter (the change and event logs), TimerReader and TimerWriter,
// OutboxReader and OutboxWriter, DefinitionReader and DefinitionWriter,
// TallyReader and TallyWriter. A Store adds the two queues leased outside
// any unit of work, Timers and Deliveries. Optional capabilities are
// discovered by type assertion: Batcher (shared commits) and FriendScanner
// (friends decoded into a reused record, for index rebuilds).
//
// # Units of work
//
// Store.Update runs a function in a read-write transaction on one account:
// friends added, state changes applied and events appended inside it commit
// together or not at all. State changes (Change) are both applied to the
// friends' records and appended to the account's change log with a
// monotonic sequence number, which is how the engine's in-memory segment
// index is rebuilt and caught up (engine.LoadIndex) — including with
// writes made by other engine instances sharing the store.
//
// # Precision
//
// Times are kept to the microsecond, in UTC. Field values are
// stepcast.Value.
//
// # Due work and deliveries
//
// Timers are due work with an opaque state blob and a version for
// optimistic concurrency: a friend's (a scenario's next step, a reminder)
// or, with Friend 0, the account's own (a scheduled broadcast, an A/B
// test's decision). Lease hands due timers of the kinds asked for to one
// holder at a time and hands them out again when a holder's lease expires.
//
// The outbox holds deliveries to LINE, one of stepcast.DeliveryKinds each,
// enqueued in the unit of work that decided them with a fixed retry key
// (for the kinds that take one), leased for each attempt — higher priority
// first — and finished with an Outcome, or cancelled by cause or key prefix
// while still pending. Deliveries lists them by status, recipient and
// cause; DeliveryProgress counts a cause's by status.
//
// # Limits
//
// Every backend checks what it is given with the same validators (those of
// store/backend) before it writes anything, so that memstore, boltstore
// and pgstore accept and refuse exactly the same input: the
// root's input limits (stepcast.MaxIDLen, MaxNameLen, MaxTextLen, valid
// UTF-8 without NUL, finite numbers, whole numbers from stepcast.MinInt,
// times within stepcast.MinTime and MaxTime), account IDs that are names
// (AccountID), opaque bytes up to MaxBlobLen, cause keys up to
// MaxCauseLen, the times of due work and deliveries from
// stepcast.MinEventTime, and tally sums that stay within an int64 and
// finite. A refusal wraps ErrInvalid and stepcast.ErrInvalid and quotes at
// most a short prefix of the input (stepcast.Quote). Reads answer alike
// too: a lookup by a key that no record can have (one the writes refuse)
// finds nothing — ErrNotFound, false, an empty list — without reaching
// storage, and a page past the last key is empty. storetest checks all
// of it on every backend.
//
// # Leases
//
// Timers and deliveries are due at now >= Due (NextAt) and leased until
// LeaseUntil; a lease has expired at now >= LeaseUntil, the same on every
// backend. A Lease or LeaseDeliveries that finds nothing to hand out
// writes nothing — a read on boltstore (no commit, no sync of the file), a
// statement that changes no row and takes no transaction ID on pgstore —,
// so that an engine polling an idle account every second costs reads.
//
// # Export
//
// Export and Import move an account's friends, change log, event log,
// timers, definitions, experiment tallies and outbox in a documented JSON
// Lines format (version 2, see export.go), identical from every backend.
// Its trailer counts the records and holds a SHA-256 of the bytes before
// it, so Import refuses a file cut short or altered, naming the line; it
// rebuilds every friend from the change log and refuses a record that
// differs. Import still reads version 1, which has no trailer and so cannot
// be checked for truncation.
//
// # Definitions
//
// Scenarios, rule sets, experiments and saved segments are stored as
// versioned documents (PutDefinition), so concurrent edits conflict instead
// of overwriting each other. Experiment assignments live on the friend
// record (SetVariant changes); their running tallies (AddToTally) are kept
// beside the definitions.
package store

// Package store defines stepcast's persistence contracts and the errors
// they return; backends implement them (memstore, and later an embedded
// bbolt file and PostgreSQL) and prove it with the storetest conformance
// suite.
//
// Everything belongs to one LINE account (channel): a Store holds many
// accounts, and every transaction is opened on one of them, so nothing can
// cross from one account to another.
//
// # Units of work
//
// Store.Update runs a function in a read-write transaction on one account:
// friends added, state changes applied and events appended inside it commit
// together or not at all. State changes (Change) are both applied to the
// friends' records and appended to the account's change log with a
// monotonic sequence number, which is how an in-memory segment index
// catches up (LoadIndex, CatchUp) — including with writes made by other
// engine instances sharing the store.
//
// # Precision
//
// Times are kept to the microsecond, in UTC. Field values are
// stepcast.Value.
//
// # Due work and deliveries
//
// Timers are per-friend due work (a scenario's next step, a reminder) with
// an opaque state blob and a version for optimistic concurrency; Lease hands
// due timers to one holder at a time and hands them out again when a
// holder's lease expires. The outbox holds deliveries to LINE, enqueued in
// the unit of work that decided them with a fixed retry key, leased for each
// attempt and finished with an Outcome.
//
// # Export
//
// Export and Import move an account's friends, change log, event log,
// timers, definitions, experiment tallies and outbox in a documented JSON
// Lines format (see export.go),
// identical from every backend.
//
// # Definitions
//
// Scenarios, rule sets, experiments and saved segments are stored as
// versioned documents (PutDefinition), so concurrent edits conflict instead
// of overwriting each other. Experiment assignments live on the friend
// record (SetVariant changes); their running tallies (AddToTally) are kept
// beside the definitions.
package store

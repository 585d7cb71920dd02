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
// This first increment covers the friend directory, friend state, the change
// log and the event log. Scenario and reminder states with leases, the
// outbox, experiments and definitions, the durable backends and export
// follow.
package store

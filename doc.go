// Package stepcast is the shared vocabulary of the stepcast module: friend
// identifiers, field types and the errors that several packages speak.
//
// stepcast gives a Go host application what L-step (Lステップ) gives a LINE
// Official Account: friends with tags, typed fields and scores, a segment
// language compiled to roaring bitmaps, scenario delivery, A/B tests and
// delivery through the LINE Messaging API, over pluggable storage.
//
// This root package holds the vocabulary the others speak — IDs, typed
// values, events, actions, deliveries and the Sender interface, one
// calendar (LocalTime, DayStart, ParseTime) and the input limits — and no
// logic beyond validation; it does no I/O and imports none of its
// subpackages. The work happens in:
//
//   - [github.com/stepcast/stepcast/segment]: the segment language (expr
//     syntax) compiled to bitmap set operations over an in-memory index;
//   - [github.com/stepcast/stepcast/scoring]: scores with decay, thresholds
//     and a ledger;
//   - [github.com/stepcast/stepcast/abtest]: experiments, assignment and
//     statistics;
//   - [github.com/stepcast/stepcast/store]: persistence contracts, with
//     memstore, boltstore (one embedded file) and pgstore (PostgreSQL);
//   - [github.com/stepcast/stepcast/rules]: action rules (アクション設定);
//   - [github.com/stepcast/stepcast/scenario]: scenarios (ステップ配信) and
//     reminders (リマインダ配信) as pure state machines;
//   - [github.com/stepcast/stepcast/engine]: the runtime that ingests
//     events, runs rules, scores, scenarios and reminders, keeps the live
//     index, does due work and queues deliveries in the outbox;
//   - [github.com/stepcast/stepcast/lineadapter]: the edge to LINE — the
//     webhook handler, the Sender on LINE's official SDK, tracking links
//     and inflow routes — and lineadapter/linetest, a fake Messaging API
//     server that holds requests to LINE's rules and OpenAPI specs.
//
// Broadcasts to a segment come next; docs/architecture.md in the
// repository says what is where.
package stepcast

// Package casesim drives the L-step article's case studies
// (examples/musicschool, examples/gym, examples/clinic): one LINE account
// on the engine through simulated time, with the whole edge in place.
//
//   - Friends' actions arrive as LINE sends them: signed webhook requests
//     (linetest.WebhookBody, SignedRequest) served to lineadapter's
//     webhook handler, whose Recorder is the account — through
//     postbackForm, the host's convention that a postback's data
//     "name=value" is the event's Name and Value. Taps on tracking links
//     and conversion beacons go through lineadapter.Linker's handlers;
//     the host's own reports (a booking system) are ingested directly.
//   - The engine runs on a simulated Clock. It ticks exactly when its
//     store's due-work queue says something is due (store.TimerReader's
//     DueTimers, a read), as engine.Run would find it polling every
//     second, and whatever a unit queued is dispatched at once through
//     lineadapter's Sender (LINE's official SDK) to linetest — checked
//     against LINE's OpenAPI specifications too when STEPCAST_LINE_OPENAPI
//     names them. The Sender's rate limits are off: they are per real
//     second, and the simulation runs days in seconds.
//   - The store is a bbolt file in a temporary folder (without fsync: the
//     file is deleted at the end) or memstore.
//
// Report helpers print a friend's journey (their events, the engine's
// journey records and what LINE received, in the account's zone), the
// figures with their bounds (Binomial and Sum: ±5 standard deviations of
// the behaviour's probabilities, or exact), and what LINE received. Tables
// are aligned by display width (go-runewidth); progress bars
// (schollz/progressbar) go to stderr, only when it is a terminal.
package casesim

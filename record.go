package stepcast

// Recorded is what became of one event handed to a recorder (the engine's
// Account.Record; the LINE edge's webhook and tracking links hand their
// events to one). It speaks the root's terms only, so that an edge can take
// events durably without importing the runtime.
//
// An event comes to one of three ends:
//
//   - kept: Err is nil and Lost is false — recorded now, or recorded
//     before under the same ID (Duplicate, nothing changed);
//   - refused for its own fault: Err is set — malformed (ErrInvalid), an
//     unknown friend, rules setting each other off without end, a value
//     that does not fit its field, dated too far ahead. Nothing of it was
//     kept and no redelivery can change that, so a webhook answers 200 and
//     logs it;
//   - lost: Lost is set — not kept for a reason not its own (the store
//     failing, the engine closed, the context done); the recorder's
//     returned error says why, and a redelivery may keep it, so a webhook
//     answers 500 for LINE to send it again.
type Recorded struct {
	// Friend is the friend the event is about, once known: set for a kept
	// event (zero for a stranger's redelivered event, which adds no friend),
	// zero otherwise.
	Friend FriendID
	// Duplicate: the event's ID was recorded before; nothing changed.
	Duplicate bool
	// Lost: not kept, and not for its own fault (see the recorder's error).
	Lost bool
	// Err is why the event was refused for its own fault, or nil.
	Err error
}

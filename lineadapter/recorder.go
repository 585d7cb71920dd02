package lineadapter

import (
	"context"

	"github.com/stepcast/stepcast"
)

// Recorder takes events durably before it returns — the webhook's (all of
// a request's in one call) and the tracking links' (one at a time) —
// saying what became of each in a stepcast.Recorded of the same position.
// *engine.Account is one (Account.Record); this package does not import
// the engine.
//
// The contract the handlers rely on, as stepcast.Recorded states it:
// Recorded.Err is set only for an event refused for its own fault, which no
// redelivery can change (the webhook answers 200 and logs it); the returned
// error is non-nil exactly when some event was not kept for another reason
// — the store failing, the engine closed — and those events are marked
// Lost (the webhook answers 500, so that LINE redelivers them). It returns
// one Recorded per event, also with an error.
type Recorder interface {
	Record(ctx context.Context, events ...stepcast.Event) ([]stepcast.Recorded, error)
}

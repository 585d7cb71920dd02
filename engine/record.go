package engine

import (
	"context"
	"fmt"

	"github.com/stepcast/stepcast"
)

// Record is IngestBatch for an edge that must know only whether to have
// the events sent again: LINE's webhook (lineadapter.Webhook), the
// tracking links. It commits exactly as IngestBatch does — one commit for
// all the events, shared with concurrent callers under Config.ShareCommits
// when it is one event — and says what became of each event in a
// stepcast.Recorded of the same position, which speaks the root's terms
// only, so that the edge need not import the engine (*Account implements
// lineadapter.Recorder).
//
// Each Recorded is one of:
//
//   - kept: recorded now, or before under the same ID (Duplicate);
//   - refused for the event's own fault (Err: stepcast.ErrInvalid,
//     store.ErrNotFound for an unknown friend, rules.ErrLoop,
//     segment.ErrType for a value that does not fit, ErrFutureEvent, …):
//     nothing of it kept, and no redelivery can change that;
//   - lost (Lost): not kept for a reason not its own.
//
// The returned error is non-nil exactly when some event was lost — the
// store failing, ErrClosed, ctx done — and wraps that failure (a batch
// fails for at most one such reason): the caller should answer so that the
// events come again (a webhook's 500). Events refused for their own fault
// do not make it non-nil. The result always has len(events) entries.
func (a *Account) Record(ctx context.Context, events ...stepcast.Event) ([]stepcast.Recorded, error) {
	results, _ := a.IngestBatch(ctx, events...)
	out := make([]stepcast.Recorded, len(results))
	var cause error
	lost := 0
	for i, r := range results {
		switch {
		case r.Err == nil:
			out[i] = stepcast.Recorded{Friend: r.Friend, Duplicate: r.Duplicate}
		case eventFault(r.Err):
			out[i] = stepcast.Recorded{Friend: r.Friend, Err: r.Err}
		default:
			out[i] = stepcast.Recorded{Lost: true}
			if cause == nil {
				cause = r.Err
			}
			lost++
		}
	}
	if cause != nil {
		return out, fmt.Errorf("engine: account %q: %d of %d events not kept: %w", a.id, lost, len(events), cause)
	}
	return out, nil
}

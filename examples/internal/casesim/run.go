package casesim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/lineadapter/linetest"
	"github.com/stepcast/stepcast/store"
)

// nextDue returns when the account's earliest due work before before is
// due (the zero time if there is none), from the store's due-work queue —
// a read, no commit, whose cost is that of the range up to before.
func (s *Sim) nextDue(ctx context.Context, before time.Time) (time.Time, error) {
	var next time.Time
	err := s.st.View(ctx, s.Account.ID(), func(tx store.ReadTx) error {
		for _, k := range engine.DueKinds() {
			ts, err := tx.DueTimers(string(k), store.DuePos{}, before, 1)
			if err != nil {
				return err
			}
			if len(ts) > 0 && (next.IsZero() || ts[0].Due.Before(next)) {
				next = ts[0].Due
			}
		}
		return nil
	})
	return next, err
}

// Run plays the actions up to end. Each webhook request and host report
// is ingested with the clock at its time; the engine ticks exactly when
// its store says due work is due (engine.Run polls every second; the
// simulation skips the polls that would find nothing); whatever either
// queued is dispatched to LINE at once, as Run would within its poll
// interval. Webhook events within two seconds go in one request, as LINE
// batches events. bar, if not nil, shows the simulated days done.
func (s *Sim) Run(ctx context.Context, end time.Time, bar *Bar) error {
	slices.SortStableFunc(s.actions, func(a, b action) int { return a.at.Compare(b.at) })
	start := s.Now()
	acts := s.actions
	for {
		horizon := end
		if len(acts) > 0 && acts[0].at.Before(horizon) {
			horizon = acts[0].at
		}
		due, err := s.nextDue(ctx, horizon.Add(time.Microsecond))
		if err != nil {
			return err
		}
		if s.retry && (due.IsZero() || s.Now().Add(time.Minute).Before(due)) {
			due = s.Now().Add(time.Minute) // deliveries waiting to be tried again
		}
		if !due.IsZero() && due.Before(s.Now()) {
			due = s.Now()
		}
		if !due.IsZero() && s.idle && !due.After(s.lastTick) {
			// The last tick found nothing to do at this time (the work is
			// leased elsewhere, or of a kind the engine does not take):
			// look again a minute on rather than spin.
			due = s.lastTick.Add(time.Minute)
		}
		switch {
		case len(acts) > 0 && !acts[0].at.After(end) && (due.IsZero() || acts[0].at.Before(due)):
			n, err := s.act(ctx, acts)
			if err != nil {
				return err
			}
			acts = acts[n:]
		case !due.IsZero() && !due.After(end):
			if err := s.tick(ctx, due); err != nil {
				return err
			}
		default:
			s.clk.Set(end)
			s.actions = s.actions[:0]
			bar.Done()
			return nil
		}
		bar.Set(s.Now().Sub(start))
	}
}

// act runs the first actions: a group of webhook events within two
// seconds as one request, host events of one minute as one batch, or a call.
func (s *Sim) act(ctx context.Context, acts []action) (int, error) {
	first := acts[0]
	n := 1
	t0 := time.Now()
	switch {
	case first.hook != nil:
		// LINE sends events that come together in one request; within
		// two seconds here, so that a reply token is still fresh when the
		// request is served with the clock at its last event.
		for n < len(acts) && acts[n].hook != nil && acts[n].at.Sub(first.at) <= 2*time.Second && n < 100 {
			n++
		}
		s.clk.Set(acts[n-1].at)
		evs := make([]any, n)
		for i := range n {
			evs[i] = acts[i].hook
			user, _ := acts[i].hook["source"].(map[string]any)["userId"].(string)
			switch acts[i].hook["type"] {
			case "follow":
				s.LINE.AddFriends(user)
			case "unfollow":
				s.LINE.Block(user)
			}
		}
		if err := s.serveWebhook(ctx, evs); err != nil {
			return 0, err
		}
	case first.host != nil:
		for n < len(acts) && acts[n].host != nil && acts[n].at.Truncate(time.Minute).Equal(first.at.Truncate(time.Minute)) && n < 500 {
			n++
		}
		s.clk.Set(acts[n-1].at)
		evs := make([]stepcast.Event, n)
		for i := range n {
			evs[i] = *acts[i].host
		}
		res, err := s.Account.IngestBatch(ctx, evs...)
		if err != nil {
			return 0, fmt.Errorf("the host's report at %s: %w", s.local(first.at), err)
		}
		for i, r := range res {
			if r.Err != nil {
				return 0, fmt.Errorf("the host's report %s at %s: %w", evs[i].ID, s.local(evs[i].At), r.Err)
			}
		}
		s.Hosted += n
	default:
		s.clk.Set(first.at)
		if err := first.fn(ctx); err != nil {
			return 0, fmt.Errorf("at %s: %w", s.local(first.at), err)
		}
	}
	s.InIngest += time.Since(t0)
	return n, s.dispatchNew(ctx)
}

// serveWebhook sends one signed webhook request to lineadapter's handler,
// as LINE would, and checks that every event was kept.
func (s *Sim) serveWebhook(ctx context.Context, evs []any) error {
	body := linetest.WebhookBody(linetest.Destination, evs...)
	if _, err := s.LINE.AcceptReplyTokens(body); err != nil {
		return err
	}
	req := linetest.SignedRequest(Secret, body).WithContext(ctx)
	w := httptest.NewRecorder()
	s.hook.ServeHTTP(w, req) // the report is written on this goroutine, before ServeHTTP returns
	rep := s.report
	if w.Code != http.StatusOK {
		return fmt.Errorf("webhook at %s answered %d: %v", s.local(s.Now()), w.Code, rep.Err)
	}
	for _, e := range rep.Events {
		if !e.Ingested || e.Recorded.Err != nil {
			return fmt.Errorf("webhook event %s (%s) at %s not kept: %v %s", e.ID, e.Type, s.local(s.Now()), e.Recorded.Err, e.Note)
		}
	}
	s.Requests++
	s.Webhooked += len(evs)
	return nil
}

// tick runs the engine's due work at t and dispatches what it queued.
func (s *Sim) tick(ctx context.Context, t time.Time) error {
	s.clk.Set(t)
	t0 := time.Now()
	n, err := s.Account.Tick(ctx)
	s.InTick += time.Since(t0)
	if err != nil {
		return fmt.Errorf("tick at %s: %w", s.local(t), err)
	}
	s.Ticks++
	s.Units += n
	s.lastTick, s.idle = t, n == 0
	if s.retry {
		return s.dispatch(ctx)
	}
	return s.dispatchNew(ctx)
}

// dispatchNew dispatches if anything was queued since the last look.
func (s *Sim) dispatchNew(ctx context.Context) error {
	ds, err := s.Account.Deliveries(ctx, store.DeliveryFilter{After: s.lastID, Limit: 1})
	if err != nil || len(ds) == 0 {
		return err
	}
	return s.dispatch(ctx)
}

func (s *Sim) dispatch(ctx context.Context) error {
	for {
		ds, err := s.Account.Deliveries(ctx, store.DeliveryFilter{After: s.lastID, Limit: 1000})
		if err != nil {
			return err
		}
		if len(ds) == 0 {
			break
		}
		s.lastID = ds[len(ds)-1].ID
	}
	t0 := time.Now()
	rep, err := s.Account.Dispatch(ctx)
	s.InDispatch += time.Since(t0)
	if err != nil {
		return fmt.Errorf("dispatch at %s: %w", s.local(s.Now()), err)
	}
	s.DispatchRuns++
	s.Dispatch.Leased += rep.Leased
	s.Dispatch.Sent += rep.Sent
	s.Dispatch.Retrying += rep.Retrying
	s.Dispatch.Failed += rep.Failed
	s.Dispatch.Replaced += rep.Replaced
	s.Dispatch.Released += rep.Released
	s.Dispatch.LostLease += rep.LostLease
	s.retry = rep.Retrying+rep.Released > 0
	return nil
}

// local formats t in the account's zone.
func (s *Sim) local(t time.Time) string { return t.In(s.Loc).Format("2006-01-02 15:04") }

// Local formats t in the account's zone, to the minute.
func (s *Sim) Local(t time.Time) string { return s.local(t) }

// FriendID returns the engine's ID of a LINE user.
func (s *Sim) FriendID(ctx context.Context, user string) (stepcast.FriendID, error) {
	v, err := s.Account.FriendByUser(ctx, stepcast.UserID(user))
	if err != nil {
		return 0, err
	}
	return v.ID, nil
}

// MustCount counts a segment expression of the program's own on the live
// index; one that does not compile is the program's bug.
func (s *Sim) MustCount(src string) uint64 {
	n, err := s.Account.Count(src)
	if err != nil {
		panic(fmt.Sprintf("casesim: count %s: %v", src, err)) // the programs' own expressions
	}
	return n
}

// ErrCheck is wrapped by a figure outside its stated bounds.
var ErrCheck = errors.New("a figure is outside its bounds")

package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/render"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
)

// Planning a broadcast: its due work wakes at its time, evaluates the
// segment, freezes the audience, and then plans BroadcastChunk friends a
// unit of work until the audience is through.

// skipNotFollowing is the skip reason of a friend of the audience who
// does not follow when their chunk is planned.
const skipNotFollowing = "not_following"

// skipUnknown is the skip reason of a friend of the audience the store no
// longer has when their chunk is planned.
const skipUnknown = "unknown_friend"

// wakeBroadcast plans the next chunk of a broadcast — the first time,
// after evaluating its segment on the live index and freezing the
// audience. Each chunk commits with the cursor in the timer, so that a
// crash loses at most the chunk under way, which is planned again from
// the same cursor over the same frozen audience: no friend is queued
// twice, and each chunk's deliveries are keyed by its number.
func wakeBroadcast(u *unit, t store.Timer) error {
	if err := u.primeTimer(t); err != nil {
		return err
	}
	ut := u.timerAt(t.Key)
	var st broadcastState
	if err := json.Unmarshal(ut.state, &st); err != nil {
		return fmt.Errorf("engine: %s: broadcast state: %w", u.what(), err)
	}
	b := &st.Broadcast
	save := func(due bool) error {
		var err error
		if ut.state, err = json.Marshal(st); err != nil {
			return err
		}
		ut.dirty = true
		ut.due = never
		if due {
			ut.due = u.at // more to plan: at once
		}
		return nil
	}
	fail := func(reason string) error {
		st.Phase, st.Reason, st.EndedAt = phaseFailed, reason, u.at
		if err := u.dropAudience(b.Name); err != nil {
			return err
		}
		return save(false)
	}
	if st.Phase != phaseScheduled && st.Phase != phasePlanning {
		return save(false) // nothing more to do: due never
	}
	seg, tpl, err := u.a.checkBroadcast(u.def, b)
	if err != nil {
		// The definitions changed since it was scheduled.
		return fail(fmt.Sprintf("no longer valid against the account's definitions: %v", err))
	}
	var audience *roaring.Bitmap
	aud, err := u.tx.Timer(0, audienceKey(b.Name))
	switch {
	case st.Phase == phaseScheduled:
		// Due: who is in the segment now, among friends who follow.
		if audience, err = seg.Eval(u.ix, u.at); err != nil {
			return fail(fmt.Sprintf("segment: %v", err))
		}
		following, err := segment.Compile("following", u.def.schema)
		if err != nil {
			return err
		}
		f, err := following.Eval(u.ix, u.at)
		if err != nil {
			return err
		}
		audience.And(f)
		audience.RunOptimize()
		body, err := audience.ToBytes()
		if err != nil {
			return err
		}
		a := store.Timer{Key: audienceKey(b.Name), Due: never, State: body}
		if aud.Version > 0 { // left by a broadcast of the name replaced before it started
			a.Version = aud.Version
		}
		if _, err := u.tx.PutTimer(a); err != nil {
			return fmt.Errorf("engine: %s: broadcast audience: %w", u.what(), err)
		}
		st.Phase, st.StartedAt, st.Audience = phasePlanning, u.at, audience.GetCardinality()
	case err != nil:
		return fmt.Errorf("engine: %s: broadcast audience: %w", u.what(), err)
	default:
		audience = roaring.New()
		if _, err := audience.FromBuffer(aud.State); err != nil {
			return fmt.Errorf("engine: %s: broadcast audience: %w", u.what(), err)
		}
	}
	ab, err := u.broadcastExperiment(&st)
	if err != nil {
		return fail(fmt.Sprintf("no longer valid against the account's definitions: %v", err))
	}
	done, err := u.planChunk(&st, tpl, audience, ab)
	if err != nil {
		return err
	}
	if done {
		if done, err = u.testDone(&st, ab); err != nil {
			return err
		}
		if st.Phase == phaseWaiting {
			return save(false) // the audience stays for the rest pass
		}
	}
	if done {
		st.Phase, st.PlannedAt = phasePlanned, u.at
		if err := u.dropAudience(b.Name); err != nil {
			return err
		}
	}
	return save(!done)
}

// dropAudience deletes the frozen audience of broadcast name, if any.
func (u *unit) dropAudience(name string) error {
	aud, err := u.tx.Timer(0, audienceKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return u.tx.DeleteTimer(0, aud.Key, aud.Version)
}

// bcGroup is the friends of a chunk whose rendered messages are the same.
type bcGroup struct {
	msgs                []stepcast.Message
	to                  []stepcast.Recipient
	experiment, variant string // an A/B broadcast's test: the variant the group gets
}

// planChunk plans the next BroadcastChunk friends of the audience after
// the cursor: reads their records, skips those who do not follow or whose
// messages do not render, groups the rest by their rendered messages
// (byte for byte) and queues each group as multicasts of up to 500 — a
// group of one as a push —, keyed "broadcast/<name>/<chunk>/<n>". It
// reports whether the audience is through.
func (u *unit) planChunk(st *broadcastState, tpl *render.Template, audience *roaring.Bitmap, ab *bcExperiment) (bool, error) {
	b := &st.Broadcast
	it := audience.Iterator()
	if st.Cursor > 0 {
		it.AdvanceIfNeeded(st.Cursor + 1)
	}
	ids := make([]stepcast.FriendID, 0, BroadcastChunk)
	for len(ids) < BroadcastChunk && it.HasNext() {
		ids = append(ids, stepcast.FriendID(it.Next()))
	}
	if len(ids) == 0 {
		return true, nil
	}
	var order []*bcGroup
	groups := map[string]*bcGroup{}
	static := tpl.Static()
	var key []byte
	skip := func(reason string) {
		if st.Skipped == nil {
			st.Skipped = map[string]int{}
		}
		st.Skipped[reason]++
	}
	seen := 0
	err := friendsOf(u.tx, ids, func(f *store.Friend) error {
		seen++
		if ab != nil && ab.later(f) {
			return nil // the other pass's: counted there, skipped or not
		}
		if !f.Following || f.User == "" {
			skip(skipNotFollowing)
			return nil
		}
		tpl, static, exp, variant := tpl, static, "", ""
		key = key[:0]
		if ab != nil {
			t, x, v, reason, err := ab.choose(u, f)
			switch {
			case err != nil:
				return err
			case reason != "":
				skip(reason)
				return nil
			}
			tpl, static, exp, variant = t, t.Static(), x, v
			key = append(append(key, v...), 0) // a group is of one variant
		}
		var msgs []stepcast.Message
		if !static {
			var s *render.Skip
			msgs, s = tpl.Render(render.Friend{Fields: f.Fields, DisplayName: f.DisplayName})
			if s != nil {
				skip(s.Key())
				return nil
			}
			for _, m := range msgs {
				key = append(key, m...)
				key = append(key, 0) // JSON holds no raw NUL
			}
		}
		if exp != "" { // the friend gets the variant: recorded, counted
			if _, _, err := u.audienceVariant(ab.x, f, ab.tally); err != nil {
				return err
			}
		}
		g := groups[string(key)]
		if g == nil {
			if static {
				msgs, _ = tpl.Render(render.Friend{})
			}
			g = &bcGroup{msgs: msgs, experiment: exp, variant: variant}
			groups[string(key)] = g
			order = append(order, g)
		}
		g.to = append(g.to, stepcast.Recipient{Friend: f.ID, User: f.User})
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("engine: %s: broadcast %q: %w", u.what(), b.Name, err)
	}
	if ab != nil {
		if err := u.flushRecipients(ab.x, ab.tally); err != nil {
			return false, err
		}
	}
	if missing := len(ids) - seen; missing > 0 && !st.Rest {
		// Not in the store (erased since the index heard of them);
		// counted in an A/B broadcast's first pass only, which reads the
		// whole audience as the rest pass does.
		if st.Skipped == nil {
			st.Skipped = map[string]int{}
		}
		st.Skipped[skipUnknown] += missing
	}
	chunk := st.Chunks + 1
	dkey := []byte(broadcastKey(b.Name) + "/" + strconv.Itoa(chunk) + "/")
	prefix := len(dkey)
	cause := broadcastCause(b.Name).Key()
	n := 0
	for _, g := range order {
		for from := 0; from < len(g.to); from += stepcast.MaxMulticastTargets {
			to := g.to[from:min(from+stepcast.MaxMulticastTargets, len(g.to))]
			n++
			dkey = strconv.AppendInt(dkey[:prefix], int64(n), 10)
			if err := u.queueBroadcast(st, string(dkey), cause, chunk, g, to); err != nil {
				return false, err
			}
		}
	}
	st.Chunks, st.Cursor = chunk, uint32(ids[len(ids)-1])
	return !it.HasNext(), nil
}

// retryKeyOf is uuidFrom(account + "\x00" + key), the retry key every
// delivery gets from its key, without building that string on the heap
// for the keys that fit a buffer on the stack.
func retryKeyOf(account store.AccountID, key string) string {
	var buf [256]byte
	if len(account)+1+len(key) > len(buf) {
		return uuidFrom(string(account) + "\x00" + key)
	}
	b := append(append(append(buf[:0], account...), 0), key...)
	return uuidFromBytes(b)
}

// queueBroadcast queues one request of a broadcast's chunk: a multicast
// to to, or a push when to is one friend — LINE takes pushes at 2,000
// requests a second and multicasts at 200, and a push is kept in order
// with the friend's other pushes by the dispatcher (a scenario's step
// queued before it goes first); both count one message per recipient.
func (u *unit) queueBroadcast(st *broadcastState, key, cause string, chunk int, g *bcGroup, to []stepcast.Recipient) error {
	b := &st.Broadcast
	d := stepcast.Delivery{Kind: stepcast.DeliveryMulticast, To: to, Messages: g.msgs, Experiment: g.experiment, Variant: g.variant,
		NotificationDisabled: b.NotificationDisabled, AggregationUnit: b.AggregationUnit,
		Cause:    stepcast.Cause{Kind: stepcast.CauseBroadcast, Name: b.Name, Step: chunk, Unit: u.id},
		Priority: b.Priority}
	if d.Priority == 0 {
		d.Priority = BroadcastPriority
	}
	if len(to) == 1 {
		d.Kind = stepcast.DeliveryPush
	}
	if err := d.ValidateChecked(); err != nil { // render checked the messages
		return fmt.Errorf("engine: %s: broadcast %q: %w", u.what(), b.Name, err)
	}
	body, err := json.Marshal(d)
	if err != nil {
		return err
	}
	row := store.Delivery{Key: key, Kind: d.Kind, Payload: body, Cause: cause, Priority: d.Priority,
		NextAt: u.at, CreatedAt: u.at, RetryKey: retryKeyOf(u.a.id, key),
		Friends: make([]stepcast.FriendID, len(to))}
	for i, r := range to {
		row.Friends[i] = r.Friend
	}
	if _, err := u.tx.Enqueue(row); err != nil {
		if errors.Is(err, store.ErrDuplicate) {
			return nil // queued before under this key: the same chunk, committed
		}
		return fmt.Errorf("engine: %s: broadcast %q: %w", u.what(), b.Name, err)
	}
	st.Deliveries++
	st.Planned += len(to)
	if d.Kind == stepcast.DeliveryPush {
		st.Pushes++
	}
	return nil
}

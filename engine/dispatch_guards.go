package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// Guards at dispatch: each leased batch, once ordered, is judged before
// its deliveries go to the workers — one read of the recipients' zones
// and send logs for the whole batch, then a verdict per delivery, in
// queue order per friend, counting what this dispatch has decided to
// send and not yet recorded.

// Why a guard held back, gave up or split a delivery: the beginnings of
// its Error (deferred, dropped, refused) or Reason (skipped, split).
const (
	ReasonQuietHours = "deferred: quiet hours"
	ReasonCapDefer   = "deferred: frequency cap"
	ReasonCapDrop    = "dropped: frequency cap"
	ReasonCapSkip    = "skipped: frequency cap"
	ReasonSplit      = "split by the dispatch guards"
	ReasonOverQuota  = "not sent: the month's remaining message quota cannot cover it"
	// ReasonQuotaRefused is the Error of a delivery held back without a
	// request, as LINE refused one costing no more within QuotaPause.
	ReasonQuotaRefused = "not tried: LINE refused a delivery costing no more for the monthly message quota"
)

// quotaSender is a Sender that reads the month's message quota: the
// engine's QuotaReader (lineadapter.Sender), whose limit is negative for
// none. The quota guard uses it when Config.Sender has it.
type quotaSender interface {
	MessageQuota(ctx context.Context) (limit, used int64, err error)
}

// quotaCache is an account's last reading of its remaining quota, less
// what was decided since: the guard reads LINE at most every
// Config.QuotaRefresh.
type quotaCache struct {
	mu        sync.Mutex
	read      time.Time // zero: never read
	remaining int64

	// LINE's last refusal for the quota, and the least cost it refused
	// since: see refusedFloor.
	refusedAt   time.Time
	refusedCost int64
}

// verdictKind is what a guard decided for a delivery or a recipient.
type verdictKind uint8

const (
	vSend verdictKind = iota
	vDefer
	vDrop
	vSkip
)

type verdict struct {
	kind verdictKind
	at   time.Time // vDefer: due again then
	why  string
}

// guards is one Dispatch's guard state.
type guards struct {
	g    *Guards
	loc  *time.Location // the account's zone
	keep time.Duration  // how far back the send logs go

	mu   sync.Mutex
	pend map[stepcast.FriendID][]pendSend // decided to send, outcome not yet recorded
}

type pendSend struct {
	id uint64 // the delivery
	sendEntry
}

func newGuards(c *compiled) *guards {
	g := &c.defs.Guards
	return &guards{g: g, loc: c.schema.Location(), keep: sendLogKeep(g), pend: map[stepcast.FriendID][]pendSend{}}
}

// causeKind is the kind of a delivery's cause key ("scenario:trial").
func causeKind(dl store.Delivery) stepcast.CauseKind {
	k, _, _ := strings.Cut(dl.Cause, ":")
	return stepcast.CauseKind(k)
}

// guarded reports whether the guards judge dl: a message delivery other
// than a reply or a test send, never attempted (see Guards).
func guarded(dl store.Delivery) bool {
	if dl.Attempts != 1 || causeKind(dl) == stepcast.CauseTest {
		return false
	}
	switch dl.Kind {
	case stepcast.DeliveryPush, stepcast.DeliveryMulticast, stepcast.DeliveryNarrowcast, stepcast.DeliveryBroadcast:
		return true
	}
	return false
}

// capped reports whether a send of dl counts against some cap.
func (gs *guards) counted(dl store.Delivery) bool {
	if len(gs.g.Caps) == 0 || len(dl.Friends) == 0 || (dl.Kind != stepcast.DeliveryPush && dl.Kind != stepcast.DeliveryMulticast) {
		return false
	}
	k := causeKind(dl)
	for i := range gs.g.Caps {
		if gs.g.Caps[i].counts(k) {
			return true
		}
	}
	return false
}

// recipientInfo is what the guards read of a recipient.
type recipientInfo struct {
	loc  *time.Location
	sent []sendEntry
	pend []pendSend // this dispatch's sends decided and not yet recorded, as of the read
}

// readRecipients reads the zones (for quiet hours and caps per local
// day) and send logs (for caps) of the guarded deliveries' recipients.
func (gs *guards) readRecipients(a *Account, tx store.ReadTx, groups [][]store.Delivery) (map[stepcast.FriendID]*recipientInfo, error) {
	needZone := gs.g.QuietHours != nil
	needLog := len(gs.g.Caps) > 0
	for _, c := range gs.g.Caps {
		needZone = needZone || c.Window == 0
	}
	info := map[stepcast.FriendID]*recipientInfo{}
	for _, g := range groups {
		for _, dl := range g {
			if !guarded(dl) {
				continue
			}
			for _, f := range dl.Friends {
				if info[f] != nil {
					continue
				}
				ri := &recipientInfo{loc: gs.loc}
				info[f] = ri
				if needZone {
					fr, err := tx.Friend(f)
					if err == nil && fr.TimeZone != "" {
						ri.loc = a.friendZone(fr.TimeZone, f, gs.loc)
					}
				}
				if needLog {
					sent, _, err := readSendLog(tx, f)
					if err != nil {
						return nil, err
					}
					ri.sent = sent
					ri.pend = slices.Clone(gs.pend[f])
				}
			}
		}
	}
	return info, nil
}

// quiet is the quiet hours' verdict at now in loc.
func (gs *guards) quiet(now time.Time, loc *time.Location, priority int) (verdict, bool) {
	q := gs.g.QuietHours
	if q == nil || (q.ExemptPriority > 0 && priority >= q.ExemptPriority) {
		return verdict{}, false
	}
	local := now.In(loc)
	if !q.contains(local.Hour()*60 + local.Minute()) {
		return verdict{}, false
	}
	end := q.end(now, loc)
	return verdict{kind: vDefer, at: end, why: fmt.Sprintf("%s %s–%s (%s): due at %s", ReasonQuietHours, q.Start, q.End, loc,
		end.In(loc).Format("2006-01-02 15:04 MST"))}, true
}

// end is when the window that holds now (in loc) ends: End's wall time
// as stepcast.LocalTime reads it (a time skipped by a jump forward moves
// on by the jump), the first such instant after now. Where clocks go back
// over End it reads twice, and now may lie within the repeated hour past
// its first reading: the window ends at the second, not a day later.
func (q QuietHours) end(now time.Time, loc *time.Location) time.Time {
	y, m, d := now.In(loc).Date()
	end := stepcast.LocalTime(y, m, d, q.End.Hour, q.End.Minute, 0, 0, loc)
	if end.After(now) {
		return end
	}
	if _, next := end.ZoneBounds(); !next.IsZero() {
		// End's reading under the offset in force after end's.
		_, off := next.Zone()
		wall := time.Date(y, m, d, q.End.Hour, q.End.Minute, 0, 0, time.UTC)
		if late := wall.Add(-time.Duration(off) * time.Second).In(loc); late.After(now) && late.Hour() == q.End.Hour && late.Minute() == q.End.Minute {
			return late
		}
	}
	return stepcast.LocalTime(y, m, d+1, q.End.Hour, q.End.Minute, 0, 0, loc)
}

// capVerdict is the caps' verdict on one more message of kind k and
// priority to a friend who was sent sent (ascending), at now in loc.
func (gs *guards) capVerdict(now time.Time, loc *time.Location, sent []sendEntry, pend []pendSend, k stepcast.CauseKind, priority int) (verdict, bool) {
	for i := range gs.g.Caps {
		c := &gs.g.Caps[i]
		if !c.counts(k) || (c.ExemptPriority > 0 && priority >= c.ExemptPriority) {
			continue
		}
		var from time.Time
		var period string
		if c.Window == 0 {
			from = stepcast.StartOfDay(now, loc)
			period = "per local day in " + loc.String()
		} else {
			from = now.Add(-c.Window)
			period = "per " + c.Window.String()
		}
		var times []int64
		for _, e := range sent {
			if c.counts(e.kind) && e.at >= from.Unix() && (c.Window == 0 || e.at > from.Unix()) {
				times = append(times, e.at)
			}
		}
		for _, p := range pend {
			if c.counts(p.kind) {
				times = append(times, p.at)
			}
		}
		if len(times) < c.Max {
			continue
		}
		var free time.Time
		if c.Window == 0 {
			y, m, d := now.In(loc).Date()
			free = stepcast.DayStart(y, m, d+1, loc)
		} else {
			slices.Sort(times)
			free = time.Unix(times[len(times)-c.Max], 0).Add(c.Window)
			if !free.After(now) {
				free = now.Add(time.Second)
			}
		}
		what := fmt.Sprintf("%s (%d %s) reached", stepcast.Quote(c.label(i)), c.Max, period)
		switch c.policy(k) {
		case CapDrop:
			return verdict{kind: vDrop, why: fmt.Sprintf("%s %s: not sent", ReasonCapDrop, what)}, true
		case CapSkip:
			return verdict{kind: vSkip, why: fmt.Sprintf("%s %s: passed over", ReasonCapSkip, what)}, true
		default:
			return verdict{kind: vDefer, at: free, why: fmt.Sprintf("%s %s: due at %s", ReasonCapDefer, what, free.In(loc).Format("2006-01-02 15:04 MST"))}, true
		}
	}
	return verdict{}, false
}

// recipientVerdict is the guards' verdict on friend f's copy of dl.
func (gs *guards) recipientVerdict(dl store.Delivery, f stepcast.FriendID, ri *recipientInfo, now time.Time) verdict {
	if v, ok := gs.quiet(now, ri.loc, dl.Priority); ok {
		return v
	}
	if v, ok := gs.capVerdict(now, ri.loc, ri.sent, ri.pend, causeKind(dl), dl.Priority); ok {
		return v
	}
	return verdict{}
}

// decided notes that dl is to be sent: its recipients' counts include it
// until its outcome is recorded (settled), in info too for the rest of
// the batch.
func (gs *guards) decided(dl store.Delivery, info map[stepcast.FriendID]*recipientInfo, now time.Time) {
	if !gs.counted(dl) {
		return
	}
	e := pendSend{id: dl.ID, sendEntry: sendEntry{at: now.Unix(), kind: causeKind(dl)}}
	gs.mu.Lock()
	defer gs.mu.Unlock()
	for _, f := range dl.Friends {
		gs.pend[f] = append(gs.pend[f], e)
		if ri := info[f]; ri != nil {
			ri.pend = append(ri.pend, e)
		}
	}
}

// settled forgets dl's pending sends, once its outcome is recorded.
func (gs *guards) settled(dl store.Delivery) {
	if !gs.counted(dl) {
		return
	}
	gs.mu.Lock()
	defer gs.mu.Unlock()
	gs.forget(dl)
}

// forget is settled with gs.mu held.
func (gs *guards) forget(dl store.Delivery) {
	for _, f := range dl.Friends {
		p := slices.DeleteFunc(gs.pend[f], func(p pendSend) bool { return p.id == dl.ID })
		if len(p) == 0 {
			delete(gs.pend, f)
		} else {
			gs.pend[f] = p
		}
	}
}

// part is the recipients of a multicast that a split puts in a delivery
// of their own.
type part struct {
	suffix  string
	friends []stepcast.FriendID
	v       verdict
}

// judge applies the guards to the ordered groups of a leased batch: it
// returns the groups to send, having finished (deferred, dropped,
// skipped, split) the rest. A group is one friend's deliveries in queue
// order, judged in that order, each counting those before it that go.
func (d *dispatch) judge(groups [][]store.Delivery) ([][]store.Delivery, error) {
	gs := d.guards
	now := d.a.e.cfg.Now()
	judged := false
	for _, g := range groups {
		for _, dl := range g {
			judged = judged || guarded(dl)
		}
	}
	if !judged {
		return d.quotaCheck(groups, now), nil
	}
	var info map[stepcast.FriendID]*recipientInfo
	if gs.g.QuietHours != nil || len(gs.g.Caps) > 0 {
		// Under gs.mu, which the recorder holds from the commit that logs
		// sends until it forgets them as pending: each send is counted
		// once, from the log or as pending, never both nor neither.
		gs.mu.Lock()
		err := d.a.e.cfg.Store.View(d.ctx, d.a.id, func(tx store.ReadTx) error {
			var err error
			info, err = gs.readRecipients(d.a, tx, groups)
			return err
		})
		gs.mu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("reading the recipients' zones and send logs: %w", err)
		}
	}
	out := groups[:0]
	for _, g := range groups {
		var send []store.Delivery
		for _, dl := range g {
			v, parts := d.verdict(dl, info, now)
			if parts != nil {
				d.split(dl, parts, now)
				continue
			}
			switch v.kind {
			case vSend:
				gs.decided(dl, info, now)
				send = append(send, dl)
				continue
			case vDrop:
				d.finish(dl, store.Outcome{Status: store.Failed, Error: clip(v.why, stepcast.MaxTextLen), At: now}, DispatchReport{Dropped: 1})
				continue
			case vSkip:
				d.finish(dl, store.Outcome{Status: store.Cancelled, Reason: clip(v.why, stepcast.MaxTextLen), At: now}, DispatchReport{Skipped: 1})
				continue
			}
			// Deferred: the friend's later deliveries do not wait behind it
			// (see guardDeferred).
			d.finish(dl, store.Outcome{Status: store.Pending, Untried: true, Error: clip(v.why, stepcast.MaxTextLen), At: now, NextAt: v.at}, DispatchReport{Deferred: 1})
		}
		if len(send) > 0 {
			out = append(out, send)
		}
	}
	return d.quotaCheck(out, now), nil
}

// verdict is the guards' verdict on dl as a whole, or the parts to split
// a multicast into when its recipients' verdicts differ.
func (d *dispatch) verdict(dl store.Delivery, info map[stepcast.FriendID]*recipientInfo, now time.Time) (verdict, []part) {
	gs := d.guards
	if !guarded(dl) {
		return verdict{}, nil
	}
	if len(dl.Friends) == 0 {
		// A narrowcast or broadcast: LINE picks the recipients; the
		// account's zone stands for theirs.
		v, _ := gs.quiet(now, gs.loc, dl.Priority)
		return v, nil
	}
	if info == nil {
		return verdict{}, nil
	}
	if len(dl.Friends) == 1 {
		return gs.recipientVerdict(dl, dl.Friends[0], info[dl.Friends[0]], now), nil
	}
	var parts [4]part
	parts[vSend].suffix, parts[vDefer].suffix, parts[vDrop].suffix, parts[vSkip].suffix = "go", splitDeferred, "dropped", "skipped"
	for _, f := range dl.Friends {
		v := gs.recipientVerdict(dl, f, info[f], now)
		p := &parts[v.kind]
		p.friends = append(p.friends, f)
		if len(p.friends) == 1 || (v.kind == vDefer && v.at.Before(p.v.at)) {
			p.v = v
		}
	}
	for k := range parts {
		if len(parts[k].friends) == len(dl.Friends) {
			return parts[k].v, nil
		}
	}
	var out []part
	for _, p := range parts {
		if len(p.friends) > 0 {
			out = append(out, p)
		}
	}
	return verdict{}, out
}

// splitDeferred ends the key of a split's deferred part.
const splitDeferred = "deferred"

// splitKey is the key of a part of the delivery queued under key.
func splitKey(key, suffix string) string {
	if k := key + "/" + suffix; len(k) <= stepcast.MaxIDLen {
		return k
	}
	return "split/" + uuidFrom(key) + "/" + suffix
}

// split replaces multicast dl, never attempted, by one delivery per part,
// each with its recipients, a key of its own and a retry key of its own
// (another recipient list is another request), in one commit: dl is
// cancelled with ReasonSplit. The part to send is due at once (this
// dispatch leases it next), a deferred part when its earliest recipient
// may have it, a dropped or skipped part at once — judged again then,
// and given up as a whole.
func (d *dispatch) split(dl store.Delivery, parts []part, now time.Time) {
	var msg stepcast.Delivery
	if err := json.Unmarshal(dl.Payload, &msg); err != nil {
		d.finish(dl, store.Outcome{Status: store.Failed, Error: "the payload is not a delivery: " + err.Error(), At: now}, DispatchReport{Failed: 1})
		return
	}
	users := make(map[stepcast.FriendID]stepcast.Recipient, len(msg.To))
	for _, r := range msg.To {
		users[r.Friend] = r
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s into", ReasonSplit)
	err := d.update(func(tx store.Tx) error {
		for i, p := range parts {
			m := msg
			m.To = make([]stepcast.Recipient, 0, len(p.friends))
			for _, f := range p.friends {
				m.To = append(m.To, users[f])
			}
			if len(m.To) == 1 {
				m.Kind = stepcast.DeliveryPush
			}
			body, err := json.Marshal(m)
			if err != nil {
				return err
			}
			key := splitKey(dl.Key, p.suffix)
			due := now
			if p.v.kind == vDefer {
				due = p.v.at
			}
			row := store.Delivery{Key: key, Kind: m.Kind, RetryKey: uuidFrom(string(d.a.id) + "\x00" + key), Payload: body,
				Cause: dl.Cause, Friends: p.friends, Priority: dl.Priority, NextAt: due, CreatedAt: now}
			if _, err := tx.Enqueue(row); err != nil {
				return fmt.Errorf("part %s: %w", stepcast.Quote(key), err)
			}
			if i > 0 {
				b.WriteByte(';')
			}
			fmt.Fprintf(&b, " %s (%d recipients", stepcast.Quote(key), len(p.friends))
			if p.v.why != "" {
				b.WriteString(": ")
				b.WriteString(p.v.why)
			}
			b.WriteByte(')')
		}
		return tx.FinishDelivery(dl.ID, d.a.e.cfg.Holder, store.Outcome{Status: store.Cancelled, Reason: clip(b.String(), stepcast.MaxTextLen), At: now})
	})
	d.settle(dl, err, DispatchReport{Split: 1})
}

// quotaCost is what dl counts against the month's quota at most: a
// message per recipient of a push or multicast; a narrowcast's or
// broadcast's audience is LINE's to count, so the guard asks for one
// left; replies and rich menu requests cost nothing.
func quotaCost(dl store.Delivery) int64 {
	switch dl.Kind {
	case stepcast.DeliveryPush, stepcast.DeliveryMulticast:
		return int64(len(dl.Friends))
	case stepcast.DeliveryNarrowcast, stepcast.DeliveryBroadcast:
		return 1
	}
	return 0
}

// refusalCost is quotaCost for LINE's refusals: a narrowcast's or
// broadcast's audience, unknown, is taken as larger than any push, so
// that one refused holds back other audience sends but not pushes.
func refusalCost(dl store.Delivery) int64 {
	switch dl.Kind {
	case stepcast.DeliveryNarrowcast, stepcast.DeliveryBroadcast:
		return math.MaxInt64
	}
	return quotaCost(dl)
}

// overQuotaWhy is the Error of a delivery held for the quota.
func overQuotaWhy(dl store.Delivery, left int64) string {
	if dl.Kind == stepcast.DeliveryNarrowcast || dl.Kind == stepcast.DeliveryBroadcast {
		return fmt.Sprintf("%s: a %s to an audience LINE counts, %d messages left this month (Guards.SendOverQuota sends anyway)", ReasonOverQuota, dl.Kind, left)
	}
	return fmt.Sprintf("%s: %d recipients, %d messages left this month (Guards.SendOverQuota sends anyway)", ReasonOverQuota, len(dl.Friends), left)
}

// holdForQuota puts dl back, pending, due after Config.QuotaPause, with
// why, counted OverQuota; untried says no request was made.
func (d *dispatch) holdForQuota(dl store.Delivery, why string, untried bool, now time.Time) time.Time {
	at := now.Add(d.a.e.cfg.QuotaPause)
	d.quotaHeld.Add(1)
	d.finish(dl, store.Outcome{Status: store.Pending, Untried: untried, Error: clip(why, stepcast.MaxTextLen), At: now, NextAt: at}, DispatchReport{OverQuota: 1})
	return at
}

// refused notes LINE's refusal of dl for the monthly quota: for
// Config.QuotaPause, deliveries costing at least as much are held back
// without a request (refusedFloor), and the guard reads the quota again.
func (a *Account) refused(dl store.Delivery, now time.Time) {
	q := &a.quota
	q.mu.Lock()
	defer q.mu.Unlock()
	c := refusalCost(dl)
	if q.refusedAt.IsZero() || now.Sub(q.refusedAt) >= a.e.cfg.QuotaPause || c < q.refusedCost {
		q.refusedCost = c
	}
	q.refusedAt = now
	q.read = time.Time{}
}

// refusedFloor reports whether LINE refused, within Config.QuotaPause
// before now, a delivery costing no more than dl: dl would be refused too.
func (a *Account) refusedFloor(dl store.Delivery, now time.Time) bool {
	c := refusalCost(dl)
	if c == 0 {
		return false
	}
	q := &a.quota
	q.mu.Lock()
	defer q.mu.Unlock()
	return !q.refusedAt.IsZero() && now.Sub(q.refusedAt) < a.e.cfg.QuotaPause && c >= q.refusedCost
}

// quotaCheck is the quota guard: of the groups' deliveries never
// attempted, those the month's remaining quota, as last read, cannot
// cover are held back untried for Config.QuotaPause (ReasonOverQuota,
// counted OverQuota), each with the messages it needs and those left —
// and, to keep its friend's order, the costing deliveries after it in its
// group. The rest go: replies and rich menu requests, which cost nothing,
// and deliveries that fit what is left, so that one broadcast too large
// for the month holds up neither small pushes nor replies. It returns
// the groups to send.
func (d *dispatch) quotaCheck(groups [][]store.Delivery, now time.Time) [][]store.Delivery {
	qr, ok := d.a.e.cfg.Sender.(quotaSender)
	if !ok || d.guards.g.SendOverQuota {
		return groups
	}
	var total int64
	for _, g := range groups {
		for _, dl := range g {
			if dl.Attempts == 1 {
				total += quotaCost(dl)
			}
		}
	}
	if total == 0 {
		return groups
	}
	q := &d.a.quota
	q.mu.Lock()
	stale := q.read.IsZero() || now.Sub(q.read) >= d.a.e.cfg.QuotaRefresh
	if stale || (q.remaining < total && !now.Equal(q.read)) {
		rctx, cancel := context.WithTimeout(d.ctx, d.a.e.cfg.DispatchLease/2)
		limit, used, err := qr.MessageQuota(rctx)
		cancel()
		n := int64(math.MaxInt64)
		if limit >= 0 {
			n = max(0, limit-used)
		}
		if err != nil {
			q.mu.Unlock()
			// Unknown: send, and let LINE's own limit hold them back.
			d.a.e.log.Warn("dispatch: the quota guard could not read the remaining quota; sending unguarded", "account", d.a.id, "err", err)
			return groups
		}
		q.read, q.remaining = now, n
	}
	type held struct {
		dl  store.Delivery
		why string
	}
	var hold []held
	out := groups[:0]
	for _, g := range groups {
		var send []store.Delivery
		why := "" // set once one of g's is held: its costing followers wait too
		for _, dl := range g {
			c := quotaCost(dl)
			switch {
			case c == 0 || dl.Attempts != 1 && why == "":
				// Free, or a retry: LINE may have counted it already; its
				// retry key settles it.
				send = append(send, dl)
			case why == "" && c <= q.remaining:
				if dl.Kind == stepcast.DeliveryPush || dl.Kind == stepcast.DeliveryMulticast {
					q.remaining -= c
				}
				send = append(send, dl)
			case why == "":
				why = overQuotaWhy(dl, q.remaining)
				hold = append(hold, held{dl, why})
			default:
				hold = append(hold, held{dl, "not tried: an earlier delivery to its friend waits for the quota; " + why})
			}
		}
		if len(send) > 0 {
			out = append(out, send)
		}
	}
	q.mu.Unlock()
	for _, h := range hold {
		d.holdForQuota(h.dl, h.why, true, now)
	}
	return out
}

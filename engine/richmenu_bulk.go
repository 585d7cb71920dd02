package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// Rich menus for a segment: LinkRichMenu and UnlinkRichMenu evaluate a
// segment once and queue bulk requests of up to 500 friends each (LINE's
// limit), in transactions of bounded size, as one named operation whose
// deliveries are counted and cancelled by its cause, "rich_menu:<name>".
// SetDefaultRichMenu queues the account's default.

// RichMenuTxParts is how many bulk requests (of up to
// stepcast.MaxMulticastTargets friends each) one transaction of
// LinkRichMenu or UnlinkRichMenu queues: 10, 5,000 friends — a bounded
// transaction however large the segment.
const RichMenuTxParts = 10

// RichMenuPriority is the priority of every rich menu request the engine
// queues — the bulk ones of LinkRichMenu and UnlinkRichMenu, and those of
// link_rich_menu and unlink_rich_menu actions: below the 0 of pushes (and
// ReplyPriority), so that a switch for a whole segment — 2,000 requests
// for a million friends — does not hold up the messages decided while it
// is sent; and one priority for all of them, so that they are leased in
// the order decided (the oldest NextAt first) and a friend's later switch
// is not overtaken by an earlier one: LINE keeps the last it got. A unit's
// deliveries are dated at its event, so a late event's switch is leased
// before switches decided after it was ingested but dated later.
const RichMenuPriority = -10

// defaultOperation is the cause name of SetDefaultRichMenu, refused as the
// name of a segment's operation.
const defaultOperation = "default"

// RichMenuReport says what LinkRichMenu or UnlinkRichMenu did.
type RichMenuReport struct {
	Name     string                // the operation
	Cause    string                // its deliveries' cause key: "rich_menu:<name>"
	Kind     stepcast.DeliveryKind // rich_menu_bulk_link or rich_menu_bulk_unlink
	RichMenu string                // the menu linked; "" for an unlink
	// Segment is how many friends the segment held when evaluated (the
	// live index); 0 when an earlier call had finished the operation.
	Segment uint64
	// Friends and Deliveries are what this call queued: friends, and bulk
	// requests of up to 500 of them.
	Friends, Deliveries int
	// Skipped are the friends of the segment left out because their
	// record says they do not follow (LINE refuses them): the segment
	// asked for `blocked`, or they blocked since the index last heard.
	Skipped int
	// Earlier is how many deliveries earlier calls under the same name
	// had queued; Finished that one of them finished the operation, so
	// this call evaluated nothing and queued nothing.
	Earlier  int
	Finished bool
}

// LinkRichMenu links the rich menu menu to every following friend of the
// segment src as it stands now: it queues rich_menu_bulk_link deliveries
// (POST /v2/bot/richmenu/bulk/link) of up to stepcast.MaxMulticastTargets
// friends each, in ascending friend ID, RichMenuTxParts per transaction.
// The deliveries' cause is "rich_menu:<name>" (stepcast.CauseRichMenu):
// DeliveryProgress counts them and CancelDeliveries takes back those not
// yet sent. With RichMenuField in the schema, each friend's field is set
// to menu in the same transaction (one change per friend, which sets off
// no rules).
//
// name identifies the operation ("spring-members"): calling again with
// the same name never queues a friend twice under it. A call that stopped
// part way (ctx done, the store failing) is resumed by the next, from the
// friend after the last one queued; once a call has finished, later ones
// queue nothing and report Finished. Use a new name for a new switch.
//
// Errors wrap stepcast.ErrInvalid for a name that is not a name (or is
// "default"), a menu that is not a rich menu ID (stepcast.CheckRichMenuID),
// a segment that does not compile (a *segment.Error with its position), or
// a name used before for another menu or for an unlink. On any error the
// report says what was queued before it.
func (a *Account) LinkRichMenu(ctx context.Context, name, menu, src string) (RichMenuReport, error) {
	if err := stepcast.CheckRichMenuID("rich menu", menu); err != nil {
		return RichMenuReport{Name: name}, fmt.Errorf("engine: account %q: link rich menu: %w", a.id, err)
	}
	return a.bulkRichMenu(ctx, name, stepcast.DeliveryRichMenuBulkLink, menu, src)
}

// UnlinkRichMenu unlinks the per-user rich menu of every following friend
// of the segment src, who see the account's default menu again: it queues
// rich_menu_bulk_unlink deliveries (POST /v2/bot/richmenu/bulk/unlink) as
// LinkRichMenu queues links, under the same rules of names, causes and
// resumption, and unsets RichMenuField if the schema has it.
func (a *Account) UnlinkRichMenu(ctx context.Context, name, src string) (RichMenuReport, error) {
	return a.bulkRichMenu(ctx, name, stepcast.DeliveryRichMenuBulkUnlink, "", src)
}

// SetDefaultRichMenu queues a rich_menu_default delivery (POST
// /v2/bot/user/all/richmenu/{richMenuId}): menu becomes the menu of every
// friend without one of their own. Its cause is "rich_menu:default"; each
// call queues one delivery, keyed by the time of the call. It returns the
// delivery's outbox ID. A menu that is not a rich menu ID is
// stepcast.ErrInvalid.
func (a *Account) SetDefaultRichMenu(ctx context.Context, menu string) (uint64, error) {
	if err := stepcast.CheckRichMenuID("rich menu", menu); err != nil {
		return 0, fmt.Errorf("engine: account %q: set default rich menu: %w", a.id, err)
	}
	now := a.e.cfg.Now()
	d := stepcast.Delivery{Kind: stepcast.DeliveryRichMenuDefault, RichMenu: menu,
		Cause: stepcast.Cause{Kind: stepcast.CauseRichMenu, Name: defaultOperation}}
	body, err := json.Marshal(d)
	if err != nil {
		return 0, err
	}
	row := store.Delivery{Key: "rich_menu/default/" + strconv.FormatInt(now.UnixMicro(), 10) + "/" + menu,
		Kind: d.Kind, Payload: body, Cause: d.Cause.Key(), NextAt: now, CreatedAt: now}
	var id uint64
	err = a.e.st.Update(ctx, a.id, func(tx store.Tx) error {
		id, err = tx.Enqueue(row)
		if errors.Is(err, store.ErrDuplicate) { // the same instant, the same menu: already queued
			var old store.Delivery
			old, err = tx.DeliveryByKey(row.Key)
			id = old.ID
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("engine: account %q: set default rich menu: %w", a.id, err)
	}
	return id, nil
}

// richMenuOp is one bulk operation under way.
type richMenuOp struct {
	a     *Account
	name  string
	kind  stepcast.DeliveryKind
	menu  string
	cause stepcast.Cause
	field bool // record RichMenuField
	now   func() time.Time
}

// partKey is the outbox key of part n (from 1) of the operation. The last
// part is keyed endKey instead, by which a later call knows it finished.
func (o *richMenuOp) partKey(n int) string { return "rich_menu/" + o.name + "/" + strconv.Itoa(n) }

func (o *richMenuOp) endKey() string { return "rich_menu/" + o.name + "/end" }

func (a *Account) bulkRichMenu(ctx context.Context, name string, kind stepcast.DeliveryKind, menu, src string) (RichMenuReport, error) {
	cause := stepcast.Cause{Kind: stepcast.CauseRichMenu, Name: name}
	rep := RichMenuReport{Name: name, Cause: cause.Key(), Kind: kind, RichMenu: menu}
	fail := func(err error) (RichMenuReport, error) {
		return rep, fmt.Errorf("engine: account %q: rich menu operation %s: %w", a.id, stepcast.Quote(name), err)
	}
	if err := stepcast.CheckName("operation name", name); err != nil {
		return fail(err)
	}
	if name == defaultOperation {
		return fail(fmt.Errorf("%w: the name %q is SetDefaultRichMenu's", stepcast.ErrInvalid, name))
	}
	o := &richMenuOp{a: a, name: name, kind: kind, menu: menu, cause: cause, field: a.def.Load().richMenuField, now: a.e.cfg.Now}
	if err := stepcast.CheckText("delivery key", o.endKey(), stepcast.MaxIDLen); err != nil {
		return fail(fmt.Errorf("the name is too long to key the operation's deliveries: %w", err))
	}
	var p progress
	err := a.e.st.View(ctx, a.id, func(tx store.ReadTx) error {
		var err error
		p, err = o.progress(tx, 0)
		return err
	})
	rep.Earlier, rep.Finished = p.parts, p.done
	if p.done {
		rep.Earlier++ // the last part
	}
	if err != nil || p.done {
		if err != nil {
			return fail(err)
		}
		return rep, nil
	}
	seg, err := a.Compile(src)
	if err != nil {
		return fail(err)
	}
	bm, err := seg.Eval(a.index(), a.e.cfg.Now())
	if err != nil {
		return fail(err)
	}
	rep.Segment = bm.GetCardinality()
	for {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		var pg page
		var changes []store.Change
		run := func(tx store.Tx) error {
			var err error
			pg, changes, err = o.page(tx, bm, p.parts)
			return err
		}
		err := a.e.st.Update(ctx, a.id, run)
		for conflicts := 0; errors.Is(err, store.ErrConflict) && conflicts < maxConflictRetries; conflicts++ {
			err = a.e.st.Update(ctx, a.id, run) // lost a race for a friend: again, from what committed
		}
		if err != nil {
			return fail(err)
		}
		if len(changes) > 0 {
			if err := a.afterCommit(ctx, changes, nil); err != nil {
				a.e.log.Error("index update after commit", "account", a.id, "err", err) // the next CatchUp follows
			}
		}
		rep.Friends += pg.friends
		rep.Deliveries += pg.parts
		rep.Skipped += pg.skipped
		p.parts = pg.last
		if pg.stopped {
			return rep, nil // finished, here or by a call running alongside
		}
	}
}

// page is what one transaction of an operation queued.
type page struct {
	last    int // the operation's numbered parts after it
	parts   int // deliveries it queued
	friends int
	skipped int
	stopped bool // the operation is finished: nothing more to queue
}

// page queues, in tx, up to RichMenuTxParts parts of the operation: the
// segment bm's following friends after those already queued, 500 a part.
// A full part is queued only once another friend is known to follow it,
// so that the operation's last part is always keyed endKey. It returns
// the changes to RichMenuField it applied.
func (o *richMenuOp) page(tx store.Tx, bm *roaring.Bitmap, hint int) (page, []store.Change, error) {
	p, err := o.progress(tx, hint)
	pg := page{last: p.parts, stopped: p.done}
	if err != nil || p.done {
		return pg, nil, err
	}
	var changes []store.Change
	if o.field {
		changes = make([]store.Change, 0, RichMenuTxParts*stepcast.MaxMulticastTargets)
	}
	var part []stepcast.Recipient
	var stale []bool // per friend of part: RichMenuField is not what the operation makes it
	// Skips seen before the part's last friend, and after it: those after
	// belong to the next part, or to the next transaction if this one
	// stops before it.
	var skippedIn, skippedTail int
	flush := func(key string) error {
		d := stepcast.Delivery{Kind: o.kind, To: part, RichMenu: o.menu, Cause: o.cause, Priority: RichMenuPriority}
		d.Cause.Step = pg.last + 1
		if err := d.Validate(); err != nil {
			return err
		}
		body, err := json.Marshal(d)
		if err != nil {
			return err
		}
		now := o.now()
		row := store.Delivery{Key: key, Kind: d.Kind, Payload: body, Cause: d.Cause.Key(), Priority: d.Priority, NextAt: now, CreatedAt: now,
			Friends: make([]stepcast.FriendID, len(part))}
		for i, r := range part {
			row.Friends[i] = r.Friend
		}
		if _, err := tx.Enqueue(row); err != nil {
			return err
		}
		if o.field {
			c := store.Change{Kind: store.UnsetField, Name: RichMenuField, At: now}
			if o.kind == stepcast.DeliveryRichMenuBulkLink {
				c = store.Change{Kind: store.SetField, Name: RichMenuField, Value: stepcast.StringValue(o.menu), At: now}
			}
			from := len(changes)
			for i, r := range part {
				if stale[i] {
					c.Friend = r.Friend
					changes = append(changes, c)
				}
			}
			seqs, err := tx.Apply(changes[from:]...)
			if err != nil {
				return err
			}
			for i, seq := range seqs {
				changes[from+i].Seq = seq
			}
		}
		if key != o.endKey() {
			pg.last++
		}
		pg.parts++
		pg.friends += len(part)
		pg.skipped += skippedIn
		part, stale, skippedIn = part[:0:0], stale[:0], 0
		return nil
	}
	errFull := errors.New("page full")
	it := bm.Iterator()
	it.AdvanceIfNeeded(uint32(p.after) + 1)
	ids := make([]stepcast.FriendID, 0, pageSize)
	for it.HasNext() {
		ids = ids[:0]
		for len(ids) < pageSize && it.HasNext() {
			ids = append(ids, stepcast.FriendID(it.Next()))
		}
		err := friendsOf(tx, ids, func(f *store.Friend) error {
			if !f.Following || f.User == "" {
				skippedTail++
				return nil
			}
			if len(part) == stepcast.MaxMulticastTargets {
				if pg.parts == RichMenuTxParts {
					return errFull // f starts the next transaction's first part
				}
				if err := flush(o.partKey(pg.last + 1)); err != nil {
					return err
				}
			}
			part = append(part, stepcast.Recipient{Friend: f.ID, User: f.User})
			v, has := f.Fields[RichMenuField]
			if o.menu == "" {
				stale = append(stale, o.field && has)
			} else {
				stale = append(stale, o.field && !(has && v.Equal(stepcast.StringValue(o.menu))))
			}
			skippedIn += skippedTail
			skippedTail = 0
			return nil
		})
		if errors.Is(err, errFull) {
			return pg, changes, nil
		}
		if err != nil {
			return pg, changes, err
		}
	}
	// The segment is through: its last part, if any, ends the operation.
	pg.stopped = true
	skippedIn += skippedTail
	if len(part) > 0 {
		if err := flush(o.endKey()); err != nil {
			return pg, changes, err
		}
	}
	pg.skipped += skippedIn
	return pg, changes, nil
}

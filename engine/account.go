package engine

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/scoring"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
)

// Account is one LINE account served by an engine: its definitions, its
// live segment index and the entry points that act on its friends.
type Account struct {
	e  *Engine
	id store.AccountID

	// def is swapped whole by SetDefinitions; a unit of work loads it once.
	def atomic.Pointer[compiled]

	// mu orders index updates: the cursor and the index move together.
	// ix is swapped (under mu) when the schema changes; readers load it.
	mu  sync.Mutex
	ix  atomic.Pointer[segment.Index]
	cur Cursor

	old machines // old versions of scenarios, compiled

	quota quotaCache // the quota guard's reading

	badZoneLogged atomic.Bool // a friend's invalid zone was logged (friendZone)
}

func openAccount(ctx context.Context, e *Engine, id store.AccountID, c *compiled) (*Account, error) {
	a := &Account{e: e, id: id}
	if err := a.prepare(ctx, c); err != nil {
		return nil, err
	}
	ix, cur, err := a.load(ctx, c)
	if err != nil {
		return nil, err
	}
	a.def.Store(c)
	a.ix.Store(ix)
	a.cur = cur
	return a, nil
}

// prepare readies the store for definitions c before they take effect:
// scenario versions numbered and kept, memberships of old data migrated,
// the checks of relative start conditions scheduled.
func (a *Account) prepare(ctx context.Context, c *compiled) error {
	if err := a.versionScenarios(ctx, c); err != nil {
		return err
	}
	if err := a.migrateMemberships(ctx, c); err != nil {
		return fmt.Errorf("engine: account %q: migrating scenario memberships: %w", a.id, err)
	}
	return a.scheduleStartChecks(ctx, c)
}

// load builds an index for c's schema from the store.
func (a *Account) load(ctx context.Context, c *compiled) (*segment.Index, Cursor, error) {
	ix := segment.NewIndex(c.schema)
	cur, err := LoadIndex(ctx, a.e.st, a.id, ix)
	if errors.Is(err, ErrSkipped) {
		// The rest is loaded: serve it, and say what is left out.
		a.e.log.Error("index load", "account", a.id, "err", err)
	} else if err != nil {
		return nil, cur, fmt.Errorf("engine: account %q: %w", a.id, err)
	}
	ix.Compact()
	return ix, cur, nil
}

func (a *Account) index() *segment.Index { return a.ix.Load() }

// SetDefinitions switches the account to new definitions while it runs —
// a marketer edited a rule, added a field. Units of work already running
// finish on the old ones. When the schema is unchanged the index stays;
// otherwise a new index is built from the store first (as on AddAccount)
// and replaces the old one when ready — for a while both are in memory,
// and a changed saved segment counts as a schema change. Every problem in
// defs is reported, as by AddAccount, and changes nothing. Once the new
// definitions are in effect, a reminder whose step names, times or zone
// field were edited gets an account timer of kind DueReminderEdit, due at
// once: Tick then makes the goals pending in it due, a page of 1000 a
// unit of work, so that each is reconciled with the new steps. That costs
// SetDefinitions one write per reminder edited, whatever the number of
// friends; an error of it is returned, the definitions in effect all the
// same.
func (a *Account) SetDefinitions(ctx context.Context, defs Definitions) error {
	prev := a.def.Load()
	if err := a.setDefinitions(ctx, defs); err != nil {
		return err
	}
	return a.scheduleReminderEdits(ctx, prev, a.def.Load())
}

func (a *Account) setDefinitions(ctx context.Context, defs Definitions) error {
	c, err := compile(defs)
	if err != nil {
		return fmt.Errorf("engine: account %q: %w", a.id, err)
	}
	if old := a.def.Load(); sameSchema(old.schemaConfig, c.schemaConfig) {
		// Compiled again on the schema the index was built for, which
		// queries must match.
		if c, err = compileOn(defs, old.schema); err != nil {
			return fmt.Errorf("engine: account %q: %w", a.id, err)
		}
		if err := a.prepare(ctx, c); err != nil {
			return err
		}
		a.def.Store(c)
		return nil
	}
	if err := a.prepare(ctx, c); err != nil {
		return err
	}
	ix, cur, err := a.load(ctx, c)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	// Catch the new index up with what committed while it loaded.
	if cur, err = catchUp(ctx, a.e.st, a.id, ix, cur); errors.Is(err, ErrSkipped) {
		a.e.log.Error("index catch-up", "account", a.id, "err", err)
	} else if err != nil {
		return fmt.Errorf("engine: account %q: %w", a.id, err)
	}
	a.def.Store(c)
	a.ix.Store(ix)
	a.cur = cur
	return nil
}

// sameSchema reports whether two schema configurations, as compiled (the
// scoring model's scores and the journey events added), index the same
// things.
func sameSchema(x, y segment.SchemaConfig) bool {
	loc := func(l *time.Location) string {
		if l == nil {
			return ""
		}
		return l.String()
	}
	norm := func(c segment.SchemaConfig) segment.SchemaConfig {
		c.Scores = slices.Sorted(slices.Values(c.Scores))
		c.Location = nil
		if c.Events == nil {
			c.Events = segment.DefaultEvents
		}
		if len(c.Segments) == 0 {
			c.Segments = nil
		}
		return c
	}
	return loc(x.Location) == loc(y.Location) && reflect.DeepEqual(norm(x), norm(y))
}

// ID returns the account's ID.
func (a *Account) ID() store.AccountID { return a.id }

// Schema returns the account's compiled schema (its scoring scores included).
func (a *Account) Schema() *segment.Schema { return a.def.Load().schema }

// Definitions returns the definitions the account runs on.
func (a *Account) Definitions() Definitions { return a.def.Load().defs }

// CatchUp applies to the index what the store's logs hold beyond it —
// written by other engine instances sharing the store. Run calls it every
// PollInterval.
func (a *Account) CatchUp(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur, err := catchUp(ctx, a.e.st, a.id, a.index(), a.cur)
	a.cur = cur // catchUp returns how far it got, also on error
	return err
}

// Cursor returns how far the index has read the store's logs.
func (a *Account) Cursor() Cursor {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cur
}

// afterCommit brings the index up to a unit of work just committed: at
// once if nothing else was committed since the index last moved, else by
// catching up from the store.
func (a *Account) afterCommit(ctx context.Context, changes []store.Change, events []store.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur, ok, err := advance(a.index(), a.cur, changes, events)
	if ok {
		a.cur = cur
		if se, skipped := err.(*SkippedError); skipped {
			se.Account = a.id
		}
		return err
	}
	if err != nil {
		return err
	}
	cur, err = catchUp(ctx, a.e.st, a.id, a.index(), a.cur)
	a.cur = cur
	return err
}

// Compile compiles a segment expression against the account's schema.
func (a *Account) Compile(src string) (*segment.Segment, error) {
	return segment.Compile(src, a.def.Load().schema)
}

// Count returns the number of friends in the segment src now, from the
// live index.
func (a *Account) Count(src string) (uint64, error) {
	seg, err := a.Compile(src)
	if err != nil {
		return 0, err
	}
	return seg.Count(a.index(), a.e.cfg.Now())
}

// Evaluate returns the friends in the segment src now, from the live
// index, as a bitmap of friend IDs the caller owns.
func (a *Account) Evaluate(src string) (*roaring.Bitmap, error) {
	seg, err := a.Compile(src)
	if err != nil {
		return nil, err
	}
	return seg.Eval(a.index(), a.e.cfg.Now())
}

// Explain evaluates the segment src now on the live index and says how:
// each node of its plan with its count and whether it came from the index
// or a scan of candidates.
func (a *Account) Explain(src string) (*segment.Explanation, error) {
	seg, err := a.Compile(src)
	if err != nil {
		return nil, err
	}
	return seg.Explain(a.index(), a.e.cfg.Now())
}

// CrossTab counts now, on the live index, the friends in every combination
// of one segment from each axis (クロス分析: inflow route × gender, buyers ×
// score band). Build the axes' segments with Compile.
func (a *Account) CrossTab(axes ...segment.Axis) (*segment.Table, error) {
	return segment.CrossTab(a.index(), a.e.cfg.Now(), axes...)
}

// FriendView is everything known about one friend, for a friend page
// (友だち詳細): the stored record — follow status, tags, fields, lifetime
// scores, scenarios, variants —, each score's totals with where its points
// came from, the friend's latest events and due work.
type FriendView struct {
	store.Friend
	Scores map[string]ScoreView
	Recent []store.Event // the latest events, latest first (History pages further)
	Timers []store.Timer
}

// recentEvents is how many events a FriendView carries.
const recentEvents = 20

// ScoreView is one score of one friend.
type ScoreView struct {
	Lifetime int64
	Recent   float64 // the decayed total (直近); the lifetime one without decay
	// Ledger explains the points, oldest first: rule (or action), event,
	// time, points and what each still counts for in Recent.
	Ledger []scoring.Explained
}

// Friend returns friend id's view at now.
func (a *Account) Friend(ctx context.Context, id stepcast.FriendID) (FriendView, error) {
	return a.friendView(ctx, func(tx store.ReadTx) (store.Friend, error) { return tx.Friend(id) })
}

// FriendByUser returns the view of the friend with LINE userId user.
func (a *Account) FriendByUser(ctx context.Context, user stepcast.UserID) (FriendView, error) {
	return a.friendView(ctx, func(tx store.ReadTx) (store.Friend, error) { return tx.FriendByUser(user) })
}

func (a *Account) friendView(ctx context.Context, get func(store.ReadTx) (store.Friend, error)) (FriendView, error) {
	var v FriendView
	var state scoring.State
	err := a.e.st.View(ctx, a.id, func(tx store.ReadTx) error {
		f, err := get(tx)
		if err != nil {
			return err
		}
		v.Friend = f
		if v.Timers, err = tx.FriendTimers(f.ID); err != nil {
			return err
		}
		if v.Recent, err = tx.FriendEvents(f.ID, 0, recentEvents); err != nil {
			return err
		}
		state, _, err = readScoring(tx, f.ID)
		return err
	})
	if err != nil {
		return FriendView{}, fmt.Errorf("engine: friend view: %w", err)
	}
	if m := a.def.Load().model; m != nil {
		now := a.e.cfg.Now()
		v.Scores = map[string]ScoreView{}
		for name, t := range m.Totals(state, now) {
			v.Scores[name] = ScoreView{Lifetime: t.Lifetime, Recent: t.Recent, Ledger: m.Explain(state, name, now)}
		}
	}
	return v, nil
}

// History returns one page of a friend's events, latest first: up to limit
// events logged before the event with Seq before (0: the latest). Pass the
// last Seq of a page to get the next.
func (a *Account) History(ctx context.Context, id stepcast.FriendID, before uint64, limit int) ([]store.Event, error) {
	var out []store.Event
	err := a.e.st.View(ctx, a.id, func(tx store.ReadTx) error {
		var err error
		out, err = tx.FriendEvents(id, before, limit)
		return err
	})
	return out, err
}

package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
)

// The live index and the store's logs: LoadIndex rebuilds an index from a
// snapshot, catchUp applies what was committed since (by this engine or any
// other sharing the store), advance applies a unit of work just committed.

// Cursor is how far an index has read an account's logs: the last change
// Seq and the last event Seq applied.
type Cursor struct {
	Changes, Events uint64
}

// pageSize is how many friends, changes or events are read at a time.
const pageSize = 1000

// ErrSkipped is wrapped by the *SkippedError that LoadIndex and the
// index's catching up return when the index could not hold some records.
var ErrSkipped = errors.New("engine: the index left out records it cannot hold")

// SkippedError says which committed records an index left out — values it
// cannot hold, written by an older version or damaged. The index took
// every other record and its cursor moved past them: one bad record never
// stops it for good. Each is reported once, when it is read.
type SkippedError struct {
	Account store.AccountID
	Errs    []error // *segment.OpError, one per operation left out
}

func (e *SkippedError) Error() string {
	const show = 3
	var b strings.Builder
	fmt.Fprintf(&b, "engine: account %q: the index left out %d operations it cannot hold", e.Account, len(e.Errs))
	for i, err := range e.Errs {
		if i == show {
			fmt.Fprintf(&b, "; and %d more", len(e.Errs)-show)
			break
		}
		b.WriteString("; ")
		b.WriteString(err.Error())
	}
	return b.String()
}

// Unwrap returns ErrSkipped and the errors of the operations left out
// (each a *segment.OpError wrapping segment.ErrType or ErrUnknownField).
func (e *SkippedError) Unwrap() []error { return append([]error{ErrSkipped}, e.Errs...) }

// skips collects what an index left out while following a store.
type skips struct {
	mu   sync.Mutex
	errs []error
}

// apply applies b to ix, leaving out (and noting) what ix cannot hold.
func (s *skips) apply(ix *segment.Index, b *segment.Batch) {
	if errs := ix.ApplyValid(b); len(errs) > 0 {
		s.mu.Lock()
		s.errs = append(s.errs, errs...)
		s.mu.Unlock()
	}
}

// err returns a *SkippedError for account, or nil if nothing was left out.
func (s *skips) err(account store.AccountID) error {
	if len(s.errs) == 0 {
		return nil
	}
	return &SkippedError{Account: account, Errs: s.errs}
}

// LoadIndex fills ix, which must be empty, from one consistent snapshot of
// account in s: every friend's state and every recorded event (the index
// counts the kinds its schema declares). It returns the cursor of the
// snapshot, from which an Account catches up; Compact the index afterwards.
// An Account loads its own index; LoadIndex is for a host that wants an
// index of a store without an engine (a report, a rebuild to compare).
//
// With a store whose read transactions implement store.FriendScanner
// (boltstore), friends are decoded into reused records on the
// transaction's goroutine while another applies them to ix.
//
// Fields and scores the index's schema does not declare are skipped (the
// index could not use them). A stored value the index cannot hold (no
// longer fitting its field's type, damaged) is left out and the rest
// loaded: the error is then a *SkippedError (ErrSkipped) naming each, with
// the cursor and the index ready to use.
func LoadIndex(ctx context.Context, s store.Store, account store.AccountID, ix *segment.Index) (Cursor, error) {
	var cur Cursor
	var skipped skips
	err := s.View(ctx, account, func(tx store.ReadTx) error {
		var err error
		if cur.Changes, err = tx.LastSeq(); err != nil {
			return err
		}
		if err := loadFriends(tx, ix, &skipped); err != nil {
			return fmt.Errorf("engine: load index of %q: %w", account, err)
		}
		var b segment.Batch
		cur.Events, err = loadEvents(ctx, tx, ix, 0, &b, &skipped)
		return err
	})
	if err != nil {
		return cur, err
	}
	return cur, skipped.err(account)
}

// loadFriends applies every friend's state to ix.
func loadFriends(tx store.ReadTx, ix *segment.Index, skipped *skips) error {
	o := opsFor(ix.Schema())
	if sc, ok := tx.(store.FriendScanner); ok {
		return scanFriends(sc, ix, o, skipped)
	}
	var b segment.Batch // one for every page: its storage is reused
	return overlap(func(emit func([]store.Friend)) error {
		for after := stepcast.FriendID(0); ; {
			friends, err := tx.Friends(after, pageSize)
			if err != nil {
				return err
			}
			emit(friends)
			if len(friends) < pageSize {
				return nil
			}
			after = friends[len(friends)-1].ID
		}
	}, func(page []store.Friend) error {
		b.Reset()
		for _, f := range page {
			o.friend(&b, f)
		}
		skipped.apply(ix, &b)
		return nil
	}, nil)
}

// scanFriends is loadFriends for a backend that decodes friends into a
// reused record: the transaction's goroutine decodes them straight into
// index batches, which another applies. Three batches take turns.
func scanFriends(sc store.FriendScanner, ix *segment.Index, o ops, skipped *skips) error {
	free := make(chan *segment.Batch, 3)
	for range cap(free) {
		free <- new(segment.Batch)
	}
	return overlap(func(emit func(*segment.Batch)) error {
		for after := stepcast.FriendID(0); ; {
			b := <-free
			b.Reset()
			n, err := sc.ScanFriends(after, pageSize, func(f *store.Friend) error {
				o.friend(b, *f)
				after = f.ID
				return nil
			})
			if err != nil {
				return err
			}
			emit(b)
			if n < pageSize {
				return nil
			}
		}
	}, func(b *segment.Batch) error {
		defer func() { free <- b }()
		skipped.apply(ix, b)
		return nil
	}, func(b *segment.Batch) { free <- b })
}

// overlap runs produce on the calling goroutine — the one that owns the
// store transaction, which reads and decodes pages — and consume on
// another, so that decoding a page overlaps with applying the one before:
// each is about half of a rebuild. The first error of either is returned.
// After consume fails, the pages still produced go to discard (if not nil).
func overlap[T any](produce func(emit func(T)) error, consume func(T) error, discard func(T)) error {
	pages := make(chan T, 4)
	consumed := make(chan error, 1)
	go func() {
		var err error
		for page := range pages {
			switch {
			case err == nil:
				err = consume(page)
			case discard != nil:
				discard(page)
			}
		}
		consumed <- err
	}()
	err := produce(func(page T) { pages <- page })
	close(pages)
	if cerr := <-consumed; err == nil {
		err = cerr
	}
	return err
}

// catchUp applies to ix the changes and events recorded after cur — by this
// engine or by any other sharing the store — and returns the new cursor:
// how far it got, also on error.
func catchUp(ctx context.Context, s store.Store, account store.AccountID, ix *segment.Index, cur Cursor) (Cursor, error) {
	o := opsFor(ix.Schema())
	var skipped skips
	err := s.View(ctx, account, func(tx store.ReadTx) error {
		var b segment.Batch
		for {
			changes, err := tx.Changes(cur.Changes, pageSize)
			if err != nil {
				return err
			}
			b.Reset()
			for _, c := range changes {
				o.change(&b, c)
			}
			skipped.apply(ix, &b)
			if len(changes) > 0 {
				cur.Changes = changes[len(changes)-1].Seq
			}
			if len(changes) < pageSize {
				break
			}
		}
		var err error
		cur.Events, err = loadEvents(ctx, tx, ix, cur.Events, &b, &skipped)
		return err
	})
	if err != nil {
		return cur, err
	}
	return cur, skipped.err(account)
}

// advance applies to ix a unit of work the caller has just committed — its
// changes (with their Seqs) and events — if it directly follows cur, and
// returns the new cursor and true. If another writer committed in between
// (a gap in either log), it applies nothing and returns false: the caller
// runs catchUp, which reads both units from the store. It saves a read of
// what the caller already holds.
func advance(ix *segment.Index, cur Cursor, changes []store.Change, events []store.Event) (Cursor, bool, error) {
	next := cur
	for _, c := range changes {
		if c.Seq != next.Changes+1 {
			return cur, false, nil
		}
		next.Changes = c.Seq
	}
	for _, e := range events {
		if e.Seq != next.Events+1 {
			return cur, false, nil
		}
		next.Events = e.Seq
	}
	o := opsFor(ix.Schema())
	var b segment.Batch
	for _, c := range changes {
		o.change(&b, c)
	}
	for _, e := range events {
		b.RecordEvent(e.Friend, string(e.Kind), e.Name, e.Value, e.At)
	}
	if errs := ix.ApplyValid(&b); len(errs) > 0 {
		return next, true, &SkippedError{Errs: errs}
	}
	return next, true, nil
}

// loadEvents applies the events after after to ix, in pages, reusing b.
func loadEvents(ctx context.Context, tx store.ReadTx, ix *segment.Index, after uint64, b *segment.Batch, skipped *skips) (uint64, error) {
	for {
		if err := ctx.Err(); err != nil {
			return after, err
		}
		events, err := tx.Events(after, pageSize)
		if err != nil {
			return after, err
		}
		b.Reset()
		for _, e := range events {
			b.RecordEvent(e.Friend, string(e.Kind), e.Name, e.Value, e.At)
		}
		skipped.apply(ix, b)
		if len(events) > 0 {
			after = events[len(events)-1].Seq
		}
		if len(events) < pageSize {
			return after, nil
		}
	}
}

// ops turns store records into index operations for one schema.
type ops struct {
	fields, scores map[string]bool // what the schema declares
}

func opsFor(schema *segment.Schema) ops {
	o := ops{fields: map[string]bool{}, scores: map[string]bool{}}
	for _, f := range schema.Fields() {
		o.fields[f.Name] = true
	}
	for _, s := range schema.Scores() {
		o.scores[s] = true
	}
	return o
}

// friend adds the index operations that rebuild f's state.
func (o ops) friend(b *segment.Batch, f store.Friend) {
	fields, scores := o.fields, o.scores
	if !f.FollowedAt.IsZero() || f.Following {
		b.Follow(f.ID, f.FollowedAt)
	}
	if !f.Following {
		b.Unfollow(f.ID)
	}
	for _, t := range f.Tags {
		b.SetTag(f.ID, t)
	}
	for name, v := range f.Fields {
		if fields[name] {
			b.SetField(f.ID, name, v.Any())
		}
	}
	for name, n := range f.Scores {
		if scores[name] {
			b.SetScore(f.ID, name, n)
		}
	}
	for sc, step := range f.Scenarios {
		b.SetScenarioStep(f.ID, sc, step)
	}
	for exp, v := range f.Variants {
		b.SetVariant(f.ID, exp, v)
	}
}

// change adds the index operation of one change.
func (o ops) change(b *segment.Batch, c store.Change) {
	fields, scores := o.fields, o.scores
	switch c.Kind {
	case store.Follow:
		b.Follow(c.Friend, c.At)
	case store.Unfollow:
		b.Unfollow(c.Friend)
	case store.SetTag:
		b.SetTag(c.Friend, c.Name)
	case store.ClearTag:
		b.ClearTag(c.Friend, c.Name)
	case store.SetField:
		if fields[c.Name] {
			b.SetField(c.Friend, c.Name, c.Value.Any())
		}
	case store.UnsetField:
		if fields[c.Name] {
			b.UnsetField(c.Friend, c.Name)
		}
	case store.SetScore:
		if scores[c.Name] {
			b.SetScore(c.Friend, c.Name, c.Number)
		}
	case store.EnterStep:
		b.SetScenarioStep(c.Friend, c.Name, int(c.Number))
	case store.LeaveScenario:
		b.LeaveScenario(c.Friend, c.Name)
	case store.SetVariant:
		b.SetVariant(c.Friend, c.Name, c.Text)
	case store.ClearVariant:
		b.ClearVariant(c.Friend, c.Name)
	}
}

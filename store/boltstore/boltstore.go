// Package boltstore keeps stepcast's data in one embedded bbolt file:
// durable on every commit (bbolt syncs before Update returns), one writer at
// a time, readers on consistent snapshots. It is the default store for a
// host that runs one instance.
//
// # Layout
//
// A root bucket "stepcast" holds the key "format" (the on-disk format
// version) and one bucket per account, which holds: "friends" (ID, 4 bytes
// big-endian → binary record, see backend.AppendFriend), "users" (LINE userId →
// ID), "changes" (Seq, 8 bytes big-endian → JSON change), "events" (Seq →
// binary record) and
// "event-ids" (event ID → Seq), "friend-events" (friend ID and Seq → empty:
// each friend's history, since format 2), "timers" (friend ID and key → JSON timer)
// "due" (due time in Unix microseconds, friend ID and key → empty: the
// queue Lease walks in order; see timers.go), the outbox: "outbox" (ID →
// JSON delivery), "outbox-keys" (key → ID) and its indexes "outbox-queue",
// "outbox-status", "outbox-causes" and "outbox-friends" (since format 3,
// see outbox.go); "definitions" (kind, NUL, name → JSON definition);
// "tallies" (experiment, NUL, variant → JSON tally). Friend IDs and both
// sequences come from
// bbolt's per-bucket sequences, which roll back with the transaction, so
// IDs stay dense.
package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"strconv"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/backend"
)

// FormatVersion is the on-disk format this package writes and reads.
const FormatVersion = 3

// Errors returned by Open and OpenWith, each wrapped with the file's path.
var (
	// ErrFormat is returned for a file that is not a stepcast store: not a
	// bbolt file at all (random bytes, text, a truncated or damaged
	// file), a bbolt file of something else, or one written by a newer
	// version of this package.
	ErrFormat = errors.New("boltstore: unsupported file")

	// ErrLocked is returned when another process holds the file open for
	// writing and did not let go within Options.Timeout: bbolt allows one
	// writer process per file. Close the store there, or run several
	// instances on pgstore instead.
	ErrLocked = errors.New("boltstore: file in use by another process")
)

// DefaultTimeout is how long Open waits for another process's lock.
const DefaultTimeout = time.Second

var (
	rootBucket  = []byte("stepcast")
	formatKey   = []byte("format")
	friendsB    = []byte("friends")
	usersB      = []byte("users")
	changesB    = []byte("changes")
	eventsB     = []byte("events")
	eventIDsB   = []byte("event-ids")
	friendEvB   = []byte("friend-events")
	timersB     = []byte("timers")
	dueB        = []byte("due")
	outboxB     = []byte("outbox")
	outKeysB    = []byte("outbox-keys")
	outQueueB   = []byte("outbox-queue")
	outStatusB  = []byte("outbox-status")
	outCausesB  = []byte("outbox-causes")
	outFriendsB = []byte("outbox-friends")
	oldOutDueB  = []byte("outbox-due") // format 2's queue
	defsB       = []byte("definitions")
	talliesB    = []byte("tallies")
	subBuckets  = [][]byte{friendsB, usersB, changesB, eventsB, eventIDsB, friendEvB, timersB, dueB, outboxB, outKeysB,
		outQueueB, outStatusB, outCausesB, outFriendsB, defsB, talliesB}
)

// Store is a bbolt-backed store.
type Store struct {
	db   *bolt.DB
	path string
}

// The store and its transactions implement every aggregate's interface.
var (
	_ store.Store            = (*Store)(nil)
	_ store.FriendReader     = (*tx)(nil)
	_ store.FriendWriter     = (*tx)(nil)
	_ store.LogReader        = (*tx)(nil)
	_ store.LogWriter        = (*tx)(nil)
	_ store.TimerReader      = (*tx)(nil)
	_ store.TimerWriter      = (*tx)(nil)
	_ store.OutboxReader     = (*tx)(nil)
	_ store.OutboxWriter     = (*tx)(nil)
	_ store.DefinitionReader = (*tx)(nil)
	_ store.DefinitionWriter = (*tx)(nil)
	_ store.TallyReader      = (*tx)(nil)
	_ store.TallyWriter      = (*tx)(nil)
	_ store.Tx               = (*tx)(nil)
	_ store.FriendScanner    = (*tx)(nil)
)

// Options configure OpenWith. The zero value means Open's defaults.
type Options struct {
	// Timeout is how long to wait for another process to release the
	// file before failing with ErrLocked. Zero means DefaultTimeout; a
	// negative value tries once without waiting.
	Timeout time.Duration
}

// Open opens the store in the file at path, creating it if it does not
// exist; an empty file becomes a new store too. It waits up to
// DefaultTimeout for another process's lock on the file.
//
// Errors, each naming path: ErrFormat for a file that is not a stepcast
// store (wrapping bbolt's own error where it gave one); ErrLocked for a
// file another process holds — a second Open of the same file in one
// process fails the same way, since bbolt locks per open file; otherwise
// the operating system's error (fs.ErrNotExist for a missing folder,
// fs.ErrPermission).
func Open(path string) (*Store, error) { return OpenWith(path, Options{}) }

// OpenWith is Open with options.
func OpenWith(path string, o Options) (*Store, error) {
	timeout := o.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultTimeout
	case timeout < 0:
		timeout = time.Nanosecond // bbolt: one try, then ErrTimeout
	}
	if err := probe(path, timeout); err != nil {
		return nil, err
	}
	db, err := openBolt(path, &bolt.Options{Timeout: timeout})
	if err != nil {
		return nil, openError(path, err)
	}
	// Batch waits this long for concurrent units to share a commit:
	// short enough for a webhook's 2 s budget, long enough to share fsyncs.
	db.MaxBatchDelay = 2 * time.Millisecond
	s := &Store{db: db, path: path}
	if err := s.checkFormat(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// probe checks an existing, non-empty file before bbolt opens it for
// writing: opened read-only, bbolt reads no more than its two meta pages,
// so a file whose pages reach beyond its end (a truncated copy) is refused
// here — opened for writing, bbolt would read its free list from past the
// end and panic or fault.
func probe(path string, timeout time.Duration) error {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // Open creates it
	}
	if err != nil {
		return fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file", ErrFormat, path)
	}
	if info.Size() == 0 {
		return nil // bbolt makes an empty file a new database
	}
	db, err := openBolt(path, &bolt.Options{ReadOnly: true, Timeout: timeout})
	if err != nil {
		return openError(path, err)
	}
	defer db.Close()
	var need int64
	if err := db.View(func(tx *bolt.Tx) error { need = tx.Size(); return nil }); err != nil {
		return openError(path, err)
	}
	if need > info.Size() {
		return fmt.Errorf("%w: %s is truncated or damaged: its pages need %d bytes, the file has %d", ErrFormat, path, need, info.Size())
	}
	return nil
}

// openBolt is bolt.Open that turns a panic on a damaged file (a free list
// page that is none) into an error, unlocking and closing the file so that
// a later Open is not refused as locked. The memory mapping bbolt made
// stays, out of reach: a damaged file costs its size in address space.
func openBolt(path string, o *bolt.Options) (db *bolt.DB, err error) {
	var file *os.File
	o.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		file = f
		return f, err
	}
	defer func() {
		if r := recover(); r != nil {
			if file != nil { // bolt.Open did not get to close it
				unlock(file)
				file.Close()
			}
			db, err = nil, fmt.Errorf("%w: %s is damaged (bbolt: %v)", ErrFormat, path, r)
		}
	}()
	return bolt.Open(path, 0o600, o)
}

// openError classifies an error of bolt.Open.
func openError(path string, err error) error {
	var pathErr *fs.PathError
	var errno syscall.Errno
	switch {
	case errors.Is(err, ErrFormat):
		return err
	case errors.Is(err, bolterrors.ErrTimeout):
		return fmt.Errorf("%w: %s is locked; bbolt allows one writer process per file (close the other store, or use pgstore for several instances)", ErrLocked, path)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum), errors.Is(err, bolterrors.ErrVersionMismatch):
		return fmt.Errorf("%w: %s is not a bbolt file: %w", ErrFormat, path, err)
	case errors.As(err, &pathErr), errors.As(err, &errno):
		return fmt.Errorf("boltstore: open %s: %w", path, err)
	default:
		// bbolt's other refusals of a file's contents ("file size too
		// small") are plain errors.
		return fmt.Errorf("%w: %s is not a bbolt file: %w", ErrFormat, path, err)
	}
}

func (s *Store) checkFormat() (err error) {
	defer func() {
		// bbolt panics on some damaged pages; its Update rolls back
		// first, so the file can still be closed.
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s is damaged (bbolt: %v)", ErrFormat, s.path, r)
		}
	}()
	return s.db.Update(func(tx *bolt.Tx) error {
		root := tx.Bucket(rootBucket)
		if root == nil {
			empty := true
			tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
			if !empty {
				return fmt.Errorf("%w: %s is a bbolt file of something else (no %q bucket)", ErrFormat, s.path, rootBucket)
			}
			root, err := tx.CreateBucket(rootBucket)
			if err != nil {
				return err
			}
			return root.Put(formatKey, []byte(strconv.Itoa(FormatVersion)))
		}
		v, err := strconv.Atoi(string(root.Get(formatKey)))
		switch {
		case err != nil:
			return fmt.Errorf("%w: %s has no readable format version", ErrFormat, s.path)
		case v > FormatVersion:
			return fmt.Errorf("%w: %s is format %d; this version reads up to %d — upgrade stepcast", ErrFormat, s.path, v, FormatVersion)
		case v == FormatVersion:
			return nil
		}
		if v < 2 {
			if err := upgradeFriendEvents(root); err != nil {
				return fmt.Errorf("boltstore: upgrade %s to format 2: %w", s.path, err)
			}
		}
		if err := upgradeOutbox(tx); err != nil {
			return fmt.Errorf("boltstore: upgrade %s to format 3: %w", s.path, err)
		}
		return root.Put(formatKey, []byte(strconv.Itoa(FormatVersion)))
	})
}

// upgradeFriendEvents builds format 2's per-friend event index of every
// account from its event log.
func upgradeFriendEvents(root *bolt.Bucket) error {
	return root.ForEachBucket(func(name []byte) error {
		acct := root.Bucket(name)
		events := acct.Bucket(eventsB)
		if events == nil {
			return nil
		}
		idx, err := acct.CreateBucketIfNotExists(friendEvB)
		if err != nil {
			return err
		}
		return events.ForEach(func(k, v []byte) error {
			e, err := backend.DecodeEventRecord(binary.BigEndian.Uint64(k), v)
			if err != nil {
				return fmt.Errorf("account %q, event %d: %w", name, binary.BigEndian.Uint64(k), err)
			}
			return idx.Put(friendEventKey(e.Friend, e.Seq), nil)
		})
	})
}

func friendEventKey(f stepcast.FriendID, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(u32(f), seq)
}

// Close implements store.Store.
func (s *Store) Close() error { return s.db.Close() }

// Path returns the file the store is in.
func (s *Store) Path() string { return s.path }

func (s *Store) closedErr(err error) error {
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return store.ErrClosed
	}
	return err
}

// View implements store.Store.
func (s *Store) View(ctx context.Context, account store.AccountID, fn func(store.ReadTx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: view %q: %w", account, err)
	}
	return s.closedErr(s.db.View(func(btx *bolt.Tx) error {
		return fn(&tx{b: btx, account: account})
	}))
}

var _ store.Batcher = (*Store)(nil)

// Batch implements store.Batcher with bbolt's DB.Batch: concurrent calls
// within 2 ms share one transaction and one sync. fn may run more than once.
func (s *Store) Batch(ctx context.Context, account store.AccountID, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: batch %q: %w", account, err)
	}
	return s.closedErr(s.db.Batch(func(btx *bolt.Tx) error {
		return fn(&tx{b: btx, account: account, writable: true})
	}))
}

// Update implements store.Store.
func (s *Store) Update(ctx context.Context, account store.AccountID, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: update %q: %w", account, err)
	}
	return s.closedErr(s.db.Update(func(btx *bolt.Tx) error {
		if err := fn(&tx{b: btx, account: account, writable: true}); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil { // canceled while running: roll back
			return fmt.Errorf("boltstore: update %q: %w", account, err)
		}
		return nil
	}))
}

type tx struct {
	b        *bolt.Tx
	account  store.AccountID
	writable bool
}

// bucket returns the account's sub-bucket, creating the account's buckets
// on first write; nil when reading an account that has none.
func (t *tx) bucket(name []byte) (*bolt.Bucket, error) {
	root := t.b.Bucket(rootBucket)
	acct := root.Bucket([]byte(t.account))
	if acct == nil {
		if !t.writable {
			return nil, nil
		}
		var err error
		if acct, err = root.CreateBucket([]byte(t.account)); err != nil {
			return nil, err
		}
		for _, n := range subBuckets {
			if _, err := acct.CreateBucket(n); err != nil {
				return nil, err
			}
		}
	}
	b := acct.Bucket(name)
	if b == nil && t.writable { // an account written by an older version
		return acct.CreateBucket(name)
	}
	return b, nil
}

func u32(id stepcast.FriendID) []byte { return binary.BigEndian.AppendUint32(nil, uint32(id)) }
func u64(n uint64) []byte             { return binary.BigEndian.AppendUint64(nil, n) }

func (t *tx) corrupt(what string, err error) error {
	return fmt.Errorf("boltstore: account %q: %s: %w", t.account, what, err)
}

func (t *tx) Friend(id stepcast.FriendID) (store.Friend, error) {
	b, err := t.bucket(friendsB)
	if err != nil {
		return store.Friend{}, err
	}
	var raw []byte
	if b != nil {
		raw = b.Get(u32(id))
	}
	if raw == nil {
		return store.Friend{}, fmt.Errorf("boltstore: friend %d: %w", id, store.ErrNotFound)
	}
	f, err := backend.DecodeFriend(raw)
	if err != nil {
		return store.Friend{}, t.corrupt(fmt.Sprintf("friend %d", id), err)
	}
	return f, nil
}

func (t *tx) FriendByUser(user stepcast.UserID) (store.Friend, error) {
	b, err := t.bucket(usersB)
	if err != nil {
		return store.Friend{}, err
	}
	if b == nil || b.Get([]byte(user)) == nil {
		return store.Friend{}, fmt.Errorf("boltstore: friend %s: %w", stepcast.Quote(string(user)), store.ErrNotFound)
	}
	return t.Friend(stepcast.FriendID(binary.BigEndian.Uint32(b.Get([]byte(user)))))
}

func (t *tx) Friends(after stepcast.FriendID, limit int) ([]store.Friend, error) {
	var out []store.Friend
	_, err := t.ScanFriends(after, limit, func(f *store.Friend) error {
		out = append(out, f.Clone())
		return nil
	})
	return out, err
}

// ScanFriends implements store.FriendScanner.
func (t *tx) ScanFriends(after stepcast.FriendID, limit int, fn func(*store.Friend) error) (int, error) {
	b, err := t.bucket(friendsB)
	if err != nil || b == nil {
		return 0, err
	}
	var fd backend.FriendDecoder
	var f store.Friend
	n := 0
	c := b.Cursor()
	for k, v := c.Seek(u32(after + 1)); k != nil && n < limit; k, v = c.Next() {
		if err := fd.DecodeInto(v, &f); err != nil {
			return n, t.corrupt(fmt.Sprintf("friend %d", binary.BigEndian.Uint32(k)), err)
		}
		n++
		if err := fn(&f); err != nil {
			return n, err
		}
	}
	return n, nil
}

func (t *tx) Changes(after uint64, limit int) ([]store.Change, error) {
	return readLog(t, changesB, after, limit, backend.UnmarshalChange)
}

// readLog reads up to limit records with Seqs above after from a log
// bucket keyed by Seq.
func readLog[T any](t *tx, bucket []byte, after uint64, limit int, decode func(seq uint64, v []byte) (T, error)) ([]T, error) {
	b, err := t.bucket(bucket)
	if err != nil || b == nil {
		return nil, err
	}
	var out []T
	c := b.Cursor()
	for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
		r, err := decode(binary.BigEndian.Uint64(k), v)
		if err != nil {
			return nil, t.corrupt("decode", err)
		}
		out = append(out, r)
	}
	return out, nil
}

func (t *tx) LastSeq() (uint64, error) {
	b, err := t.bucket(changesB)
	if err != nil || b == nil {
		return 0, err
	}
	return b.Sequence(), nil
}

func (t *tx) Events(after uint64, limit int) ([]store.Event, error) {
	return readLog(t, eventsB, after, limit, backend.DecodeEventRecord)
}

func (t *tx) FriendEvents(friend stepcast.FriendID, before uint64, limit int) ([]store.Event, error) {
	idx, err := t.bucket(friendEvB)
	if err != nil || idx == nil || limit <= 0 {
		return nil, err
	}
	events, _ := t.bucket(eventsB)
	if before == 0 {
		before = math.MaxUint64
	}
	prefix := u32(friend)
	c := idx.Cursor()
	k, _ := c.Seek(friendEventKey(friend, before))
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	var out []store.Event
	for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = c.Prev() {
		seq := binary.BigEndian.Uint64(k[4:])
		e, err := backend.DecodeEventRecord(seq, events.Get(u64(seq)))
		if err != nil {
			return nil, t.corrupt(fmt.Sprintf("event %d", seq), err)
		}
		out = append(out, e)
	}
	return out, nil
}

func (t *tx) HasEvent(id string) (bool, error) {
	b, err := t.bucket(eventIDsB)
	if err != nil || b == nil {
		return false, err
	}
	return b.Get([]byte(id)) != nil, nil
}

func (t *tx) putFriend(f store.Friend) error {
	b, err := t.bucket(friendsB)
	if err != nil {
		return err
	}
	return b.Put(u32(f.ID), backend.AppendFriend(nil, f))
}

func (t *tx) AddFriend(user stepcast.UserID) (store.Friend, bool, error) {
	if err := backend.CheckUser(user); err != nil {
		return store.Friend{}, false, fmt.Errorf("boltstore: %w", err)
	}
	if f, err := t.FriendByUser(user); err == nil {
		return f, false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.Friend{}, false, err
	}
	friends, err := t.bucket(friendsB)
	if err != nil {
		return store.Friend{}, false, err
	}
	users, _ := t.bucket(usersB)
	seq, err := friends.NextSequence()
	if err != nil {
		return store.Friend{}, false, err
	}
	f := store.Friend{ID: stepcast.FriendID(seq), User: user}
	if err := t.putFriend(f); err != nil {
		return store.Friend{}, false, err
	}
	return f, true, users.Put([]byte(user), u32(f.ID))
}

func (t *tx) Apply(changes ...store.Change) ([]uint64, error) {
	friends, err := backend.PrepareChanges(t, changes)
	if err != nil {
		return nil, fmt.Errorf("boltstore: %w", err)
	}
	b, err := t.bucket(changesB)
	if err != nil {
		return nil, err
	}
	seqs := make([]uint64, len(changes))
	for i, c := range changes {
		seq, err := b.NextSequence()
		if err != nil {
			return nil, err
		}
		raw, err := backend.MarshalChange(c)
		if err != nil {
			return nil, fmt.Errorf("boltstore: encode change: %w", err)
		}
		if err := b.Put(u64(seq), raw); err != nil {
			return nil, err
		}
		seqs[i] = seq
	}
	for _, f := range friends {
		if err := t.putFriend(*f); err != nil {
			return nil, err
		}
	}
	return seqs, nil
}

func (t *tx) AppendEvent(e stepcast.Event) (uint64, error) {
	if err := backend.CheckNewEvent(t, e); err != nil {
		return 0, fmt.Errorf("boltstore: %w", err)
	}
	b, err := t.bucket(eventsB)
	if err != nil {
		return 0, err
	}
	ids, _ := t.bucket(eventIDsB)
	seq, err := b.NextSequence()
	if err != nil {
		return 0, err
	}
	if err := b.Put(u64(seq), backend.AppendEventRecord(nil, e)); err != nil {
		return 0, err
	}
	if err := ids.Put([]byte(e.ID), u64(seq)); err != nil {
		return 0, err
	}
	fe, err := t.bucket(friendEvB)
	if err != nil {
		return 0, err
	}
	return seq, fe.Put(friendEventKey(e.Friend, seq), nil)
}

func defKey(kind, name string) []byte { return []byte(kind + "\x00" + name) }

func (t *tx) Definition(kind, name string) (store.Definition, error) {
	b, err := t.bucket(defsB)
	if err != nil {
		return store.Definition{}, err
	}
	var raw []byte
	if b != nil {
		raw = b.Get(defKey(kind, name))
	}
	if raw == nil {
		return store.Definition{}, fmt.Errorf("boltstore: definition %s/%s: %w", stepcast.Quote(kind), stepcast.Quote(name), store.ErrNotFound)
	}
	var d store.Definition
	if err := json.Unmarshal(raw, &d); err != nil {
		return store.Definition{}, t.corrupt("definition", err)
	}
	return d, nil
}

func (t *tx) Definitions(kind string) ([]store.Definition, error) {
	return scanJSON[store.Definition](t, defsB, kind, "definition")
}

// scanJSON decodes the JSON records of a bucket keyed "group NUL name", in
// key order: all of them, or those of one group.
func scanJSON[T any](t *tx, bucket []byte, group, what string) ([]T, error) {
	b, err := t.bucket(bucket)
	if err != nil || b == nil {
		return nil, err
	}
	var out []T
	prefix := []byte{}
	if group != "" {
		prefix = []byte(group + "\x00")
	}
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var x T
		if err := json.Unmarshal(v, &x); err != nil {
			return nil, t.corrupt(what, err)
		}
		out = append(out, x)
	}
	return out, nil
}

func (t *tx) PutDefinition(d store.Definition) (uint64, error) {
	if err := backend.ValidateDefinition(d); err != nil {
		return 0, err
	}
	cur, err := t.Definition(d.Kind, d.Name)
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return 0, err
	}
	if (exists && cur.Version != d.Version) || (!exists && d.Version != 0) {
		return 0, fmt.Errorf("boltstore: definition %s/%s at version %d: %w", stepcast.Quote(d.Kind), stepcast.Quote(d.Name), d.Version, store.ErrConflict)
	}
	d.Version++
	d.UpdatedAt = d.UpdatedAt.UTC().Truncate(time.Microsecond)
	raw, err := json.Marshal(d)
	if err != nil {
		return 0, err
	}
	b, err := t.bucket(defsB)
	if err != nil {
		return 0, err
	}
	return d.Version, b.Put(defKey(d.Kind, d.Name), raw)
}

func (t *tx) DeleteDefinition(kind, name string, version uint64) error {
	cur, err := t.Definition(kind, name)
	if err != nil {
		return err
	}
	if cur.Version != version {
		return fmt.Errorf("boltstore: definition %s/%s at version %d: %w", stepcast.Quote(kind), stepcast.Quote(name), version, store.ErrConflict)
	}
	b, _ := t.bucket(defsB)
	return b.Delete(defKey(kind, name))
}

func (t *tx) Tallies(experiment string) ([]store.Tally, error) {
	return scanJSON[store.Tally](t, talliesB, experiment, "tally")
}

func (t *tx) AddToTally(d store.Tally) (store.Tally, error) {
	if err := backend.ValidateTally(d); err != nil {
		return store.Tally{}, err
	}
	b, err := t.bucket(talliesB)
	if err != nil {
		return store.Tally{}, err
	}
	k := defKey(d.Experiment, d.Variant)
	tl := store.Tally{Experiment: d.Experiment, Variant: d.Variant}
	if raw := b.Get(k); raw != nil {
		if err := json.Unmarshal(raw, &tl); err != nil {
			return store.Tally{}, t.corrupt("tally", err)
		}
	}
	tl = tl.Plus(d)
	raw, err := json.Marshal(tl)
	if err != nil {
		return store.Tally{}, err
	}
	return tl, b.Put(k, raw)
}

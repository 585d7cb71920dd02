// Package boltstore keeps stepcast's data in one embedded bbolt file:
// durable on every commit (bbolt syncs before Update returns), one writer at
// a time, readers on consistent snapshots. It is the default store for a
// host that runs one instance.
//
// # Layout
//
// A root bucket "stepcast" holds the key "format" (the on-disk format
// version) and one bucket per account, named by the account ID — but for an
// ID that is one of the root's own keys ("format"), which gets a NUL in
// front (no account ID holds one; see accountKey) —, which holds: "friends" (ID, 4 bytes
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
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
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

var (
	_ store.Store         = (*Store)(nil)
	_ store.Tx            = (*tx)(nil) // and so every aggregate's reader and writer
	_ store.FriendScanner = (*tx)(nil)
)

// Options configure OpenWith. The zero value means Open's defaults.
type Options struct {
	// Timeout is how long to wait for another process to release the
	// file before failing with ErrLocked. Zero means DefaultTimeout; a
	// negative value tries once without waiting.
	Timeout time.Duration
	// NoSync skips the fsync of each commit (bbolt's DB.NoSync): commits
	// cost microseconds rather than milliseconds, and a crash of the
	// machine (not of the process) can lose or corrupt the file. Only
	// for a file nobody needs after a crash: a simulation's or a test's
	// in a temporary folder.
	NoSync bool
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
	db.NoSync = o.NoSync
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
	if err := account.Validate(); err != nil {
		return fmt.Errorf("boltstore: view: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: view %q: %w", account, err)
	}
	return s.closedErr(s.db.View(func(btx *bolt.Tx) error {
		return fn(newTx(btx, account, false))
	}))
}

var _ store.Batcher = (*Store)(nil)

// Batch implements store.Batcher with bbolt's DB.Batch: concurrent calls
// within 2 ms share one transaction and one sync. fn may run more than once.
func (s *Store) Batch(ctx context.Context, account store.AccountID, fn func(store.Tx) error) error {
	if err := account.Validate(); err != nil {
		return fmt.Errorf("boltstore: batch: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: batch %q: %w", account, err)
	}
	return s.closedErr(s.db.Batch(func(btx *bolt.Tx) error {
		return fn(newTx(btx, account, true))
	}))
}

// Update implements store.Store.
func (s *Store) Update(ctx context.Context, account store.AccountID, fn func(store.Tx) error) error {
	if err := account.Validate(); err != nil {
		return fmt.Errorf("boltstore: update: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: update %q: %w", account, err)
	}
	return s.closedErr(s.db.Update(func(btx *bolt.Tx) error {
		if err := fn(newTx(btx, account, true)); err != nil {
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
	key      []byte // the account's bucket in the root: accountKey(account)
	writable bool
	// buckets holds the account's buckets this transaction opened: bbolt
	// opens a nested bucket anew, with allocations, on every call, and a
	// lookup (a timer a guard finds missing) costs little more than that.
	buckets map[string]*bolt.Bucket
}

func newTx(b *bolt.Tx, account store.AccountID, writable bool) *tx {
	return &tx{b: b, account: account, key: accountKey(account), writable: writable}
}

// accountKey returns the name of account's bucket in the root bucket: its
// ID, or — for an ID that is one of the root's own keys, "format" — the ID
// after a NUL, which no account ID holds (store.AccountID.Validate).
func accountKey(account store.AccountID) []byte {
	if string(account) == string(formatKey) {
		return append([]byte{0}, account...)
	}
	return []byte(account)
}

// bucket returns the account's sub-bucket, creating the account's buckets
// on first write; nil when reading an account that has none.
func (t *tx) bucket(name []byte) (*bolt.Bucket, error) {
	if b := t.buckets[string(name)]; b != nil {
		return b, nil
	}
	b, err := t.openBucket(name)
	if b != nil {
		if t.buckets == nil {
			t.buckets = make(map[string]*bolt.Bucket, len(subBuckets))
		}
		t.buckets[string(name)] = b
	}
	return b, err
}

func (t *tx) openBucket(name []byte) (*bolt.Bucket, error) {
	root := t.b.Bucket(rootBucket)
	acct := root.Bucket(t.key)
	if acct == nil {
		if !t.writable {
			return nil, nil
		}
		var err error
		if acct, err = root.CreateBucket(t.key); err != nil {
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

// get returns the record under key in bucket, decoded: store.ErrNotFound,
// naming what, if there is none; one decode refuses is corrupt.
func get[T any](t *tx, bucket, key []byte, decode func([]byte) (T, error), what func() string) (T, error) {
	var v T
	b, err := t.bucket(bucket)
	if err != nil {
		return v, err
	}
	var raw []byte
	if b != nil {
		raw = b.Get(key)
	}
	if raw == nil {
		return v, backend.NotFound("boltstore", lazy(what))
	}
	if v, err = decode(raw); err != nil {
		return v, t.corrupt(what(), err)
	}
	return v, nil
}

// decodeJSON decodes a record stored as JSON.
func decodeJSON[T any](raw []byte) (T, error) {
	var v T
	err := json.Unmarshal(raw, &v)
	return v, err
}

// putJSON stores v as JSON under key in bucket.
func (t *tx) putJSON(bucket, key []byte, v any) error {
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}

// errNoLease rolls back a leasing transaction that leased nothing: bbolt
// commits an unchanged transaction all the same, meta page and sync.
var errNoLease = errors.New("boltstore: nothing to lease")

// leasing runs walk over account's bucket (nothing to walk if the account
// has none of it), after checking the lease request: Lease and
// LeaseDeliveries, what says which. walk leases up to limit records if
// lease, else only finds out whether there is one to lease, and returns
// how many it found.
//
// It first walks in a read transaction, and opens the write transaction
// only if that found something: polling an idle account (Run's Tick and
// Dispatch every second) then costs a read — no writer lock, no commit,
// no sync of the file. Another goroutine may lease what the read saw
// before the write transaction begins; one that leases nothing after all
// is rolled back, not committed.
func (s *Store) leasing(ctx context.Context, account store.AccountID, what string, bucket []byte, holder string, now time.Time, ttl time.Duration,
	limit int, kinds []string, walk func(t *tx, b *bolt.Bucket, lease bool) (int, error)) error {
	if err := account.Validate(); err != nil {
		return fmt.Errorf("boltstore: %s: %w", what, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: %s %q: %w", what, account, err)
	}
	if err := backend.ValidateLease(holder, now, ttl, limit, kinds...); err != nil {
		return fmt.Errorf("boltstore: %w", err)
	}
	if limit == 0 {
		return nil
	}
	found := 0
	err := s.db.View(func(btx *bolt.Tx) error {
		t := newTx(btx, account, false)
		b, err := t.bucket(bucket)
		if err != nil || b == nil {
			return err
		}
		found, err = walk(t, b, false)
		return err
	})
	if err != nil || found == 0 {
		return s.closedErr(err)
	}
	err = s.db.Update(func(btx *bolt.Tx) error {
		t := newTx(btx, account, false)
		b, err := t.bucket(bucket)
		if err != nil || b == nil {
			return err
		}
		t.writable = true
		n, err := walk(t, b, true)
		if err == nil && n == 0 {
			return errNoLease
		}
		return err
	})
	if errors.Is(err, errNoLease) {
		return nil
	}
	return s.closedErr(err)
}

// Package bolttest counts the commits to a bbolt file that a store holds
// open, for tests that check an operation writes nothing.
package bolttest

import (
	"encoding/binary"
	"os"
	"testing"
)

// bbolt's file format (version 2): pages 0 and 1 are meta pages, each a
// 16-byte page header, then magic, version, page size and flags (uint32
// each), the root bucket (16 bytes), the free list's and the high water
// mark's page IDs, and the ID of the transaction that wrote it (uint64
// each), in the machine's byte order.
const (
	magic         = 0xED0CDAED
	version       = 2
	metaAt        = 16
	pageSizeAt    = metaAt + 8
	txidAt        = metaAt + 48
	metaHeaderLen = txidAt + 8
)

// TxID returns the ID of the last transaction committed to the bbolt file
// at path. A commit writes the meta page it did not write last, with its
// own ID, one more than the last; so the greater of the two IDs is the
// last commit's, and the difference between two reads counts the commits
// between them. bbolt's lock on the file is advisory: a store may hold
// the file open meanwhile, and what it committed is in the file (the page
// cache) when its call returns.
func TxID(t testing.TB, path string) uint64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	meta := func(off int64) (txid, pageSize uint64) {
		b := make([]byte, metaHeaderLen)
		if _, err := f.ReadAt(b, off); err != nil {
			t.Fatalf("bolttest: %s: meta page at %d: %v", path, off, err)
		}
		e := binary.NativeEndian
		if e.Uint32(b[metaAt:]) != magic || e.Uint32(b[metaAt+4:]) != version {
			t.Fatalf("bolttest: %s: no bbolt meta page at %d", path, off)
		}
		return e.Uint64(b[txidAt:]), uint64(e.Uint32(b[pageSizeAt:]))
	}
	a, size := meta(0)
	b, _ := meta(int64(size))
	return max(a, b)
}

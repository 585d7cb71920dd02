package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/internal/pgtest"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/boltstore"
	"github.com/stepcast/stepcast/store/memstore"
	"github.com/stepcast/stepcast/store/pgstore"
)

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

var tokyo, _ = time.LoadLocation("Asia/Tokyo")

// t0 is the tests' start: Saturday 2026-11-28 10:00 in Tokyo.
var t0 = time.Date(2026, 11, 28, 10, 0, 0, 0, tokyo)

// backends are the stores every end-to-end test runs on; pgstore skips
// without STEPCAST_POSTGRES_DSN.
var backends = map[string]func(t *testing.T) store.Store{
	"memstore":  func(*testing.T) store.Store { return memstore.New() },
	"boltstore": func(t *testing.T) store.Store { return openBolt(t) },
	"pgstore":   func(t *testing.T) store.Store { return openPG(t, "") },
}

func forEachBackend(t *testing.T, fn func(t *testing.T, open func(t *testing.T) store.Store)) {
	for _, name := range []string{"memstore", "boltstore", "pgstore"} {
		t.Run(name, func(t *testing.T) { fn(t, backends[name]) })
	}
}

func openBolt(t testing.TB) store.Store {
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "stepcast.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openPG opens a PostgreSQL store (see pgtest.Open).
func openPG(t testing.TB, schema string) *pgstore.Store { return pgtest.Open(t, schema) }

func mustOpen(t testing.TB, st store.Store, c *clock) *Engine {
	t.Helper()
	e, err := Open(Config{Store: st, Now: c.Now, Holder: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func mustAccount(t testing.TB, e *Engine, id store.AccountID, d Definitions) *Account {
	t.Helper()
	a, err := e.AddAccount(context.Background(), id, d)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func ev(id string, user string, kind stepcast.EventKind, name, value string, at time.Time) stepcast.Event {
	return stepcast.Event{ID: id, User: stepcast.UserID(user), Kind: kind, Name: name, Value: value, At: at}
}

func follow(id, user, route string, at time.Time) stepcast.Event {
	e := ev(id, user, stepcast.EventFollow, "", "", at)
	if route != "" {
		e.Data = map[string]string{"route": route}
	}
	return e
}

func val(v stepcast.Value) *stepcast.Value { return &v }

func msg(text string) stepcast.Message {
	return stepcast.Message(fmt.Sprintf(`{"type":"text","text":%q}`, text))
}

// mustCount counts a segment on the account's live index, failing the test
// on an error (which would otherwise read as zero).
func mustCount(t testing.TB, a *Account, src string) uint64 {
	t.Helper()
	n, err := a.Count(src)
	if err != nil {
		t.Fatalf("Count(%s): %v", src, err)
	}
	return n
}

package engine

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast/store/memstore"
)

// Invalid zone names never enter the process-wide cache of zones, and
// the cache of failures stays bounded however many there are; a valid
// zone is cached and loads as itself.
func TestLoadZoneBounded(t *testing.T) {
	for i := range 3 * maxBadZones {
		name := fmt.Sprintf("Nowhere/Bad%d", i)
		if _, err := loadZone(name); err == nil {
			t.Fatalf("%s loaded", name)
		}
		if _, ok := zones.Load(name); ok {
			t.Fatalf("%s cached as a zone", name)
		}
		badZones.Lock()
		n := len(badZones.m)
		badZones.Unlock()
		if n > maxBadZones {
			t.Fatalf("%d failures remembered, bound %d", n, maxBadZones)
		}
	}
	for _, name := range []string{"", "Local"} {
		if _, err := loadZone(name); err == nil {
			t.Errorf("%q loaded", name)
		}
	}
	loc, err := loadZone("Asia/Tokyo")
	if err != nil || loc.String() != "Asia/Tokyo" {
		t.Fatalf("%v, %v", loc, err)
	}
	if v, ok := zones.Load("Asia/Tokyo"); !ok || v.(*time.Location) != loc {
		t.Fatal("Asia/Tokyo not cached")
	}
}

// A friend's invalid zone falls back to the account's, logged once per
// account.
func TestFriendZoneLogsOnce(t *testing.T) {
	var logs syncBuffer
	clk := &clock{t: t0}
	a := dispatchAccount(t, memstore.New(), clk, &fakeSender{}, Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, 0)
	for i := range 3 {
		if loc := a.friendZone("Mars/Olympus", 7, time.UTC); loc != time.UTC {
			t.Fatalf("call %d: %v, want the account's zone", i, loc)
		}
	}
	if loc := a.friendZone("Asia/Tokyo", 8, time.UTC); loc.String() != "Asia/Tokyo" {
		t.Fatalf("valid zone: %v", loc)
	}
	if n := strings.Count(logs.String(), "time zone is invalid"); n != 1 || !strings.Contains(logs.String(), "Mars/Olympus") {
		t.Fatalf("%d logs: %q", n, logs.String())
	}
}

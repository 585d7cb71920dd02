package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/store"
)

// Scenario versions. Editing a live scenario never changes it under the
// friends in it: the account numbers each definition it is given that
// differs from the last, keeps every version in the store's definitions
// (kind "scenario", name "<name>@<version>"), and steps each friend with
// the version of their run — or, for a scenario that says Migrate, moves
// them onto the new one by the name of their pending step.

const scenarioDefKind = "scenario"

func versionName(name string, v int) string { return name + "@" + strconv.Itoa(v) }

// versionScenarios gives c's scenarios their versions from the store,
// storing the ones that are new or changed, and compiles them at those
// versions.
func (a *Account) versionScenarios(ctx context.Context, c *compiled) error {
	if len(c.scenarios) == 0 {
		return nil
	}
	return a.e.st.Update(ctx, a.id, func(tx store.Tx) error {
		stored, err := tx.Definitions(scenarioDefKind)
		if err != nil {
			return err
		}
		latest := map[string]store.Definition{}
		var conds map[string]bool
		for _, d := range stored {
			name, v := splitVersion(d.Name)
			if _, lv := splitVersion(latest[name].Name); v > lv {
				latest[name] = d
			}
			var old struct{ Exit, Goal string }
			if json.Unmarshal(d.Body, &old) == nil && (old.Exit != "" || old.Goal != "") {
				if conds == nil {
					conds = map[string]bool{}
				}
				conds[name] = true
			}
		}
		c.exitOrGoal = conds
		for i, def := range c.defs.Scenarios {
			last, lv := latest[def.Name], 0
			if last.Name != "" {
				_, lv = splitVersion(last.Name)
			}
			def.Version = max(lv, 1)
			body, err := json.Marshal(def)
			if err != nil {
				return err
			}
			if lv == 0 || string(last.Body) != string(body) {
				if lv > 0 {
					def.Version = lv + 1
					if body, err = json.Marshal(def); err != nil {
						return err
					}
				}
				d := store.Definition{Kind: scenarioDefKind, Name: versionName(def.Name, def.Version), Body: body, UpdatedAt: a.e.cfg.Now()}
				if _, err := tx.PutDefinition(d); err != nil {
					return fmt.Errorf("engine: account %q: scenario %q version %d: %w", a.id, def.Name, def.Version, err)
				}
			}
			m, err := scenario.Compile(def, c.schema, c.rules.CheckAction)
			if err != nil {
				return err
			}
			c.defs.Scenarios[i] = def
			c.scenarios[def.Name] = m
		}
		return nil
	})
}

func splitVersion(s string) (string, int) {
	i := strings.LastIndexByte(s, '@')
	if i < 0 {
		return s, 0
	}
	v, _ := strconv.Atoi(s[i+1:])
	return s[:i], v
}

// machines caches the compiled old versions of an account's scenarios,
// for the schema they were compiled on.
type machines struct {
	mu sync.Mutex
	m  map[string]*scenario.Machine // by "<name>@<version>"
}

// machine returns the machine that steps st in scenario name — the
// current one, or the version st's run is on — and st as that machine
// takes it. A run migrated onto the current version goes to the step of
// the same name, re-timed by the current timing (scenario.Machine.Retime:
// what that skips or ends is carried out here). A run whose version no
// longer compiles, or whose pending step a migration cannot find, is
// ended: (nil, st, nil) after the unit records it.
func (u *unit) machine(name string, st scenario.State) (*scenario.Machine, scenario.State, error) {
	cur := u.def.scenarios[name]
	if cur == nil {
		return nil, st, fmt.Errorf("%w: engine: %s: no scenario %q", ErrDefinition, u.what(), name)
	}
	if st.Status != scenario.Active || st.Version == 0 || st.Version == cur.Definition().Version {
		return cur, st, nil
	}
	old, err := u.a.oldMachine(u, name, st.Version)
	if err != nil {
		return nil, st, err
	}
	if old != nil && !cur.Definition().Migrate {
		return old, st, nil
	}
	// Migrate, or the old version is gone: on to the current version at
	// the pending step's name.
	step := ""
	if old != nil {
		step = stepName(old, st.Step)
	}
	if i, ok := cur.StepIndex(step); ok && step != "" {
		st.Version, st.Step = cur.Definition().Version, i
		in := scenario.Input{Loc: u.zone(cur.Definition().ZoneField), Friend: conditions{u}, NoSendBefore: u.noSendBefore()}
		next, out, err := cur.Retime(st, in, u.at)
		if err != nil {
			return nil, st, fmt.Errorf("engine: %s: scenario %q: %w", u.what(), name, err)
		}
		if len(out.Journey) > 0 {
			if err := u.settle(name, cur, next, out, 0); err != nil {
				return nil, st, err
			}
		}
		return cur, next, nil
	}
	reason := fmt.Sprintf("version %d of the scenario is gone, or no longer fits the schema", st.Version)
	if old != nil {
		reason = fmt.Sprintf("the run moved from version %d, and version %d has no step %s", st.Version, cur.Definition().Version, stepcast.Quote(step))
	}
	next, out, err := cur.Step(st, scenarioStop(reason), u.at)
	if err != nil {
		return nil, st, err
	}
	return nil, next, u.finishEnded(name, next, out)
}

// oldMachine returns version v of scenario name from the store, compiled on
// the account's schema; nil if the store no longer has it or it no longer
// compiles (a field it names is gone).
func (a *Account) oldMachine(u *unit, name string, v int) (*scenario.Machine, error) {
	key := versionName(name, v)
	a.old.mu.Lock()
	m, ok := a.old.m[key]
	a.old.mu.Unlock()
	if ok {
		return m, nil
	}
	d, err := u.tx.Definition(scenarioDefKind, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var def scenario.Definition
	if err := json.Unmarshal(d.Body, &def); err != nil {
		return nil, fmt.Errorf("engine: scenario %s: %w", key, err)
	}
	m, err = scenario.Compile(def, u.def.schema, u.def.rules.CheckAction)
	if err != nil {
		m = nil // no longer fits the schema: the run moves on or ends
	}
	a.old.mu.Lock()
	if a.old.m == nil {
		a.old.m = map[string]*scenario.Machine{}
	}
	a.old.m[key] = m
	a.old.mu.Unlock()
	return m, nil
}

func scenarioStop(reason string) scenario.Input {
	return scenario.Input{Kind: scenario.Stop, Reason: reason}
}

// zones caches the friends' valid time zones by name: the IANA
// database's names, some 600, bound it. Failures go to badZones.
var zones sync.Map // string -> *time.Location

// badZones remembers the latest invalid zone names, so that a friend's
// bad zone is not looked up on disk at every tick; it is bounded (a
// field's values are friends' input, any number of them), cleared when
// full.
var badZones struct {
	sync.Mutex
	m map[string]error
}

// maxBadZones bounds badZones.
const maxBadZones = 256

func loadZone(name string) (*time.Location, error) {
	if v, ok := zones.Load(name); ok {
		return v.(*time.Location), nil
	}
	badZones.Lock()
	err, bad := badZones.m[name]
	badZones.Unlock()
	if bad {
		return nil, err
	}
	loc, err := time.LoadLocation(name)
	if err != nil || name == "" || name == "Local" {
		if err == nil {
			err = fmt.Errorf("%q is not a zone of its own", name)
		}
		badZones.Lock()
		if len(badZones.m) >= maxBadZones || badZones.m == nil {
			badZones.m = make(map[string]error, maxBadZones)
		}
		badZones.m[name] = err
		badZones.Unlock()
		return nil, err
	}
	zones.Store(name, loc)
	return loc, nil
}

// friendZone is a friend's zone by name, or else, name being invalid,
// fallback (the account's): the first invalid one is logged, once per
// account, as the friend's local times are then the account's.
func (a *Account) friendZone(name string, friend stepcast.FriendID, fallback *time.Location) *time.Location {
	loc, err := loadZone(name)
	if err == nil {
		return loc
	}
	if a.badZoneLogged.CompareAndSwap(false, true) {
		a.e.log.Warn("a friend's time zone is invalid; the account's is used for them (logged once per account)",
			"account", a.id, "friend", friend, "zone", name, "account_zone", fallback.String(), "err", err)
	}
	return fallback
}

// migrationKind names the store definitions that record one-time
// migrations of an account's data.
const migrationKind = "migration"

// membershipsMigration is the migration that gives scenario memberships
// written before scenarios ran (a step in the friend's record, no state)
// a state: a run on the current version at that step, due at once.
const membershipsMigration = "scenario-states"

// membershipsMarker is the body of membershipsMigration's marker: the
// scenarios whose stateless memberships the first pass found but could
// not migrate, not being defined then; they are migrated once they are.
type membershipsMarker struct {
	Pending []string `json:"pending,omitempty"`
}

// migrateMemberships runs membershipsMigration: on an account's first open
// a pass over all friends, which also moves reminder timers written before
// reminders were machines ("reminder/<name>", due at the goal) to their
// key of now ("reminder/<name>/"), due at once, so that the first step
// before the goal is scheduled rather than the goal; afterwards a pass
// only when a scenario left pending is defined. An account created by this
// engine has no friends at its first open, and never passes again.
func (a *Account) migrateMemberships(ctx context.Context, c *compiled) error {
	var marker membershipsMarker
	var version uint64 // the marker's, to update it
	first := false
	err := a.e.st.View(ctx, a.id, func(tx store.ReadTx) error {
		d, err := tx.Definition(migrationKind, membershipsMigration)
		if errors.Is(err, store.ErrNotFound) {
			first = true
			return nil
		}
		if err != nil {
			return err
		}
		version = d.Version
		return json.Unmarshal(d.Body, &marker)
	})
	if err != nil {
		return err
	}
	pending := map[string]bool{}
	var only map[string]bool // the scenarios this pass migrates; nil: all
	if !first {
		only = map[string]bool{}
		for _, name := range marker.Pending {
			if c.scenarios[name] != nil {
				only[name] = true
			} else {
				pending[name] = true
			}
		}
		if len(only) == 0 {
			return nil
		}
	}
	now := a.e.cfg.Now()
	// A page of friends at a time, each in a unit of work of its own: the
	// migration is idempotent (it writes only states that do not exist),
	// so an interrupted one resumes on the next open.
	for after := stepcast.FriendID(0); ; {
		var page []store.Friend
		err := a.e.st.View(ctx, a.id, func(tx store.ReadTx) error {
			var err error
			page, err = tx.Friends(after, pageSize)
			return err
		})
		if err != nil {
			return err
		}
		err = a.e.st.Update(ctx, a.id, func(tx store.Tx) error {
			for _, f := range page {
				if first {
					if err := migrateReminders(tx, f.ID, now); err != nil {
						return err
					}
				}
				for name, step := range f.Scenarios {
					if only != nil && !only[name] {
						continue
					}
					if _, err := tx.Timer(f.ID, scenarioKey(name)); !errors.Is(err, store.ErrNotFound) {
						if err != nil {
							return err
						}
						continue // it has a state
					}
					m := c.scenarios[name]
					if m == nil {
						pending[name] = true
						continue
					}
					st := scenario.State{Version: m.Definition().Version, Run: 1, Status: scenario.Active, Entered: now,
						Step: min(step, len(m.Definition().Steps)-1), Due: now}
					b, err := scenarioTimerState(name, st)
					if err != nil {
						return err
					}
					_, err = tx.PutTimer(store.Timer{Friend: f.ID, Key: scenarioKey(name), Due: now, State: b})
					if err != nil && !errors.Is(err, store.ErrConflict) { // conflict: a unit gave it one meanwhile
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(page) < pageSize {
			break
		}
		after = page[len(page)-1].ID
	}
	marker.Pending = slices.Sorted(maps.Keys(pending))
	body, err := json.Marshal(marker)
	if err != nil {
		return err
	}
	return a.e.st.Update(ctx, a.id, func(tx store.Tx) error {
		_, err := tx.PutDefinition(store.Definition{Kind: migrationKind, Name: membershipsMigration, Body: body, UpdatedAt: now, Version: version})
		return err
	})
}

// migrateReminders moves a friend's reminder timers of the old form.
func migrateReminders(tx store.Tx, f stepcast.FriendID, now time.Time) error {
	timers, err := tx.FriendTimers(f)
	if err != nil {
		return err
	}
	for _, t := range timers {
		k := ParseTimerKey(t.Key)
		if k.Kind != DueReminder || strings.Contains(k.Name, "/") {
			continue
		}
		name, _ := url.PathUnescape(k.Name)
		if _, err := tx.PutTimer(store.Timer{Friend: f, Key: reminderKey(name, ""), Due: now, State: t.State}); err != nil {
			return err
		}
		if err := tx.DeleteTimer(f, t.Key, t.Version); err != nil {
			return err
		}
	}
	return nil
}

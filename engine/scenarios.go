package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
)

// Scenario delivery and reminders in the engine. A friend's state in a
// scenario lives in their timer "scenario/<name>" and in a reminder's goal
// in "reminder/<name>/<key>" (names as scenario.KeyName has them: escaped,
// or a digest kept with the full name in the state), due when the pending
// step is; the pure machines of package scenario decide, the unit carries
// out what they decide — membership in the index, messages queued under
// keys fixed by the run and the step, actions run as a rule's are, the
// queued deliveries of a run that ended cancelled, the journey recorded as
// events of kind stepcast.EventJourney.

// DueScenario is the kind of a friend's scenario timer: "scenario/<name>".
const DueScenario DueKind = "scenario"

// Withdrawn is the journey record of queued messages taken back from the
// outbox, unsent, because their run ended (an exit, a goal, a block).
const Withdrawn scenario.What = "withdrawn"

// The reasons a run ends when its definition is gone.
const (
	scenarioGone = "the scenario is no longer defined"
	reminderGone = "the reminder is no longer defined"
)

// notFollowing is the reason a scenario or reminder ends, or is not
// entered, for a friend who does not follow the account.
const notFollowing = "not following"

// maxScenarioSteps bounds the scenario and reminder inputs one unit of work
// takes — scenarios starting scenarios — as maxActivations bounds rules.
const maxScenarioSteps = 100

// unitTimer is a scenario or reminder timer as a unit has it.
type unitTimer struct {
	version uint64 // as read; 0: new
	state   []byte
	due     time.Time
	dirty   bool
	scen    *scenario.State // state decoded, for a scenario's timer
}

// scenario returns the scenario state t holds, decoding it once a unit.
func (t *unitTimer) scenario() (scenario.State, error) {
	if t.scen == nil {
		st, err := scenarioState(t.state)
		if err != nil {
			return st, err
		}
		t.scen = &st
	}
	return *t.scen, nil
}

func scenarioKey(name string) string { return string(DueScenario) + "/" + scenario.KeyName(name) }

func reminderKey(name, key string) string {
	return string(DueReminder) + "/" + scenario.KeyName(name) + "/" + scenario.KeyName(key)
}

// scenarioTimer is a scenario's state as its timer keeps it: the machine's,
// and the scenario's name when the timer's key holds only its digest.
type scenarioTimer struct {
	Name string `json:"name,omitempty"`
	scenario.State
}

// reminderTimer is a reminder's state as its timer keeps it, with the
// names the timer's key holds only as digests.
type reminderTimer struct {
	Name string `json:"name,omitempty"`
	Key  string `json:"key,omitempty"`
	scenario.ReminderState
}

// digested returns s if scenario.KeyName has only its digest, else "".
func digested(s string) string {
	if strings.HasPrefix(scenario.KeyName(s), "~") {
		return s
	}
	return ""
}

// fromKeyName recovers a name from its KeyName, or from full when the key
// holds its digest.
func fromKeyName(k, full string) string {
	if strings.HasPrefix(k, "~") {
		return full
	}
	s, _ := url.PathUnescape(k)
	return s
}

// scenarioOfTimer returns the name of the scenario a timer of kind
// DueScenario is of.
func scenarioOfTimer(t store.Timer) string {
	k := ParseTimerKey(t.Key).Name
	var st scenarioTimer
	if strings.HasPrefix(k, "~") {
		_ = json.Unmarshal(t.State, &st) // unreadable: the wake reports it
	}
	return fromKeyName(k, st.Name)
}

// reminderOfTimer returns the reminder name and goal key a timer of kind
// DueReminder is of; a timer written before reminders had keys
// ("reminder/x") has the empty key.
func reminderOfTimer(t store.Timer) (name, key string) {
	n, k, _ := strings.Cut(ParseTimerKey(t.Key).Name, "/")
	var st reminderTimer
	if strings.HasPrefix(n, "~") || strings.HasPrefix(k, "~") {
		_ = json.Unmarshal(t.State, &st)
	}
	return fromKeyName(n, st.Name), fromKeyName(k, st.Key)
}

// timerOf returns the unit's copy of the friend's timer key, reading it from
// the transaction the first time.
func (u *unit) timerOf(key string) (*unitTimer, error) {
	if t, ok := u.timers[key]; ok {
		return t, nil
	}
	if u.timers == nil {
		u.timers = map[string]*unitTimer{}
	}
	t := &unitTimer{}
	stored, err := u.tx.Timer(u.friend.ID, key)
	switch {
	case err == nil:
		t.version, t.state, t.due = stored.Version, stored.State, stored.Due
	case !errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("engine: %s: timer %s: %w", u.what(), key, err)
	}
	u.timers[key] = t
	return t, nil
}

// saveTimers writes the timers the unit changed.
func (u *unit) saveTimers() error {
	for key, t := range u.timers {
		if !t.dirty {
			continue
		}
		due := t.due
		if due.IsZero() {
			due = never // kept for the entry policy, never due
		}
		_, err := u.tx.PutTimer(store.Timer{Friend: u.friend.ID, Key: key, Due: due, State: t.state, Version: t.version})
		if err != nil {
			return fmt.Errorf("engine: %s: timer %s: %w", u.what(), key, err)
		}
	}
	return nil
}

// conditions evaluates a machine's conditions on the friend as the unit has
// left them.
type conditions struct{ u *unit }

func (c conditions) Holds(seg *segment.Segment) (bool, error) {
	return seg.MatchRecord(c.u.record(), c.u.at)
}

// zone returns the friend's time zone: the zone field's, or the account's.
func (u *unit) zone(field string) *time.Location {
	if field != "" {
		if v, ok := u.friend.Fields[field]; ok {
			if loc, err := loadZone(v.Any().(string)); err == nil {
				return loc
			}
		}
	}
	return u.def.schema.Location()
}

// noSendBefore is when a backfill's steps may begin to send: now. A live
// unit sends whatever comes due.
func (u *unit) noSendBefore() time.Time {
	if u.backfill {
		return u.a.e.cfg.Now()
	}
	return time.Time{}
}

func seedOf(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// guardSteps counts a scenario or reminder input of the unit against the
// loop guard.
func (u *unit) guardSteps(what string, depth int) error {
	u.scenarios++
	if depth > u.a.e.cfg.MaxDepth || u.scenarios > maxScenarioSteps {
		return fmt.Errorf("%w: %s, at %s", ErrScenarioLoop, u.what(), what)
	}
	return nil
}

// ErrScenarioLoop is wrapped by the error of a unit of work whose scenarios
// start one another deeper than Config.MaxDepth or more than 100 times;
// it is also stepcast.ErrInvalid (the definitions' fault).
var ErrScenarioLoop = stepcast.NewInvalid("engine: scenarios start each other too deep")

// stepScenario gives the friend's scenario name one input and carries out
// what the machine decides.
func (u *unit) stepScenario(name string, in scenario.Input, depth int) error {
	if err := u.guardSteps("scenario "+name, depth); err != nil {
		return err
	}
	key := scenarioKey(name)
	t, err := u.timerOf(key)
	if err != nil {
		return err
	}
	st, err := t.scenario()
	if err != nil {
		return fmt.Errorf("engine: %s: scenario %q state: %w", u.what(), name, err)
	}
	if !u.friend.Following && in.Kind != scenario.Stop {
		// Nothing can reach a friend who does not follow: no run begins,
		// and one still going ends.
		if st.Status != scenario.Active {
			if in.Kind == scenario.Wake {
				return nil
			}
			prefix := "scenario/" + strconv.FormatUint(uint64(u.friend.ID), 10) + "/"
			return u.journey(runOf{kind: stepcast.CauseScenario, name: name, prefix: prefix},
				[]scenario.Record{{At: u.at, Run: st.Run, What: scenario.NotEntered, Reason: notFollowing}})
		}
		in = scenarioStop(notFollowing)
	}
	m, st, err := u.machine(name, st)
	if err != nil || m == nil {
		return err // nil: a run on a version gone was ended
	}
	if cur := u.def.scenarios[name]; in.Kind == scenario.Move && m != cur {
		if _, ok := m.StepIndex(in.To); !ok {
			// A move names the current version's steps: a run on an older
			// one without that step ends, and the move begins one on the
			// current version at it.
			reason := fmt.Sprintf("moved to step %s of version %d", stepcast.Quote(in.To), cur.Definition().Version)
			next, out, err := m.Step(st, scenarioStop(reason), u.at)
			if err != nil {
				return fmt.Errorf("engine: %s: scenario %q: %w", u.what(), name, err)
			}
			if err := u.settle(name, m, next, out, depth); err != nil {
				return err
			}
			m, st = cur, next
		}
	}
	in.Loc, in.Friend, in.NoSendBefore = u.zone(m.Definition().ZoneField), conditions{u}, u.noSendBefore()
	if in.Seed == 0 {
		in.Seed = seedOf(u.id, name, strconv.Itoa(u.scenarios))
	}
	next, out, err := m.Step(st, in, u.at)
	if err != nil {
		return fmt.Errorf("engine: %s: scenario %q: %w", u.what(), name, err)
	}
	return u.settle(name, m, next, out, depth)
}

// finishEnded records a run ended outside a machine's own input (its
// version gone).
func (u *unit) finishEnded(name string, st scenario.State, out scenario.Output) error {
	return u.settle(name, u.def.scenarios[name], st, out, 0)
}

// settle keeps the scenario's new state, updates the friend's membership
// and carries out the machine's output.
func (u *unit) settle(name string, m *scenario.Machine, next scenario.State, out scenario.Output, depth int) error {
	t, err := u.timerOf(scenarioKey(name))
	if err != nil {
		return err
	}
	if t.state, err = json.Marshal(scenarioTimer{Name: digested(name), State: next}); err != nil {
		return err
	}
	t.scen = &next
	t.due, t.dirty = next.Due, true
	// Membership, as segments see it: in the scenario at its pending step.
	if next.Status == scenario.Active && m != nil {
		if i, ok := m.StepIndex(stepName(m, next.Step)); ok {
			if err := u.change(store.Change{Kind: store.EnterStep, Name: name, Number: int64(i)}, nil); err != nil {
				return err
			}
		}
	} else if err := u.change(store.Change{Kind: store.LeaveScenario, Name: name}, nil); err != nil {
		return err
	}
	prefix := "scenario/" + strconv.FormatUint(uint64(u.friend.ID), 10) + "/"
	return u.carryOut(runOf{kind: stepcast.CauseScenario, name: name, prefix: prefix}, out, depth, func(step string) int {
		if m == nil {
			return 0
		}
		i, _ := m.StepIndex(step)
		return i
	})
}

// scenarioState reads a scenario's state from its timer.
func scenarioState(b []byte) (scenario.State, error) {
	var st scenarioTimer
	if len(b) == 0 {
		return st.State, nil
	}
	err := json.Unmarshal(b, &st)
	return st.State, err
}

func stepName(m *scenario.Machine, i int) string {
	steps := m.Definition().Steps
	if i < 0 || i >= len(steps) {
		return ""
	}
	return steps[i].Name
}

// stepReminder gives the friend's reminder name for goal key one input.
func (u *unit) stepReminder(name, key string, in scenario.ReminderInput, depth int) error {
	if err := u.guardSteps("reminder "+name, depth); err != nil {
		return err
	}
	m := u.def.reminders[name]
	if m == nil {
		return nil // no longer defined: nothing to remind of
	}
	t, err := u.timerOf(reminderKey(name, key))
	if err != nil {
		return err
	}
	st, err := reminderState(t.state)
	if err != nil {
		return fmt.Errorf("engine: %s: reminder %q state: %w", u.what(), name, err)
	}
	if in.Kind == scenario.Cancel && t.version == 0 && st.Status == "" {
		u.note(fmt.Sprintf("cancel_reminder: the friend has no goal %s in reminder %s", stepcast.Quote(key), stepcast.Quote(name)))
		delete(u.timers, reminderKey(name, key)) // nothing to keep
		return nil
	}
	if !u.friend.Following && in.Kind == scenario.Wake {
		in = scenario.ReminderInput{Kind: scenario.Cancel, Reason: notFollowing} // a step due reaches no one
	}
	in.Loc, in.Friend, in.NoSendBefore = u.zone(m.Definition().ZoneField), conditions{u}, u.noSendBefore()
	next, out, err := m.Step(st, in, u.at)
	if err != nil {
		return fmt.Errorf("engine: %s: reminder %q: %w", u.what(), name, err)
	}
	return u.settleReminder(name, key, m, next, out, depth)
}

// settleReminder keeps the reminder's new state and carries out its
// machine's output (m nil: the reminder is no longer defined).
func (u *unit) settleReminder(name, key string, m *scenario.ReminderMachine, next scenario.ReminderState, out scenario.Output, depth int) error {
	t, err := u.timerOf(reminderKey(name, key))
	if err != nil {
		return err
	}
	if t.state, err = json.Marshal(reminderTimer{Name: digested(name), Key: digested(key), ReminderState: next}); err != nil {
		return err
	}
	t.due, t.dirty = next.Due, true
	prefix := "reminder/" + strconv.FormatUint(uint64(u.friend.ID), 10) + "/" + scenario.KeyName(key) + "/"
	var steps []scenario.ReminderStep
	if m != nil {
		steps = m.Definition().Steps
	}
	return u.carryOut(runOf{kind: stepcast.CauseReminder, name: name, key: key, prefix: prefix}, out, depth, func(step string) int {
		for i, s := range steps {
			if s.Name == step {
				return i
			}
		}
		return 0
	})
}

// reminderState reads a reminder's state — also as written before
// reminders were machines: {"goal": …, "event": …}, a goal not yet
// scheduled, taken up by setting it again.
func reminderState(b []byte) (scenario.ReminderState, error) {
	var st reminderTimer
	if len(b) == 0 {
		return st.ReminderState, nil
	}
	err := json.Unmarshal(b, &st)
	return st.ReminderState, err
}

// runOf names whose run a machine's output is of: a scenario's or a
// reminder's goal (kind, name, key), and the outbox key prefix of the
// friend's.
type runOf struct {
	kind      stepcast.CauseKind
	name, key string
	prefix    string
}

// carryOut does what a scenario's or a reminder's machine decided, under
// the outbox key prefix of the friend's scenario or goal.
func (u *unit) carryOut(r runOf, out scenario.Output, depth int, stepIndex func(string) int) error {
	kind, name, prefix := r.kind, r.name, r.prefix
	journey := out.Journey
	if out.CancelRun != 0 {
		n, err := u.tx.CancelDeliveries(store.DeliverySelector{KeyPrefix: prefix + scenario.RunPrefix(name, out.CancelRun)}, "the run ended or moved", u.at)
		if err != nil {
			return fmt.Errorf("engine: %s: %w", u.what(), err)
		}
		if n > 0 {
			// Steps recorded sent whose messages were still in the outbox:
			// taken back, and said so.
			journey = append(slices.Clone(journey), scenario.Record{At: u.at, Run: out.CancelRun, What: Withdrawn,
				Reason: fmt.Sprintf("%d queued message(s) of the run taken back unsent", n)})
		}
	}
	if err := u.journey(r, journey); err != nil {
		return err
	}
	f := &u.friend
	for _, s := range out.Sends {
		src := stepSource(kind, name, stepIndex(s.Step), u.id, prefix+s.Key, depth)
		to := []stepcast.Recipient{{Friend: f.ID, User: f.User}}
		if err := u.queueDelivery(src, stepcast.Delivery{Kind: stepcast.DeliveryPush, To: to, Messages: s.Messages}); err != nil {
			return err
		}
	}
	for _, a := range out.Actions {
		if err := u.do(stepSource(kind, name, stepIndex(a.Step), u.id, prefix+a.Key, depth), a.Action); err != nil {
			return err
		}
	}
	if out.Switch != "" {
		if u.def.scenarios[out.Switch] == nil {
			return u.dangling(stepcast.Action{Kind: stepcast.StartScenario, Name: out.Switch})
		}
		return u.stepScenario(out.Switch, scenario.Input{Kind: scenario.Start}, depth+1)
	}
	return nil
}

// journey records a machine's journey as events of the friend.
func (u *unit) journey(run runOf, records []scenario.Record) error {
	if len(records) == 0 {
		return nil
	}
	// IDs are the unit's and a count of the unit's journey records: fixed
	// by the unit, so that a replay records nothing twice, and distinct
	// however often the unit steps one scenario.
	h := sha256.Sum256([]byte(u.id))
	base := "journey/" + hex.EncodeToString(h[:12]) + "/"
	for _, r := range records {
		u.journeyN++
		i := u.journeyN
		data := map[string]string{"run": strconv.Itoa(r.Run), "of": string(run.kind)}
		if r.Step != "" {
			data["step"] = r.Step
		}
		if r.Status != "" {
			data["status"] = string(r.Status)
		}
		if r.Reason != "" {
			data["reason"] = truncate(r.Reason, stepcast.MaxTextLen)
		}
		of, what := run.name, string(r.What)
		if run.kind == stepcast.CauseReminder {
			data["key"] = run.key
			of = "reminder/" + run.name // reminders and scenarios name apart
		}
		if r.What == scenario.Ended {
			what = string(r.Status) // finished or exited, as the segment language asks
		}
		ev := stepcast.Event{ID: base + strconv.Itoa(i), Friend: u.friend.ID, Kind: stepcast.EventJourney, Name: of, Value: what, Data: data, At: r.At}
		seq, err := u.tx.AppendEvent(ev)
		if errors.Is(err, store.ErrDuplicate) {
			continue // a replay of the unit
		}
		if err != nil {
			return fmt.Errorf("engine: %s: journey of %q: %w", u.what(), run.name, err)
		}
		u.logged = append(u.logged, store.Event{Seq: seq, Event: ev})
		u.hist[u.friend.ID] = append(u.hist[u.friend.ID], ev)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// checkScenarios wakes the friend's active scenarios that have an exit or a
// goal, after the unit changed the friend: an exit takes effect at once,
// not when the next step comes due.
func (u *unit) checkScenarios() error {
	for _, name := range slices.Sorted(maps.Keys(u.friend.Scenarios)) {
		m := u.def.scenarios[name]
		if m == nil || scenarioKey(name) == u.woke {
			continue
		}
		if d := m.Definition(); d.Exit == "" && d.Goal == "" && !u.def.exitOrGoal[name] {
			continue // no version has one to check
		}
		if err := u.stepScenario(name, scenario.Input{Kind: scenario.Wake}, 0); err != nil {
			return err
		}
	}
	return nil
}

// startConditionsBefore notes, for the scenarios that start on a
// condition, whether the friend met it before the unit changed them.
func (u *unit) startConditionsBefore() error {
	for _, name := range u.def.startWhen {
		ok, err := u.def.scenarios[name].StartWhen().MatchRecord(u.record(), u.at)
		if err != nil {
			return fmt.Errorf("engine: %s: scenario %q start_when: %w", u.what(), name, err)
		}
		if u.before == nil {
			u.before = map[string]bool{}
		}
		u.before[name] = ok
	}
	return nil
}

// startConditionsMet starts the scenarios whose start condition the
// friend has come to meet in this unit.
func (u *unit) startConditionsMet() error {
	for _, name := range u.def.startWhen { // in one order: each start draws its seed from a count
		if was, ok := u.before[name]; !ok || was {
			continue
		}
		ok, err := u.def.scenarios[name].StartWhen().MatchRecord(u.record(), u.at)
		if err != nil {
			return fmt.Errorf("engine: %s: scenario %q start_when: %w", u.what(), name, err)
		}
		if ok {
			u.before[name] = true // once a unit
			if err := u.stepScenario(name, scenario.Input{Kind: scenario.Start}, 0); err != nil {
				return err
			}
		}
	}
	return nil
}

// blocked ends the friend's scenarios and reminders: a friend who blocked
// the account gets nothing more; coming back, the entry policy decides.
func (u *unit) blocked() error {
	for _, name := range slices.Sorted(maps.Keys(u.friend.Scenarios)) {
		if u.def.scenarios[name] == nil {
			if err := u.endUndefined(name, "blocked"); err != nil {
				return err
			}
			continue
		}
		if err := u.stepScenario(name, scenario.Input{Kind: scenario.Stop, Reason: "blocked"}, 0); err != nil {
			return err
		}
	}
	timers, err := u.tx.FriendTimers(u.friend.ID)
	if err != nil {
		return err
	}
	for _, t := range timers {
		k := ParseTimerKey(t.Key)
		if k.Kind != DueReminder || t.Due.Equal(never) {
			continue
		}
		name, key := reminderOfTimer(t)
		if u.def.reminders[name] == nil {
			if err := u.endUndefinedReminder(name, key, "blocked"); err != nil {
				return err
			}
			continue
		}
		if err := u.stepReminder(name, key, scenario.ReminderInput{Kind: scenario.Cancel, Reason: "blocked"}, 0); err != nil {
			return err
		}
	}
	return nil
}

// wakeScenario is the due work of kind DueScenario: the friend's pending
// step has come due.
func wakeScenario(u *unit, t store.Timer) error {
	name := scenarioOfTimer(t)
	if err := u.primeTimer(t); err != nil {
		return err
	}
	if u.def.scenarios[name] == nil {
		return u.endUndefined(name, scenarioGone)
	}
	st, err := u.timers[t.Key].scenario()
	if err != nil {
		return fmt.Errorf("engine: %s: scenario %q state: %w", u.what(), name, err)
	}
	if st.Status != scenario.Active {
		return u.checkStart(name) // woken by its start check
	}
	return u.stepScenario(name, scenario.Input{Kind: scenario.Wake}, 0)
}

// wakeReminder is the due work of kind DueReminder.
func wakeReminder(u *unit, t store.Timer) error {
	name, key := reminderOfTimer(t)
	if err := u.primeTimer(t); err != nil {
		return err
	}
	if u.def.reminders[name] == nil {
		return u.endUndefinedReminder(name, key, reminderGone)
	}
	st, err := reminderState(t.State)
	if err != nil {
		return fmt.Errorf("engine: %s: reminder %q state: %w", u.what(), name, err)
	}
	if st.Version == 0 && st.Status == "" && !st.Goal.IsZero() {
		// Written before reminders were machines ({"goal": …}): set the
		// goal now, which schedules its first step still ahead.
		u.timers[t.Key].state = nil
		return u.stepReminder(name, key, scenario.ReminderInput{Kind: scenario.SetGoal, Goal: st.Goal}, 0)
	}
	return u.stepReminder(name, key, scenario.ReminderInput{Kind: scenario.Wake}, 0)
}

// primeTimer makes the leased timer the unit's copy, or reports it stale
// when another instance changed it since the lease.
func (u *unit) primeTimer(t store.Timer) error {
	cur, err := u.timerOf(t.Key)
	if err != nil {
		return err
	}
	if cur.version != t.Version {
		return errStale
	}
	u.woke = t.Key
	return nil
}

// endUndefined ends the friend's run in a scenario the definitions no
// longer have, as a stop would: the pending step cancelled, the queued
// messages of the run taken back, the friend out of the scenario, the
// timer never due again. It happens when the run's next step comes due,
// or the friend blocks: removing a scenario does not visit its friends.
func (u *unit) endUndefined(name, reason string) error {
	t, err := u.timerOf(scenarioKey(name))
	if err != nil {
		return err
	}
	st, err := t.scenario()
	if err != nil {
		return fmt.Errorf("engine: %s: scenario %q state: %w", u.what(), name, err)
	}
	step := ""
	if st.Status == scenario.Active && st.Version > 0 {
		old, err := u.a.oldMachine(u, name, st.Version)
		if err != nil {
			return err
		}
		if old != nil {
			step = stepName(old, st.Step)
		}
	}
	next, out := scenario.Abandon(st, step, reason, u.at)
	return u.settle(name, nil, next, out, 0)
}

// endUndefinedReminder ends, as endUndefined does, the friend's goal key
// in a reminder the definitions no longer have.
func (u *unit) endUndefinedReminder(name, key, reason string) error {
	t, err := u.timerOf(reminderKey(name, key))
	if err != nil {
		return err
	}
	st, err := reminderState(t.state)
	if err != nil {
		return fmt.Errorf("engine: %s: reminder %q state: %w", u.what(), name, err)
	}
	next, out := scenario.AbandonReminder(st, "", reason, u.at)
	return u.settleReminder(name, key, nil, next, out, 0)
}

package scoring

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/stepcast/stepcast"
)

// ErrInvalid is returned (joined per problem, naming the rule, score or
// threshold) by New for a configuration that cannot work. It is also
// stepcast.ErrInvalid: errors.Is(err, stepcast.ErrInvalid) classifies every
// input error of the module at once.
var ErrInvalid = stepcast.NewInvalid("scoring: invalid configuration")

// RepeatMode says how often a rule may score for one friend.
type RepeatMode int

const (
	Every  RepeatMode = iota // every matching event scores
	Once                     // only the first matching event ever
	AtMost                   // at most N times within Window (Window 0: ever)
)

// Repeat is a rule's repeat policy.
type Repeat struct {
	Mode   RepeatMode
	N      int
	Window time.Duration
}

// Rule turns matching events into points.
type Rule struct {
	Name      string // unique; names the rule in the ledger
	Score     string
	Kind      stepcast.EventKind
	EventName string // "" matches any name
	// When is an optional expr condition over the event: kind, name,
	// value, amount and data (a map of strings), e.g. `amount >= 5000`.
	When   string
	Points int64
	// Choices gives points per event value, e.g. per answer choice; a
	// value not listed scores Points.
	Choices map[string]int64
	Repeat  Repeat
}

// Decay defines a score's recent total (L-step's 直近, beside the lifetime
// 累計): points lose half their weight every HalfLife, or count only within
// Window. The zero Decay means the recent total is the lifetime total.
type Decay struct {
	HalfLife time.Duration
	Window   time.Duration
}

// Direction is the direction of a threshold crossing.
type Direction int

const (
	Up   Direction = iota // the total rises to At or above
	Down                  // the total falls below At
)

// Threshold acts when a score's total crosses At.
type Threshold struct {
	Name      string
	Score     string
	Recent    bool // the recent total rather than the lifetime one
	At        int64
	Direction Direction
	Actions   []stepcast.Action
}

// Config is a scoring model's definition.
type Config struct {
	Scores     map[string]Decay // every score, with its decay
	Rules      []Rule
	Thresholds []Threshold
	// LedgerLimit is how many ledger entries a friend keeps one by one
	// once older entries no longer matter to any window (a windowed
	// score, an at-most-N-per-window rule); older ones are folded into one
	// summary per rule and score, so that a friend's state stays small
	// however long they stay active. Zero means DefaultLedgerLimit.
	LedgerLimit int
}

// DefaultLedgerLimit is the LedgerLimit of a zero Config.
const DefaultLedgerLimit = 100

// Model is a validated Config. It is immutable and safe for concurrent use.
type Model struct {
	cfg     Config
	conds   []*vm.Program // by rule; nil without a condition
	horizon time.Duration // the longest window: entries older than this matter to nothing but totals
}

// New validates c and compiles its conditions. Every problem is reported.
func New(c Config) (*Model, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	for name, d := range c.Scores {
		if d.HalfLife < 0 || d.Window < 0 || (d.HalfLife > 0 && d.Window > 0) {
			bad("score %q: decay needs one of a half-life or a window, non-negative", name)
		}
	}
	m := &Model{cfg: c, conds: make([]*vm.Program, len(c.Rules))}
	if m.cfg.LedgerLimit <= 0 {
		m.cfg.LedgerLimit = DefaultLedgerLimit
	}
	for _, d := range c.Scores {
		m.horizon = max(m.horizon, d.Window)
	}
	for _, r := range c.Rules {
		m.horizon = max(m.horizon, r.Repeat.Window)
	}
	seen := map[string]bool{}
	for i, r := range c.Rules {
		if r.Name == "" || seen[r.Name] {
			bad("rule %d: the name %q is empty or repeated", i, r.Name)
		}
		seen[r.Name] = true
		if _, ok := c.Scores[r.Score]; !ok {
			bad("rule %q: unknown score %q", r.Name, r.Score)
		}
		if r.Kind == "" {
			bad("rule %q: no event kind", r.Name)
		}
		if r.Repeat.Mode == AtMost && r.Repeat.N < 1 {
			bad("rule %q: at most %d times", r.Name, r.Repeat.N)
		}
		if r.When != "" {
			p, err := expr.Compile(r.When, expr.Env(conditionEnv(stepcast.Event{})), expr.AsBool(), expr.DisableBuiltin("now"))
			if err != nil {
				bad("rule %q: condition: %v", r.Name, err)
			}
			m.conds[i] = p
		}
	}
	for i, th := range c.Thresholds {
		if _, ok := c.Scores[th.Score]; !ok {
			bad("threshold %d (%q): unknown score %q", i, th.Name, th.Score)
		}
		for j, a := range th.Actions {
			if err := a.Validate(); err != nil {
				bad("threshold %q: action %d: %v", th.Name, j, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// runCondition runs a rule's condition over ev. A condition that fails at
// run time — a conversion of text that is no number, a key the event
// lacks, expr's memory budget — or panics is an error, never a crash.
func runCondition(p *vm.Program, ev stepcast.Event) (ok bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			ok, err = false, fmt.Errorf("%v", r)
		}
	}()
	v, err := expr.Run(p, conditionEnv(ev))
	if err != nil {
		return false, err
	}
	b, _ := v.(bool)
	return b, nil
}

func conditionEnv(e stepcast.Event) map[string]any {
	data := e.Data
	if data == nil {
		data = map[string]string{}
	}
	return map[string]any{"kind": string(e.Kind), "name": e.Name, "value": e.Value, "amount": e.Amount, "data": data}
}

// Entry is one line of a friend's ledger: which rule gave which points to
// which score for which event, and when.
type Entry struct {
	Rule   string    `json:"rule"`
	Score  string    `json:"score"`
	Event  string    `json:"event"`
	At     time.Time `json:"at"`
	Points int64     `json:"points"`
}

// decayed is a half-life total kept as a value at a time.
type decayed struct {
	Value float64   `json:"value"`
	AsOf  time.Time `json:"as_of"`
}

// State is one friend's scoring state: the engine stores it and passes it
// back. The zero State is a friend with no points.
type State struct {
	Lifetime map[string]int64   `json:"lifetime,omitempty"`
	HalfLife map[string]decayed `json:"half_life,omitempty"`
	Ledger   []Entry            `json:"ledger,omitempty"`
	// Earlier sums up the entries folded out of the ledger, per rule and
	// score (see Config.LedgerLimit).
	Earlier []Folded `json:"earlier,omitempty"`
	// Fired counts every entry ever recorded per rule (or Grant source),
	// for the once and at-most-ever repeat policies.
	Fired     map[string]int `json:"fired,omitempty"`
	CheckedAt time.Time      `json:"checked_at"` // thresholds were evaluated up to here
}

// Folded is the sum of a rule's older ledger entries for one score.
type Folded struct {
	Rule   string    `json:"rule"`
	Score  string    `json:"score"`
	Count  int       `json:"count"`
	Points int64     `json:"points"`
	First  time.Time `json:"first"`
	Last   time.Time `json:"last"`
	// Decayed is what the points were worth at Last, for a half-life score.
	Decayed float64 `json:"decayed,omitempty"`
}

func (s State) clone() State {
	s.Lifetime = maps.Clone(s.Lifetime)
	s.HalfLife = maps.Clone(s.HalfLife)
	s.Ledger = slices.Clone(s.Ledger)
	s.Earlier = slices.Clone(s.Earlier)
	s.Fired = maps.Clone(s.Fired)
	return s
}

// Total is a score's lifetime and recent totals.
type Total struct {
	Lifetime int64
	Recent   float64
}

// Totals returns every score's totals at now — or at the state's latest
// time, if an event dated after now was scored (a clock running behind).
func (m *Model) Totals(s State, now time.Time) map[string]Total {
	now = latest(now, s.CheckedAt)
	out := make(map[string]Total, len(m.cfg.Scores))
	for name := range m.cfg.Scores {
		out[name] = Total{Lifetime: s.Lifetime[name], Recent: m.recent(s, name, now)}
	}
	return out
}

// recent returns a score's recent total at at. A half-life total is kept
// as its value at its latest entry (AsOf) and only decays forward from
// there: asked about an earlier time, it answers its value at AsOf — it
// never grows backwards, so no order or spread of event times can make
// it overflow.
func (m *Model) recent(s State, score string, at time.Time) float64 {
	d := m.cfg.Scores[score]
	switch {
	case d.HalfLife > 0:
		h := s.HalfLife[score]
		if h.AsOf.IsZero() {
			return 0
		}
		return h.Value * decay(at.Sub(h.AsOf), d.HalfLife)
	case d.Window > 0:
		var sum float64
		for _, e := range s.Ledger {
			if e.Score == score && !e.At.After(at) && at.Sub(e.At) < d.Window {
				sum += float64(e.Points)
			}
		}
		return sum
	}
	return float64(s.Lifetime[score])
}

// decay is the weight left after elapsed time at a half-life: 2^(-elapsed/h),
// and 1 for elapsed <= 0 (points never weigh more than they were worth).
func decay(elapsed, halfLife time.Duration) float64 {
	if elapsed <= 0 {
		return 1
	}
	return math.Exp2(-float64(elapsed) / float64(halfLife))
}

// latest returns the later of a and b.
func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Crossing is a threshold crossed, and when.
type Crossing struct {
	Threshold string
	Score     string
	From, To  float64
	At        time.Time
}

// Result is what Apply or Tick did.
type Result struct {
	Entries   []Entry           // points given, in rule order
	Crossings []Crossing        // thresholds crossed, in order of time, then of configuration
	Actions   []stepcast.Action // the crossed thresholds' actions, in the same order
	// Notes say why a rule that matched the event scored nothing: its
	// condition failed on this event (`int(data.qty)` of "two", a missing
	// key, a memory budget) — the rule is skipped, the event still counts.
	Notes []string
}

// Apply scores ev for a friend in state s. Time-driven crossings up to
// ev.At (a recent total decaying below a threshold) come first in the
// result, then the event's points and the crossings they cause. s is not
// modified; the new state is returned.
//
// Events may arrive late and out of order (LINE redelivers webhooks, hosts
// report conversions late). Points count at the event's own time — a late
// event's points have already decayed by the time they arrive — so totals
// do not depend on arrival order. Thresholds are judged at the state's
// latest time (State.CheckedAt: the latest event or tick so far), which
// is "now" for the friend's scores: a late event that lifts the recent
// total across a level now crosses it now, and one that would have
// crossed it only in the past crosses nothing.
func (m *Model) Apply(s State, ev stepcast.Event) (State, Result, error) {
	if err := ev.Validate(); err != nil {
		return s, Result{}, err
	}
	s, res := m.Tick(s, ev.At)
	judged := s.CheckedAt // >= ev.At after the Tick
	before := m.levels(s, judged)
	for i, r := range m.cfg.Rules {
		if r.Kind != ev.Kind || (r.EventName != "" && r.EventName != ev.Name) {
			continue
		}
		if p := m.conds[i]; p != nil {
			ok, err := runCondition(p, ev)
			if err != nil {
				res.Notes = append(res.Notes, fmt.Sprintf("scoring rule %q: its condition failed on this event, so it scored nothing: %v", r.Name, err))
				continue
			}
			if !ok {
				continue
			}
		}
		if !allowed(s, r, ev.At) {
			continue
		}
		points := r.Points
		if p, ok := r.Choices[ev.Value]; ok {
			points = p
		}
		if points == 0 {
			continue
		}
		e := Entry{Rule: r.Name, Score: r.Score, Event: ev.ID, At: ev.At, Points: points}
		s = m.add(s, e)
		res.Entries = append(res.Entries, e)
	}
	m.crossings(before, m.levels(s, judged), judged, &res)
	return s, res, nil
}

// ErrUnknownScore is returned by Grant for a score the model does not
// define; it is also stepcast.ErrInvalid.
var ErrUnknownScore = stepcast.NewInvalid("scoring: unknown score")

// Grant gives points to a score outside the rules — an add_score action, a
// manual adjustment — recorded in the ledger under source (e.g.
// "action:welcome") for event, and returns the crossings they cause, after
// the time-driven ones up to at. Negative points subtract.
func (m *Model) Grant(s State, score string, points int64, source, event string, at time.Time) (State, Result, error) {
	if _, ok := m.cfg.Scores[score]; !ok {
		return s, Result{}, fmt.Errorf("%w %q", ErrUnknownScore, score)
	}
	s, res := m.Tick(s, at)
	if points == 0 {
		return s, res, nil
	}
	judged := s.CheckedAt // as in Apply
	before := m.levels(s, judged)
	e := Entry{Rule: source, Score: score, Event: event, At: at, Points: points}
	s = m.add(s, e)
	res.Entries = append(res.Entries, e)
	m.crossings(before, m.levels(s, judged), judged, &res)
	return s, res, nil
}

// ScoresKind reports whether any rule scores events of kind: if none does, Apply
// can only find time-driven crossings, which Tick finds as well.
func (m *Model) ScoresKind(kind stepcast.EventKind) bool {
	for _, r := range m.cfg.Rules {
		if r.Kind == kind {
			return true
		}
	}
	return false
}

// Scores returns the names of the model's scores, sorted.
func (m *Model) Scores() []string { return slices.Sorted(maps.Keys(m.cfg.Scores)) }

// allowed applies the rule's repeat policy. A window counts the rule's
// entries within Window of the event on either side — a late event is
// limited by the entries after it as well as before. Entries within a
// repeat window are never folded out of the ledger, so the ledger counts
// them.
func allowed(s State, r Rule, at time.Time) bool {
	if r.Repeat.Mode == Every {
		return true
	}
	n := s.Fired[r.Name]
	if r.Repeat.Window > 0 {
		n = 0
		for _, e := range s.Ledger {
			if d := at.Sub(e.At); e.Rule == r.Name && d < r.Repeat.Window && d > -r.Repeat.Window {
				n++
			}
		}
	}
	if r.Repeat.Mode == Once {
		return n == 0
	}
	return n < r.Repeat.N
}

func (m *Model) add(s State, e Entry) State {
	s = s.clone() // the caller's state is never modified
	if s.Lifetime == nil {
		s.Lifetime = map[string]int64{}
	}
	s.Lifetime[e.Score] = stepcast.AddInt(s.Lifetime[e.Score], e.Points)
	if d := m.cfg.Scores[e.Score]; d.HalfLife > 0 {
		if s.HalfLife == nil {
			s.HalfLife = map[string]decayed{}
		}
		h := s.HalfLife[e.Score]
		if h.AsOf.IsZero() || !e.At.Before(h.AsOf) {
			// The latest entry: the total decays to it, then takes it.
			h = decayed{Value: m.recent(s, e.Score, e.At) + float64(e.Points), AsOf: e.At}
		} else {
			// A late entry: its points, decayed to AsOf.
			h.Value += float64(e.Points) * decay(h.AsOf.Sub(e.At), d.HalfLife)
		}
		s.HalfLife[e.Score] = h
	}
	// The ledger stays in time order, a late entry among the ones before it.
	i := len(s.Ledger)
	for i > 0 && s.Ledger[i-1].At.After(e.At) {
		i--
	}
	s.Ledger = slices.Insert(s.Ledger, i, e)
	if s.Fired == nil {
		s.Fired = map[string]int{}
	}
	s.Fired[e.Rule]++
	if len(s.Ledger) > m.cfg.LedgerLimit {
		s = m.fold(s, latest(e.At, s.CheckedAt))
	}
	return s
}

// fold moves the oldest ledger entries beyond LedgerLimit into the
// summaries, as long as they lie beyond every window at now.
func (m *Model) fold(s State, now time.Time) State {
	cut := now.Add(-m.horizon)
	n := 0
	for n < len(s.Ledger)-m.cfg.LedgerLimit && s.Ledger[n].At.Before(cut) {
		n++
	}
	if n == 0 {
		return s
	}
	for _, e := range s.Ledger[:n] {
		i := slices.IndexFunc(s.Earlier, func(f Folded) bool { return f.Rule == e.Rule && f.Score == e.Score })
		if i < 0 {
			s.Earlier = append(s.Earlier, Folded{Rule: e.Rule, Score: e.Score, First: e.At, Last: e.At})
			i = len(s.Earlier) - 1
		}
		f := &s.Earlier[i]
		f.Count++
		f.Points += e.Points
		if h := m.cfg.Scores[e.Score].HalfLife; h > 0 {
			// Decayed is the worth at Last: move Last forward first if
			// this entry is later, then add the entry's worth at Last.
			if e.At.After(f.Last) {
				f.Decayed *= decay(e.At.Sub(f.Last), h)
				f.Last = e.At
			}
			f.Decayed += float64(e.Points) * decay(f.Last.Sub(e.At), h)
		}
		f.First, f.Last = minTime(f.First, e.At), maxTime(f.Last, e.At)
	}
	s.Ledger = slices.Clone(s.Ledger[n:]) // let the folded entries go
	return s
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// levels returns each threshold's total at t.
func (m *Model) levels(s State, t time.Time) []float64 {
	out := make([]float64, len(m.cfg.Thresholds))
	for i, th := range m.cfg.Thresholds {
		if th.Recent {
			out[i] = m.recent(s, th.Score, t)
		} else {
			out[i] = float64(s.Lifetime[th.Score])
		}
	}
	return out
}

func (m *Model) crossings(before, after []float64, at time.Time, res *Result) {
	for i, th := range m.cfg.Thresholds {
		level := float64(th.At)
		up := before[i] < level && after[i] >= level
		down := before[i] >= level && after[i] < level
		if (th.Direction == Up && up) || (th.Direction == Down && down) {
			res.Crossings = append(res.Crossings, Crossing{Threshold: th.Name, Score: th.Score, From: before[i], To: after[i], At: at})
			res.Actions = append(res.Actions, th.Actions...)
		}
	}
}

// Tick evaluates the thresholds that time alone can cross — recent totals
// decaying — from the state's CheckedAt to now, and returns the new state.
// The engine calls it at NextCrossing.
func (m *Model) Tick(s State, now time.Time) (State, Result) {
	var res Result
	if !s.CheckedAt.IsZero() && now.After(s.CheckedAt) {
		m.crossings(m.levels(s, s.CheckedAt), m.levels(s, now), now, &res)
	}
	if now.After(s.CheckedAt) {
		s.CheckedAt = now
	}
	return s, res
}

// NextCrossing returns the earliest time after now (or after the state's
// latest time, if later) at which time alone may cross a threshold in its
// direction (a half-life total decaying through a level, ledger entries
// leaving a window), so that the engine can wake the friend then. A total
// falling through an upward threshold's level needs no wake-up.
func (m *Model) NextCrossing(s State, now time.Time) (time.Time, bool) {
	now = latest(now, s.CheckedAt) // the state's own now, as Apply judges
	var next time.Time
	consider := func(t time.Time) {
		// Up to a whole microsecond: stores keep microseconds.
		if u := t.Truncate(time.Microsecond); u.Before(t) {
			t = u.Add(time.Microsecond)
		}
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, th := range m.cfg.Thresholds {
		if !th.Recent {
			continue
		}
		d := m.cfg.Scores[th.Score]
		switch {
		case d.HalfLife > 0:
			h := s.HalfLife[th.Score]
			v, level := h.Value, float64(th.At)
			if h.AsOf.IsZero() || v == 0 || level == 0 || (v > 0) != (level > 0) || math.Abs(level) >= math.Abs(v) {
				continue
			}
			// Decaying toward zero, a positive total can only fall
			// through a level, a negative one only rise.
			if (v > 0) != (th.Direction == Down) {
				continue
			}
			// v·2^(-t/h) = level  ⇔  t = h·log2(v/level); a microsecond
			// later the total is past the level, so a Tick then sees it.
			// Beyond the last representable time it never happens.
			after := float64(d.HalfLife) * math.Log2(v/level)
			if after >= float64(stepcast.MaxTime.Sub(h.AsOf)) {
				continue
			}
			consider(h.AsOf.Add(time.Duration(after) + time.Microsecond))
		case d.Window > 0:
			for _, e := range s.Ledger {
				// An entry leaving the window lowers the total by its
				// points: positive points matter to a downward threshold,
				// negative ones to an upward one.
				if e.Score == th.Score && e.Points != 0 && (e.Points > 0) == (th.Direction == Down) {
					consider(e.At.Add(d.Window))
				}
			}
		}
	}
	return next, !next.IsZero()
}

// Explained is a ledger entry with what it contributes to the recent total
// now; or, with Count > 1, the sum of a rule's Count older entries (Event
// is empty and At is the latest of them).
type Explained struct {
	Entry
	Count  int
	Recent float64
}

// Explain returns where a score's points came from, oldest first: the
// summaries of older entries per rule, then every ledger entry for it,
// each with its contribution to the recent total at now.
func (m *Model) Explain(s State, score string, now time.Time) []Explained {
	now = latest(now, s.CheckedAt) // as Totals
	d := m.cfg.Scores[score]
	var out []Explained
	for _, f := range s.Earlier {
		if f.Score != score {
			continue
		}
		x := Explained{Entry: Entry{Rule: f.Rule, Score: f.Score, At: f.Last, Points: f.Points}, Count: f.Count, Recent: float64(f.Points)}
		switch {
		case d.HalfLife > 0:
			x.Recent = f.Decayed * decay(now.Sub(f.Last), d.HalfLife)
		case d.Window > 0:
			x.Recent = 0 // folded entries lie beyond the window
		}
		out = append(out, x)
	}
	for _, e := range s.Ledger {
		if e.Score != score {
			continue
		}
		x := Explained{Entry: e, Count: 1, Recent: float64(e.Points)}
		switch {
		case d.HalfLife > 0:
			x.Recent *= decay(now.Sub(e.At), d.HalfLife)
		case d.Window > 0:
			if e.At.After(now) || now.Sub(e.At) >= d.Window {
				x.Recent = 0
			}
		}
		out = append(out, x)
	}
	return out
}

package engine

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stepcast/stepcast"
)

// Guards are the checks the dispatcher makes on a message delivery just
// before its first request, not when it was scheduled: quiet hours,
// frequency caps and the quota guard. They are an account's policy, part
// of its Definitions (the "guards" section of a definitions file).
//
// What each guard covers:
//
//   - QuietHours: pushes and multicasts (per recipient, in the friend's
//     time zone), narrowcasts and broadcasts (in the account's zone).
//   - Caps: pushes and multicasts (per recipient) of the causes a cap
//     names — broadcasts, scenarios and reminders by default.
//   - the quota guard: pushes and multicasts (a message per recipient),
//     narrowcasts and broadcasts (refused only when nothing is left:
//     their audience is LINE's to count).
//
// None covers replies (they answer the friend, and cost nothing), rich
// menu requests (not messages) or test sends (stepcast.CauseTest: staff
// asked for them now; the quota guard still applies).
//
// A guard judges a delivery only before any request for it was made
// (store.Delivery.Attempts is 1 when leased): a retry — which LINE may
// already have taken — goes on unguarded under its retry key, so that no
// guard can change, split or hold a request that may have been
// delivered.
type Guards struct {
	// QuietHours, if set, is when no guarded message goes: a delivery due
	// within the window waits, pending, to the window's end.
	QuietHours *QuietHours
	// Caps bound how many guarded messages a friend receives per local
	// day or rolling window. Each is checked on its own; the first that
	// refuses decides.
	Caps []FrequencyCap
	// SendOverQuota turns the quota guard off: deliveries go even when
	// the month's remaining quota (as the Sender reads it) cannot cover
	// them, for LINE to stop at its limit (or bill, on a plan with extra
	// messages).
	SendOverQuota bool
}

// WallClock is a time of day on a local clock, minute resolution.
type WallClock struct{ Hour, Minute int }

// ParseWallClock reads "HH:MM" (24-hour, "21:00", "8:30").
func ParseWallClock(s string) (WallClock, error) {
	h, m, ok := strings.Cut(s, ":")
	hour, err1 := strconv.Atoi(h)
	minute, err2 := strconv.Atoi(m)
	c := WallClock{hour, minute}
	// Digits only: Atoi also reads a sign ("+8", "-0").
	digits := len(h) >= 1 && len(h) <= 2 && strings.Trim(h, "0123456789") == "" && strings.Trim(m, "0123456789") == ""
	if !ok || !digits || err1 != nil || err2 != nil || len(m) != 2 || c.validate() != nil {
		return WallClock{}, fmt.Errorf("%w: time of day %s: want HH:MM, 00:00 to 23:59", stepcast.ErrInvalid, stepcast.Quote(s))
	}
	return c, nil
}

func (c WallClock) validate() error {
	if c.Hour < 0 || c.Hour > 23 || c.Minute < 0 || c.Minute > 59 {
		return fmt.Errorf("time of day %02d:%02d is not within 00:00 to 23:59", c.Hour, c.Minute)
	}
	return nil
}

func (c WallClock) String() string { return fmt.Sprintf("%02d:%02d", c.Hour, c.Minute) }

func (c WallClock) minutes() int { return c.Hour*60 + c.Minute }

// QuietHours is a daily window, on the friend's local clock, in which no
// guarded message goes: from Start (included) to End (excluded), across
// midnight when End is earlier than Start (21:00–08:00). A delivery due
// within it stays pending, due again at the window's end (the first
// instant at or after End's wall time, DST-safe: stepcast.LocalTime),
// with the reason in its Error.
//
// The friend's zone is their record's TimeZone (store.Friend, set from
// their profile) if it names a zone, else the account's
// (segment.SchemaConfig.Location, Asia/Tokyo by default).
type QuietHours struct {
	Start, End WallClock
	// ExemptPriority, if positive: deliveries of at least this Priority
	// go at any hour. A scenario step, a reminder step and a
	// send_messages action set their push's priority with Priority
	// (`priority:` in a definitions file, at most MaxStepPriority, 99);
	// a Broadcast with its Priority; replies (ReplyPriority, 100) are
	// never held. Everything else is queued at priority 0.
	ExemptPriority int
}

// contains reports whether local wall time t (minutes since midnight)
// falls in the window.
func (q QuietHours) contains(minute int) bool {
	s, e := q.Start.minutes(), q.End.minutes()
	if s < e {
		return minute >= s && minute < e
	}
	return minute >= s || minute < e
}

// CapPolicy is what becomes of a message a frequency cap refuses.
type CapPolicy string

// The cap policies.
const (
	// CapDefer keeps the message pending, due again when the cap frees
	// (the friend's next local day, or when the oldest counted send
	// leaves the rolling window). The friend's later messages do not wait
	// behind it: each is judged on its own.
	CapDefer CapPolicy = "defer"
	// CapDrop gives the message up: the delivery fails (store.Failed)
	// with the reason — an error in the cause's figures.
	CapDrop CapPolicy = "drop"
	// CapSkip passes the message over, as planned: the delivery is
	// cancelled (store.Cancelled) with the reason, not an error. For a
	// scenario or reminder step, the friend's journey goes on: the
	// engine moves a friend through a scenario when a step is queued,
	// not when it is sent, so no policy stops or rewinds a scenario; drop
	// and skip differ in the record (a failure against a planned
	// omission).
	CapSkip CapPolicy = "skip"
)

// Valid reports whether p is a known policy ("" is not: see
// FrequencyCap.Policy for the default).
func (p CapPolicy) Valid() bool { return p == CapDefer || p == CapDrop || p == CapSkip }

// MaxCapMessages bounds FrequencyCap.Max, and maxSendLog the sends kept
// per friend to count against caps (twice as many, so that sends of
// causes a cap does not count leave room for those it does).
const (
	MaxCapMessages = 50
	maxSendLog     = 2 * MaxCapMessages
)

// MaxCapWindow bounds a rolling FrequencyCap.Window.
const MaxCapWindow = 31 * 24 * time.Hour

// DefaultCapCauses are the causes a FrequencyCap without Causes counts
// and caps: what a marketer plans, not what a friend's own action set
// off.
var DefaultCapCauses = []stepcast.CauseKind{stepcast.CauseBroadcast, stepcast.CauseScenario, stepcast.CauseReminder}

// FrequencyCap bounds the guarded messages (pushes and multicast
// recipients) a friend receives: at most Max per local calendar day in
// the friend's zone (Window 0), or per rolling Window. The count is of
// what was sent — recorded per friend in the commit that records each
// send, so that deciding costs a read per recipient, never a scan of the
// outbox or the events. Sends that may be in flight at once on other
// engines are not seen: a cap can be exceeded by as many as go in the
// same instant.
type FrequencyCap struct {
	// Name identifies the cap in reasons and logs; empty reads as
	// "cap <n>".
	Name string
	Max  int // 1 to MaxCapMessages
	// Window is the rolling window (1 minute to MaxCapWindow); 0 counts
	// per local calendar day.
	Window time.Duration
	// Causes are the cause kinds the cap counts and caps; none means
	// DefaultCapCauses.
	Causes []stepcast.CauseKind
	// ExemptPriority, if positive: a message of at least this Priority
	// is never capped, though it counts (the friend did get it). Steps,
	// reminder steps, send_messages actions and broadcasts set their
	// priority, as for QuietHours.ExemptPriority.
	ExemptPriority int
	// Policy is what becomes of a capped message; "" means CapDefer.
	Policy CapPolicy
	// Policies overrides Policy per cause kind (skip a scenario's step,
	// defer a broadcast).
	Policies map[stepcast.CauseKind]CapPolicy
}

// policy is the cap's policy for a message of cause kind k.
func (c *FrequencyCap) policy(k stepcast.CauseKind) CapPolicy {
	if p, ok := c.Policies[k]; ok {
		return p
	}
	if c.Policy == "" {
		return CapDefer
	}
	return c.Policy
}

// counts reports whether the cap counts (and caps) messages of cause
// kind k.
func (c *FrequencyCap) counts(k stepcast.CauseKind) bool {
	causes := c.Causes
	if len(causes) == 0 {
		causes = DefaultCapCauses
	}
	for _, x := range causes {
		if x == k {
			return true
		}
	}
	return false
}

func (c *FrequencyCap) label(i int) string {
	if c.Name != "" {
		return c.Name
	}
	return fmt.Sprintf("cap %d", i+1)
}

// knownCause reports whether k is one of stepcast's cause kinds.
func knownCause(k stepcast.CauseKind) bool {
	switch k {
	case stepcast.CauseRule, stepcast.CauseScenario, stepcast.CauseReminder, stepcast.CauseBroadcast, stepcast.CauseRichMenu, stepcast.CauseTest:
		return true
	}
	return false
}

// validate reports every problem in g, each with its path under "guards".
func (g *Guards) validate(bad func(path string, err error)) {
	badf := func(path, format string, args ...any) { bad(path, fmt.Errorf(format, args...)) }
	if q := g.QuietHours; q != nil {
		if err := q.Start.validate(); err != nil {
			bad("guards.quiet_hours.start", err)
		}
		if err := q.End.validate(); err != nil {
			bad("guards.quiet_hours.end", err)
		}
		if q.Start == q.End {
			badf("guards.quiet_hours", "start and end are both %s: an empty window (leave quiet hours out) or the whole day (no message would ever go)", q.Start)
		}
		if q.ExemptPriority < 0 {
			badf("guards.quiet_hours.exempt_priority", "%d is negative (0: no exemption)", q.ExemptPriority)
		}
	}
	names := map[string]bool{}
	for i := range g.Caps {
		c := &g.Caps[i]
		path := fmt.Sprintf("guards.caps[%d]", i)
		if c.Name != "" {
			if err := stepcast.CheckName("cap name", c.Name); err != nil {
				bad(path+".name", err)
			} else if names[c.Name] {
				badf(path+".name", "%s names two caps", stepcast.Quote(c.Name))
			}
			names[c.Name] = true
		}
		if c.Max < 1 || c.Max > MaxCapMessages {
			badf(path+".max", "%d is not within 1 to %d messages", c.Max, MaxCapMessages)
		}
		if c.Window != 0 && (c.Window < time.Minute || c.Window > MaxCapWindow) {
			badf(path+".window", "%s is not within 1m to %s (0: per local day)", c.Window, MaxCapWindow)
		}
		for j, k := range c.Causes {
			if !knownCause(k) {
				badf(fmt.Sprintf("%s.causes[%d]", path, j), "unknown cause kind %s", stepcast.Quote(string(k)))
			} else if k == stepcast.CauseTest || k == stepcast.CauseRichMenu {
				badf(fmt.Sprintf("%s.causes[%d]", path, j), "%s deliveries are never capped", k)
			}
		}
		if c.ExemptPriority < 0 {
			badf(path+".exempt_priority", "%d is negative (0: no exemption)", c.ExemptPriority)
		}
		if c.Policy != "" && !c.Policy.Valid() {
			badf(path+".policy", "unknown policy %s (want defer, drop or skip)", stepcast.Quote(string(c.Policy)))
		}
		for k, p := range c.Policies {
			switch {
			case !knownCause(k):
				badf(path+".policies", "unknown cause kind %s", stepcast.Quote(string(k)))
			case !p.Valid():
				badf(path+".policies."+string(k), "unknown policy %s (want defer, drop or skip)", stepcast.Quote(string(p)))
			}
		}
	}
}

package engine

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/render"
	"github.com/stepcast/stepcast/store"
)

// MaxTestFriends bounds Definitions.TestFriends: a test send is for the
// staff who check a message, and each of them costs a message of the
// monthly quota per test.
const MaxTestFriends = 100

// TestSendPriority is the outbox priority of a test send's pushes: above
// broadcasts and scenario steps (0), below replies (ReplyPriority), so
// that staff checking a message do not wait behind a broadcast being
// sent.
const TestSendPriority = 50

// ErrNoTestFriends is returned by TestSend for an account whose
// definitions list no test friends. It is stepcast.ErrInvalid.
var ErrNoTestFriends = stepcast.NewInvalid("no test friends: list the staff's LINE userIds in Definitions.TestFriends (test_friends in a file)")

// checkTestFriends checks an account's test friends: not too many, each a
// userId within the input limits, none twice.
func checkTestFriends(users []stepcast.UserID) []error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, &DefinitionError{Path: path, Err: fmt.Errorf("%w: "+format, append([]any{ErrDefinition}, args...)...)})
	}
	if len(users) > MaxTestFriends {
		bad("test_friends", "%d test friends, more than MaxTestFriends (%d)", len(users), MaxTestFriends)
		return errs
	}
	seen := make(map[stepcast.UserID]int, len(users))
	for i, u := range users {
		path := fmt.Sprintf("test_friends[%d]", i)
		if err := stepcast.CheckText("test friend's userId", string(u), stepcast.MaxIDLen); err != nil {
			bad(path, "%v", err)
			continue
		}
		if u == "" {
			bad(path, "an empty userId")
			continue
		}
		if j, dup := seen[u]; dup {
			bad(path, "%s is test_friends[%d] already", stepcast.Quote(string(u)), j)
			continue
		}
		seen[u] = i
	}
	return errs
}

// TestSend is a test send (テスト送信): messages sent to the account's test
// friends only, before they go to the real audience.
type TestSend struct {
	// Name names what is tested — a broadcast's or a scenario's name —:
	// the pushes' cause is "test:<Name>" (stepcast.CauseTest), by which
	// Account.Deliveries, DeliveryProgress and CancelDeliveries select
	// them. A stepcast.CheckName name.
	Name string
	// Messages are 1 to 5 LINE message objects, with placeholders for
	// friend fields ({{name}}, {{name|default}}: package render), checked
	// against the account's schema and rendered with each test friend's
	// own fields.
	Messages []stepcast.Message
	// To are the test friends to send to, each one of
	// Definitions.TestFriends; none means all of them.
	To []stepcast.UserID
	// Preview renders the messages for each test friend and queues
	// nothing: no quota is spent.
	Preview bool
	// NotificationDisabled sends without a push notification.
	NotificationDisabled bool
	// Broadcast, if set, is the broadcast to test — one scheduled
	// (Account.Broadcast(ctx, name).Broadcast) or yet to be —: its name
	// and messages are the test send's, which then gives neither, and it
	// sends without a notification if the broadcast does. Its segment,
	// time, priority and aggregation unit play no part: the test goes to
	// the test friends, now, and counts in no statistics (LINE's
	// customAggregationUnits included).
	//
	// An A/B broadcast's variants (Broadcast.Variants) are each sent to
	// each test friend — a push per variant, named in its note —, or the
	// one Variant names. No friend is assigned a variant, no tally moves.
	Broadcast *Broadcast
	Variant   string
}

// TestSendReport is what a test send queued, or with Preview would queue.
type TestSendReport struct {
	Name    string
	Preview bool
	// Sends are the test friends, in the order of TestSend.To (or of
	// Definitions.TestFriends), each once per variant of an A/B
	// broadcast tested.
	Sends []TestSendResult
	// Pushes counts the pushes queued (with Preview, that would be): one
	// per test friend not skipped, and variant.
	Pushes int
	// Messages is what the pushes cost of the monthly quota: LINE counts
	// a message per recipient of a push, however many of up to five
	// message objects it holds — Pushes, recipients × 1 each.
	Messages int
}

// TestSendResult is the test send to one test friend.
type TestSendResult struct {
	User    stepcast.UserID
	Friend  stepcast.FriendID // 0: not a friend of the account
	Variant string            // the variant of an A/B broadcast sent
	// Messages are the messages rendered with the test friend's fields.
	Messages []stepcast.Message
	// Delivery is the outbox row queued; 0 with Preview or a skip.
	Delivery uint64
	// Skipped says why nothing is sent to this test friend: not a friend
	// of the account, blocked, a placeholder with no value and no default
	// ("missing_field:company"); "" when sent.
	Skipped string
}

// testNote is the note on every test push.
const testNote = "test send: to test friends only, counted in no broadcast's or experiment's statistics, capped by nothing, running no rules"

// TestSend queues t's messages — or its broadcast's — as pushes to the
// account's test friends (Definitions.TestFriends, or those of them t.To
// names), each rendered
// with that test friend's own fields and display name, and returns what
// it queued. With t.Preview it renders and queues nothing.
//
// A test send is free of the real audience: its pushes have a cause of
// their own (stepcast.CauseTest, "test:<Name>"), so that no broadcast's
// or experiment's progress or statistics count them; they carry no
// experiment or variant; they run no rules and change no friend's state
// — no tag, field, score, scenario, tally or event is written, only the
// outbox rows of the pushes — and each says in its note that it is a
// test. They go at TestSendPriority, and the dispatcher's guards (quiet
// hours, frequency caps) do not hold them: staff asked for them now. A test send does cost LINE
// messages: each push counts one message against the monthly quota
// (TestSendReport.Messages), as any push does; Preview costs none.
//
// A test friend who is not a friend of the account (never followed: a
// push reaches only friends), who blocked it, or whose fields leave a
// placeholder without a value and no default is skipped, with the
// reason. Errors: t without a name, messages LINE or the schema refuse
// (a *render.Error), a userId not among the test friends — each
// stepcast.ErrInvalid, and nothing is queued —; ErrNoTestFriends; the
// store's.
func (a *Account) TestSend(ctx context.Context, t TestSend) (TestSendReport, error) {
	arms, err := testArms(&t)
	if err != nil {
		return TestSendReport{}, fmt.Errorf("engine: account %q: test send: %w", a.id, err)
	}
	rep := TestSendReport{Name: t.Name, Preview: t.Preview}
	def := a.def.Load()
	to, err := testRecipients(def.defs.TestFriends, t)
	if err != nil {
		return rep, fmt.Errorf("engine: account %q: test send: %w", a.id, err)
	}
	tmpls := make([]*render.Template, len(arms))
	for i, arm := range arms {
		if tmpls[i], err = render.Parse(arm.messages, def.schema); err != nil {
			what := stepcast.Quote(t.Name)
			if arm.variant != "" {
				what += " variant " + stepcast.Quote(arm.variant)
			}
			return rep, fmt.Errorf("engine: account %q: test send %s: %w", a.id, what, err)
		}
	}
	rep.Sends = make([]TestSendResult, 0, len(to)*len(arms))
	var rows []store.Delivery
	now := a.e.cfg.Now()
	// Keys name the test by a digest (a name may be as long as a key) and
	// each test send by a nonce: sending a test again sends again.
	named := sha256.Sum256([]byte(t.Name))
	nonce := make([]byte, 8)
	rand.Read(nonce)
	err = a.e.st.View(ctx, a.id, func(tx store.ReadTx) error {
		rows, rep.Sends = rows[:0], rep.Sends[:0]
		for _, user := range to {
			f, err := tx.FriendByUser(user)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			for k, arm := range arms {
				rep.Sends = append(rep.Sends, TestSendResult{User: user, Variant: arm.variant})
				r := &rep.Sends[len(rep.Sends)-1]
				if err != nil {
					r.Skipped = "not a friend of the account: LINE delivers a push only to a friend"
					continue
				}
				r.Friend = f.ID
				msgs, skip := tmpls[k].Render(render.Friend{Fields: f.Fields, DisplayName: f.DisplayName})
				r.Messages = msgs
				// Blocked first: filling in a missing field would not
				// reach them either.
				if !f.Following {
					r.Skipped = "has blocked the account: a push cannot reach them"
					continue
				}
				if skip != nil {
					r.Skipped = skip.Key()
					continue
				}
				note := testNote
				if arm.variant != "" {
					// Named in the note only: Delivery.Variant would count it.
					note += "; variant " + stepcast.Quote(arm.variant)
				}
				d := stepcast.Delivery{Kind: stepcast.DeliveryPush, To: []stepcast.Recipient{{Friend: f.ID, User: f.User}}, Messages: msgs,
					NotificationDisabled: t.NotificationDisabled, Cause: stepcast.Cause{Kind: stepcast.CauseTest, Name: t.Name}, Priority: TestSendPriority, Note: note}
				if err := d.ValidateChecked(); err != nil {
					return err
				}
				body, err := json.Marshal(d)
				if err != nil {
					return err
				}
				key := fmt.Sprintf("test/%x/%x/%d", named[:8], nonce, len(rep.Sends)-1)
				rows = append(rows, store.Delivery{Key: key, Kind: d.Kind, RetryKey: uuidFrom(string(a.id) + "\x00" + key), Payload: body,
					Cause: d.Cause.Key(), Friends: []stepcast.FriendID{f.ID}, Priority: TestSendPriority, NextAt: now, CreatedAt: now})
			}
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("engine: account %q: test send %s: %w", a.id, stepcast.Quote(t.Name), err)
	}
	rep.Pushes, rep.Messages = len(rows), len(rows)
	if t.Preview || len(rows) == 0 {
		return rep, nil
	}
	ids := make([]uint64, len(rows))
	err = a.e.st.Update(ctx, a.id, func(tx store.Tx) error {
		for i, row := range rows {
			id, err := tx.Enqueue(row)
			if err != nil {
				return err
			}
			ids[i] = id
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("engine: account %q: test send %s: %w", a.id, stepcast.Quote(t.Name), err)
	}
	k := 0
	for i := range rep.Sends {
		if rep.Sends[i].Skipped == "" {
			rep.Sends[i].Delivery = ids[k]
			k++
		}
	}
	return rep, nil
}

// testArm is what one push of a test send holds: the messages, or a
// variant's.
type testArm struct {
	variant  string
	messages []stepcast.Message
}

// testArms takes t's broadcast's name and messages into t, and returns the
// messages each test friend is sent: t's, or one arm per variant chosen.
func testArms(t *TestSend) ([]testArm, error) {
	b := t.Broadcast
	if b == nil {
		if t.Variant != "" {
			return nil, fmt.Errorf("%w: test send %s: a variant (%s) is a broadcast's", stepcast.ErrInvalid, stepcast.Quote(t.Name), stepcast.Quote(t.Variant))
		}
		return []testArm{{messages: t.Messages}}, nil
	}
	if t.Name != "" || len(t.Messages) > 0 {
		return nil, fmt.Errorf("%w: test send of broadcast %s: Name and Messages are the broadcast's, give neither", stepcast.ErrInvalid, stepcast.Quote(b.Name))
	}
	t.Name, t.Messages, t.NotificationDisabled = b.Name, b.Messages, t.NotificationDisabled || b.NotificationDisabled
	if len(b.Variants) == 0 {
		if t.Variant != "" {
			return nil, fmt.Errorf("%w: test send of broadcast %s: it has no variants, not %s", stepcast.ErrInvalid, stepcast.Quote(b.Name), stepcast.Quote(t.Variant))
		}
		return []testArm{{messages: b.Messages}}, nil
	}
	var arms []testArm
	for _, v := range b.Variants {
		if t.Variant == "" || v.Name == t.Variant {
			arms = append(arms, testArm{variant: v.Name, messages: v.Messages})
		}
	}
	if len(arms) == 0 {
		return nil, fmt.Errorf("%w: test send of broadcast %s: no variant %s", stepcast.ErrInvalid, stepcast.Quote(b.Name), stepcast.Quote(t.Variant))
	}
	return arms, nil
}

// testRecipients checks t against the account's test friends and returns
// whom it goes to.
func testRecipients(friends []stepcast.UserID, t TestSend) ([]stepcast.UserID, error) {
	if err := stepcast.CheckName("test send name", t.Name); err != nil {
		return nil, err
	}
	if len(friends) == 0 {
		return nil, ErrNoTestFriends
	}
	if len(t.To) == 0 {
		return friends, nil
	}
	seen := map[stepcast.UserID]bool{}
	for i, u := range t.To {
		if !slices.Contains(friends, u) {
			return nil, fmt.Errorf("%w: to[%d]: %s is not one of the account's test friends (Definitions.TestFriends)", stepcast.ErrInvalid, i, stepcast.Quote(string(u)))
		}
		if seen[u] {
			return nil, fmt.Errorf("%w: to[%d]: %s twice", stepcast.ErrInvalid, i, stepcast.Quote(string(u)))
		}
		seen[u] = true
	}
	return t.To, nil
}

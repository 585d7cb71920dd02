package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// Inputs at and beyond the limits (see store's Limits and stepcast.MaxIDLen):
// every backend accepts and refuses exactly the same, refuses before
// anything reaches its storage (the transaction goes on and commits), with
// an error matching store.ErrInvalid and stepcast.ErrInvalid that quotes at
// most a short prefix of the input, and keeps what it accepts unchanged.

// long returns n bytes of 'x': a run that an error message must not repeat.
func long(n int) string { return strings.Repeat("x", n) }

const (
	badUTF8 = "caf\xe9"
	withNUL = "a\x00b"
)

// A limitCase is one write; ok says whether the store must take it, and
// check, if set, reads back what it wrote.
type limitCase struct {
	name  string
	ok    bool
	write func(tx store.Tx) error
	check func(t *testing.T, tx store.ReadTx)
}

func testLimits(t *testing.T, s store.Store) {
	ids := addFriends(t, s, 1)
	f := ids[0]
	at := t0
	blob := bytes.Repeat([]byte{0xff}, store.MaxBlobLen)
	var cases []limitCase
	cases = append(cases, friendLimitCases()...)
	cases = append(cases, eventLimitCases(f, at)...)
	cases = append(cases, changeLimitCases(f, at)...)
	cases = append(cases, timerLimitCases(f, at, blob)...)
	cases = append(cases, deliveryLimitCases(at, blob)...)
	cases = append(cases, definitionLimitCases(at, blob)...)
	cases = append(cases, tallyLimitCases()...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tag := "after/" + c.name
			update(t, s, func(tx store.Tx) error {
				err := c.write(tx)
				if c.ok && err != nil {
					t.Errorf("refused: %v", err)
				}
				if !c.ok {
					checkRefusal(t, err)
				}
				// A refusal leaves the transaction usable: nothing reached
				// the backend's storage.
				_, err = tx.Apply(store.Change{Friend: f, Kind: store.SetTag, Name: tag})
				return err
			})
			view(t, s, func(tx store.ReadTx) error {
				if got, _ := tx.Friend(f); !containsTag(got.Tags, tag) {
					t.Errorf("the transaction did not commit after the write")
				}
				if c.check != nil && c.ok {
					c.check(t, tx)
				}
				return nil
			})
		})
	}
	t.Run("Leases", func(t *testing.T) { testLeaseLimits(t, s) })
	t.Run("Outcomes", func(t *testing.T) { testOutcomeLimits(t, s) })
}

func containsTag(tags []string, tag string) bool {
	for _, x := range tags {
		if x == tag {
			return true
		}
	}
	return false
}

// checkRefusal checks a refusal's identity and message.
func checkRefusal(t *testing.T, err error) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("accepted, want refused")
	case !errors.Is(err, store.ErrInvalid) || !errors.Is(err, stepcast.ErrInvalid):
		t.Errorf("error %v matches store.ErrInvalid: %v, stepcast.ErrInvalid: %v; want both", err, errors.Is(err, store.ErrInvalid), errors.Is(err, stepcast.ErrInvalid))
	case len(err.Error()) > 400 || strings.Contains(err.Error(), long(41)):
		t.Errorf("the error repeats the input (%d bytes): %.200s…", len(err.Error()), err)
	}
}

func friendLimitCases() []limitCase {
	add := func(u string) func(store.Tx) error {
		return func(tx store.Tx) error { _, _, err := tx.AddFriend(stepcast.UserID(u)); return err }
	}
	readBack := func(u string) func(*testing.T, store.ReadTx) {
		return func(t *testing.T, tx store.ReadTx) {
			if got, err := tx.FriendByUser(stepcast.UserID(u)); err != nil || string(got.User) != u {
				t.Errorf("FriendByUser = %.40q, %v", got.User, err)
			}
		}
	}
	return []limitCase{
		{"Friend/UserAtTheLimit", true, add(long(stepcast.MaxIDLen)), readBack(long(stepcast.MaxIDLen))},
		{"Friend/UserNotASCII", true, add("会員-4242"), readBack("会員-4242")},
		{"Friend/UserEmpty", false, add(""), nil},
		{"Friend/UserTooLong", false, add(long(stepcast.MaxIDLen + 1)), nil},
		{"Friend/UserOfAMegabyte", false, add(long(1 << 20)), nil},
		{"Friend/UserNotUTF8", false, add(badUTF8), nil},
		{"Friend/UserWithNUL", false, add(withNUL), nil},
	}
}

func eventLimitCases(f stepcast.FriendID, at time.Time) []limitCase {
	n := 0
	ev := func(edit func(*stepcast.Event)) stepcast.Event {
		n++
		e := stepcast.Event{ID: fmt.Sprintf("limit-%d", n), Friend: f, Kind: stepcast.EventConversion, Name: "purchase", At: at}
		edit(&e)
		return e
	}
	appendOK := func(e stepcast.Event) (func(store.Tx) error, func(*testing.T, store.ReadTx)) {
		return func(tx store.Tx) error { _, err := tx.AppendEvent(e); return err },
			func(t *testing.T, tx store.ReadTx) {
				evs, err := tx.FriendEvents(f, 0, 1)
				if err != nil || len(evs) != 1 || !sameEvent(evs[0].Event, e) {
					t.Errorf("the event came back as %.300v, %v", evs, err)
				}
			}
	}
	refuse := func(name string, edit func(*stepcast.Event)) limitCase {
		e := ev(edit)
		return limitCase{name: "Event/" + name, write: func(tx store.Tx) error { _, err := tx.AppendEvent(e); return err }}
	}
	accept := func(name string, edit func(*stepcast.Event)) limitCase {
		w, c := appendOK(ev(edit))
		return limitCase{name: "Event/" + name, ok: true, write: w, check: c}
	}
	fullData := map[string]string{}
	for i := range stepcast.MaxDataKeys {
		fullData[fmt.Sprintf("%03d%s", i, long(stepcast.MaxNameLen-3))] = long(stepcast.MaxTextLen)
	}
	tooMuchData := maps.Clone(fullData)
	tooMuchData["one-more"] = ""
	return []limitCase{
		accept("AllAtTheLimits", func(e *stepcast.Event) {
			e.ID, e.Kind, e.Name, e.Value, e.Data = long(stepcast.MaxIDLen), stepcast.EventKind(long(stepcast.MaxNameLen)), long(stepcast.MaxNameLen), long(stepcast.MaxTextLen), fullData
			e.Amount = math.MaxFloat64
		}),
		accept("EarliestTime", func(e *stepcast.Event) { e.At = stepcast.MinEventTime }),
		accept("LatestTime", func(e *stepcast.Event) { e.At = stepcast.MaxTime }),
		accept("NegativeAmount", func(e *stepcast.Event) { e.Amount = -4980.5 }),
		refuse("AmountNaN", func(e *stepcast.Event) { e.Amount = math.NaN() }),
		refuse("AmountInf", func(e *stepcast.Event) { e.Amount = math.Inf(1) }),
		refuse("AmountMinusInf", func(e *stepcast.Event) { e.Amount = math.Inf(-1) }),
		refuse("IDOfAMegabyte", func(e *stepcast.Event) { e.ID = long(1 << 20) }),
		refuse("IDNotUTF8", func(e *stepcast.Event) { e.ID = badUTF8 }),
		refuse("KindWithNUL", func(e *stepcast.Event) { e.Kind = withNUL }),
		refuse("NameTooLong", func(e *stepcast.Event) { e.Name = long(stepcast.MaxNameLen + 1) }),
		refuse("ValueTooLong", func(e *stepcast.Event) { e.Value = long(stepcast.MaxTextLen + 1) }),
		refuse("ValueNotUTF8", func(e *stepcast.Event) { e.Value = "memo " + badUTF8 }),
		refuse("ValueWithNUL", func(e *stepcast.Event) { e.Value = withNUL }),
		refuse("DataKeyNotUTF8", func(e *stepcast.Event) { e.Data = map[string]string{badUTF8: "1"} }),
		refuse("DataKeyEmpty", func(e *stepcast.Event) { e.Data = map[string]string{"": "1"} }),
		refuse("DataValueWithNUL", func(e *stepcast.Event) { e.Data = map[string]string{"k": withNUL} }),
		refuse("TooManyDataKeys", func(e *stepcast.Event) { e.Data = tooMuchData }),
		refuse("Before1970", func(e *stepcast.Event) { e.At = stepcast.MinEventTime.Add(-time.Microsecond) }),
		refuse("After9999", func(e *stepcast.Event) { e.At = stepcast.MaxTime.Add(time.Second) }),
		refuse("WithAUserID", func(e *stepcast.Event) { e.User = "U1" }),
	}
}

// sameEvent compares events as a store keeps them: times to the
// microsecond, empty data as none.
func sameEvent(a, b stepcast.Event) bool {
	return a.ID == b.ID && a.Friend == b.Friend && a.User == b.User && a.Kind == b.Kind && a.Name == b.Name && a.Value == b.Value &&
		a.Amount == b.Amount && maps.Equal(a.Data, b.Data) && a.At.Equal(b.At.Truncate(time.Microsecond))
}

func changeLimitCases(f stepcast.FriendID, at time.Time) []limitCase {
	apply := func(c store.Change) func(store.Tx) error {
		c.Friend = f
		return func(tx store.Tx) error { _, err := tx.Apply(c); return err }
	}
	field := func(name string, want stepcast.Value) func(*testing.T, store.ReadTx) {
		return func(t *testing.T, tx store.ReadTx) {
			got, _ := tx.Friend(f)
			if v, ok := got.Fields[name]; !ok || !v.Equal(want) {
				t.Errorf("field %s = %.60v, want %.60v", name, v, want)
			}
		}
	}
	followedAt := func(want time.Time) func(*testing.T, store.ReadTx) {
		return func(t *testing.T, tx store.ReadTx) {
			if got, _ := tx.Friend(f); !got.FollowedAt.Equal(want) {
				t.Errorf("FollowedAt = %v, want %v", got.FollowedAt, want)
			}
		}
	}
	score := func(name string, want int64) func(*testing.T, store.ReadTx) {
		return func(t *testing.T, tx store.ReadTx) {
			if got, _ := tx.Friend(f); got.Scores[name] != want {
				t.Errorf("score %s = %d, want %d", name, got.Scores[name], want)
			}
		}
	}
	year := func(y int) time.Time { return time.Date(y, 6, 1, 0, 0, 0, 0, time.UTC) }
	longText := stepcast.StringValue(long(stepcast.MaxTextLen))
	latest := stepcast.TimeValue(stepcast.MaxTime)
	return []limitCase{
		{"Change/TagAtTheLimit", true, apply(store.Change{Kind: store.SetTag, Name: long(stepcast.MaxNameLen)}), nil},
		{"Change/LongestText", true, apply(store.Change{Kind: store.SetField, Name: "memo", Value: longText}), field("memo", longText)},
		{"Change/LatestTimeValue", true, apply(store.Change{Kind: store.SetField, Name: "until", Value: latest}), field("until", latest)},
		{"Change/EarliestFollow", true, apply(store.Change{Kind: store.Follow, At: stepcast.MinTime}), followedAt(stepcast.MinTime)},
		{"Change/LatestFollow", true, apply(store.Change{Kind: store.Follow, At: stepcast.MaxTime}), followedAt(stepcast.MaxTime)},
		{"Change/ScoreAtMinInt", true, apply(store.Change{Kind: store.SetScore, Name: "lowest", Number: stepcast.MinInt}), score("lowest", stepcast.MinInt)},
		{"Change/ScoreAtMaxInt64", true, apply(store.Change{Kind: store.SetScore, Name: "highest", Number: math.MaxInt64}), score("highest", math.MaxInt64)},
		// The segment index keeps MinInt64 for itself: taken here, it
		// would be refused there, and the account's index would never load.
		{"Change/ScoreMinInt64", false, apply(store.Change{Kind: store.SetScore, Name: "lead", Number: math.MinInt64}), nil},
		{"Change/FieldIntMinInt64", false, apply(store.Change{Kind: store.SetField, Name: "age", Value: stepcast.IntValue(math.MinInt64)}), nil},
		{"Change/FieldNaN", false, apply(store.Change{Kind: store.SetField, Name: "height", Value: stepcast.FloatValue(math.NaN())}), nil},
		{"Change/FieldInf", false, apply(store.Change{Kind: store.SetField, Name: "height", Value: stepcast.FloatValue(math.Inf(1))}), nil},
		{"Change/FieldNotUTF8", false, apply(store.Change{Kind: store.SetField, Name: "memo", Value: stepcast.StringValue("caf\xe9=1")}), nil},
		{"Change/FieldWithNUL", false, apply(store.Change{Kind: store.SetField, Name: "memo", Value: stepcast.StringValue(withNUL)}), nil},
		{"Change/FieldTooLong", false, apply(store.Change{Kind: store.SetField, Name: "memo", Value: stepcast.StringValue(long(stepcast.MaxTextLen + 1))}), nil},
		{"Change/FieldYear10000", false, apply(store.Change{Kind: store.SetField, Name: "until", Value: stepcast.TimeValue(year(10000))}), nil},
		{"Change/FieldNameNotUTF8", false, apply(store.Change{Kind: store.SetField, Name: badUTF8, Value: stepcast.IntValue(1)}), nil},
		{"Change/TagTooLong", false, apply(store.Change{Kind: store.SetTag, Name: long(stepcast.MaxNameLen + 1)}), nil},
		{"Change/TagOfAMegabyte", false, apply(store.Change{Kind: store.SetTag, Name: long(1 << 20)}), nil},
		{"Change/TagWithNUL", false, apply(store.Change{Kind: store.SetTag, Name: withNUL}), nil},
		{"Change/ScoreNameNotUTF8", false, apply(store.Change{Kind: store.SetScore, Name: badUTF8, Number: 1}), nil},
		{"Change/DisplayNameTooLong", false, apply(store.Change{Kind: store.SetProfile, Name: long(stepcast.MaxNameLen + 1)}), nil},
		{"Change/DisplayNameNotUTF8", false, apply(store.Change{Kind: store.SetProfile, Name: badUTF8}), nil},
		{"Change/TimeZoneUnknown", false, apply(store.Change{Kind: store.SetProfile, Text: "Mars/" + long(1000)}), nil},
		{"Change/VariantWithNUL", false, apply(store.Change{Kind: store.SetVariant, Name: "welcome", Text: withNUL}), nil},
		{"Change/ScenarioTooLong", false, apply(store.Change{Kind: store.EnterStep, Name: long(stepcast.MaxNameLen + 1)}), nil},
		{"Change/FollowYear0", false, apply(store.Change{Kind: store.Follow, At: year(0)}), nil},
		{"Change/FollowYear10000", false, apply(store.Change{Kind: store.Follow, At: year(10000)}), nil},
		// Fields a kind does not use are kept and exported all the same.
		{"Change/UnusedTextNotUTF8", false, apply(store.Change{Kind: store.SetTag, Name: "t", Text: badUTF8}), nil},
		{"Change/UnusedValueNaN", false, apply(store.Change{Kind: store.SetTag, Name: "t", Value: stepcast.FloatValue(math.NaN())}), nil},
		{"Change/UnusedNumberMinInt64", false, apply(store.Change{Kind: store.SetTag, Name: "t", Number: math.MinInt64}), nil},
		{"Change/UnusedTimeYear10000", false, apply(store.Change{Kind: store.SetTag, Name: "t", At: year(10000)}), nil},
	}
}

func timerLimitCases(f stepcast.FriendID, at time.Time, blob []byte) []limitCase {
	put := func(tm store.Timer) func(store.Tx) error {
		tm.Friend = f
		return func(tx store.Tx) error { _, err := tx.PutTimer(tm); return err }
	}
	readBack := func(key string, state []byte) func(*testing.T, store.ReadTx) {
		return func(t *testing.T, tx store.ReadTx) {
			if got, err := tx.Timer(f, key); err != nil || !bytes.Equal(got.State, state) {
				t.Errorf("Timer = %d state bytes, %v; want %d", len(got.State), err, len(state))
			}
		}
	}
	return []limitCase{
		{"Timer/AtTheLimits", true, put(store.Timer{Key: long(stepcast.MaxNameLen), Due: stepcast.MinEventTime, State: blob}), readBack(long(stepcast.MaxNameLen), blob)},
		{"Timer/Latest", true, put(store.Timer{Key: "latest", Due: stepcast.MaxTime}), nil},
		{"Timer/KeyEmpty", false, put(store.Timer{Due: at}), nil},
		{"Timer/KeyTooLong", false, put(store.Timer{Key: long(stepcast.MaxNameLen + 1), Due: at}), nil},
		{"Timer/KeyNotUTF8", false, put(store.Timer{Key: badUTF8, Due: at}), nil},
		{"Timer/KeyWithNUL", false, put(store.Timer{Key: withNUL, Due: at}), nil},
		{"Timer/NoDueTime", false, put(store.Timer{Key: "k"}), nil},
		{"Timer/DueBefore1970", false, put(store.Timer{Key: "k", Due: stepcast.MinEventTime.Add(-time.Microsecond)}), nil},
		{"Timer/DueAfter9999", false, put(store.Timer{Key: "k", Due: stepcast.MaxTime.Add(time.Second)}), nil},
		{"Timer/StateTooLarge", false, put(store.Timer{Key: "k", Due: at, State: append(blob, 0)}), nil},
	}
}

func deliveryLimitCases(at time.Time, blob []byte) []limitCase {
	enqueue := func(edit func(*store.Delivery)) func(store.Tx) error {
		d := delivery("limit", at)
		edit(&d)
		return func(tx store.Tx) error { _, err := tx.Enqueue(d); return err }
	}
	readBack := func(key string, payload []byte) func(*testing.T, store.ReadTx) {
		return func(t *testing.T, tx store.ReadTx) {
			if got, err := tx.DeliveryByKey(key); err != nil || !bytes.Equal(got.Payload, payload) {
				t.Errorf("DeliveryByKey = %d payload bytes, %v; want %d", len(got.Payload), err, len(payload))
			}
		}
	}
	restore := func(edit func(*store.Delivery)) func(store.Tx) error {
		return func(tx store.Tx) error {
			d := delivery("restored", at)
			d.Status, d.Attempts, d.NextAt, d.Error, d.RequestID, d.DoneAt = store.Sent, 1, at, "", "req-1", at.Add(time.Second)
			for d.ID = 1; ; d.ID++ { // the next ID
				if _, err := tx.Delivery(d.ID); errors.Is(err, store.ErrNotFound) {
					break
				}
			}
			edit(&d)
			return tx.RestoreDelivery(d)
		}
	}
	return []limitCase{
		{"Delivery/AtTheLimits", true, enqueue(func(d *store.Delivery) { d.Key, d.Payload = long(stepcast.MaxIDLen), blob }), readBack(long(stepcast.MaxIDLen), blob)},
		{"Delivery/KeyTooLong", false, enqueue(func(d *store.Delivery) { d.Key = long(stepcast.MaxIDLen + 1) }), nil},
		{"Delivery/KeyNotUTF8", false, enqueue(func(d *store.Delivery) { d.Key = badUTF8 }), nil},
		{"Delivery/CauseAtTheLimit", true, enqueue(func(d *store.Delivery) { d.Key, d.Cause = "cause-limit", long(store.MaxCauseLen) }), nil},
		{"Delivery/MostFriends", true, enqueue(func(d *store.Delivery) { d.Key, d.Friends = "most-friends", friendIDs(stepcast.MaxMulticastTargets) }), nil},
		{"Delivery/ExtremePriorities", true, enqueue(func(d *store.Delivery) { d.Key, d.Priority = "priority", math.MinInt32 }), nil},
		{"Delivery/KindWithNUL", false, enqueue(func(d *store.Delivery) { d.Kind = withNUL }), nil},
		{"Delivery/KindTooLong", false, enqueue(func(d *store.Delivery) { d.Kind = stepcast.DeliveryKind(long(stepcast.MaxNameLen + 1)) }), nil},
		{"Delivery/KindUnknown", false, enqueue(func(d *store.Delivery) { d.Kind = "notify" }), nil},
		{"Delivery/KindEmpty", false, enqueue(func(d *store.Delivery) { d.Kind = "" }), nil},
		{"Delivery/RetryKeyOfAMegabyte", false, enqueue(func(d *store.Delivery) { d.RetryKey = long(1 << 20) }), nil},
		{"Delivery/CauseTooLong", false, enqueue(func(d *store.Delivery) { d.Cause = long(store.MaxCauseLen + 1) }), nil},
		{"Delivery/CauseNotUTF8", false, enqueue(func(d *store.Delivery) { d.Cause = "rule:" + badUTF8 }), nil},
		{"Delivery/CauseWithNUL", false, enqueue(func(d *store.Delivery) { d.Cause = withNUL }), nil},
		{"Delivery/TooManyFriends", false, enqueue(func(d *store.Delivery) { d.Friends = friendIDs(stepcast.MaxMulticastTargets + 1) }), nil},
		{"Delivery/FriendsUnsorted", false, enqueue(func(d *store.Delivery) { d.Friends = []stepcast.FriendID{2, 1} }), nil},
		{"Delivery/FriendsRepeated", false, enqueue(func(d *store.Delivery) { d.Friends = []stepcast.FriendID{1, 1} }), nil},
		{"Delivery/FriendZero", false, enqueue(func(d *store.Delivery) { d.Friends = []stepcast.FriendID{0, 1} }), nil},
		{"Delivery/PriorityBeyond32Bits", false, enqueue(func(d *store.Delivery) { d.Priority = math.MaxInt32 + 1 }), nil},
		{"Delivery/PayloadTooLarge", false, enqueue(func(d *store.Delivery) { d.Payload = append(blob, 0) }), nil},
		{"Delivery/CreatedBefore1970", false, enqueue(func(d *store.Delivery) { d.CreatedAt = stepcast.MinEventTime.Add(-time.Second) }), nil},
		{"Delivery/NextAfter9999", false, enqueue(func(d *store.Delivery) { d.NextAt = stepcast.MaxTime.Add(time.Second) }), nil},
		{"Restore/AsExported", true, restore(func(*store.Delivery) {}), nil},
		{"Restore/Cancelled", true, restore(func(d *store.Delivery) {
			d.Key, d.Status, d.Reason, d.RequestID, d.FirstAttemptAt = "restored-cancelled", store.Cancelled, long(stepcast.MaxTextLen), "", at
		}), nil},
		{"Restore/UnknownStatus", false, restore(func(d *store.Delivery) { d.Status = store.Cancelled + 1 }), nil},
		{"Restore/ReasonTooLong", false, restore(func(d *store.Delivery) { d.Reason = long(stepcast.MaxTextLen + 1) }), nil},
		{"Restore/FirstAttemptBefore1970", false, restore(func(d *store.Delivery) { d.FirstAttemptAt = time.Unix(-1, 0) }), nil},
		{"Restore/NoStatus", false, restore(func(d *store.Delivery) { d.Status = 0 }), nil},
		{"Restore/NegativeAttempts", false, restore(func(d *store.Delivery) { d.Attempts = -1 }), nil},
		{"Restore/AttemptsBeyond32Bits", false, restore(func(d *store.Delivery) { d.Attempts = math.MaxInt32 + 1 }), nil},
		{"Restore/ErrorNotUTF8", false, restore(func(d *store.Delivery) { d.Error = badUTF8 }), nil},
		{"Restore/RequestIDTooLong", false, restore(func(d *store.Delivery) { d.RequestID = long(stepcast.MaxIDLen + 1) }), nil},
		{"Restore/NoNextAttemptTime", false, restore(func(d *store.Delivery) { d.NextAt = time.Time{} }), nil},
		{"Restore/DoneBefore1970", false, restore(func(d *store.Delivery) { d.DoneAt = time.Unix(-1, 0) }), nil},
		{"Restore/NotTheNextID", false, restore(func(d *store.Delivery) { d.ID += 5 }), nil},
	}
}

// friendIDs returns the IDs 1 to n.
func friendIDs(n int) []stepcast.FriendID {
	ids := make([]stepcast.FriendID, n)
	for i := range ids {
		ids[i] = stepcast.FriendID(i + 1)
	}
	return ids
}

func definitionLimitCases(at time.Time, blob []byte) []limitCase {
	put := func(d store.Definition) func(store.Tx) error {
		return func(tx store.Tx) error { _, err := tx.PutDefinition(d); return err }
	}
	readBack := func(kind, name string, body []byte) func(*testing.T, store.ReadTx) {
		return func(t *testing.T, tx store.ReadTx) {
			if got, err := tx.Definition(kind, name); err != nil || !bytes.Equal(got.Body, body) {
				t.Errorf("Definition = %d body bytes, %v; want %d", len(got.Body), err, len(body))
			}
		}
	}
	name := long(stepcast.MaxNameLen)
	return []limitCase{
		{"Definition/AtTheLimits", true, put(store.Definition{Kind: "scenario", Name: name, Body: blob, UpdatedAt: stepcast.MaxTime}), readBack("scenario", name, blob)},
		{"Definition/KindEmpty", false, put(store.Definition{Name: "n", UpdatedAt: at}), nil},
		{"Definition/KindWithNUL", false, put(store.Definition{Kind: withNUL, Name: "n", UpdatedAt: at}), nil},
		{"Definition/NameTooLong", false, put(store.Definition{Kind: "scenario", Name: long(stepcast.MaxNameLen + 1), UpdatedAt: at}), nil},
		{"Definition/NameNotUTF8", false, put(store.Definition{Kind: "scenario", Name: badUTF8, UpdatedAt: at}), nil},
		{"Definition/BodyTooLarge", false, put(store.Definition{Kind: "scenario", Name: "big", Body: append(blob, 0), UpdatedAt: at}), nil},
		{"Definition/NoUpdateTime", false, put(store.Definition{Kind: "scenario", Name: "n"}), nil},
		{"Definition/UpdatedYear10000", false, put(store.Definition{Kind: "scenario", Name: "n", UpdatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}), nil},
	}
}

func tallyLimitCases() []limitCase {
	add := func(tl store.Tally) func(store.Tx) error {
		return func(tx store.Tx) error { _, err := tx.AddToTally(tl); return err }
	}
	return []limitCase{
		{"Tally/LargeRevenue", true, add(store.Tally{Experiment: "e", Variant: long(stepcast.MaxNameLen), Revenue: 1e300}), nil},
		{"Tally/RevenueNaN", false, add(store.Tally{Experiment: "e", Variant: "A", Revenue: math.NaN()}), nil},
		{"Tally/RevenueInf", false, add(store.Tally{Experiment: "e", Variant: "A", Revenue: math.Inf(-1)}), nil},
		{"Tally/ExperimentNotUTF8", false, add(store.Tally{Experiment: badUTF8, Variant: "A"}), nil},
		{"Tally/VariantTooLong", false, add(store.Tally{Experiment: "e", Variant: long(stepcast.MaxNameLen + 1)}), nil},
	}
}

// testLeaseLimits: malformed lease requests are refused alike, for timers
// and deliveries.
func testLeaseLimits(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		holder string
		now    time.Time
		ttl    time.Duration
		limit  int
	}{
		{"HolderEmpty", "", t0, time.Minute, 1},
		{"HolderWithNUL", withNUL, t0, time.Minute, 1},
		{"HolderOfAMegabyte", long(1 << 20), t0, time.Minute, 1},
		{"NowBefore1970", "h", stepcast.MinEventTime.Add(-time.Second), time.Minute, 1},
		{"NoTTL", "h", t0, 0, 1},
		{"NegativeTTL", "h", t0, -time.Minute, 1},
		{"EndsAfter9999", "h", stepcast.MaxTime.Add(-time.Second), time.Minute, 1},
		{"NegativeLimit", "h", t0, time.Minute, -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Lease(ctx, acct, c.holder, c.now, c.ttl, c.limit)
			checkRefusal(t, err)
			_, err = s.LeaseDeliveries(ctx, acct, c.holder, c.now, c.ttl, c.limit)
			checkRefusal(t, err)
		})
	}
	for name, kinds := range map[string][]string{
		"KindEmpty":       {"scoring", ""},
		"KindWithNUL":     {withNUL},
		"KindNotUTF8":     {badUTF8},
		"KindOfAMegabyte": {long(1 << 20)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Lease(ctx, acct, "h", t0, time.Minute, 1, kinds...)
			checkRefusal(t, err)
		})
	}
}

// testOutcomeLimits: a malformed outcome is refused and the delivery stays
// leased by its holder.
func testOutcomeLimits(t *testing.T, s store.Store) {
	ctx := context.Background()
	update(t, s, func(tx store.Tx) error { _, err := tx.Enqueue(delivery("outcome", t0)); return err })
	leased, err := s.LeaseDeliveries(ctx, acct, "h", t0.Add(time.Hour), time.Hour, 100)
	var id uint64
	for _, d := range leased {
		if d.Key == "outcome" {
			id = d.ID
		}
	}
	if err != nil || id == 0 {
		t.Fatalf("LeaseDeliveries = %v, %v", leased, err)
	}
	for _, c := range []struct {
		name string
		o    store.Outcome
	}{
		{"NoStatus", store.Outcome{At: t0}},
		{"NoTime", store.Outcome{Status: store.Sent}},
		{"Before1970", store.Outcome{Status: store.Sent, At: time.Unix(-1, 0)}},
		{"RetryAfter9999", store.Outcome{Status: store.Pending, At: t0, NextAt: stepcast.MaxTime.Add(time.Second)}},
		{"ErrorNotUTF8", store.Outcome{Status: store.Failed, At: t0, Error: "500 " + badUTF8}},
		{"ErrorTooLong", store.Outcome{Status: store.Failed, At: t0, Error: long(stepcast.MaxTextLen + 1)}},
		{"RequestIDWithNUL", store.Outcome{Status: store.Sent, At: t0, RequestID: withNUL}},
	} {
		t.Run(c.name, func(t *testing.T) {
			update(t, s, func(tx store.Tx) error {
				checkRefusal(t, tx.FinishDelivery(id, "h", c.o))
				return nil
			})
		})
	}
	view(t, s, func(tx store.ReadTx) error {
		if d, err := tx.Delivery(id); err != nil || d.Status != store.Pending || d.LeasedBy != "h" {
			t.Errorf("after refused outcomes: %+v, %v; want pending, leased by h", d, err)
		}
		return nil
	})
}

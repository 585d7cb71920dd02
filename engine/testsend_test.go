package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/render"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
)

// testSendDefs: trialDefs with a name field, and four test friends: two
// staff who follow, one who never did, one who blocked.
func testSendDefs() Definitions {
	d := trialDefs()
	d.Schema.Fields = append(d.Schema.Fields, segment.Field{Name: "name", Type: stepcast.FieldString})
	d.TestFriends = []stepcast.UserID{"Ustaff1", "Ustaff2", "Ustranger", "Ublocked"}
	d.Rules = append(d.Rules, rules.Rule{Name: "name", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventAnswer, Name: "name"},
		Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.SetField, Name: "name", Text: "value"}}}})
	return d
}

// realLines are an export's lines but the trailer and the outbox rows of
// test sends.
func realLines(b []byte) []string {
	var out []string
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if l == "" || strings.HasPrefix(l, `{"end":`) || strings.Contains(l, `"cause":"test:`) {
			continue
		}
		out = append(out, l)
	}
	return out
}

// A test send touches nothing real: the store's export is the same but
// for the outbox rows of the test pushes, the real broadcast's progress
// and the tallies are unchanged, no rule ran; the pushes go to the test
// friends only, each rendered with their own fields, and say they are a
// test.
func TestTestSendTouchesNothingReal(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		st := open(t)
		clk := &clock{t: t0}
		sender := &fakeSender{}
		e, err := Open(Config{Store: st, Now: clk.Now, Holder: "test", Sender: sender})
		if err != nil {
			t.Fatal(err)
		}
		a := mustAccount(t, e, "ts", testSendDefs())
		mustIngest(t, a, follow("f1", "Ustaff1", "", t0), follow("f2", "Ustaff2", "", t0), follow("f3", "U1", "", t0),
			follow("f4", "Ublocked", "", t0), ev("b4", "Ublocked", stepcast.EventUnfollow, "", "", t0.Add(1)),
			ev("n1", "Ustaff1", stepcast.EventAnswer, "name", "Aoi", t0))
		// A real broadcast to the real audience, planned and sent.
		spring := Broadcast{Name: "spring", Segment: `!tag("staff")`, Messages: []stepcast.Message{msg("{{name|お客}}様、春のセールです")}}
		if err := a.ScheduleBroadcast(ctx, spring); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Dispatch(ctx); err != nil {
			t.Fatal(err)
		}
		sent := len(sender.Calls())
		before := export(t, st, "ts")
		progress, err := a.Broadcast(ctx, "spring")
		if err != nil || progress.Outbox.Sent == 0 {
			t.Fatalf("the real broadcast: %+v, %v", progress, err)
		}
		cur := a.Cursor()

		preview, err := a.TestSend(ctx, TestSend{Broadcast: &spring, Preview: true})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(export(t, st, "ts"), before) {
			t.Fatal("a preview changed the store")
		}
		rep, err := a.TestSend(ctx, TestSend{Broadcast: &progress.Broadcast})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Pushes != 2 || rep.Messages != 2 || preview.Pushes != 2 || preview.Messages != 2 || !preview.Preview {
			t.Fatalf("report: %+v, preview %+v", rep, preview)
		}
		wantSkip := map[stepcast.UserID]string{"Ustranger": "not a friend", "Ublocked": "blocked"}
		for i, s := range rep.Sends {
			if w := wantSkip[s.User]; (w == "") != (s.Skipped == "") || !strings.Contains(s.Skipped, w) {
				t.Errorf("%s: skipped %q, want %q", s.User, s.Skipped, w)
			}
			if (s.Delivery == 0) != (s.Skipped != "") || preview.Sends[i].Delivery != 0 {
				t.Errorf("%s: delivery %d (preview %d)", s.User, s.Delivery, preview.Sends[i].Delivery)
			}
		}
		if got := messageText(rep.Sends[0].Messages[0]); got != `"Aoi様、春のセールです"` {
			t.Errorf("staff1's message: %s", got)
		}
		if got := messageText(rep.Sends[1].Messages[0]); got != `"お客様、春のセールです"` {
			t.Errorf("staff2's message: %s", got)
		}

		// Nothing real changed: the export, but for the test pushes; the
		// broadcast's progress; the index.
		after := export(t, st, "ts")
		if b, a := realLines(before), realLines(after); strings.Join(b, "") != strings.Join(a, "") {
			t.Fatalf("the store changed beyond the test pushes:\nbefore %s\nafter  %s", b, a)
		}
		if p, _ := a.Broadcast(ctx, "spring"); !reflect.DeepEqual(p, progress) {
			t.Fatalf("the broadcast's report moved: %+v, was %+v", p, progress)
		}
		if a.Cursor() != cur {
			t.Fatal("the index moved")
		}
		tests, err := a.Deliveries(ctx, store.DeliveryFilter{Cause: "test:spring"})
		if err != nil || len(tests) != 2 {
			t.Fatalf("test deliveries: %d, %v", len(tests), err)
		}
		for _, row := range tests {
			var d stepcast.Delivery
			json.Unmarshal(row.Payload, &d)
			if d.Cause.Kind != stepcast.CauseTest || !strings.HasPrefix(d.Note, "test send") || d.Experiment != "" || row.Priority != TestSendPriority {
				t.Errorf("test delivery: %+v", d)
			}
		}
		// Sent to the staff only.
		if _, err := a.Dispatch(ctx); err != nil {
			t.Fatal(err)
		}
		calls := sender.Calls()[sent:]
		to := map[stepcast.UserID]string{}
		for _, c := range calls {
			to[c.To[0].User] = c.Text
		}
		if len(calls) != 2 || to["Ustaff1"] != "Aoi様、春のセールです" || to["Ustaff2"] != "お客様、春のセールです" {
			t.Fatalf("sent: %+v", calls)
		}
		// Sending them changed nothing real either.
		if b, a := realLines(before), realLines(export(t, st, "ts")); strings.Join(b, "") != strings.Join(a, "") {
			t.Fatalf("dispatching the test pushes changed the store:\nbefore %s\nafter  %s", b, a)
		}
		if p, _ := a.Broadcast(ctx, "spring"); !reflect.DeepEqual(p, progress) {
			t.Fatalf("the broadcast's report moved: %+v, was %+v", p, progress)
		}
		// A second test send sends again.
		again, err := a.TestSend(ctx, TestSend{Name: "spring", Messages: spring.Messages, To: []stepcast.UserID{"Ustaff2"}})
		if err != nil || again.Pushes != 1 || len(again.Sends) != 1 || again.Sends[0].Delivery == 0 {
			t.Fatalf("again: %+v, %v", again, err)
		}
	})
}

// Bad test sends are refused, naming what is wrong, and queue nothing.
func TestTestSendErrors(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	st := backends["memstore"](t)
	a := mustAccount(t, mustOpen(t, st, clk), "ts", testSendDefs())
	mustIngest(t, a, follow("f1", "Ustaff1", "", t0))
	before := export(t, st, "ts")
	ok := []stepcast.Message{msg("hi")}
	for name, c := range map[string]struct {
		t    TestSend
		want error
	}{
		"no name":           {TestSend{Messages: ok}, stepcast.ErrInvalid},
		"no messages":       {TestSend{Name: "x"}, render.ErrMessage},
		"unknown field":     {TestSend{Name: "x", Messages: []stepcast.Message{msg("{{nickname}}")}}, render.ErrUnknownField},
		"not a test friend": {TestSend{Name: "x", Messages: ok, To: []stepcast.UserID{"U1"}}, stepcast.ErrInvalid},
		"twice":             {TestSend{Name: "x", Messages: ok, To: []stepcast.UserID{"Ustaff1", "Ustaff1"}}, stepcast.ErrInvalid},
	} {
		if _, err := a.TestSend(ctx, c.t); !errors.Is(err, c.want) || !errors.Is(err, stepcast.ErrInvalid) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	b := mustAccount(t, mustOpen(t, st, clk), "none", trialDefs())
	if _, err := b.TestSend(ctx, TestSend{Name: "x", Messages: ok}); !errors.Is(err, ErrNoTestFriends) {
		t.Errorf("no test friends: %v", err)
	}
	if !bytes.Equal(export(t, st, "ts"), before) {
		t.Fatal("the store changed")
	}
	// A test friend without the field and no default is skipped.
	rep, err := a.TestSend(ctx, TestSend{Name: "x", Messages: []stepcast.Message{msg("{{name}}")}, To: []stepcast.UserID{"Ustaff1"}})
	if err != nil || rep.Pushes != 0 || rep.Sends[0].Skipped != "missing_field:name" {
		t.Fatalf("%+v %v", rep, err)
	}
	// A test friend who blocked the account is skipped for that, whatever
	// their fields: filling in the field would not reach them.
	mustIngest(t, a, follow("f4", "Ublocked", "", t0), ev("u4", "Ublocked", stepcast.EventUnfollow, "", "", t0.Add(time.Minute)))
	rep, err = a.TestSend(ctx, TestSend{Name: "x", Messages: []stepcast.Message{msg("{{name}}")}, To: []stepcast.UserID{"Ublocked"}})
	if err != nil || rep.Pushes != 0 || !strings.Contains(rep.Sends[0].Skipped, "blocked") {
		t.Fatalf("%+v %v", rep, err)
	}
}

// Test friends are checked with the definitions.
func TestTestFriendsDefinitions(t *testing.T) {
	for name, c := range map[string]struct {
		users []stepcast.UserID
		want  string
	}{
		"empty":    {[]stepcast.UserID{""}, "test_friends[0]: invalid definition: an empty userId"},
		"twice":    {[]stepcast.UserID{"U1", "U2", "U1"}, `test_friends[2]: invalid definition: "U1" is test_friends[0] already`},
		"NUL":      {[]stepcast.UserID{"U\x00"}, "test_friends[0]: invalid definition"},
		"too long": {[]stepcast.UserID{stepcast.UserID(strings.Repeat("U", stepcast.MaxIDLen+1))}, "test_friends[0]: invalid definition"},
		"too many": {make([]stepcast.UserID, MaxTestFriends+1), "test_friends: invalid definition: 101 test friends, more than MaxTestFriends (100)"},
	} {
		d := trialDefs()
		d.TestFriends = c.users
		_, err := compile(d)
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrDefinition) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	d, err := ParseDefinitions("t.yaml", []byte("test_friends: [Ustaff1, Ustaff2]\n"))
	if err != nil || len(d.TestFriends) != 2 || d.TestFriends[1] != "Ustaff2" {
		t.Fatalf("%+v %v", d.TestFriends, err)
	}
	_, err = ParseDefinitions("t.yaml", []byte("test_friends: [Ustaff1, Ustaff1]\n"))
	if err == nil || !strings.Contains(err.Error(), `t.yaml:1: test_friends[1]: invalid definition: "Ustaff1" is test_friends[0] already`) {
		t.Fatalf("%v", err)
	}
}

// An A/B broadcast's test send: each variant to each test friend, or the
// one named; no variant assigned, no tally moved.
func TestTestSendExperiment(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	st := backends["memstore"](t)
	d := abDefs(0, nil)
	d.TestFriends = []stepcast.UserID{"Ustaff"}
	a := mustAccount(t, mustOpen(t, st, clk), "ab", d)
	mustIngest(t, a, follow("f1", "U1", "", t0), follow("fs", "Ustaff", "", t0))
	b := Broadcast{Name: "ab-sale", Experiment: "offer", Variants: []BroadcastVariant{
		{Name: "A", Messages: []stepcast.Message{msg("A: 10% off")}}, {Name: "B", Messages: []stepcast.Message{msg("B: a gift")}}}}
	before, report := export(t, st, "ab"), fmt.Sprintf("%+v", mustExpReport(t, a, "offer"))
	rep, err := a.TestSend(ctx, TestSend{Broadcast: &b})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Pushes != 2 || rep.Messages != 2 || len(rep.Sends) != 2 || rep.Sends[0].Variant != "A" || rep.Sends[1].Variant != "B" ||
		messageText(rep.Sends[1].Messages[0]) != `"B: a gift"` {
		t.Fatalf("%+v", rep)
	}
	if strings.Join(realLines(before), "") != strings.Join(realLines(export(t, st, "ab")), "") {
		t.Fatal("the store changed beyond the test pushes")
	}
	if got := fmt.Sprintf("%+v", mustExpReport(t, a, "offer")); got != report {
		t.Fatalf("the experiment's report moved:\n%s\n%s", report, got)
	}
	rows, _ := a.Deliveries(ctx, store.DeliveryFilter{Cause: "test:ab-sale"})
	for _, r := range rows {
		var d stepcast.Delivery
		json.Unmarshal(r.Payload, &d)
		if d.Experiment != "" || d.Variant != "" || !strings.Contains(d.Note, "variant") {
			t.Fatalf("%+v", d)
		}
	}
	one, err := a.TestSend(ctx, TestSend{Broadcast: &b, Variant: "B", Preview: true})
	if err != nil || one.Pushes != 1 || one.Sends[0].Variant != "B" {
		t.Fatalf("%+v %v", one, err)
	}
	for name, ts := range map[string]TestSend{
		"no such variant":         {Broadcast: &b, Variant: "C"},
		"variant of no broadcast": {Name: "x", Messages: []stepcast.Message{msg("x")}, Variant: "A"},
	} {
		if _, err := a.TestSend(ctx, ts); !errors.Is(err, stepcast.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

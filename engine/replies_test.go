package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// replyDefs: a keyword rule answering "料金" (exact) with two messages, a
// second one answering any message containing it with three more, a
// click rule replying, and a scenario whose steps reply — the first at
// once, the next a day later.
func replyDefs() Definitions {
	reply := func(texts ...string) stepcast.Action {
		a := stepcast.Action{Kind: stepcast.Reply}
		for _, t := range texts {
			a.Messages = append(a.Messages, msg(t))
		}
		return a
	}
	return Definitions{
		Schema: segment.SchemaConfig{Location: tokyo},
		Rules: []rules.Rule{
			{Name: "price", Trigger: rules.Trigger{Kind: rules.OnKeyword, Keywords: []string{"料金", "値段"}},
				Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "asked-price"}}, {Action: reply("p1", "p2")}}},
			{Name: "price-more", Trigger: rules.Trigger{Kind: rules.OnKeyword, Match: rules.MatchPartial, Keywords: []string{"料金"}},
				Steps: []rules.Step{{Action: reply("m1", "m2", "m3")}}},
			{Name: "menu", Trigger: rules.Trigger{Kind: rules.OnKeyword, Match: rules.MatchPrefix, Keywords: []string{"メニュー"}},
				Steps: []rules.Step{{Action: reply("menu")}, {Action: stepcast.Action{Kind: stepcast.StartScenario, Name: "course"}}}},
			{Name: "clicked", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventClick},
				Steps: []rules.Step{{Action: reply("thanks for the click")}}},
		},
		Scenarios: []scenario.Definition{{Name: "course", Steps: []scenario.Step{
			{Name: "now", Timing: scenario.Timing{Kind: scenario.Immediately}, Actions: []stepcast.Action{reply("course now")}},
			{Name: "later", Timing: scenario.Timing{Kind: scenario.AfterEntry, After: 24 * time.Hour}, Actions: []stepcast.Action{reply("course later")}},
		}}},
	}
}

// sent is a queued delivery as a test reads it.
type sent struct {
	kind     stepcast.DeliveryKind
	token    string
	texts    []string
	note     string
	key      string
	priority int
	retryKey bool
	friends  []stepcast.FriendID
}

func sentOf(t *testing.T, rows []store.Delivery) []sent {
	t.Helper()
	var out []sent
	for _, r := range rows {
		var d stepcast.Delivery
		if err := json.Unmarshal(r.Payload, &d); err != nil {
			t.Fatal(err)
		}
		s := sent{kind: d.Kind, token: d.ReplyToken, note: d.Note, key: r.Key, priority: r.Priority, retryKey: r.RetryKey != "", friends: r.Friends}
		for _, m := range d.Messages {
			var x struct{ Text string }
			json.Unmarshal(m, &x)
			s.texts = append(s.texts, x.Text)
		}
		out = append(out, s)
	}
	return out
}

func message(id, user, text, token string, at time.Time) stepcast.Event {
	e := ev(id, user, stepcast.EventMessage, "", text, at)
	e.Arrival.ReplyToken = token
	return e
}

func TestReplies(t *testing.T) {
	type want struct {
		kind  stepcast.DeliveryKind
		texts string
		note  string // a part of the delivery's note; "" for none
	}
	for _, tc := range []struct {
		name      string
		age       time.Duration // the clock, after the event
		event     func(at time.Time) stepcast.Event
		within    time.Duration // Config.ReplyWithin
		push      time.Duration // Config.ReplyPushWithin
		want      []want
		stepNotes []string // of every step that ran, in order
		notes     []string // the unit's
	}{
		{
			name: "a keyword answered by one reply",
			event: func(at time.Time) stepcast.Event {
				return message("m1", "U1", "値段", "tok-1", at)
			},
			age:       3 * time.Second,
			want:      []want{{stepcast.DeliveryReply, "p1 p2", ""}},
			stepNotes: []string{"", ""},
		},
		{
			name: "a partial keyword inside a sentence",
			event: func(at time.Time) stepcast.Event {
				return message("m1", "U1", "ＡＢＣの料金は？", "tok-1", at)
			},
			want:      []want{{stepcast.DeliveryReply, "m1 m2 m3", ""}},
			stepNotes: []string{""},
		},
		{
			name: "exact and partial both match: one reply of five",
			event: func(at time.Time) stepcast.Event {
				return message("m1", "U1", " 料金 ", "tok-1", at)
			},
			want: []want{{stepcast.DeliveryReply, "p1 p2 m1 m2 m3", ""}},
		},
		{
			name: "the token expired: pushed, saying so",
			event: func(at time.Time) stepcast.Event {
				return message("m1", "U1", "値段", "tok-1", at)
			},
			age:       75 * time.Second,
			want:      []want{{stepcast.DeliveryPush, "p1 p2", "pushed, not replied: the reply token has expired: the event is 1m15s old"}},
			stepNotes: []string{"", "pushed, not replied: the reply token has expired: the event is 1m15s old"},
		},
		{
			name: "just within Config.ReplyWithin",
			event: func(at time.Time) stepcast.Event {
				return message("m1", "U1", "値段", "tok-1", at)
			},
			age:  DefaultReplyWithin,
			want: []want{{stepcast.DeliveryReply, "p1 p2", ""}},
		},
		{
			name: "no token: pushed",
			event: func(at time.Time) stepcast.Event {
				return message("m1", "U1", "値段", "", at)
			},
			want: []want{{stepcast.DeliveryPush, "p1 p2", "pushed, not replied: the event came without a reply token"}},
		},
		{
			name: "a rule set off by a click: no token, pushed",
			event: func(at time.Time) stepcast.Event {
				return ev("c1", "U1", stepcast.EventClick, "campaign", "", at)
			},
			want: []want{{stepcast.DeliveryPush, "thanks for the click", "the event came without a reply token"}},
		},
		{
			name: "replies off",
			event: func(at time.Time) stepcast.Event {
				return message("m1", "U1", "値段", "tok-1", at)
			},
			within: -1,
			want:   []want{{stepcast.DeliveryPush, "p1 p2", "replies are off"}},
		},
		{
			name: "a keyword starts a scenario whose first step replies in the same unit",
			event: func(at time.Time) stepcast.Event {
				return message("m1", "U1", "メニュー 見せて", "tok-1", at)
			},
			want: []want{{stepcast.DeliveryReply, "menu course now", ""}},
		},
		{
			name: "a scenario step's reply pushed: the unit's notes say so",
			event: func(at time.Time) stepcast.Event {
				return message("m1", "U1", "メニュー", "tok-1", at)
			},
			age:  5 * time.Minute,
			want: []want{{stepcast.DeliveryPush, "menu course now", "the reply token has expired: the event is 5m0s old"}},
			notes: []string{`scenario "course" step 0: reply pushed, not replied: the reply token has expired: the event is 5m0s old, ` +
				"beyond Config.ReplyWithin (50s; LINE honours a token for about a minute)"},
		},
		{
			name: "just within Config.ReplyPushWithin: pushed",
			event: func(at time.Time) stepcast.Event {
				return message("m1", "U1", "値段", "tok-1", at)
			},
			age:  DefaultReplyPushWithin,
			want: []want{{stepcast.DeliveryPush, "p1 p2", "pushed, not replied: the reply token has expired: the event is 10m0s old"}},
		},
		{
			name: "a redelivered event two hours old: dropped, not pushed",
			event: func(at time.Time) stepcast.Event {
				e := message("m1", "U1", "値段", "tok-1", at)
				e.Arrival.Redelivered = true
				return e
			},
			age: 2 * time.Hour,
			stepNotes: []string{"", "dropped, not pushed: the reply token has expired: the event is 2h0m0s old, beyond Config.ReplyWithin (50s; " +
				"LINE honours a token for about a minute), and the event is 2h0m0s old, beyond Config.ReplyPushWithin (10m0s): too late to answer it"},
		},
		{
			name: "an event a year old: dropped",
			event: func(at time.Time) stepcast.Event {
				return message("m1", "U1", "値段", "tok-1", at)
			},
			age:       365 * 24 * time.Hour,
			stepNotes: []string{"", "dropped, not pushed: the reply token has expired: the event is 8760h0m0s old"},
		},
		{
			name: "a click without a token, beyond a shorter Config.ReplyPushWithin: dropped",
			event: func(at time.Time) stepcast.Event {
				return ev("c1", "U1", stepcast.EventClick, "campaign", "", at)
			},
			age:       2 * time.Minute,
			push:      time.Minute,
			stepNotes: []string{"dropped, not pushed: the event came without a reply token, and the event is 2m0s old, beyond Config.ReplyPushWithin (1m0s)"},
		},
		{
			name: "replies never pushed: the token expired, dropped",
			event: func(at time.Time) stepcast.Event {
				return message("m1", "U1", "値段", "tok-1", at)
			},
			age:       time.Minute,
			push:      -1,
			stepNotes: []string{"", "dropped, not pushed: the reply token has expired: the event is 1m0s old"},
		},
		{
			name: "replies never pushed, the token live: replied",
			event: func(at time.Time) stepcast.Event {
				return message("m1", "U1", "値段", "tok-1", at)
			},
			push: -1,
			want: []want{{stepcast.DeliveryReply, "p1 p2", ""}},
		},
		{
			name: "a scenario step's reply dropped: the unit's notes say so",
			event: func(at time.Time) stepcast.Event {
				return message("m1", "U1", "メニュー", "tok-1", at)
			},
			age: 3 * time.Hour,
			notes: []string{`scenario "course" step 0: reply dropped, not pushed: the reply token has expired: the event is 3h0m0s old, ` +
				"beyond Config.ReplyWithin (50s; LINE honours a token for about a minute), and the event is 3h0m0s old, " +
				"beyond Config.ReplyPushWithin (10m0s): too late to answer it"},
		},
		{
			name: "standby: another channel has chat control, nothing is sent",
			event: func(at time.Time) stepcast.Event {
				e := message("m1", "U1", "値段", "", at)
				e.Arrival.Standby = true
				return e
			},
			stepNotes: []string{"", standbyNote},
		},
		{
			name: "standby: a keyword's scenario starts, its first step sends nothing now",
			event: func(at time.Time) stepcast.Event {
				e := message("m1", "U1", "メニュー", "", at)
				e.Arrival.Standby = true
				return e
			},
			// The scenario's step, sent in the unit of start_scenario, notes
			// it among the unit's notes, naming itself — not on the rule's
			// start_scenario step, which did what it said.
			notes:     []string{`scenario "course" step 0: ` + standbyNote},
			stepNotes: []string{standbyNote, ""},
		},
		{
			name: "hiragana does not match katakana: nothing",
			event: func(at time.Time) stepcast.Event {
				return message("m1", "U1", "めにゅー", "tok-1", at)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{t: t0}
			e, err := Open(Config{Store: memstore.New(), Now: clk.Now, ReplyWithin: tc.within, ReplyPushWithin: tc.push})
			if err != nil {
				t.Fatal(err)
			}
			a := mustAccount(t, e, "r", replyDefs())
			mustIngest(t, a, follow("f1", "U1", "", t0.Add(-time.Hour)))
			clk.Set(t0.Add(tc.age))
			res := mustIngest(t, a, tc.event(t0))[0]
			got := sentOf(t, res.Queued)
			if len(got) != len(tc.want) {
				t.Fatalf("queued %+v, want %+v", got, tc.want)
			}
			for i, w := range tc.want {
				g := got[i]
				if g.kind != w.kind || strings.Join(g.texts, " ") != w.texts || (w.note == "") != (g.note == "") || !strings.Contains(g.note, w.note) {
					t.Errorf("queued[%d] = %+v, want %+v", i, g, w)
				}
				switch g.kind {
				case stepcast.DeliveryReply:
					if g.token != "tok-1" || g.priority != ReplyPriority || g.retryKey || !slices.Equal(g.friends, []stepcast.FriendID{res.Friend}) || !strings.HasSuffix(g.key, "#reply") {
						t.Errorf("reply %+v: want the token, priority %d, no retry key, the friend, a #reply key", g, ReplyPriority)
					}
				case stepcast.DeliveryPush:
					if g.token != "" || !g.retryKey || !strings.HasSuffix(g.key, "#push") {
						t.Errorf("push %+v: want no token, a retry key, a #push key", g)
					}
				}
			}
			if !slices.Equal(res.Notes, tc.notes) {
				t.Errorf("notes %q, want %q", res.Notes, tc.notes)
			}
			if tc.stepNotes != nil {
				var notes []string
				for _, s := range res.Steps {
					notes = append(notes, s.Note)
				}
				if len(notes) != len(tc.stepNotes) {
					t.Fatalf("step notes %q, want %q", notes, tc.stepNotes)
				}
				for i := range notes {
					if (notes[i] == "") != (tc.stepNotes[i] == "") || !strings.HasPrefix(notes[i], tc.stepNotes[i]) {
						t.Errorf("step %d note %q, want %q", i, notes[i], tc.stepNotes[i])
					}
				}
			}
		})
	}
}

// Several reply actions share the event's one token: their messages, in
// the order the actions ran, fill one reply of five; the rest go as one
// push, and each step whose messages were pushed says how many and why.
func TestRepliesShareTheToken(t *testing.T) {
	clk := &clock{t: t0}
	a := mustAccount(t, mustOpen(t, memstore.New(), clk), "r", replyDefs())
	mustIngest(t, a, follow("f1", "U1", "", t0))
	res := mustIngest(t, a, message("m1", "U1", "料金", "tok-1", t0))[0]
	got := sentOf(t, res.Queued)
	// "料金" is both rules' keyword: p1 p2 (price), m1 m2 m3 (price-more).
	if len(got) != 1 || strings.Join(got[0].texts, " ") != "p1 p2 m1 m2 m3" {
		t.Fatalf("queued %+v, want one reply of five", got)
	}
	// Six messages: a rule adds a third reply.
	d := replyDefs()
	d.Rules = append(d.Rules, rules.Rule{Name: "price-last", Trigger: rules.Trigger{Kind: rules.OnKeyword, Keywords: []string{"料金"}},
		Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.Reply, Messages: []stepcast.Message{msg("l1"), msg("l2")}}}}})
	if err := a.SetDefinitions(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	res = mustIngest(t, a, message("m2", "U1", "料金", "tok-2", t0))[0]
	got = sentOf(t, res.Queued)
	if len(got) != 2 || got[0].kind != stepcast.DeliveryReply || strings.Join(got[0].texts, " ") != "p1 p2 m1 m2 m3" || got[0].token != "tok-2" ||
		got[1].kind != stepcast.DeliveryPush || strings.Join(got[1].texts, " ") != "l1 l2" ||
		!strings.Contains(got[1].note, "7 messages to reply to one event, and a reply takes 5 (LINE's limit)") {
		t.Fatalf("queued %+v, want a reply of five and a push of two", got)
	}
	var notes []string
	for _, s := range res.Steps {
		notes = append(notes, fmt.Sprintf("%s/%d:%s", s.Rule, s.Step, s.Note))
	}
	want := []string{"price/0:", "price/1:", "price-more/0:", "price-last/0:pushed, not replied: 7 messages to reply to one event, and a reply takes 5 (LINE's limit)"}
	if !slices.Equal(notes, want) {
		t.Errorf("steps\n%q, want\n%q", notes, want)
	}
}

// A reply action of a step that comes due later runs in due work, which
// has no token: it is pushed, and the unit's notes say which step and why.
func TestReplyInDueWorkIsPushed(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	a := mustAccount(t, mustOpen(t, memstore.New(), clk), "r", replyDefs())
	mustIngest(t, a, follow("f1", "U1", "", t0), message("m1", "U1", "メニュー", "tok-1", t0))
	clk.Set(t0.Add(25 * time.Hour))
	if _, err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := a.Deliveries(ctx, store.DeliveryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	got := sentOf(t, rows)
	if len(got) != 2 || got[0].kind != stepcast.DeliveryReply || got[1].kind != stepcast.DeliveryPush || got[1].texts[0] != "course later" ||
		got[1].note != "pushed, not replied: due work has no reply token" {
		t.Fatalf("outbox %+v, want the first step replied, the second's reply pushed", got)
	}
	// The journey says which step's reply was pushed, and why.
	v, err := a.FriendByUser(ctx, "U1")
	if err != nil {
		t.Fatal(err)
	}
	page, err := a.History(ctx, v.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var journey []string
	for i := len(page) - 1; i >= 0; i-- {
		if e := page[i]; e.Kind == stepcast.EventJourney {
			journey = append(journey, fmt.Sprintf("%s run %s %s %s %s", e.Name, e.Data["run"], e.Data["step"], e.Value, e.Data["reason"]))
		}
	}
	want := []string{
		"course run 1  entered ",
		"course run 1 now ran ",
		"course run 1 later ran ",
		"course run 1  finished completed",
		// Recorded when the unit's replies are answered, at its end.
		"course run 1 later reply_pushed pushed, not replied: due work has no reply token",
	}
	if !slices.Equal(journey, want) {
		t.Errorf("journey\n%s\nwant\n%s", strings.Join(journey, "\n"), strings.Join(want, "\n"))
	}
}

// A backfill sends nothing, replies included; a redelivered event (the
// same ID) does nothing twice, whatever token it brings.
func TestReplyBackfillAndRedelivery(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	a := mustAccount(t, mustOpen(t, memstore.New(), clk), "r", replyDefs())
	res, err := a.Backfill(ctx, follow("f1", "U1", "", t0), message("m0", "U1", "値段", "tok-0", t0))
	if err != nil {
		t.Fatal(err)
	}
	if len(res[1].Queued) != 0 || res[1].Steps[1].Note != "backfill: nothing is sent" {
		t.Fatalf("backfill queued %v, note %q", res[1].Queued, res[1].Steps[1].Note)
	}
	first := mustIngest(t, a, message("m1", "U1", "値段", "tok-1", t0))[0]
	again := message("m1", "U1", "値段", "tok-2", t0.Add(30*time.Second))
	again.Arrival.Redelivered = true
	second := mustIngest(t, a, again)[0]
	if len(first.Queued) != 1 || !second.Duplicate || len(second.Queued) != 0 {
		t.Fatalf("first queued %d, second %+v", len(first.Queued), second)
	}
	rows, err := a.Deliveries(ctx, store.DeliveryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if got := sentOf(t, rows); len(got) != 1 || got[0].token != "tok-1" {
		t.Errorf("outbox %+v, want the first reply alone", got)
	}
}

// A reply with a live token answers whoever wrote, following or not (LINE
// takes a reply to any event that carries a token); a push reaches only
// friends, so what cannot be replied to a friend who does not follow is
// dropped. (One who blocked the account cannot write to it, but the block
// may be recorded before a message that was written first, or a follow
// may have been missed.)
func TestReplyToUnfollowed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		age   time.Duration
		token string
		want  stepcast.DeliveryKind // "" for nothing
		note  string
	}{
		{"a live token: replied", 2 * time.Second, "tok-1", stepcast.DeliveryReply, ""},
		{"the token expired: dropped", 2 * time.Minute, "tok-1", "",
			"dropped: the reply token has expired: the event is 2m0s old, beyond Config.ReplyWithin (50s; LINE honours a token for about a minute), and a push reaches only friends: the friend does not follow"},
		{"no token: dropped", 2 * time.Second, "", "", "dropped: the event came without a reply token, and a push reaches only friends: the friend does not follow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{t: t0}
			a := mustAccount(t, mustOpen(t, memstore.New(), clk), "r", replyDefs())
			mustIngest(t, a, follow("f1", "U1", "", t0), ev("u1", "U1", stepcast.EventUnfollow, "", "", t0.Add(time.Second)))
			clk.Set(t0.Add(tc.age))
			res := mustIngest(t, a, message("m1", "U1", "値段", tc.token, t0))[0]
			got := sentOf(t, res.Queued)
			switch {
			case tc.want == "" && len(got) != 0, tc.want != "" && (len(got) != 1 || got[0].kind != tc.want):
				t.Errorf("queued %+v, want %q", got, tc.want)
			}
			if res.Steps[1].Note != tc.note {
				t.Errorf("note %q, want %q", res.Steps[1].Note, tc.note)
			}
			f, err := a.FriendByUser(context.Background(), "U1")
			if err != nil || f.Following {
				t.Errorf("friend %+v, %v: want not following (a block is recorded)", f, err)
			}
		})
	}
}

// A keyword trigger and a reply in a definitions file are the Go values.
func TestKeywordRuleInFile(t *testing.T) {
	defs, err := ParseDefinitions("keywords.yaml", []byte(`
rules:
  - name: price
    trigger:
      kind: keyword          # a message whose text matches
      match: partial         # exact (the default), partial or prefix
      keywords: [料金, 値段, ＰＲＩＣＥ]
    steps:
      - kind: reply          # with the event's reply token, else pushed
        messages:
          - {type: text, text: "Our prices: …"}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []rules.Rule{{Name: "price",
		Trigger: rules.Trigger{Kind: rules.OnKeyword, Match: rules.MatchPartial, Keywords: []string{"料金", "値段", "ＰＲＩＣＥ"}},
		Steps:   []rules.Step{{Action: stepcast.Action{Kind: stepcast.Reply, Messages: []stepcast.Message{stepcast.Message(`{"text":"Our prices: …","type":"text"}`)}}}}}}
	if !reflect.DeepEqual(defs.Rules, want) {
		t.Fatalf("rules\n%+v\nwant\n%+v", defs.Rules, want)
	}
	clk := &clock{t: t0}
	a := mustAccount(t, mustOpen(t, memstore.New(), clk), "k", defs)
	res := mustIngest(t, a, follow("f1", "U1", "", t0), message("m1", "U1", "priceを教えて", "tok-1", t0))
	if got := sentOf(t, res[1].Queued); len(got) != 1 || got[0].kind != stepcast.DeliveryReply || got[0].token != "tok-1" {
		t.Errorf("queued %+v, want one reply", got)
	}
}

// Beyond five messages in one unit: the reply takes the first five, the
// rest go as pushes of up to five, keyed by the action each begins in; an
// action split between the two says how many of its messages were pushed.
func TestReplyOverflow(t *testing.T) {
	replyOf := func(prefix string, n int) stepcast.Action {
		a := stepcast.Action{Kind: stepcast.Reply}
		for i := range n {
			a.Messages = append(a.Messages, msg(fmt.Sprintf("%s%d", prefix, i+1)))
		}
		return a
	}
	for _, tc := range []struct {
		name   string
		counts []int // messages of each rule's reply, in definition order
		want   []string
		notes  []string
	}{
		{"six: one split", []int{3, 3}, []string{"reply a1 a2 a3 b1 b2 @a", "push b3 @b"},
			[]string{"", "1 of its 3 messages pushed, not replied: 6 messages to reply to one event, and a reply takes 5 (LINE's limit)"}},
		{"eleven: a reply and two pushes", []int{5, 5, 1}, []string{"reply a1 a2 a3 a4 a5 @a", "push b1 b2 b3 b4 b5 @b", "push c1 @c"},
			[]string{"", "pushed, not replied: 11 messages to reply to one event, and a reply takes 5 (LINE's limit)",
				"pushed, not replied: 11 messages to reply to one event, and a reply takes 5 (LINE's limit)"}},
		{"pushes straddle actions", []int{4, 2, 5}, []string{"reply a1 a2 a3 a4 b1 @a", "push b2 c1 c2 c3 c4 @b", "push c5 @c"},
			[]string{"", "1 of its 2 messages pushed, not replied: 11 messages to reply to one event, and a reply takes 5 (LINE's limit)",
				"pushed, not replied: 11 messages to reply to one event, and a reply takes 5 (LINE's limit)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Definitions{Schema: segment.SchemaConfig{Location: tokyo}}
			for i, n := range tc.counts {
				name := string(rune('a' + i))
				d.Rules = append(d.Rules, rules.Rule{Name: name, Trigger: rules.Trigger{Kind: rules.OnKeyword, Keywords: []string{"hi"}},
					Steps: []rules.Step{{Action: replyOf(name, n)}}})
			}
			a := mustAccount(t, mustOpen(t, memstore.New(), &clock{t: t0}), "r", d)
			res := mustIngest(t, a, follow("f1", "U1", "", t0), message("m1", "U1", "HI", "tok", t0))[1]
			var got []string
			for i, s := range sentOf(t, res.Queued) {
				got = append(got, fmt.Sprintf("%s %s @%s", s.kind, strings.Join(s.texts, " "), strings.Split(res.Queued[i].Key, "/")[2][:1]))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("queued\n%q, want\n%q", got, tc.want)
			}
			var notes []string
			for _, s := range res.Steps {
				notes = append(notes, s.Note)
			}
			if !slices.Equal(notes, tc.notes) {
				t.Errorf("notes\n%q, want\n%q", notes, tc.notes)
			}
		})
	}
}

// The store never keeps a reply token: an event read back from a friend's
// history and ingested again (a replay into another store) has none, and
// its replies are pushed.
func TestReplayNeverReplies(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	a := mustAccount(t, mustOpen(t, memstore.New(), clk), "r", replyDefs())
	res := mustIngest(t, a, follow("f1", "U1", "", t0), message("m1", "U1", "値段", "tok-1", t0))
	if got := sentOf(t, res[1].Queued); len(got) != 1 || got[0].kind != stepcast.DeliveryReply {
		t.Fatalf("queued %+v, want a reply", got)
	}
	page, err := a.History(ctx, res[1].Friend, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var events []stepcast.Event
	for i := len(page) - 1; i >= 0; i-- {
		e := page[i].Event
		if e.Kind == stepcast.EventJourney {
			continue
		}
		e.Friend, e.User = 0, "U1"
		events = append(events, e)
	}
	b := mustAccount(t, mustOpen(t, memstore.New(), clk), "replay", replyDefs())
	res = mustIngest(t, b, events...)
	if got := sentOf(t, res[1].Queued); len(got) != 1 || got[0].kind != stepcast.DeliveryPush ||
		got[0].note != "pushed, not replied: the event came without a reply token" {
		t.Fatalf("replayed: queued %+v, want a push", got)
	}
}

// BenchmarkKeywordReply: a message through the whole unit of work on
// memstore — its keyword matched among n keyword rules (three keywords
// each, a third partial) and answered by one reply — against the same
// message matching nothing.
func BenchmarkKeywordReply(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		for _, text := range []string{"ＫＷ7の料金を教えて", "こんにちは"} {
			b.Run(fmt.Sprintf("rules=%d/%s", n, map[bool]string{true: "reply", false: "no-match"}[text != "こんにちは"]), func(b *testing.B) {
				d := Definitions{Schema: segment.SchemaConfig{Location: tokyo}}
				for i := range n {
					m := []rules.KeywordMatch{rules.MatchExact, rules.MatchPartial, rules.MatchPrefix}[i%3]
					d.Rules = append(d.Rules, rules.Rule{Name: fmt.Sprintf("r%d", i),
						Trigger: rules.Trigger{Kind: rules.OnKeyword, Match: m, Keywords: []string{fmt.Sprintf("キーワード%d", i), fmt.Sprintf("ｷｰﾜｰﾄﾞ%d", i), fmt.Sprintf("kw%d", i)}},
						Steps:   []rules.Step{{Action: stepcast.Action{Kind: stepcast.Reply, Messages: []stepcast.Message{msg("answer")}}}}})
				}
				clk := &clock{t: t0}
				a := mustAccount(b, mustOpen(b, memstore.New(), clk), "k", d)
				ctx := context.Background()
				for u := range 1000 {
					if _, err := a.Ingest(ctx, follow(fmt.Sprintf("f%d", u), fmt.Sprintf("U%04d", u), "", t0)); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					i++
					res, err := a.Ingest(ctx, message(fmt.Sprintf("m%d", i), fmt.Sprintf("U%04d", i%1000), text, "tok", t0))
					if err != nil || (text != "こんにちは") != (len(res[0].Queued) == 1) {
						b.Fatalf("%v %+v", err, res)
					}
				}
			})
		}
	}
}

// Every backend keeps a queued reply — its token, its friend, its priority
// — and a push standing in for one with its note.
func TestRepliesOnEveryBackend(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		clk := &clock{t: t0}
		a := mustAccount(t, mustOpen(t, open(t), clk), "r", replyDefs())
		mustIngest(t, a, follow("f1", "U1", "", t0), message("m1", "U1", "値段", "tok-1", t0))
		clk.Set(t0.Add(2 * time.Minute))
		mustIngest(t, a, message("m2", "U1", "値段", "tok-2", t0.Add(time.Minute)))
		rows, err := a.Deliveries(ctx, store.DeliveryFilter{Friend: 1})
		if err != nil {
			t.Fatal(err)
		}
		got := sentOf(t, rows)
		if len(got) != 2 || got[0].kind != stepcast.DeliveryReply || got[0].token != "tok-1" || got[0].priority != ReplyPriority ||
			got[1].kind != stepcast.DeliveryPush || !got[1].retryKey || !strings.HasPrefix(got[1].note, "pushed, not replied: the reply token has expired: the event is 1m0s old") {
			t.Fatalf("outbox %+v", got)
		}
	})
}

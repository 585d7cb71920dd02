package engine

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/store"
)

// TestWrittenToFollows: a friend the engine never saw follow — they added
// the account before its webhook was wired up, or while webhooks were
// down — who writes to it (a message, a postback) with no follow or block
// ever recorded follows from that event: LINE lets no one who blocked the
// account write to it. The follow rules do not run (the event is not a
// follow); their follow event, should it come after all, is their first
// follow, and the rules run then; unfollow events are decided by time as
// ever.
func TestWrittenToFollows(t *testing.T) {
	t1, t2, t3 := t0.Add(time.Hour), t0.Add(2*time.Hour), t0.Add(3*time.Hour)
	postback := func(id string, at time.Time) stepcast.Event {
		e := ev(id, "U1", stepcast.EventPostback, "", "a=1", at)
		e.Arrival.ReplyToken = "tok-" + id
		return e
	}
	standby := func(e stepcast.Event) stepcast.Event { e.Arrival.Standby, e.Arrival.ReplyToken = true, ""; return e }
	unfollow := func(id string, at time.Time) stepcast.Event { return ev(id, "U1", stepcast.EventUnfollow, "", "", at) }
	click := ev("c1", "U1", stepcast.EventClick, "campaign", "", t2)
	tests := []writtenCase{
		{name: "a stranger's keyword: following from it, answered",
			events: []stepcast.Event{message("m1", "U1", "値段", "tok-1", t2)}, following: true, followed: t2, replies: 1},
		{name: "a stranger's postback: following from it",
			events: []stepcast.Event{postback("p1", t2)}, following: true, followed: t2},
		{name: "a stranger's message in standby: following, nothing sent",
			events: []stepcast.Event{standby(message("m1", "U1", "値段", "", t2))}, following: true, followed: t2},
		{name: "a click is no evidence: the host's, anyone's",
			events: []stepcast.Event{click}},
		{name: "a block recorded: the message after it does not make a follow",
			events: []stepcast.Event{unfollow("u1", t1), message("m1", "U1", "値段", "tok-1", t2)}, unfollowed: t1, replies: 1},
		{name: "a follow recorded: the message changes nothing",
			events: []stepcast.Event{follow("f1", "U1", "", t1), message("m1", "U1", "値段", "tok-1", t2)}, following: true, followed: t1, greeted: true, replies: 1},
		{name: "then a block after the message: not following",
			events: []stepcast.Event{message("m1", "U1", "こんにちは", "tok-1", t2), unfollow("u1", t3)}, followed: t2, unfollowed: t3},
		{name: "then a late block dated before the message: still following",
			events: []stepcast.Event{message("m1", "U1", "こんにちは", "tok-1", t2), unfollow("u1", t1)}, following: true, followed: t2, unfollowed: t1},
		// Added, then a tap on the rich menu at once: the two webhooks
		// arrive in the other order, or the follow is redelivered late.
		{name: "then the follow, dated before: their true follow, greeted",
			events: []stepcast.Event{postback("p1", t2), follow("f1", "U1", "", t1)}, following: true, followed: t1, greeted: true},
		{name: "then the follow, dated after (they wrote before adding): greeted",
			events: []stepcast.Event{message("m1", "U1", "こんにちは", "tok-1", t1), follow("f1", "U1", "", t3)}, following: true, followed: t3, greeted: true},
		{name: "a follow, then another without a block between, dated before: nothing",
			events: []stepcast.Event{follow("f1", "U1", "", t2), follow("f0", "U1", "", t1)}, following: true, followed: t2, greeted: true},
		{name: "then a block and a follow again: the follow rules run",
			events:    []stepcast.Event{message("m1", "U1", "こんにちは", "tok-1", t1), unfollow("u1", t2), follow("f1", "U1", "", t3)},
			following: true, followed: t3, unfollowed: t2, greeted: true},
	}
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) { tt.run(t, open(t)) })
		}
	})
}

// writtenCase is a case of TestWrittenToFollows: events ingested in order,
// each while its token lives, and what the friend is left as.
type writtenCase struct {
	name           string
	events         []stepcast.Event
	following      bool
	followed       time.Time // FollowedAt
	unfollowed     time.Time // UnfollowedAt
	greeted        bool      // the follow rules ran
	replies, other int       // queued by the last event: replies, other deliveries
}

func (tt writtenCase) run(t *testing.T, st store.Store) {
	ctx := context.Background()
	clk := &clock{t: t0}
	d := replyDefs()
	d.Rules = append(d.Rules, rules.Rule{Name: "greet", Trigger: rules.Trigger{Kind: rules.OnFollow},
		Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "greeted"}}}})
	e, err := Open(Config{Store: st, Now: clk.Now, ReplyPushWithin: -1})
	if err != nil {
		t.Fatal(err)
	}
	a := mustAccount(t, e, "s", d)
	var last Result
	for _, ev := range tt.events {
		clk.Set(ev.At.Add(time.Second)) // each arrives while its token lives
		last = mustIngest(t, a, ev)[0]
	}
	f, err := a.FriendByUser(ctx, "U1")
	if err != nil {
		t.Fatal(err)
	}
	if f.Following != tt.following || !f.FollowedAt.Equal(tt.followed) || !f.UnfollowedAt.Equal(tt.unfollowed) {
		t.Errorf("following %v since %v, unfollowed %v; want %v since %v, unfollowed %v",
			f.Following, f.FollowedAt, f.UnfollowedAt, tt.following, tt.followed, tt.unfollowed)
	}
	if greeted := slices.Contains(f.Tags, "greeted"); greeted != tt.greeted {
		t.Errorf("greeted %v, want %v (tags %v)", greeted, tt.greeted, f.Tags)
	}
	replies, other := 0, 0
	for _, q := range last.Queued {
		if q.Kind == stepcast.DeliveryReply {
			replies++
		} else {
			other++
		}
	}
	if replies != tt.replies || other != tt.other {
		t.Errorf("the last event queued %d replies and %d others, want %d and %d", replies, other, tt.replies, tt.other)
	}
	// The segment index agrees with the record.
	n, err := a.Count("following")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[bool]uint64{true: 1}[tt.following]; n != want {
		t.Errorf("Count(following) = %d, want %d", n, want)
	}
}

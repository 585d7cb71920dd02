package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
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

const (
	menuA = "richmenu-88c05ef6921ae53f8b58a25f3a65faf7"
	menuB = "richmenu-862e6ad6c267d2ddf3f42bc78554f6a4"
)

// menuDefs declare RichMenuField, a tag for members and a string field.
func menuDefs() Definitions {
	return Definitions{Schema: segment.SchemaConfig{
		Fields:   []segment.Field{{Name: RichMenuField, Type: stepcast.FieldString}, {Name: "area", Type: stepcast.FieldString}},
		Location: tokyo,
	}}
}

// seedFriends writes n friends straight into st, U00001 up, in
// transactions of 1,000: each follows and is tagged member; those blocked
// picks have blocked since.
func seedFriends(t testing.TB, st store.Store, n int, blocked func(i int) bool) {
	t.Helper()
	ctx := context.Background()
	for from := 1; from <= n; from += 1000 {
		err := st.Update(ctx, "acct", func(tx store.Tx) error {
			var cs []store.Change
			for i := from; i < from+1000 && i <= n; i++ {
				f, _, err := tx.AddFriend(stepcast.UserID(fmt.Sprintf("U%032x", i)))
				if err != nil {
					return err
				}
				cs = append(cs, store.Change{Friend: f.ID, Kind: store.Follow, At: t0.Add(-time.Hour)},
					store.Change{Friend: f.ID, Kind: store.SetTag, Name: "member", At: t0.Add(-time.Hour)})
				if blocked(i) {
					cs = append(cs, store.Change{Friend: f.ID, Kind: store.Unfollow, At: t0.Add(-time.Minute)})
				}
			}
			_, err := tx.Apply(cs...)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// allDeliveries lists every delivery of a cause, in ID order.
func allDeliveries(t *testing.T, a *Account, cause string) []store.Delivery {
	t.Helper()
	var out []store.Delivery
	for after := uint64(0); ; {
		page, err := a.Deliveries(context.Background(), store.DeliveryFilter{Cause: cause, After: after, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if len(page) < 100 {
			return out
		}
		after = page[len(page)-1].ID
	}
}

// TestLinkRichMenuSegment: 10,000 following members and 300 who blocked,
// in a segment that asks for blocked friends too: 20 bulk links of 500,
// no blocked friend among them, the last keyed as the end, each friend's
// rich_menu field set; a second call queues nothing; the deliveries are
// counted and cancelled by their cause.
func TestLinkRichMenuSegment(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"memstore", "boltstore", "pgstore"} {
		t.Run(name, func(t *testing.T) {
			st := backends[name](t)
			isBlocked := func(i int) bool { return i%34 == 1 && i < 34*300 }
			seedFriends(t, st, 10300, isBlocked)
			clk := &clock{t: t0}
			a := mustAccount(t, mustOpen(t, st, clk), "acct", menuDefs())

			rep, err := a.LinkRichMenu(ctx, "members-2026-12", menuA, `tag("member") || blocked`)
			if err != nil {
				t.Fatal(err)
			}
			want := RichMenuReport{Name: "members-2026-12", Cause: "rich_menu:members-2026-12", Kind: stepcast.DeliveryRichMenuBulkLink,
				RichMenu: menuA, Segment: 10300, Friends: 10000, Deliveries: 20, Skipped: 300}
			if rep != want {
				t.Fatalf("report\n%+v, want\n%+v", rep, want)
			}
			rows := allDeliveries(t, a, rep.Cause)
			if len(rows) != 20 {
				t.Fatalf("%d deliveries, want 20", len(rows))
			}
			var prev stepcast.FriendID
			for i, row := range rows {
				var d stepcast.Delivery
				if err := json.Unmarshal(row.Payload, &d); err != nil {
					t.Fatal(err)
				}
				wantKey := fmt.Sprintf("rich_menu/members-2026-12/%d", i+1)
				if i == 19 {
					wantKey = "rich_menu/members-2026-12/end"
				}
				if row.Key != wantKey || row.Kind != stepcast.DeliveryRichMenuBulkLink || row.RetryKey != "" || len(row.Friends) != 500 || row.Priority != RichMenuPriority ||
					len(d.To) != 500 || d.RichMenu != menuA || d.Cause != (stepcast.Cause{Kind: stepcast.CauseRichMenu, Name: "members-2026-12", Step: i + 1}) {
					t.Fatalf("delivery %d: row %+v payload cause %+v, %d recipients", i, row, d.Cause, len(d.To))
				}
				for j, r := range d.To {
					if r.Friend <= prev || r.Friend != row.Friends[j] || isBlocked(int(r.Friend)) || string(r.User) != fmt.Sprintf("U%032x", r.Friend) {
						t.Fatalf("delivery %d recipient %d: %+v after friend %d", i, j, r, prev)
					}
					prev = r.Friend
				}
			}
			if n := mustCount(t, a, fmt.Sprintf("%s == %q", RichMenuField, menuA)); n != 10000 {
				t.Errorf("%d friends on menu A by the field, want 10000", n)
			}
			if n := mustCount(t, a, fmt.Sprintf("blocked && has(%q)", RichMenuField)); n != 0 {
				t.Errorf("%d blocked friends got the field", n)
			}

			// Again under the same name: finished, nothing queued.
			again, err := a.LinkRichMenu(ctx, "members-2026-12", menuA, `tag("member")`)
			if err != nil || !again.Finished || again.Earlier != 20 || again.Deliveries != 0 || again.Segment != 0 {
				t.Errorf("second call: %+v, %v", again, err)
			}
			// The name of another switch is refused.
			if _, err := a.LinkRichMenu(ctx, "members-2026-12", menuB, `tag("member")`); !errors.Is(err, stepcast.ErrInvalid) ||
				!strings.Contains(err.Error(), "used for a link of "+menuA) {
				t.Errorf("the name for another menu: %v", err)
			}
			if _, err := a.UnlinkRichMenu(ctx, "members-2026-12", `tag("member")`); !errors.Is(err, stepcast.ErrInvalid) {
				t.Errorf("the name for an unlink: %v", err)
			}

			p, err := a.DeliveryProgress(ctx, rep.Cause)
			if err != nil || p.Pending != 20 {
				t.Fatalf("progress %+v, %v", p, err)
			}
			n, err := a.CancelDeliveries(ctx, store.DeliverySelector{Cause: rep.Cause}, "wrong menu")
			if err != nil || n != 20 {
				t.Fatalf("cancelled %d, %v", n, err)
			}
			if p, _ := a.DeliveryProgress(ctx, rep.Cause); p.Pending != 0 || p.Cancelled != 20 {
				t.Errorf("after cancelling: %+v", p)
			}
		})
	}
}

// stoppingStore fails every Update after the first ok ones, as a store
// going away part way through an operation.
type stoppingStore struct {
	store.Store
	ok int
}

var errGone = errors.New("the store went away")

func (s *stoppingStore) Update(ctx context.Context, a store.AccountID, fn func(store.Tx) error) error {
	if s.ok == 0 {
		return errGone
	}
	s.ok--
	return s.Store.Update(ctx, a, fn)
}

// TestRichMenuResumes: an operation that stopped after its first
// transaction (5,000 friends) is taken up by the next call from the friend
// after the last one queued; a friend who joined the segment in between
// with a later ID is included, none is queued twice.
func TestRichMenuResumes(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New()
	seedFriends(t, mem, 7001, func(int) bool { return false })
	fs := &stoppingStore{Store: mem, ok: 1 << 30}
	a := mustAccount(t, mustOpen(t, fs, &clock{t: t0}), "acct", menuDefs())
	fs.ok = 1 // AddAccount's own updates are done: one page, then failures

	rep, err := a.LinkRichMenu(ctx, "all", menuA, `tag("member")`)
	if !errors.Is(err, errGone) || rep.Deliveries != RichMenuTxParts || rep.Friends != RichMenuTxParts*500 {
		t.Fatalf("first call: %+v, %v", rep, err)
	}
	fs.ok = 1 << 30
	rep, err = a.LinkRichMenu(ctx, "all", menuA, `tag("member")`)
	if err != nil || rep.Earlier != 10 || rep.Deliveries != 5 || rep.Friends != 2001 || rep.Finished {
		t.Fatalf("second call: %+v, %v", rep, err)
	}
	seen := map[stepcast.FriendID]bool{}
	for _, row := range allDeliveries(t, a, rep.Cause) {
		for _, f := range row.Friends {
			if seen[f] {
				t.Fatalf("friend %d queued twice", f)
			}
			seen[f] = true
		}
	}
	if len(seen) != 7001 {
		t.Errorf("%d friends queued, want 7001", len(seen))
	}
}

// TestUnlinkRichMenuAndDefault: an unlink of a segment unsets the field
// of those it reaches; the default menu is one delivery of its own cause;
// bad IDs and names are refused before anything is queued.
func TestUnlinkRichMenuAndDefault(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	seedFriends(t, st, 1200, func(int) bool { return false })
	clk := &clock{t: t0}
	a := mustAccount(t, mustOpen(t, st, clk), "acct", menuDefs())
	if _, err := a.LinkRichMenu(ctx, "everyone", menuA, `tag("member")`); err != nil {
		t.Fatal(err)
	}
	rep, err := a.UnlinkRichMenu(ctx, "first-half", `tag("member") && nosuchfield == 1`)
	if err == nil {
		t.Fatalf("a segment that does not compile: %+v", rep)
	}
	var se *segment.Error
	if !errors.As(err, &se) {
		t.Errorf("want a *segment.Error, got %v", err)
	}
	rep, err = a.UnlinkRichMenu(ctx, "some", `tag("member") && area == "nowhere" || tag("member")`)
	if err != nil || rep.Friends != 1200 || rep.Deliveries != 3 || rep.Kind != stepcast.DeliveryRichMenuBulkUnlink || rep.RichMenu != "" {
		t.Fatalf("unlink: %+v, %v", rep, err)
	}
	rows := allDeliveries(t, a, "rich_menu:some")
	if len(rows) != 3 || len(rows[2].Friends) != 200 || rows[0].Kind != stepcast.DeliveryRichMenuBulkUnlink {
		t.Fatalf("unlinks %+v", rows)
	}
	if n := mustCount(t, a, `has("rich_menu")`); n != 0 {
		t.Errorf("%d friends keep a menu in the field after the unlink", n)
	}

	id, err := a.SetDefaultRichMenu(ctx, menuB)
	if err != nil {
		t.Fatal(err)
	}
	rows = allDeliveries(t, a, "rich_menu:default")
	var d stepcast.Delivery
	if len(rows) != 1 || rows[0].ID != id || json.Unmarshal(rows[0].Payload, &d) != nil || d.Kind != stepcast.DeliveryRichMenuDefault || d.RichMenu != menuB {
		t.Fatalf("default: %+v", rows)
	}

	for _, c := range []struct{ name, op, menu, want string }{
		{"ShortID", "x", "richmenu-1", `rich menu "richmenu-1" is not a rich menu ID`},
		{"UpperHex", "x", strings.ToUpper(menuA[:9]) + menuA[9:], "is not a rich menu ID"},
		{"UpperHexDigits", "x", "richmenu-88C05EF6921AE53F8B58A25F3A65FAF7", "32 lowercase hex digits"},
		{"Alias", "x", "richmenu-alias-a", "is not a rich menu ID"},
		{"NoName", "", menuA, "operation name is empty"},
		{"DefaultName", "default", menuA, `the name "default" is SetDefaultRichMenu's`},
		{"LongName", strings.Repeat("n", 250), menuA, "too long to key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := a.LinkRichMenu(ctx, c.op, c.menu, `tag("member")`)
			if !errors.Is(err, stepcast.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want ErrInvalid saying %q", err, c.want)
			}
		})
	}
	if _, err := a.SetDefaultRichMenu(ctx, "richmenu-x"); !errors.Is(err, stepcast.ErrInvalid) {
		t.Errorf("default of a bad ID: %v", err)
	}
	if p, _ := a.DeliveryProgress(ctx, "rich_menu:x"); p != (store.DeliveryProgress{}) {
		t.Errorf("refused calls queued %+v", p)
	}
}

// TestRichMenuActions: link_rich_menu and unlink_rich_menu in a rule and
// in a scenario's step queue one link or unlink for the friend and keep
// the rich_menu field, which segments read; a friend who blocked gets
// nothing and keeps the field.
func TestRichMenuActions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		d := menuDefs()
		d.Rules = []rules.Rule{
			{Name: "trial-menu", Trigger: rules.Trigger{Kind: rules.OnFollow}, Steps: []rules.Step{
				{Action: stepcast.Action{Kind: stepcast.StartScenario, Name: "onboarding"}},
			}},
			{Name: "reset-menu", Trigger: rules.Trigger{Kind: rules.OnKeyword, Match: rules.MatchExact, Keywords: []string{"reset"}}, Steps: []rules.Step{
				{Action: stepcast.Action{Kind: stepcast.UnlinkRichMenu}},
			}},
			{Name: "member-menu", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventConversion, Name: "join"}, Steps: []rules.Step{
				{If: `rich_menu != "` + menuB + `"`, Action: stepcast.Action{Kind: stepcast.LinkRichMenu, Name: menuB}},
			}},
		}
		d.Scenarios = []scenario.Definition{{Name: "onboarding", Steps: []scenario.Step{
			{Name: "trial-menu", Timing: scenario.Timing{Kind: scenario.AfterEntry, After: time.Hour},
				Actions: []stepcast.Action{{Kind: stepcast.LinkRichMenu, Name: menuA}}},
		}}}
		clk := &clock{t: t0}
		a := mustAccount(t, mustOpen(t, open(t), clk), "acct", d)
		mustIngest(t, a, follow("f1", "U1", "", t0), follow("f2", "U2", "", t0))
		mustIngest(t, a, ev("b2", "U2", stepcast.EventUnfollow, "", "", t0.Add(time.Minute)))
		clk.Set(t0.Add(time.Hour))
		if _, err := a.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		rows := allDeliveries(t, a, "scenario:onboarding")
		var dl stepcast.Delivery
		if len(rows) != 1 || rows[0].Kind != stepcast.DeliveryRichMenuLink || rows[0].Priority != RichMenuPriority || json.Unmarshal(rows[0].Payload, &dl) != nil ||
			dl.RichMenu != menuA || dl.To[0].User != "U1" {
			t.Fatalf("the scenario step queued %+v", rows)
		}
		if n := mustCount(t, a, `rich_menu == "`+menuA+`"`); n != 1 {
			t.Errorf("%d friends on menu A, want 1 (U2 blocked before the step)", n)
		}

		clk.Set(t0.Add(4 * time.Hour))
		res := mustIngest(t, a, ev("j1", "U1", stepcast.EventConversion, "join", "", t0.Add(2*time.Hour)),
			ev("j2", "U1", stepcast.EventConversion, "join", "", t0.Add(3*time.Hour)))
		if len(res[0].Queued) != 1 || res[0].Queued[0].Kind != stepcast.DeliveryRichMenuLink || len(res[1].Queued) != 0 {
			t.Errorf("join queued %+v then %+v", res[0].Queued, res[1].Queued)
		}
		res = mustIngest(t, a, ev("m1", "U1", stepcast.EventMessage, rules.TextMessage, "reset", t0.Add(4*time.Hour)))
		if len(res[0].Queued) != 1 || res[0].Queued[0].Kind != stepcast.DeliveryRichMenuUnlink || res[0].Queued[0].Cause != "rule:reset-menu" {
			t.Fatalf("reset queued %+v", res[0].Queued)
		}
		if n := mustCount(t, a, `has("rich_menu")`); n != 0 {
			t.Errorf("%d friends keep a menu after the reset", n)
		}
		v, err := a.FriendByUser(context.Background(), "U1")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := v.Fields[RichMenuField]; ok {
			t.Errorf("U1's record keeps %v", v.Fields[RichMenuField])
		}

		// History sends nothing and records no menu.
		res, err = a.Backfill(context.Background(), follow("h1", "U3", "", t0.Add(-48*time.Hour)),
			ev("h2", "U3", stepcast.EventConversion, "join", "", t0.Add(-47*time.Hour)))
		if err != nil || len(res[1].Queued) != 0 {
			t.Fatalf("backfill queued %+v, %v", res, err)
		}
		if n := mustCount(t, a, `has("rich_menu")`); n != 0 {
			t.Errorf("%d friends on a menu after the backfill", n)
		}
	})
}

// readmeMenus is the README's example of rich menu actions in a file.
const readmeMenus = `rules:
  - name: member-menu
    trigger: {kind: event, event: conversion, name: join}
    steps:
      - {kind: link_rich_menu, name: richmenu-88c05ef6921ae53f8b58a25f3a65faf7}
scenarios:
  - name: trial
    steps:
      - name: trial-menu-ends     # a week on, back to the default menu
        day: 7
        at: "10:00"
        actions:
          - {kind: unlink_rich_menu}
`

// TestRichMenuDefinitions: rich menu actions read from a file; each is
// checked where it is written — a bad ID, an unlink with a name —, and
// RichMenuField must be a string.
func TestRichMenuDefinitions(t *testing.T) {
	d, err := ParseDefinitions("menus.yaml", []byte(readmeMenus))
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Rules[0].Steps[0].Action; !reflect.DeepEqual(got, stepcast.Action{Kind: stepcast.LinkRichMenu, Name: menuA}) {
		t.Errorf("the rule's action %+v", got)
	}
	if got := d.Scenarios[0].Steps[0].Actions; len(got) != 1 || got[0].Kind != stepcast.UnlinkRichMenu {
		t.Errorf("the step's actions %+v", got)
	}

	for _, c := range []struct {
		name, src string
		want      []string
	}{
		{"Rules", `schema:
  fields:
    - {name: rich_menu, type: int}
rules:
  - name: a
    trigger: {kind: follow}
    steps:
      - {kind: link_rich_menu, name: richmenu-1}
      - {kind: unlink_rich_menu, name: ` + menuA + `}
      - {kind: link_rich_menu, name: ` + menuA + `}
      - {kind: unlink_rich_menu}
`, []string{
			`menus.yaml:3: schema.fields[0].type: invalid definition: the field "rich_menu" records the rich menu linked to each friend (its ID): it must be a string, not int`,
			`menus.yaml:8: rules[0].steps[0].action: invalid definition: stepcast: invalid: link_rich_menu action: the rich menu "richmenu-1" is not a rich menu ID: want "richmenu-" and 32 lowercase hex digits`,
			`menus.yaml:9: rules[0].steps[1].action: invalid definition: stepcast: invalid: unlink_rich_menu action: takes no name`,
		}},
		{"ScenarioStep", `scenarios:
  - name: s
    steps:
      - name: one
        immediately: true
        actions:
          - {kind: unlink_rich_menu}
          - {kind: link_rich_menu}
`, []string{
			`menus.yaml:8: scenarios[0].steps[0].actions[1]: invalid definition: stepcast: invalid: link_rich_menu action: the rich menu "" is not a rich menu ID`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseDefinitions("menus.yaml", []byte(c.src))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, want := range c.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("missing\n%s\nin\n%v", want, err)
				}
			}
			if n := strings.Count(err.Error(), "menus.yaml:"); n != len(c.want) {
				t.Errorf("%d errors, want %d:\n%v", n, len(c.want), err)
			}
		})
	}
}

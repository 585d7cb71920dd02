package engine

import (
	"context"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store/memstore"
)

// shift_date_field counts calendar days in the account's zone: 10:00 three
// days on is 10:00 local even across a DST jump (Sao Paulo went 00:00 →
// 01:00 on 2018-11-04), not 72 hours later.
func TestShiftDateFieldAcrossDST(t *testing.T) {
	sp, err := time.LoadLocation("America/Sao_Paulo")
	if err != nil {
		t.Skip(err)
	}
	at := time.Date(2018, 11, 1, 10, 0, 0, 0, sp)
	defs := Definitions{
		Schema: segment.SchemaConfig{Fields: []segment.Field{{Name: "next_contact", Type: stepcast.FieldTime}}, Location: sp},
		Rules: []rules.Rule{{Name: "later", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventAnswer}, Steps: []rules.Step{
			{Action: stepcast.Action{Kind: stepcast.ShiftDateField, Name: "next_contact", Number: 3}},
		}}},
	}
	a := mustAccount(t, mustOpen(t, memstore.New(), &clock{t: at}), "sp", defs)
	mustIngest(t, a, ev("a1", "U1", stepcast.EventAnswer, "q", "", at))
	v, err := a.FriendByUser(context.Background(), "U1")
	if err != nil {
		t.Fatal(err)
	}
	got := v.Friend.Fields["next_contact"].Any().(time.Time).In(sp).Format(time.RFC3339)
	if want := "2018-11-04T10:00:00-02:00"; got != want {
		t.Errorf("next_contact = %s, want %s", got, want)
	}
}

package rules_test

import (
	"fmt"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/segment"
)

// A survey answer sets off a rule; its steps are checked against the
// friend and their actions decided. Applying them is the engine's work.
func Example() {
	schema := segment.MustSchema(segment.SchemaConfig{
		Fields: []segment.Field{{Name: "age", Type: stepcast.FieldInt}},
	})
	set, err := rules.Compile([]rules.Rule{{
		Name:    "profile",
		Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventAnswer, Name: "age"},
		Steps: []rules.Step{
			{Action: stepcast.Action{Kind: stepcast.SetField, Name: "age", Text: "value"}},
			{If: `age >= 20`, Action: stepcast.Action{Kind: stepcast.AddTag, Name: "adult"}},
		},
	}}, rules.Env{Schema: schema})
	if err != nil {
		fmt.Println(err)
		return
	}
	at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	ev := stepcast.Event{ID: "a1", Kind: stepcast.EventAnswer, Name: "age", Value: "34", At: at}
	friend := rules.Friend{Fields: map[string]stepcast.Value{}}
	record := &segment.Record{Following: true, Fields: map[string]any{}}

	run := set.Start(`event "a1"`, 8)
	if err := run.Event(ev, false, false); err != nil {
		fmt.Println(err)
		return
	}
	for act := run.Next(); act != nil; act = run.Next() {
		for i, st := range act.Steps {
			if st.If != nil {
				if ok, _ := st.If.MatchRecord(record, at); !ok {
					fmt.Printf("%s/%d: condition does not hold\n", act.Name, i)
					continue
				}
			}
			d := set.Decide(st.Action, friend, rules.Context{At: at, Event: &ev, Rand: rules.Seed(ev.ID, act, i)})
			fmt.Printf("%s/%d: %s %s", act.Name, i, d.Action.Kind, d.Action.Name)
			if v := d.Action.Value; v != nil {
				fmt.Printf(" = %v", v)
				friend.Fields[d.Action.Name] = *v // as the engine applies it
				record.Fields[d.Action.Name] = v.Any()
			}
			fmt.Println()
		}
	}
	// Output:
	// profile/0: set_field age = 34
	// profile/1: add_tag adult
}

// A keyword trigger (キーワード応答) compares a message's text with its
// keywords once both are normalized: width, case and white space folded.
func ExampleNormalizeText() {
	for _, typed := range []string{"ＶＩＰ", " vip ", "ｷｬﾝﾍﾟｰﾝ　申込", "りょうきん"} {
		fmt.Printf("%q\n", rules.NormalizeText(typed))
	}
	fmt.Println(rules.MatchKeyword(rules.MatchPrefix, rules.NormalizeText("キャンペーン"), rules.NormalizeText("ｷｬﾝﾍﾟｰﾝ　申込")))
	// Output:
	// "vip"
	// "vip"
	// "キャンペーン 申込"
	// "りょうきん"
	// true
}

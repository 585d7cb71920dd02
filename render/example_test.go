package render_test

import (
	"fmt"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/render"
	"github.com/stepcast/stepcast/segment"
)

func ExampleParse() {
	schema, _ := segment.NewSchema(segment.SchemaConfig{
		Fields:   []segment.Field{{Name: "name", Type: stepcast.FieldString}, {Name: "booking", Type: stepcast.FieldTime}},
		Location: time.FixedZone("JST", 9*3600),
	})
	tpl, err := render.Parse([]stepcast.Message{
		stepcast.Message(`{"type":"text","text":"{{name|お客様}}さん、ご予約は {{booking}} です。"}`),
	}, schema)
	if err != nil {
		fmt.Println(err)
		return
	}
	booked := render.Friend{Fields: map[string]stepcast.Value{
		"booking": stepcast.TimeValue(time.Date(2026, 4, 1, 1, 0, 0, 0, time.UTC)),
	}}
	msgs, skip := tpl.Render(booked)
	fmt.Println(string(msgs[0]), skip)
	_, skip = tpl.Render(render.Friend{})
	fmt.Println(skip.Key())

	_, err = render.Parse([]stepcast.Message{stepcast.Message(`{"type":"text","text":"こんにちは {{nmae}}"}`)}, schema)
	fmt.Println(err)
	// Output:
	// {"type":"text","text":"お客様さん、ご予約は 2026-04-01 10:00 です。"} <nil>
	// missing_field:booking
	// render: message 0, text, character 6: no such field in the schema: "nmae"
}

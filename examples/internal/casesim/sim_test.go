package casesim

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast/lineadapter/linetest"
)

const tinyDefs = `
schema:
  time_zone: Asia/Tokyo
  fields:
    - {name: q, type: choice, choices: ["yes", "no"]}
  events: [postback]
rules:
  - name: hello
    trigger: {kind: follow}
    steps:
      - kind: send_messages
        messages: [{type: text, text: hello}]
      - {kind: start_scenario, name: next-day}
  - name: answer
    trigger: {kind: event, event: postback, name: q}
    steps:
      - {kind: set_field, name: q, from: value}
scenarios:
  - name: next-day
    steps:
      - name: morning
        day: 1
        at: "09:00"
        messages: [{type: text, text: good morning}]
`

// The driver: a follow through the webhook is pushed to at once, the
// scenario's step goes exactly at its time (the engine ticks when due
// work is due, not on a grid), and a postback's "name=value" data fills
// the field.
func TestSimRunsTheEdge(t *testing.T) {
	for _, st := range []string{"memory", "bolt"} {
		t.Run(st, func(t *testing.T) {
			ctx := context.Background()
			var out bytes.Buffer
			o := TestOptions(1, 1, st, &out)
			loc, _ := time.LoadLocation("Asia/Tokyo")
			start := time.Date(2026, 12, 1, 0, 0, 0, 0, loc)
			s, err := New(ctx, o, Setup{Account: "tiny", File: "tiny.yaml", Defs: []byte(tinyDefs), Start: start})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			u := linetest.UserID(1)
			followAt := start.Add(13*time.Hour + 7*time.Minute + 30*time.Second)
			s.Webhook(followAt, linetest.FollowEvent(u, false))
			s.Webhook(followAt.Add(time.Minute), linetest.PostbackEvent(u, "q=yes", nil))
			if err := s.Run(ctx, start.AddDate(0, 0, 3), nil); err != nil {
				t.Fatal(err)
			}
			sends := s.LINE.Sends()
			if len(sends) != 2 {
				t.Fatalf("LINE got %d sends, want 2: %+v", len(sends), sends)
			}
			if !sends[0].Time.Equal(followAt) || !sends[1].Time.Equal(start.Add(24*time.Hour+9*time.Hour)) {
				t.Errorf("sent at %v and %v: want at the follow (%v) and the next day at 09:00", sends[0].Time.In(loc), sends[1].Time.In(loc), followAt)
			}
			if n := s.MustCount(`q == "yes"`); n != 1 {
				t.Errorf(`q == "yes" counts %d, want 1`, n)
			}
			if s.Ticks != 1 {
				t.Errorf("%d ticks, want 1 (only when due)", s.Ticks)
			}
			if err := s.Journey(ctx, &out, u, "the one friend"); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"12-01 Tue 13:07  followed", "answered q = yes", "12-02 Wed 09:00    · next-day › morning: sent", "→ LINE push 「good morning」"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("journey lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

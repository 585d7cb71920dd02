package engine

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// priorityFile defines, as a file, a scenario whose priority-0 step goes
// on following and a second one 30 minutes on, a reminder whose step an
// hour before the visit has priority 90, and a rule pushing at priority
// 90 on the event "ping".
const priorityFile = `
schema: {time_zone: Asia/Tokyo}
rules:
  - name: join
    trigger: {kind: follow}
    steps:
      - {kind: start_scenario, name: trial}
  - name: book
    trigger: {kind: event, event: conversion, name: booking}
    steps:
      - {kind: start_reminder, name: visit, from: data.at}
  - name: ping
    trigger: {kind: event, event: conversion, name: ping}
    steps:
      - kind: send_messages
        priority: 90
        messages: [{type: text, text: urgent}]
scenarios:
  - name: trial
    steps:
      - name: hello
        immediately: true
        messages: [{type: text, text: hello}]
      - name: later
        after: 30m
        messages: [{type: text, text: later}]
reminders:
  - name: visit
    steps:
      - name: hour-before
        before: 1h
        priority: 90
        messages: [{type: text, text: see you in an hour}]
`

// deliveryOf finds the account's one delivery whose messages hold text.
func deliveryOf(t *testing.T, a *Account, text string) store.Delivery {
	t.Helper()
	var ds []store.Delivery
	err := a.e.cfg.Store.View(context.Background(), a.id, func(tx store.ReadTx) error {
		var err error
		ds, err = tx.Deliveries(store.DeliveryFilter{Limit: 1000})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if bytes.Contains(d.Payload, []byte(`"`+text+`"`)) {
			return d
		}
	}
	t.Fatalf("no delivery of %q among %d", text, len(ds))
	return store.Delivery{}
}

// priorityAccount opens an account of priorityFile with guards g at
// 21:30 in Tokyo; U1 follows (the scenario's first step is queued), books
// a visit at 23:00 (its reminder step is due at 22:00) and the first
// Dispatch runs.
func priorityAccount(t *testing.T, g Guards) (*Account, *clock, *fakeSender) {
	t.Helper()
	defs, err := ParseDefinitions("priority.yaml", []byte(priorityFile))
	if err != nil {
		t.Fatal(err)
	}
	defs.Guards = g
	at2130 := time.Date(2026, 11, 28, 21, 30, 0, 0, tokyo)
	clk := &clock{t: at2130}
	s := &fakeSender{}
	a := dispatchAccount(t, memstore.New(), clk, s, Config{DispatchConcurrency: 2}, 0)
	if err := a.SetDefinitions(context.Background(), defs); err != nil {
		t.Fatal(err)
	}
	book := ev("b1", "U1", stepcast.EventConversion, "booking", "", at2130)
	book.Data = map[string]string{"at": time.Date(2026, 11, 28, 23, 0, 0, 0, tokyo).Format(time.RFC3339)}
	mustIngest(t, a, follow("f1", "U1", "", at2130), book)
	if _, err := a.Dispatch(context.Background()); err != nil {
		t.Fatal(err)
	}
	return a, clk, s
}

// at22 moves the clock to 22:00, runs the due work (the reminder step and
// the scenario's second step), pings (the rule's push) and dispatches.
func at22(t *testing.T, a *Account, clk *clock) {
	t.Helper()
	at22 := time.Date(2026, 11, 28, 22, 0, 0, 0, tokyo)
	clk.Set(at22)
	if _, err := a.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, a, ev("p1", "U1", stepcast.EventConversion, "ping", "", at22))
	if _, err := a.Dispatch(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Under quiet hours 21:00–08:00 exempting priority 90, a reminder step
// and a rule's push of priority 90 go at 22:00, while the scenario's
// priority-0 steps wait for 08:00.
func TestStepPriorityQuietHours(t *testing.T) {
	g := Guards{QuietHours: quiet("21:00", "08:00")}
	g.QuietHours.ExemptPriority = 90
	a, clk, _ := priorityAccount(t, g)
	at22(t, a, clk)
	at8 := time.Date(2026, 11, 29, 8, 0, 0, 0, tokyo)
	for _, text := range []string{"see you in an hour", "urgent"} {
		if d := deliveryOf(t, a, text); d.Status != store.Sent || d.Priority != 90 {
			t.Errorf("%q: %v at priority %d, want sent at 90", text, d.Status, d.Priority)
		}
	}
	for _, text := range []string{"hello", "later"} {
		d := deliveryOf(t, a, text)
		if d.Status != store.Pending || d.Priority != 0 || !d.NextAt.Equal(at8) || !strings.HasPrefix(d.Error, ReasonQuietHours) {
			t.Errorf("%q: %+v; want pending at priority 0 until 08:00, for quiet hours", text, d)
		}
	}
}

// Under a cap of one message a day over scenarios, reminders and rules,
// exempting priority 90: the scenario's first step takes the day's one;
// at 22:00 the reminder step and the rule's push of priority 90 go, and
// the scenario's second step is deferred to midnight.
func TestStepPriorityFrequencyCap(t *testing.T) {
	g := Guards{Caps: []FrequencyCap{{Name: "daily", Max: 1, Policy: CapDefer, ExemptPriority: 90,
		Causes: []stepcast.CauseKind{stepcast.CauseScenario, stepcast.CauseReminder, stepcast.CauseRule}}}}
	a, clk, _ := priorityAccount(t, g)
	if d := deliveryOf(t, a, "hello"); d.Status != store.Sent {
		t.Fatalf("the first step at 21:30: %v, want sent", d.Status)
	}
	at22(t, a, clk)
	for _, text := range []string{"see you in an hour", "urgent"} {
		if d := deliveryOf(t, a, text); d.Status != store.Sent || d.Priority != 90 {
			t.Errorf("%q: %v at priority %d, want sent at 90", text, d.Status, d.Priority)
		}
	}
	midnight := time.Date(2026, 11, 29, 0, 0, 0, 0, tokyo)
	if d := deliveryOf(t, a, "later"); d.Status != store.Pending || !d.NextAt.Equal(midnight) || !strings.HasPrefix(d.Error, ReasonCapDefer) {
		t.Errorf("the second step: %+v; want pending until midnight, capped", d)
	}
}

// A priority outside the int32 range or not below ReplyPriority is
// refused at its line, in a file, and at its path, in Go values.
func TestStepPriorityRange(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"scenario step", scenarioStep("immediately: true", "priority: 101"),
			"bad.yaml:7: scenarios[0].steps[0].priority: invalid definition: priority 101 is not below 100, the priority of replies"},
		{"reply priority", scenarioStep("immediately: true", "priority: 100"), "bad.yaml:7: scenarios[0].steps[0].priority"},
		{"below int32", scenarioStep("immediately: true", "priority: -2147483649"), "bad.yaml:7: scenarios[0].steps[0].priority: invalid definition: priority -2147483649 is below -2147483648"},
		{"reminder step", "reminders:\n  - name: r\n    steps:\n      - name: a\n        before: 1h\n        priority: 500\n        messages: [{type: text, text: hi}]\n",
			"bad.yaml:6: reminders[0].steps[0].priority: invalid definition: priority 500 is not below 100"},
		{"rule action", "rules:\n  - name: r\n    trigger: {kind: follow}\n    steps:\n      - kind: send_messages\n        priority: 100\n        messages: [{type: text, text: hi}]\n",
			"bad.yaml:6: rules[0].steps[0].priority: invalid definition: priority 100 is not below 100"},
		{"not send_messages", "rules:\n  - name: r\n    trigger: {kind: follow}\n    steps:\n      - {kind: add_tag, name: t, priority: 5}\n",
			"only send_messages takes a priority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseDefinitions("bad.yaml", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant %s", err, tc.want)
			}
		})
	}
	// The highest allowed, and a negative one, are taken.
	for _, p := range []string{"99", "-5"} {
		if _, err := ParseDefinitions("ok.yaml", []byte(scenarioStep("immediately: true", "priority: "+p))); err != nil {
			t.Errorf("priority %s: %v", p, err)
		}
	}
}

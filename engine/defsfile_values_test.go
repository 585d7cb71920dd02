package engine

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// fileValueCases are single values a definitions file takes, each read as
// its place wants: whole numbers quoted or not and always decimal, text as
// written, time text in the account's zone (Asia/Tokyo by default).
var fileValueCases = []struct {
	name, src string
	want      any // the first step's Number (int64), Value (stepcast.Value) or first message (string)
}{
	{"QuotedWhole", intStep(`number: "3"`), int64(3)},
	{"LeadingZeroIsDecimal", intStep("number: 010"), int64(10)},
	{"Negative", intStep("number: -7"), int64(-7)},
	{"Int64Max", intStep("number: 9223372036854775807"), int64(math.MaxInt64)},
	{"QuotedIntValue", valueStep("int", `"42"`), stepcast.IntValue(42)},
	{"WholeFloat", valueStep("float", "2"), stepcast.FloatValue(2)},
	{"QuotedFloat", valueStep("float", `"1.5"`), stepcast.FloatValue(1.5)},
	{"NumberAsText", valueStep("string", "0123"), stepcast.StringValue("0123")},
	{"DateAsText", valueStep("string", "2026-12-24"), stepcast.StringValue("2026-12-24")},
	{"QuotedBool", valueStep("bool", `"true"`), stepcast.BoolValue(true)},
	{"DateInTokyo", valueStep("time", `"2026-12-24"`), stepcast.TimeValue(time.Date(2026, 12, 24, 0, 0, 0, 0, tokyo))},
	{"UnquotedDateInTokyo", valueStep("time", "2026-12-24"), stepcast.TimeValue(time.Date(2026, 12, 24, 0, 0, 0, 0, tokyo))},
	{"LocalDateTime", valueStep("time", `"2026/12/24 10:00"`), stepcast.TimeValue(time.Date(2026, 12, 24, 10, 0, 0, 0, tokyo))},
	{"RFC3339KeepsItsOffset", valueStep("time", "2026-12-24T10:00:00Z"), stepcast.TimeValue(time.Date(2026, 12, 24, 10, 0, 0, 0, time.UTC))},
	{"DateWhereMidnightIsSkipped", // São Paulo went from 00:00 to 01:00 on 2018-11-04
		"schema: {time_zone: America/Sao_Paulo, fields: [{name: f, type: time}]}\nrules:\n  - name: x\n    trigger: {kind: follow}\n    steps:\n      - {kind: set_field, name: f, value: 2018-11-04}\n",
		stepcast.TimeValue(time.Date(2018, 11, 4, 3, 0, 0, 0, time.UTC))},
	{"ReminderGoal", "reminders: [{name: r, steps: [{name: at-goal, actions: [{kind: add_tag, name: due}]}]}]\nrules:\n  - name: x\n    trigger: {kind: follow}\n    steps:\n      - {kind: start_reminder, name: r, value: 2026-12-24}\n",
		stepcast.TimeValue(time.Date(2026, 12, 24, 0, 0, 0, 0, tokyo))},
	{"TimestampInMessageStaysText", "rules:\n  - name: x\n    trigger: {kind: follow}\n    steps:\n      - kind: send_messages\n        messages: [{type: text, text: 2026-12-24}]\n",
		`{"text":"2026-12-24","type":"text"}`},
	// A message's numbers keep their text, digit for digit, save for what
	// JSON cannot write (a leading + or zeros, a bare point).
	{"NumbersInMessageKeepTheirText", "rules:\n  - name: x\n    trigger: {kind: follow}\n    steps:\n      - kind: send_messages\n        messages: [{type: text, text: hi, big: 12345678901234567890123, ratio: 1.50, exp: -2.5E-3, n: 010, plus: +7, half: .5, zero: -0}]\n",
		`{"big":12345678901234567890123,"exp":-2.5E-3,"half":0.5,"n":10,"plus":7,"ratio":1.50,"text":"hi","type":"text","zero":-0}`},
	{"NumbersInAJSONFileKeepTheirText", `{"rules":[{"name":"x","trigger":{"kind":"follow"},"steps":[{"kind":"send_messages","messages":[{"type":"text","text":"hi","big":12345678901234567890123,"f":1.50,"e":1E+2}]}]}]}`,
		`{"big":12345678901234567890123,"e":1E+2,"f":1.50,"text":"hi","type":"text"}`},
	{"MessageTextAsWritten", "rules:\n  - name: x\n    trigger: {kind: follow}\n    steps:\n      - kind: send_messages\n        messages: [{type: text, text: \"<b>&</b>\"}]\n",
		`{"text":"<b>&</b>","type":"text"}`},
	{"LocationCoordinatesAsWritten", "rules:\n  - name: x\n    trigger: {kind: follow}\n    steps:\n      - kind: send_messages\n        messages: [{type: location, title: Shop, address: Tokyo, latitude: 35.658034, longitude: 139.701636}]\n",
		`{"address":"Tokyo","latitude":35.658034,"longitude":139.701636,"title":"Shop","type":"location"}`},
}

func TestDefinitionFileValues(t *testing.T) {
	for _, tc := range fileValueCases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseDefinitions("values.yaml", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			a := d.Rules[0].Steps[0].Action
			switch want := tc.want.(type) {
			case int64:
				if a.Number != want {
					t.Errorf("number = %d, want %d", a.Number, want)
				}
			case stepcast.Value:
				if a.Value == nil || !a.Value.Equal(want) {
					t.Errorf("value = %v, want %v", a.Value, want)
				}
			case string:
				if len(a.Messages) != 1 || string(a.Messages[0]) != want {
					t.Errorf("messages = %s, want %s", a.Messages, want)
				}
			}
		})
	}
}

// TestIssue9TimeTextInDefinitions: a date in a definitions file is read in
// the account's zone, as the same text from an event's data is, so that
// the segment date() of that text finds it (issue 9, kind 2).
func TestIssue9TimeTextInDefinitions(t *testing.T) {
	src := `
schema:
  time_zone: Asia/Tokyo
  fields: [{name: campaign_end, type: time}, {name: booked, type: time}]
  events: [conversion]
rules:
  - name: campaign
    trigger: {kind: follow}
    steps:
      - {kind: set_field, name: campaign_end, value: "2026-12-24"}
      - {kind: start_reminder, name: campaign, value: 2026-12-24}
  - name: booking
    trigger: {kind: event, event: conversion, name: booking}
    steps:
      - {kind: set_field, name: booked, from: data.at}
reminders:
  - name: campaign
    steps:
      - {name: on-the-day, before: 0s, actions: [{kind: add_tag, name: campaign-day}]}
`
	defs, err := ParseDefinitions("campaign.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	midnight := time.Date(2026, 12, 24, 0, 0, 0, 0, tokyo)
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		clk := &clock{t: t0}
		a := mustAccount(t, mustOpen(t, open(t), clk), "campaign", defs)
		booking := ev("b1", "U1", stepcast.EventConversion, "booking", "", t0.Add(time.Minute))
		booking.Data = map[string]string{"at": "2026-12-24"}
		if _, err := a.Ingest(ctx, follow("f1", "U1", "", t0), booking); err != nil {
			t.Fatal(err)
		}
		v, err := a.FriendByUser(ctx, "U1")
		if err != nil {
			t.Fatal(err)
		}
		for _, field := range []string{"campaign_end", "booked"} {
			if got := v.Fields[field]; !got.Equal(stepcast.TimeValue(midnight)) {
				t.Errorf("%s = %v, want %v (midnight in Tokyo)", field, got, midnight.UTC())
			}
		}
		if i := slices.IndexFunc(v.Timers, func(tm store.Timer) bool { return tm.Key == reminderKey("campaign", "") }); i < 0 || !v.Timers[i].Due.Equal(midnight) {
			t.Errorf("the reminder's timers %v, want one due %v", v.Timers, midnight)
		}
		for _, src := range []string{`campaign_end == date("2026-12-24")`, `booked == date("2026-12-24")`} {
			if n := mustCount(t, a, src); n != 1 {
				t.Errorf("Count(%s) = %d, want 1", src, n)
			}
		}
	})
}

// TestDefinitionFileLimits: a big honest file within the limits is taken
// whole; one beyond a limit is refused by the limit's name, never blamed
// on aliases it does not have.
func TestDefinitionFileLimits(t *testing.T) {
	d, err := ParseDefinitions("big.yaml", []byte(rulesFile(MaxFileRules, 1)))
	if err != nil || len(d.Rules) != MaxFileRules {
		t.Fatalf("a file of MaxFileRules rules: %d rules, %v", len(d.Rules), err)
	}
	src := "{}\n" + strings.Repeat("#", MaxFileSize-4) + "\n"
	if _, err := ParseDefinitions("full.yaml", []byte(src)); len(src) != MaxFileSize || err != nil {
		t.Fatalf("a file of MaxFileSize bytes: %v", err)
	}
	_, err = ParseDefinitions("more.yaml", []byte(rulesFile(MaxFileRules+1, 1)))
	if !errors.Is(err, ErrDefinition) || strings.Contains(err.Error(), "alias") || !strings.Contains(err.Error(), "MaxFileRules") {
		t.Fatalf("a file of MaxFileRules+1 rules: %v", err)
	}
	// Problems are listed up to a hundred, then counted.
	_, err = ParseDefinitions("many.yaml", []byte("schema:\n  segments:\n"+strings.Repeat("    a: b\n", 301)))
	if errs := unjoin(err); len(errs) != 101 || errs[100].Error() != "many.yaml:104: invalid definition: and 200 more problems" {
		t.Fatalf("%d problems reported, the last %v", len(errs), errs[len(errs)-1])
	}
}

// endless is a file that never ends; it counts what was read of it.
type endless struct{ read int }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = "# more\n"[(e.read+i)%7]
	}
	e.read += len(p)
	return len(p), nil
}

// TestLoadDefinitionsEndless: a file that never ends is refused once
// MaxFileSize bytes have been read.
func TestLoadDefinitionsEndless(t *testing.T) {
	want := func(t *testing.T, err error, prefix string) {
		t.Helper()
		if !errors.Is(err, ErrDefinition) || !strings.HasPrefix(err.Error(), prefix) ||
			!strings.HasSuffix(err.Error(), ": invalid definition: the file is longer than 2097152 bytes (MaxFileSize); it is refused from this line on") {
			t.Fatalf("err = %v", err)
		}
	}
	t.Run("Reader", func(t *testing.T) {
		r := &endless{}
		_, err := ReadDefinitions("endless.yaml", io.Reader(r))
		want(t, err, "endless.yaml:299594:")
		if r.read > MaxFileSize+1<<16 {
			t.Errorf("read %d bytes", r.read)
		}
	})
	t.Run("DevZero", func(t *testing.T) {
		if _, err := os.Stat("/dev/zero"); err != nil {
			t.Skip(err)
		}
		_, err := LoadDefinitions("/dev/zero")
		want(t, err, "/dev/zero:1:")
	})
}

// A file's duration: days first, then what time.ParseDuration reads; a
// negative one and one too long for a time.Duration are told apart from
// text that is no duration.
func TestParseDuration(t *testing.T) {
	for _, c := range []struct {
		text string
		want time.Duration
		err  error // nil: want, else errors.Is; errAny: any other error
	}{
		{"0", 0, nil},
		{"0s", 0, nil},
		{"90m", 90 * time.Minute, nil},
		{"1d12h", 36 * time.Hour, nil},
		{"7d", 7 * 24 * time.Hour, nil},
		{"+5m", 5 * time.Minute, nil},
		{" 1.5h ", 90 * time.Minute, nil},
		{"106751d23h47m16.854775807s", time.Duration(math.MaxInt64), nil},
		{"-5m", 0, errNegative},
		{"-1d", 0, errNegative},
		{"99999999999h", 0, errTooLong},
		{"9223372036854775807ns1h", 0, errTooLong},
		{"106751d23h47m16.854775808s", 0, errTooLong},
		{"106752d", 0, errTooLong},
		{"99999999999999999999d", 0, errTooLong},
		{"7 days", 0, errAny},
		{"1h1d", 0, errAny},
		{"d", 0, errAny},
		{"-", 0, errAny},
		{"", 0, errAny},
		{"1.5d", 0, errAny},
	} {
		got, err := parseDuration(c.text)
		switch {
		case c.err == nil && (err != nil || got != c.want):
			t.Errorf("parseDuration(%q) = %v, %v; want %v", c.text, got, err, c.want)
		case c.err == errAny && (err == nil || errors.Is(err, errNegative) || errors.Is(err, errTooLong)):
			t.Errorf("parseDuration(%q) = %v, %v; want not a duration", c.text, got, err)
		case c.err != nil && c.err != errAny && !errors.Is(err, c.err):
			t.Errorf("parseDuration(%q) = %v, %v; want %v", c.text, got, err, c.err)
		}
	}
}

var errAny = errors.New("any other error")

// FuzzDuration: whatever the text, parseDuration returns a duration that
// is not negative, or an error; what time.ParseDuration reads without a
// sign it reads alike.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{"0", "90m", "1d12h", "-5m", "99999999999h", "9223372036854775807ns1h", "1.5h", ".5s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDuration(s)
		if err == nil && d < 0 {
			t.Fatalf("parseDuration(%q) = %v", s, d)
		}
		if want, werr := time.ParseDuration(s); werr == nil && want >= 0 && !strings.HasPrefix(strings.TrimSpace(s), "-") && (err != nil || d != want) {
			t.Fatalf("parseDuration(%q) = %v, %v; time.ParseDuration reads %v", s, d, err, want)
		}
	})
}

func TestJSONNumber(t *testing.T) {
	tests := []struct {
		text, want string // want "" for refused
	}{
		{"12345678901234567890123", "12345678901234567890123"},
		{"1.50", "1.50"},
		{"-2.5E-3", "-2.5E-3"},
		{"1e+3", "1e+3"},
		{"+7", "7"},
		{"010", "10"},
		{"-007.50", "-7.50"},
		{".5", "0.5"},
		{"5.", "5"},
		{"0", "0"},
		{"-0", "-0"},
		{"0x1F", ""},
		{"0o17", ""},
		{"1_000", ""},
		{".inf", ""},
		{".nan", ""},
		{"1e400", ""},
		{"1e", ""},
		{"1e+-3", ""},
		{".", ""},
		{"+", ""},
		{"--1", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			got, ok := jsonNumber(tt.text)
			if string(got) != tt.want || ok != (tt.want != "") {
				t.Fatalf("jsonNumber(%q) = %q, %v; want %q", tt.text, got, ok, tt.want)
			}
		})
	}
}

// FuzzJSONNumber: what jsonNumber takes it writes as a JSON number of the
// same value.
func FuzzJSONNumber(f *testing.F) {
	for _, s := range []string{"1.50", "+010", ".5", "5.", "-0e-0", "1e400", "0x1p3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		num, ok := jsonNumber(s)
		if !ok {
			return
		}
		if !json.Valid([]byte(num)) {
			t.Fatalf("jsonNumber(%q) = %q, not JSON", s, num)
		}
		want, err := strconv.ParseFloat(strings.TrimPrefix(s, "+"), 64)
		got, _ := strconv.ParseFloat(string(num), 64)
		if err == nil && got != want {
			t.Fatalf("jsonNumber(%q) = %q: %v, want %v", s, num, got, want)
		}
	})
}

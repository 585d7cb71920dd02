package stepcast_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
)

func TestActionValidate(t *testing.T) {
	goal := stepcast.TimeValue(time.Date(2026, 12, 24, 19, 0, 0, 0, time.UTC))
	text := stepcast.StringValue("x")
	ok := []stepcast.Action{
		{Kind: stepcast.AddTag, Name: "vip"},
		{Kind: stepcast.SetField, Name: "area", Value: &text},
		{Kind: stepcast.RandomField, Name: "ab", Min: 1, Max: 100},
		{Kind: stepcast.StartReminder, Name: "booking", Value: &goal},
		{Kind: stepcast.SendMessages, Messages: []stepcast.Message{json.RawMessage(`{"type":"text","text":"hi"}`)}},
		{Kind: stepcast.Reply, Messages: []stepcast.Message{json.RawMessage(`{"type":"text","text":"hi"}`)}},
		{Kind: stepcast.LinkRichMenu, Name: "richmenu-88c05ef6921ae53f8b58a25f3a65faf7"},
		{Kind: stepcast.UnlinkRichMenu},
	}
	for _, a := range ok {
		if err := a.Validate(); err != nil {
			t.Errorf("%+v: %v", a, err)
		}
	}
	bad := []stepcast.Action{
		{Kind: "teleport"},
		{Kind: stepcast.AddTag},
		{Kind: stepcast.SetField, Name: "area"},
		{Kind: stepcast.RandomField, Name: "ab", Min: 5, Max: 1},
		{Kind: stepcast.StartReminder, Name: "b", Value: &text},
		{Kind: stepcast.SendMessages, Messages: make([]stepcast.Message, 6)},
		{Kind: stepcast.Reply, Messages: make([]stepcast.Message, 6)},
		{Kind: stepcast.Reply},
		{Kind: stepcast.SendMessages, Messages: []stepcast.Message{json.RawMessage(`{"type":`)}},
		{Kind: stepcast.MoveScenario, Name: "s", Number: -1},
		{Kind: stepcast.LinkRichMenu},
		{Kind: stepcast.LinkRichMenu, Name: "spring-menu"},
		{Kind: stepcast.UnlinkRichMenu, Name: "richmenu-88c05ef6921ae53f8b58a25f3a65faf7"},
	}
	for _, a := range bad {
		if err := a.Validate(); !errors.Is(err, stepcast.ErrInvalid) {
			t.Errorf("%+v: Validate = %v, want ErrInvalid", a, err)
		}
	}
	if err := (stepcast.Event{ID: "e", Kind: stepcast.EventClick}).Validate(); !errors.Is(err, stepcast.ErrInvalid) {
		t.Errorf("an event without a time: %v", err)
	}
}

func TestNewInvalid(t *testing.T) {
	own := stepcast.NewInvalid("pkg: invalid")
	err := fmt.Errorf("pkg: rule %q: %w", "x", own)
	if !errors.Is(err, own) || !errors.Is(err, stepcast.ErrInvalid) || errors.Is(err, stepcast.NewInvalid("other: invalid")) {
		t.Errorf("errors.Is on %v: own %v, ErrInvalid %v", err, errors.Is(err, own), errors.Is(err, stepcast.ErrInvalid))
	}
	if err.Error() != `pkg: rule "x": pkg: invalid` {
		t.Errorf("message %q", err)
	}
}

package stepcast

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestDeliveryValidate(t *testing.T) {
	to := func(n int) []Recipient {
		r := make([]Recipient, n)
		for i := range r {
			r[i] = Recipient{Friend: FriendID(i + 1), User: UserID(fmt.Sprintf("U%032x", i))}
		}
		return r
	}
	text := []Message{Message(`{"type":"text","text":"hi"}`)}
	tests := []struct {
		name string
		d    Delivery
		want string // "" for valid
	}{
		{"push", Delivery{Kind: DeliveryPush, To: to(1), Messages: text}, ""},
		{"multicast of 500", Delivery{Kind: DeliveryMulticast, To: to(500), Messages: text}, ""},
		{"broadcast", Delivery{Kind: DeliveryBroadcast, Messages: text}, ""},
		{"reply", Delivery{Kind: DeliveryReply, ReplyToken: "t", Messages: text}, ""},
		{"rich menu link", Delivery{Kind: DeliveryRichMenuLink, To: to(1), RichMenu: "richmenu-1"}, ""},
		{"default rich menu", Delivery{Kind: DeliveryRichMenuDefault, RichMenu: "richmenu-1"}, ""},
		{"unknown kind", Delivery{Kind: "fax"}, "unknown kind"},
		{"push to two", Delivery{Kind: DeliveryPush, To: to(2), Messages: text}, "takes 1 recipients, has 2"},
		{"multicast of 501", Delivery{Kind: DeliveryMulticast, To: to(501), Messages: text}, "takes 1 to 500 recipients, has 501"},
		{"broadcast with recipients", Delivery{Kind: DeliveryBroadcast, To: to(1), Messages: text}, "takes 0 recipients"},
		{"six messages", Delivery{Kind: DeliveryPush, To: to(1), Messages: append(text, text[0], text[0], text[0], text[0], text[0])}, "1 to 5 messages"},
		{"no messages", Delivery{Kind: DeliveryPush, To: to(1)}, "1 to 5 messages"},
		{"a message without a type", Delivery{Kind: DeliveryPush, To: to(1), Messages: []Message{Message(`{"text":"x"}`)}}, `type: missing`},
		{"an empty text", Delivery{Kind: DeliveryPush, To: to(1), Messages: []Message{Message(`{"type":"text","text":""}`)}}, "text: missing"},
		{"a string, not an object", Delivery{Kind: DeliveryPush, To: to(1), Messages: []Message{Message(`"hello"`)}}, "not a JSON message object"},
		{"5001 UTF-16 units", Delivery{Kind: DeliveryPush, To: to(1), Messages: []Message{Message(`{"type":"text","text":"` + strings.Repeat("😀", 2500) + `a"}`)}}, "longer than 5000"},
		{"a sticker's IDs as numbers", Delivery{Kind: DeliveryPush, To: to(1), Messages: []Message{Message(`{"type":"sticker","packageId":446,"stickerId":1988}`)}}, "message 0: packageId: must be a string"},
		{"an image over http, second", Delivery{Kind: DeliveryPush, To: to(1), Messages: append(text, Message(`{"type":"image","originalContentUrl":"http://x.example/a.jpg","previewImageUrl":"https://x.example/b.jpg"}`))}, "message 1: originalContentUrl"},
		{"a reply with 14 quick replies", Delivery{Kind: DeliveryReply, ReplyToken: "t", Messages: []Message{Message(`{"type":"text","text":"x","quickReply":{"items":[` + strings.TrimSuffix(strings.Repeat(`{"type":"action","action":{}},`, 14), ",") + `]}}`)}}, "quickReply.items: more than 13"},
		{"a rich menu link with messages", Delivery{Kind: DeliveryRichMenuLink, To: to(1), RichMenu: "m", Messages: text}, "sends no messages"},
		{"reply without a token", Delivery{Kind: DeliveryReply, Messages: text}, "no reply token"},
		{"link without a menu", Delivery{Kind: DeliveryRichMenuLink, To: to(1)}, "no rich menu"},
		{"recipient without a user", Delivery{Kind: DeliveryPush, To: []Recipient{{Friend: 1}}, Messages: text}, "no LINE userId"},
		{"a bad aggregation unit", Delivery{Kind: DeliveryPush, To: to(1), Messages: text, AggregationUnit: "spring sale"}, "aggregation unit"},
		{"an aggregation unit on a broadcast", Delivery{Kind: DeliveryBroadcast, Messages: text, AggregationUnit: "x"}, "only push and multicast"},
		{"a note with NUL", Delivery{Kind: DeliveryBroadcast, Messages: text, Note: "pushed\x00"}, "the note"},
		{"a long cause", Delivery{Kind: DeliveryBroadcast, Messages: text, Cause: Cause{Name: strings.Repeat("x", 300)}}, "longer than 256"},
	}
	// ValidateChecked takes the messages' content as checked, and checks
	// all the rest as Validate does.
	content := map[string]bool{"a message without a type": true, "an empty text": true, "a string, not an object": true, "5001 UTF-16 units": true,
		"a sticker's IDs as numbers": true, "an image over http, second": true, "a reply with 14 quick replies": true}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checked := tt.d.ValidateChecked()
			if content[tt.name] {
				if checked != nil {
					t.Fatalf("ValidateChecked() = %v, want nil: the messages are taken as checked", checked)
				}
			} else if (checked == nil) != (tt.want == "") || (checked != nil && !strings.Contains(checked.Error(), tt.want)) {
				t.Fatalf("ValidateChecked() = %v, want what Validate says (%q)", checked, tt.want)
			}
			err := tt.d.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want ErrInvalid saying %q", err, tt.want)
			}
		})
	}
}

func TestDeliveryKinds(t *testing.T) {
	retry := map[DeliveryKind]bool{DeliveryPush: true, DeliveryMulticast: true, DeliveryNarrowcast: true, DeliveryBroadcast: true}
	for _, k := range DeliveryKinds {
		if !k.Valid() || k.TakesRetryKey() != retry[k] {
			t.Errorf("%s: valid %v, takes a retry key %v", k, k.Valid(), k.TakesRetryKey())
		}
	}
	if got := (Cause{Kind: CauseRule, Name: "welcome", Step: 2}).Key(); got != "rule:welcome" {
		t.Errorf("Cause.Key() = %q", got)
	}
}

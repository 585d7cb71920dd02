package lineadapter_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/stepcast/stepcast/lineadapter/linetest"
)

// TestWebhookEventsFollowLINESpec: the webhook bodies the tests and
// linetest build are what LINE's webhook.yml describes — the envelope,
// each event by its type's schema, its source by the source's type and a
// message by its content's type — so that the mapping is tested against
// what LINE sends. The spec's discriminators have no oneOf, which the
// validator would ignore: each schema is looked up by the mapping here.
func TestWebhookEventsFollowLINESpec(t *testing.T) {
	dir := os.Getenv("STEPCAST_LINE_OPENAPI")
	if dir == "" {
		t.Skip("STEPCAST_LINE_OPENAPI is unset: set it to the folder of LINE's OpenAPI specs (webhook.yml)")
	}
	doc, err := openapi3.NewLoader().LoadFromFile(filepath.Join(dir, "webhook.yml"))
	if err != nil {
		t.Fatalf("loading webhook.yml: %v", err)
	}
	schemas := doc.Components.Schemas
	schema := func(name string) *openapi3.Schema {
		ref, ok := schemas[name]
		if !ok || ref.Value == nil {
			t.Fatalf("webhook.yml has no schema %s", name)
		}
		return ref.Value
	}
	// byType returns the schema the discriminator of base maps typ to.
	byType := func(base string, typ any) *openapi3.Schema {
		s, _ := typ.(string)
		ref, ok := schema(base).Discriminator.Mapping[s]
		if !ok {
			return nil
		}
		return schema(strings.TrimPrefix(ref.Ref, "#/components/schemas/"))
	}
	check := func(t *testing.T, ev any) {
		t.Helper()
		body := linetest.WebhookBody(linetest.Destination, ev)
		var v map[string]any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		if err := schema("CallbackRequest").VisitJSON(v); err != nil {
			t.Errorf("the body is not a CallbackRequest: %v", err)
		}
		event := v["events"].([]any)[0].(map[string]any)
		s := byType("Event", event["type"])
		if s == nil {
			t.Fatalf("webhook.yml has no event of type %v", event["type"])
		}
		if err := s.VisitJSON(event); err != nil {
			t.Errorf("the event is not a %v event: %v", event["type"], err)
		}
		if src, ok := event["source"].(map[string]any); ok {
			if s := byType("Source", src["type"]); s == nil {
				t.Errorf("no source of type %v", src["type"])
			} else if err := s.VisitJSON(src); err != nil {
				t.Errorf("the source: %v", err)
			}
		}
		if m, ok := event["message"].(map[string]any); ok {
			if s := byType("MessageContent", m["type"]); s == nil {
				t.Errorf("no message of type %v", m["type"])
			} else if err := s.VisitJSON(m); err != nil {
				t.Errorf("the message: %v", err)
			}
		}
	}
	for _, c := range mappingCases() {
		if c.offSpec {
			continue
		}
		t.Run(c.name, func(t *testing.T) { check(t, c.in) })
	}
	for name, ev := range map[string]linetest.WebhookEvent{
		"linetest.FollowEvent":      linetest.FollowEvent(friend, false),
		"linetest.UnfollowEvent":    linetest.UnfollowEvent(friend),
		"linetest.TextMessageEvent": linetest.TextMessageEvent(friend, "予約"),
		"linetest.MessageEvent":     linetest.MessageEvent(friend, map[string]any{"type": "sticker", "packageId": "446", "stickerId": "1988", "stickerResourceType": "STATIC", "quoteToken": "q"}),
		"linetest.PostbackEvent":    linetest.PostbackEvent(friend, "booking", map[string]string{"datetime": "2026-12-01T10:00"}),
		"linetest.Redelivered":      linetest.UnfollowEvent(friend).Redelivered(),
		"linetest.InGroup":          linetest.NewWebhookEvent("leave", friend).InGroup("C1"),
	} {
		t.Run(name, func(t *testing.T) { check(t, ev) })
	}
}

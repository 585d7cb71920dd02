package stepcast

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestCheckMessage(t *testing.T) {
	qr := func(n int) string {
		return `,"quickReply":{"items":[` + strings.TrimSuffix(strings.Repeat(`{"type":"action","action":{"type":"message","label":"a","text":"a"}},`, n), ",") + `]}`
	}
	img := func(orig, prev string) string {
		return `{"type":"image","originalContentUrl":"` + orig + `","previewImageUrl":"` + prev + `"}`
	}
	const ok = "https://example.com/a.jpg"
	long := "https://example.com/" + strings.Repeat("a", MaxMessageURL-len("https://example.com/")+1)
	bubble := func(size int) string {
		return `{"type":"bubble","body":{"type":"box","layout":"vertical","contents":[{"type":"text","text":"` + strings.Repeat("x", size) + `"}]}}`
	}
	// act is an action of type typ with a label of n characters and
	// more properties; buttons a buttons template of props and actions.
	act := func(typ string, n int, more string) string {
		if more != "" {
			more = "," + more
		}
		return `{"type":"` + typ + `","label":"` + strings.Repeat("l", n) + `"` + more + `}`
	}
	buttons := func(props, actions string) string {
		return `{"type":"template","altText":"a","template":{"type":"buttons",` + props + `,"actions":[` + actions + `]}}`
	}
	yes, no := act("message", 3, `"text":"yes"`), act("postback", 2, `"data":"answer=no"`)
	tests := []struct {
		name, m  string
		property string // the property at fault; "-" for a valid message
		want     string // what the problem says
	}{
		{"text", `{"type":"text","text":"hi"}`, "-", ""},
		{"textV2", `{"type":"textV2","text":"hi {a}","substitution":{"a":{"type":"mention","mentionee":{"type":"all"}}}}`, "-", ""},
		{"sticker", `{"type":"sticker","packageId":"446","stickerId":"1988"}`, "-", ""},
		{"image", img(ok, ok), "-", ""},
		{"video", `{"type":"video","originalContentUrl":"https://x.example/a.mp4","previewImageUrl":"https://x.example/a.jpg","trackingId":"t"}`, "-", ""},
		{"audio", `{"type":"audio","originalContentUrl":"https://x.example/a.m4a","duration":60000}`, "-", ""},
		{"location", `{"type":"location","title":"Shop","address":"Tokyo","latitude":35.65,"longitude":139.7}`, "-", ""},
		{"imagemap", `{"type":"imagemap","baseUrl":"https://x.example/map","altText":"map","baseSize":{"width":1040,"height":1040},"actions":[{"type":"uri","linkUri":"https://x.example","area":{"x":0,"y":0,"width":520,"height":1040}}]}`, "-", ""},
		{"template", `{"type":"template","altText":"ok?","template":{"type":"confirm","text":"ok?","actions":[` + yes + `,` + no + `]}}`, "-", ""},
		{"buttons at the limits", buttons(`"title":"`+strings.Repeat("t", 40)+`","text":"`+strings.Repeat("x", 60)+`"`, act("message", 20, `"text":"`+strings.Repeat("y", 300)+`"`)), "-", ""},
		{"buttons text of 160", buttons(`"text":"`+strings.Repeat("x", 160)+`"`, yes), "-", ""},
		{"carousel", `{"type":"template","altText":"a","template":{"type":"carousel","columns":[{"text":"a","actions":[` + yes + `]},{"text":"b","actions":[` + no + `]}]}}`, "-", ""},
		{"image carousel", `{"type":"template","altText":"a","template":{"type":"image_carousel","columns":[{"imageUrl":"` + ok + `","action":` + act("uri", 12, `"uri":"https://example.com/"`) + `}]}}`, "-", ""},
		{"quick reply without labels", `{"type":"text","text":"x","quickReply":{"items":[{"type":"action","action":{"type":"camera"}},{"type":"action","action":{"type":"location","label":"here"}}]}}`, "-", ""},
		// Each limit of LINE's reference for templates and actions, one
		// over: what a friend's value in a placeholder can push a message to.
		{"a buttons label of 21", buttons(`"text":"x"`, act("message", 21, `"text":"y"`)), "template.actions[0].label", "longer than 20 characters (21)"},
		{"an empty label", buttons(`"text":"x"`, `{"type":"message","label":"","text":"y"}`), "template.actions[0].label", "empty"},
		{"no label in buttons", buttons(`"text":"x"`, `{"type":"message","text":"y"}`), "template.actions[0].label", "missing"},
		{"a buttons text of 161", buttons(`"text":"`+strings.Repeat("x", 161)+`"`, yes), "template.text", "longer than 160"},
		{"a buttons text of 61 with a title", buttons(`"title":"t","text":"`+strings.Repeat("x", 61)+`"`, yes), "template.text", "longer than 60"},
		{"a buttons title of 41", buttons(`"title":"`+strings.Repeat("t", 41)+`","text":"x"`, yes), "template.title", "longer than 40"},
		{"an empty buttons text", buttons(`"text":""`, yes), "template.text", "empty"},
		{"five buttons", buttons(`"text":"x"`, yes+","+yes+","+yes+","+yes+","+yes), "template.actions", "takes 1 to 4"},
		{"a message action text of 301", buttons(`"text":"x"`, act("message", 2, `"text":"`+strings.Repeat("y", 301)+`"`)), "template.actions[0].text", "longer than 300"},
		{"a displayText of 301", buttons(`"text":"x"`, act("postback", 2, `"data":"d","displayText":"`+strings.Repeat("y", 301)+`"`)), "template.actions[0].displayText", "longer than 300"},
		{"postback data of 301", buttons(`"text":"x"`, act("postback", 2, `"data":"`+strings.Repeat("d", 301)+`"`)), "template.actions[0].data", "longer than 300"},
		{"postback without data", buttons(`"text":"x"`, act("postback", 2, "")), "template.actions[0].data", "missing"},
		{"a uri of 1001", buttons(`"text":"x"`, act("uri", 2, `"uri":"https://x.example/`+strings.Repeat("u", 1001-len("https://x.example/")+1)+`"`)), "template.actions[0].uri", "longer than 1000"},
		{"a javascript uri", buttons(`"text":"x"`, act("uri", 2, `"uri":"javascript:alert(1)"`)), "template.actions[0].uri", "not an http"},
		{"an unknown action", buttons(`"text":"x"`, act("jump", 2, "")), "template.actions[0].type", "not an action type"},
		{"an unknown template", `{"type":"template","altText":"a","template":{"type":"grid"}}`, "template.type", "not a template type"},
		{"a confirm of one action", `{"type":"template","altText":"a","template":{"type":"confirm","text":"ok?","actions":[` + yes + `]}}`, "template.actions", "takes exactly 2"},
		{"a confirm text of 241", `{"type":"template","altText":"a","template":{"type":"confirm","text":"` + strings.Repeat("x", 241) + `","actions":[` + yes + `,` + no + `]}}`, "template.text", "longer than 240"},
		{"a carousel text of 121", `{"type":"template","altText":"a","template":{"type":"carousel","columns":[{"text":"` + strings.Repeat("x", 121) + `","actions":[` + yes + `]}]}}`, "template.columns[0].text", "longer than 120"},
		{"carousel columns unlike", `{"type":"template","altText":"a","template":{"type":"carousel","columns":[{"text":"a","actions":[` + yes + `]},{"text":"b","actions":[` + yes + `,` + no + `]}]}}`, "template.columns[1].actions", "every column takes as many"},
		{"an image carousel label of 13", `{"type":"template","altText":"a","template":{"type":"image_carousel","columns":[{"imageUrl":"` + ok + `","action":` + act("message", 13, `"text":"y"`) + `}]}}`, "template.columns[0].action.label", "longer than 12"},
		{"a quick reply label of 21", `{"type":"text","text":"x","quickReply":{"items":[{"type":"action","action":` + act("message", 21, `"text":"y"`) + `}]}}`, "quickReply.items[0].action.label", "longer than 20"},
		{"an empty quick reply label", `{"type":"text","text":"x","quickReply":{"items":[{"type":"action","action":{"type":"message","label":"","text":"y"}}]}}`, "quickReply.items[0].action.label", "empty"},
		{"a quick reply button without action", `{"type":"text","text":"x","quickReply":{"items":[{"type":"action"}]}}`, "quickReply.items[0].action", "missing"},
		{"flex", `{"type":"flex","altText":"card","contents":` + bubble(10) + `}`, "-", ""},
		{"coupon", `{"type":"coupon","couponId":"c-1"}`, "-", ""},
		{"text with an emoji", `{"type":"text","text":"😀 $ x","emojis":[{"index":3,"productId":"5ac1bfd5040ab15980c9b435","emojiId":"001"}]}`, "-", ""},
		{"13 quick reply buttons", `{"type":"text","text":"x"` + qr(13) + `}`, "-", ""},
		{"a URL of 2000 characters", img(long[:MaxMessageURL], ok), "-", ""},
		{"a flex altText of 1500", `{"type":"flex","altText":"` + strings.Repeat("a", 1500) + `","contents":{"type":"bubble"}}`, "-", ""},
		{"a carousel over a bubble's size", `{"type":"flex","altText":"c","contents":{"type":"carousel","contents":[` + bubble(MaxFlexBubble) + `]}}`, "-", ""},

		{"a string", `"hello"`, "", "not a JSON message object, but a JSON string"},
		{"not JSON", `{"type":`, "", "not a JSON message object"},
		{"no type", `{"text":"x"}`, "type", "missing"},
		{"an unknown type", `{"type":"bogus"}`, "type", `"bogus" is not a message type LINE takes`},
		{"a numeric type", `{"type":1}`, "type", "must be a string"},
		{"text missing", `{"type":"text"}`, "text", "missing"},
		{"text empty", `{"type":"text","text":""}`, "text", "missing"},
		{"text a number", `{"type":"text","text":123}`, "text", "must be a string, not a JSON number"},
		{"text of 5001 UTF-16 units", `{"type":"text","text":"` + strings.Repeat("😀", 2500) + `a"}`, "text", "longer than 5000 UTF-16 units"},
		{"textV2 of 5001", `{"type":"textV2","text":"` + strings.Repeat("あ", 5001) + `"}`, "text", "longer than 5000"},
		{"an emoji beyond the text", `{"type":"text","text":"$","emojis":[{"index":5,"productId":"x","emojiId":"y"}]}`, "emojis[0].index", "outside the text"},
		{"an emoji not at a $", `{"type":"text","text":"😀$","emojis":[{"index":1,"productId":"x","emojiId":"y"}]}`, "emojis[0].index", `not the position of a "$"`},
		{"an emoji without a product", `{"type":"text","text":"$","emojis":[{"index":0,"emojiId":"y"}]}`, "emojis[0].productId", "missing"},
		{"21 emojis", `{"type":"text","text":"` + strings.Repeat("$", 21) + `","emojis":[` + strings.TrimSuffix(strings.Repeat(`{"index":0,"productId":"x","emojiId":"y"},`, 21), ",") + `]}`, "emojis", "more than 20"},
		{"a sticker without IDs", `{"type":"sticker"}`, "packageId", "missing"},
		{"a sticker without its stickerId", `{"type":"sticker","packageId":"446"}`, "stickerId", "missing"},
		{"sticker IDs as numbers", `{"packageId":446,"stickerId":1988,"type":"sticker"}`, "packageId", `must be a string, not a JSON number (LINE takes a sticker's IDs as strings: write "446"`},
		{"an image over http", img("http://x.example/a.jpg", "http://x.example/b.jpg"), "originalContentUrl", "not an https URL"},
		{"a javascript: preview", img(ok, "javascript:alert(1)"), "previewImageUrl", "not an https URL"},
		{"an https URL without a host", img(ok, "https://"), "previewImageUrl", "not a URL with a host"},
		{"an https URL with a bad host", img(ok, "https://%zz/"), "previewImageUrl", "not a URL with a host"},
		{"a URL of 2001 characters", img(long, ok), "originalContentUrl", "longer than 2000"},
		{"an image without a preview", `{"type":"image","originalContentUrl":"` + ok + `"}`, "previewImageUrl", "missing"},
		{"audio without a duration", `{"type":"audio","originalContentUrl":"https://x.example/a.m4a"}`, "duration", "missing"},
		{"audio of 1.5 ms", `{"type":"audio","originalContentUrl":"https://x.example/a.m4a","duration":1.5}`, "duration", "must be a whole number"},
		{"a location without longitude", `{"type":"location","title":"t","address":"a","latitude":1}`, "longitude", "missing"},
		{"a long location title", `{"type":"location","title":"` + strings.Repeat("t", 101) + `","address":"a","latitude":1,"longitude":1}`, "title", "longer than 100"},
		{"an imagemap over http", `{"type":"imagemap","baseUrl":"http://x.example/map","altText":"m","baseSize":{},"actions":[]}`, "baseUrl", "not an https URL"},
		{"an imagemap without actions", `{"type":"imagemap","baseUrl":"https://x.example/map","altText":"m","baseSize":{}}`, "actions", "missing"},
		{"a template altText of 401", `{"type":"template","altText":"` + strings.Repeat("a", 401) + `","template":{}}`, "altText", "longer than 400"},
		{"a template without one", `{"type":"template","altText":"a"}`, "template", "missing"},
		{"a flex altText of 1501", `{"type":"flex","altText":"` + strings.Repeat("a", 1501) + `","contents":{"type":"bubble"}}`, "altText", "longer than 1500"},
		{"a flex without altText", `{"type":"flex","contents":{"type":"bubble"}}`, "altText", "missing"},
		{"flex contents not an object", `{"type":"flex","altText":"a","contents":[]}`, "contents", "flex container object"},
		{"a bubble over 30 KB", `{"type":"flex","altText":"a","contents":` + bubble(MaxFlexBubble) + `}`, "contents", "a bubble may be 30720"},
		{"a coupon without its ID", `{"type":"coupon"}`, "couponId", "missing"},
		{"14 quick reply buttons", `{"type":"text","text":"x"` + qr(14) + `}`, "quickReply.items", "more than 13 buttons (14)"},
		{"a quick reply icon over http", `{"type":"text","text":"x","quickReply":{"items":[{"type":"action","imageUrl":"http://x.example/i.png","action":{"type":"camera"}}]}}`, "quickReply.items[0].imageUrl", "not an https URL"},
		{"a long sender name", `{"type":"text","text":"x","sender":{"name":"` + strings.Repeat("n", 21) + `"}}`, "sender.name", "longer than 20"},
		{"a sender icon over http", `{"type":"text","text":"x","sender":{"iconUrl":"http://x.example/i.png"}}`, "sender.iconUrl", "not an https URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckMessage(Message(tt.m))
			if tt.property == "-" {
				if err != nil {
					t.Fatalf("CheckMessage = %v, want nil", err)
				}
				return
			}
			var me *MessageError
			if !errors.As(err, &me) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("CheckMessage = %v, want a *MessageError wrapping ErrInvalid", err)
			}
			if me.Property != tt.property || !strings.Contains(me.Problem, tt.want) {
				t.Fatalf("CheckMessage = property %q, problem %q; want %q, saying %q", me.Property, me.Problem, tt.property, tt.want)
			}
		})
	}
}

// TestMessageTypesMatchSpec holds MessageTypes to the mapping of the
// Message discriminator in LINE's OpenAPI specification.
func TestMessageTypesMatchSpec(t *testing.T) {
	dir := os.Getenv("STEPCAST_LINE_OPENAPI")
	if dir == "" {
		t.Skip("STEPCAST_LINE_OPENAPI is not set: no LINE OpenAPI specifications to check against")
	}
	src, err := os.ReadFile(filepath.Join(dir, "messaging-api.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Components struct {
			Schemas struct {
				Message struct {
					Discriminator struct {
						Mapping map[string]string `yaml:"mapping"`
					} `yaml:"discriminator"`
				} `yaml:"Message"`
				QuickReply struct {
					Properties struct {
						Items struct {
							MaxItems int `yaml:"maxItems"`
						} `yaml:"items"`
					} `yaml:"properties"`
				} `yaml:"QuickReply"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(src, &spec); err != nil {
		t.Fatal(err)
	}
	var inSpec []string
	for k := range spec.Components.Schemas.Message.Discriminator.Mapping {
		inSpec = append(inSpec, k)
	}
	slices.Sort(inSpec)
	ours := slices.Sorted(slices.Values(MessageTypes))
	if !slices.Equal(ours, inSpec) {
		t.Errorf("MessageTypes = %v, LINE's specification maps %v", ours, inSpec)
	}
	if got := spec.Components.Schemas.QuickReply.Properties.Items.MaxItems; got != MaxQuickReplyItems {
		t.Errorf("MaxQuickReplyItems = %d, the specification's maxItems %d", MaxQuickReplyItems, got)
	}
}

func FuzzCheckMessage(f *testing.F) {
	for _, m := range []string{`{"type":"text","text":"$","emojis":[{"index":0,"productId":"x","emojiId":"y"}]}`,
		`{"type":"image","originalContentUrl":"https://x/a","previewImageUrl":"https://x/b"}`, `{"type":"sticker","packageId":1}`,
		`{"type":"flex","altText":"a","contents":{"type":"carousel"}}`, `null`, `{"type":"text","text":"\ud83d$","emojis":[{"index":1}]}`} {
		f.Add([]byte(m))
	}
	f.Fuzz(func(t *testing.T, m []byte) {
		err := CheckMessage(Message(m)) // must not panic
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("CheckMessage = %v, not ErrInvalid", err)
		}
	})
}

// BenchmarkCheckMessage measures the check the engine makes of each
// message it queues, by message size.
func BenchmarkCheckMessage(b *testing.B) {
	for _, size := range []int{300, 5_000, 30_000} {
		msgs := map[string]Message{
			"text": Message(`{"type":"text","text":"` + strings.Repeat("a", size) + `"}`),
			"flex": Message(`{"type":"flex","altText":"a","contents":{"type":"bubble","body":{"type":"box","layout":"vertical","contents":[{"type":"text","text":"` + strings.Repeat("a", size-200) + `"}]}}}`),
		}
		// A buttons template, and a text with a full quick reply: the
		// properties whose limits are per action.
		acts := `{"type":"message","label":"yes","text":"yes"},{"type":"postback","label":"later","data":"a=later","displayText":"later"},{"type":"uri","label":"site","uri":"https://example.com/"}`
		msgs["template"] = Message(`{"type":"template","altText":"a","template":{"type":"buttons","title":"t","text":"` + strings.Repeat("a", min(size, 60)) + `","actions":[` + acts + `]}}`)
		items := strings.Repeat(`{"type":"action","action":{"type":"message","label":"ok","text":"ok"}},`, 12) + `{"type":"action","action":{"type":"message","label":"ok","text":"ok"}}`
		msgs["quickreply"] = Message(`{"type":"text","text":"` + strings.Repeat("a", size) + `","quickReply":{"items":[` + items + `]}}`)
		for _, kind := range []string{"text", "flex", "template", "quickreply"} {
			m := msgs[kind]
			b.Run(fmt.Sprintf("%s/%dB", kind, len(m)), func(b *testing.B) {
				b.SetBytes(int64(len(m)))
				for b.Loop() {
					_ = CheckMessage(m)
				}
			})
		}
	}
}

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
		{"template", `{"type":"template","altText":"ok?","template":{"type":"confirm","text":"ok?","actions":[]}}`, "-", ""},
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
		{"a quick reply icon over http", `{"type":"text","text":"x","quickReply":{"items":[{"type":"action","imageUrl":"http://x.example/i.png","action":{}}]}}`, "quickReply.items[0].imageUrl", "not an https URL"},
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
		for _, kind := range []string{"text", "flex"} {
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

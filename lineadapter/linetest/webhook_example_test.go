package linetest_test

import (
	"fmt"
	"io"
	"time"

	"github.com/stepcast/stepcast/lineadapter/linetest"
)

func ExampleWebhookRequest() {
	at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	follow := linetest.FollowEvent("U4af4980629a0b1c2d3e4f5a6b7c8d9e0", true).At(at).
		ID("01JDX9Z3Q8W6N3H4K5M6P7R8S9").Set("replyToken", "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA")
	r := linetest.WebhookRequest("8c570fa6dd201bb328f1c1eac23a96d8", follow)
	body, _ := io.ReadAll(r.Body)
	fmt.Println(r.Method, r.URL.Path)
	fmt.Println("signed:", r.Header.Get("X-Line-Signature") == linetest.Sign("8c570fa6dd201bb328f1c1eac23a96d8", body))
	fmt.Println(string(body))
	// Output:
	// POST /callback
	// signed: true
	// {"destination":"U0123456789abcdef0123456789abcdef","events":[{"deliveryContext":{"isRedelivery":false},"follow":{"isUnblocked":true},"mode":"active","replyToken":"nHuyWiB7yP5Zw52FIkcQobQuGDXCTA","source":{"type":"user","userId":"U4af4980629a0b1c2d3e4f5a6b7c8d9e0"},"timestamp":1795860000000,"type":"follow","webhookEventId":"01JDX9Z3Q8W6N3H4K5M6P7R8S9"}]}
}

package linetest_test

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/line/line-bot-sdk-go/v8/linebot/messaging_api"
	"github.com/stepcast/stepcast/lineadapter/linetest"
)

// A push through the official SDK, its retry after a lost answer, and what
// the server recorded.
func ExampleNewServer() {
	srv := linetest.NewServer()
	defer srv.Close()
	api, err := messaging_api.NewMessagingApiAPI(linetest.DefaultToken,
		messaging_api.WithEndpoint(srv.URL),
		messaging_api.WithHTTPClient(&http.Client{Timeout: 5 * time.Second}))
	if err != nil {
		fmt.Println(err)
		return
	}
	user := linetest.UserID(1)
	req := &messaging_api.PushMessageRequest{To: user, Messages: []messaging_api.MessageInterface{
		&messaging_api.TextMessage{Text: "Welcome!"},
	}}
	const retryKey = "123e4567-e89b-42d3-a456-426614174000"

	// LINE accepts the push, but the answer is lost on the way back.
	srv.Inject(linetest.AcceptedThenDropped(linetest.Push, 1))
	_, _, err = api.PushMessageWithHttpInfo(req, retryKey)
	fmt.Println("first attempt failed:", err != nil)

	// The retry with the same key is answered 409: already accepted.
	res, _, _ := api.PushMessageWithHttpInfo(req, retryKey)
	fmt.Println("retry:", res.StatusCode, res.Header.Get("X-Line-Accepted-Request-Id") != "")

	fmt.Println("messages delivered:", len(srv.Delivered()[user]))
	for _, r := range srv.Requests() {
		fmt.Println(strings.TrimSpace(fmt.Sprintln(r.Seq, r.Method, r.Path, r.Status, r.Fault)))
	}
	fmt.Println("violations:", len(srv.Violations()))
	// Output:
	// first attempt failed: true
	// retry: 409 true
	// messages delivered: 1
	// 1 POST /v2/bot/message/push 0 accepted, then dropped
	// 2 POST /v2/bot/message/push 409
	// violations: 0
}

// Checking requests against LINE's own OpenAPI specifications, from the
// directory in STEPCAST_LINE_OPENAPI (a checkout of line/line-openapi).
// A message of an unknown type is refused and recorded:
//
//	messages[0]: discriminator property "type" has invalid value
func ExampleLoadSpecs() {
	specs, err := linetest.LoadSpecs(os.Getenv(linetest.EnvSpecDir))
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := linetest.NewServer(linetest.WithSpecs(specs))
	defer srv.Close()
	body := `{"to":"` + linetest.UserID(1) + `","messages":[{"type":"sticky","text":"hi"}]}`
	req, _ := http.NewRequest("POST", srv.URL+"/v2/bot/message/push", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+linetest.DefaultToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	res.Body.Close()
	for _, v := range srv.Violations() {
		if v.Source == "schema" {
			fmt.Printf("%s: %s\n", v.Field, v.Message)
		}
	}
}

package lineadapter

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/line/line-bot-sdk-go/v8/linebot/messaging_api"
	"github.com/stepcast/stepcast"
)

// rawMessage is what passing stored bytes through the SDK's typed
// requests would take: a MessageInterface that marshals to them.
type rawMessage json.RawMessage

func (rawMessage) GetType() string                { return "raw" }
func (m rawMessage) MarshalJSON() ([]byte, error) { return m, nil }

// TestSDKTypedRequestChangesBytes pins why the Sender writes its own body
// rather than the SDK's PushMessageRequest: encoding/json re-encodes what
// a message's MarshalJSON returns (compacted, <, > and & escaped), so the
// bytes LINE would get are not the bytes queued; the Sender's are.
func TestSDKTypedRequestChangesBytes(t *testing.T) {
	queued := stepcast.Message(`{"type": "text", "text": "a & b <c>"}`)
	typed, err := json.Marshal(&messaging_api.PushMessageRequest{To: "U1", Messages: []messaging_api.MessageInterface{rawMessage(queued)}})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(typed, queued) {
		t.Errorf("the SDK's typed request keeps the bytes (%s): the Sender could use it", typed)
	}
	if !bytes.Contains(typed, []byte(`"customAggregationUnits":null`)) {
		t.Errorf("the SDK's typed request no longer writes a null unit list: %s", typed)
	}
	r, err := buildRequest(push("U1", queued))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"to":"U1","messages":[` + string(queued) + `]}`; string(r.body) != want {
		t.Errorf("body %s, want %s", r.body, want)
	}
}

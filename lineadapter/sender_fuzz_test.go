package lineadapter

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stepcast/stepcast"
)

// FuzzBuildRequest: whatever message and audience bytes a delivery that
// passes Validate holds, the body is JSON, and its messages and audience
// values are the queued bytes exactly.
func FuzzBuildRequest(f *testing.F) {
	f.Add([]byte(`{"type":"text","text":"hi"}`), []byte(`{"recipient":{"type":"audience","audienceGroupId":1}}`))
	f.Add([]byte(" {\"type\" : \"text\", \"text\":\"a & <b> \\u2028\"}\n"), []byte(`{"limit":{"max":10},"filter":{"demographic":{"type":"gender","oneOf":["male"]}}}`))
	f.Add([]byte(`{"type":"flex","altText":"x","contents":{}}`), []byte(`null`))
	f.Add([]byte(`{"type":"text","text":"x","type":"image"}`), []byte(`{"recipient":1,"recipient":2}`))
	f.Fuzz(func(t *testing.T, msg, audience []byte) {
		for _, d := range []stepcast.Delivery{
			{Kind: stepcast.DeliveryPush, To: []stepcast.Recipient{{User: "U1"}}, Messages: []stepcast.Message{msg, msg}, AggregationUnit: "u_1"},
			{Kind: stepcast.DeliveryNarrowcast, Messages: []stepcast.Message{msg}, Audience: audience, NotificationDisabled: true},
		} {
			if d.Validate() != nil {
				return
			}
			r, err := buildRequest(d)
			if err != nil {
				continue // only a narrowcast's audience may be refused
			}
			if !json.Valid(r.body) {
				t.Fatalf("%s body is not JSON: %s", d.Kind, r.body)
			}
			var got map[string]json.RawMessage
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatal(err)
			}
			var msgs []json.RawMessage
			if err := json.Unmarshal(got["messages"], &msgs); err != nil || len(msgs) != len(d.Messages) {
				t.Fatalf("messages %s: %v", got["messages"], err)
			}
			for i, m := range msgs {
				if !bytes.Equal(m, bytes.TrimSpace(d.Messages[i])) {
					t.Fatalf("message %d on the wire %q, queued %q", i, m, d.Messages[i])
				}
			}
			if d.Kind == stepcast.DeliveryNarrowcast && len(bytes.TrimSpace(audience)) > 0 && string(bytes.TrimSpace(audience)) != "null" {
				var want map[string]json.RawMessage
				if err := json.Unmarshal(audience, &want); err != nil {
					t.Fatal(err)
				}
				for k, v := range want {
					if !bytes.Equal(got[k], bytes.TrimSpace(v)) {
						t.Fatalf("audience %s on the wire %q, queued %q", k, got[k], v)
					}
				}
			}
		}
	})
}

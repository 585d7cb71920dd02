package lineadapter_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/lineadapter"
	"github.com/stepcast/stepcast/lineadapter/linetest"
)

// A Sender sends a queued delivery; a retry with the same key after a lost
// answer is recognized by LINE (409) and counts as delivered once; the
// monthly quota's 429 stops the send.
func ExampleSender_Send() {
	line := linetest.NewServer(linetest.WithMonthlyQuota(2)) // a fake LINE; in production, leave Endpoint ""
	defer line.Close()
	s, err := lineadapter.NewSender(linetest.DefaultToken, lineadapter.SenderConfig{Endpoint: line.URL})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	d := stepcast.Delivery{
		Kind:     stepcast.DeliveryMulticast,
		To:       []stepcast.Recipient{{Friend: 1, User: stepcast.UserID(linetest.UserID(1))}, {Friend: 2, User: stepcast.UserID(linetest.UserID(2))}},
		Messages: []stepcast.Message{stepcast.Message(`{"type":"text","text":"Spring sale: 20% off"}`)},
	}
	const key = "3f0e3a5c-8b9d-8a1e-9c2f-0123456789ab" // fixed when the delivery was queued

	line.Inject(linetest.AcceptedThenDropped(linetest.Multicast, 1)) // LINE accepts it; the answer is lost
	_, err = s.Send(ctx, d, key)
	fmt.Println("first attempt, retry later:", errors.Is(err, stepcast.ErrRetryLater))

	id, err := s.Send(ctx, d, key) // the same key: LINE answers 409 with the accepted request's ID
	fmt.Println("retry:", err, id == line.Sends()[0].RequestID, len(line.Sends()), "send")

	_, err = s.Send(ctx, d, "8a1b2c3d-4e5f-8a6b-9c7d-0e1f2a3b4c5d") // the month's 2 messages are used up
	var e *lineadapter.Error
	fmt.Println("quota:", errors.Is(err, stepcast.ErrQuotaExceeded), errors.As(err, &e) && e.StatusCode == 429, e.Message)
	// Output:
	// first attempt, retry later: true
	// retry: <nil> true 1 send
	// quota: true true You have reached your monthly limit.
}

// GroupPushes turns pushes of the same rendered message into multicasts of
// at most 500; a personalized push stays a push.
func ExampleGroupPushes() {
	var planned []stepcast.Delivery
	for i := 1; i <= 1001; i++ {
		text := `{"type":"text","text":"See you at the gym this week!"}`
		if i == 7 {
			text = `{"type":"text","text":"Happy birthday, Aoi!"}`
		}
		planned = append(planned, stepcast.Delivery{Kind: stepcast.DeliveryPush,
			To:       []stepcast.Recipient{{Friend: stepcast.FriendID(i), User: stepcast.UserID(linetest.UserID(i))}},
			Messages: []stepcast.Message{stepcast.Message(text)}, Experiment: "reinvite", Variant: "B"})
	}
	requests, err := lineadapter.GroupPushes(planned, lineadapter.GroupOptions{VariantUnits: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range requests {
		fmt.Println(r.Delivery.Kind, len(r.Delivery.To), r.Delivery.AggregationUnit, "from planned", r.From[0])
	}
	// Output:
	// multicast 500 reinvite_B from planned 0
	// multicast 500 reinvite_B from planned 501
	// push 1 reinvite_B from planned 6
}

package lineadapter

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/line/line-bot-sdk-go/v8/linebot/messaging_api"
	"github.com/stepcast/stepcast"
)

// Quota is the account's monthly message quota as LINE reports it
// (GET /v2/bot/message/quota and /v2/bot/message/quota/consumption).
type Quota struct {
	// Limited is LINE's type "limited": the month has a target limit,
	// Value. "none" (false) sends without a limit (a paid plan's extra
	// messages are billed).
	Limited bool
	Value   int64 // the month's limit, with Limited
	// TotalUsage is how many messages the month has counted so far:
	// recipients per request (up to five message objects in one request
	// count once), replies excluded.
	TotalUsage int64
}

// Remaining is how many more messages the month allows: Value less
// TotalUsage (not below 0), or math.MaxInt64 without a limit.
func (q Quota) Remaining() int64 {
	if !q.Limited {
		return math.MaxInt64
	}
	return max(0, q.Value-q.TotalUsage)
}

// Fits reports whether n more messages fit the month's quota. LINE
// counts a push or multicast when it accepts it, blocked friends
// excluded, so a send that Fits may still cost less; one that does not
// fit stops with stepcast.ErrQuotaExceeded partway.
func (q Quota) Fits(n int64) bool { return n <= q.Remaining() }

// Cost is how many messages ds count against the monthly quota, at most:
// a push 1, a multicast one per recipient, a reply and a rich menu call
// nothing. Narrowcasts and broadcasts go to audiences only LINE counts:
// they are counted in open, for the caller to bound by the audience's size.
func Cost(ds []stepcast.Delivery) (n int64, open int) {
	for _, d := range ds {
		switch d.Kind {
		case stepcast.DeliveryPush, stepcast.DeliveryMulticast:
			n += int64(len(d.To))
		case stepcast.DeliveryNarrowcast, stepcast.DeliveryBroadcast:
			open++
		}
	}
	return n, open
}

// Quota reads the month's quota and its use so far, two requests, each
// waiting for its endpoint's rate limit. Read it before a large send:
// a send past the quota stops at LINE's 429 with what it sent so far.
// Errors are *Error, classified as Send's are.
func (s *Sender) Quota(ctx context.Context) (Quota, error) {
	var q Quota
	var quota *messaging_api.MessageQuotaResponse
	err := s.call(ctx, "quota", EndpointQuota, func(c *messaging_api.MessagingApiAPI) (res *http.Response, err error) {
		res, quota, err = c.GetMessageQuotaWithHttpInfo()
		return res, err
	})
	if err != nil {
		return q, err
	}
	var use *messaging_api.QuotaConsumptionResponse
	err = s.call(ctx, "quota consumption", EndpointConsumption, func(c *messaging_api.MessagingApiAPI) (res *http.Response, err error) {
		res, use, err = c.GetMessageQuotaConsumptionWithHttpInfo()
		return res, err
	})
	if err != nil {
		return q, err
	}
	switch quota.Type {
	case messaging_api.QuotaType_LIMITED:
		q.Limited, q.Value = true, quota.Value
	case messaging_api.QuotaType_NONE:
	default:
		return q, fmt.Errorf("lineadapter: quota: LINE answered a quota of type %s (want limited or none)", stepcast.Quote(string(quota.Type)))
	}
	q.TotalUsage = use.TotalUsage
	return q, nil
}

// MessageQuota is Quota in the terms of the engine's QuotaReader (which
// the engine reads for a broadcast's Preview, and its dispatcher's quota
// guard at most once per engine.Config.QuotaRefresh): the month's limit
// (-1 for none, LINE's type "none") and the messages counted so far.
func (s *Sender) MessageQuota(ctx context.Context) (limit, used int64, err error) {
	q, err := s.Quota(ctx)
	if err != nil {
		return 0, 0, err
	}
	if !q.Limited {
		return -1, q.TotalUsage, nil
	}
	return q.Value, q.TotalUsage, nil
}

// CheckQuota reads the quota (Sender.Quota) before a send of n messages
// (Cost) and fails, wrapping stepcast.ErrQuotaExceeded, when they do not
// fit what the month has left: stop before the first request rather than
// at LINE's 429 partway. It returns the quota read either way.
func (s *Sender) CheckQuota(ctx context.Context, n int64) (Quota, error) {
	q, err := s.Quota(ctx)
	if err != nil {
		return q, err
	}
	if !q.Fits(n) {
		return q, fmt.Errorf("lineadapter: a send of %d messages: %w (%d of %d left this month)", n, stepcast.ErrQuotaExceeded, q.Remaining(), q.Value)
	}
	return q, nil
}

// NarrowcastProgress is where an accepted narrowcast stands
// (GET /v2/bot/message/progress/narrowcast). LINE accepts a narrowcast
// with 202 and sends it later: it may still fail, e.g. for an audience of
// fewer than 50 friends.
type NarrowcastProgress struct {
	Phase             string // waiting, sending, succeeded or failed
	SuccessCount      int64
	FailureCount      int64
	TargetCount       int64
	FailedDescription string
	// ErrorCode says why a failed narrowcast failed: 1 an internal
	// error, 2 too few recipients, 3 a retried request already accepted,
	// 4 an audience of fewer than 50, 5 cancelled to avoid a partial
	// delivery (LINE's NarrowcastProgressResponse).
	ErrorCode     int64
	AcceptedTime  time.Time
	CompletedTime time.Time // zero until it succeeded or failed
}

// ErrNarrowcastFailed is wrapped by NarrowcastProgress.Err for a
// narrowcast LINE accepted and then failed to send.
var ErrNarrowcastFailed = errors.New("lineadapter: the narrowcast failed")

// ErrAudienceTooSmall is wrapped (with ErrNarrowcastFailed) when a
// narrowcast failed for too few recipients (error code 2) or for an
// audience of fewer than 50 friends in its conditions (error code 4):
// LINE sends nothing then, and trying again is no use. Send such a
// segment by multicast instead.
var ErrAudienceTooSmall = errors.New("lineadapter: a narrowcast audience of fewer than 50 friends")

// Done reports whether the narrowcast is finished, succeeded or failed.
func (p NarrowcastProgress) Done() bool { return p.Phase == "succeeded" || p.Phase == "failed" }

// Err is nil unless the narrowcast failed; then it wraps
// ErrNarrowcastFailed, and ErrAudienceTooSmall for error codes 2 and 4.
// Error code 3 (a retried request accepted before) is not a failure of
// the send: Err is nil for it.
func (p NarrowcastProgress) Err() error {
	if p.Phase != "failed" {
		return nil
	}
	switch p.ErrorCode {
	case 3:
		return nil
	case 2, 4:
		return fmt.Errorf("%w: %w (%s)", ErrNarrowcastFailed, ErrAudienceTooSmall, p.FailedDescription)
	}
	return fmt.Errorf("%w: error code %d: %s", ErrNarrowcastFailed, p.ErrorCode, p.FailedDescription)
}

// NarrowcastProgress reads where the narrowcast LINE accepted as
// requestID stands. Poll it until Done, no more often than the send
// needs (LINE's sending takes minutes for large audiences). Errors are
// *Error, classified as Send's are (404 for a request ID LINE does not know).
func (s *Sender) NarrowcastProgress(ctx context.Context, requestID string) (NarrowcastProgress, error) {
	if requestID == "" {
		return NarrowcastProgress{}, fmt.Errorf("%w: narrowcast progress: no request ID", stepcast.ErrInvalid)
	}
	var p *messaging_api.NarrowcastProgressResponse
	err := s.call(ctx, "narrowcast progress", EndpointProgress, func(c *messaging_api.MessagingApiAPI) (res *http.Response, err error) {
		res, p, err = c.GetNarrowcastProgressWithHttpInfo(requestID)
		return res, err
	})
	if err != nil {
		return NarrowcastProgress{}, err
	}
	return NarrowcastProgress{Phase: string(p.Phase), SuccessCount: p.SuccessCount, FailureCount: p.FailureCount,
		TargetCount: p.TargetCount, FailedDescription: p.FailedDescription, ErrorCode: p.ErrorCode,
		AcceptedTime: p.AcceptedTime, CompletedTime: p.CompletedTime}, nil
}

// call makes one of the SDK's typed calls with the call's context: it
// waits for endpoint's rate limit, then runs f on a copy of the SDK
// client made for this call alone, whose WithContext sets the copy's
// field — the shared client is never written, so concurrent calls do not
// race. A non-2xx answer is classified as Send's; an answer the SDK could
// not decode is a permanent *Error.
func (s *Sender) call(ctx context.Context, op string, endpoint Endpoint, f func(*messaging_api.MessagingApiAPI) (*http.Response, error)) error {
	if err := s.limits.wait(ctx, endpoint); err != nil {
		return waitError(op, ctx, err)
	}
	actx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	c := *s.api
	res, err := f(c.WithContext(actx))
	switch {
	case res == nil:
		return transportError(op, err)
	case res.StatusCode/100 != 2:
		defer drain(res)
		return classify(op, res)
	case err != nil:
		return &Error{Op: op, StatusCode: res.StatusCode, RequestID: res.Header.Get("X-Line-Request-Id"), cause: err}
	}
	return nil
}

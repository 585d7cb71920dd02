package lineadapter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/stepcast/stepcast"
)

// Error is a request LINE did not accept, or that never got an answer: an
// HTTP status other than 2xx (and other than a 409 on a retried request,
// which counts as delivered), or a transport failure (StatusCode 0).
//
// It wraps its class, so errors.Is answers what to do with it:
// stepcast.ErrRetryLater (a 5xx, the rate-limit 429, a 408 or 425, a
// timeout, a dropped or refused connection — another attempt with the
// same retry key may succeed), stepcast.ErrUncertain (a 5xx, a timeout or
// a dropped connection of a request that sends messages without a retry
// key, a reply's above all: it may have been delivered, and another
// attempt could deliver it twice or meet a spent reply token),
// stepcast.ErrQuotaExceeded (the 429 whose message is LINE's "You have
// reached your monthly limit."), or none (400, 401, 403, 404 and every
// other status: permanent for this request). A transport error also wraps
// its cause (context.DeadlineExceeded, io.ErrUnexpectedEOF, …).
type Error struct {
	Op         string // what was asked: a delivery kind ("push"), or "quota", "narrowcast progress"
	StatusCode int    // the HTTP status; 0 when no answer came
	// Message and Details are LINE's error response body
	// ({"message":…,"details":[{"message":…,"property":…}]}), when it sent one.
	Message   string
	Details   []ErrorDetail
	RequestID string // LINE's X-Line-Request-Id of the refused request, if any
	class     error  // stepcast.ErrRetryLater, stepcast.ErrUncertain, stepcast.ErrQuotaExceeded, stepcast.ErrUnauthorized, or nil for a permanent error
	cause     error  // the transport error, for StatusCode 0
	notSent   bool   // no request was made: the rate limit's wait ended first, or no connection was made
}

// ErrorDetail is one entry of the details of LINE's error response.
type ErrorDetail struct {
	Message  string `json:"message,omitempty"`
	Property string `json:"property,omitempty"`
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("lineadapter: ")
	b.WriteString(e.Op)
	if e.StatusCode == 0 {
		if e.notSent {
			b.WriteString(": no request made: ")
		} else {
			b.WriteString(": no answer from LINE: ")
		}
		if e.cause != nil {
			b.WriteString(e.cause.Error())
		}
	} else {
		fmt.Fprintf(&b, ": LINE answered %d", e.StatusCode)
		if e.Message != "" {
			b.WriteString(": ")
			b.WriteString(stepcast.Quote(e.Message))
		}
		for _, d := range e.Details {
			b.WriteString("; ")
			if d.Property != "" {
				b.WriteString(d.Property)
				b.WriteString(": ")
			}
			b.WriteString(d.Message)
		}
		if e.RequestID != "" {
			b.WriteString(" (request ")
			b.WriteString(e.RequestID)
			b.WriteString(")")
		}
		if e.cause != nil {
			b.WriteString(": ")
			b.WriteString(e.cause.Error())
		}
	}
	switch e.class {
	case stepcast.ErrRetryLater:
		b.WriteString(" (retry later)")
	case stepcast.ErrUncertain:
		b.WriteString(" (it may have been delivered: not to be retried without a retry key)")
	case stepcast.ErrQuotaExceeded:
		b.WriteString(" (the monthly message quota cannot cover it)")
	case stepcast.ErrUnauthorized:
		b.WriteString(" (the channel access token is refused: replace it)")
	}
	return b.String()
}

// Unwrap returns the error's class and, for a transport error, its cause.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.class != nil {
		errs = append(errs, e.class)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// Retryable reports whether another attempt may succeed: the error wraps
// stepcast.ErrRetryLater.
func (e *Error) Retryable() bool { return e.class == stepcast.ErrRetryLater }

// NotSent reports whether no request was made: the wait for the
// endpoint's rate limit ended first, or no connection to LINE could be
// made. Such an error is stepcast.ErrRetryLater whatever the kind, a
// reply's included: nothing reached LINE.
func (e *Error) NotSent() bool { return e.notSent }

// monthlyLimit is the message of the 429 LINE answers when the month's
// quota is used up ("You have reached your monthly limit."), told apart
// from a rate limit's 429 by this text alone: LINE documents no header or
// code for it (https://developers.line.biz/en/reference/messaging-api/#status-codes).
const monthlyLimit = "monthly limit"

// maxErrorBody bounds how much of an error response is read: LINE's are
// a few hundred bytes.
const maxErrorBody = 64 << 10

// classify turns a response that is neither 2xx nor a delivered 409 into
// an *Error, reading LINE's error body from res.
func classify(op string, res *http.Response) *Error {
	e := &Error{Op: op, StatusCode: res.StatusCode, RequestID: res.Header.Get("X-Line-Request-Id")}
	var body struct {
		Message string        `json:"message"`
		Details []ErrorDetail `json:"details"`
	}
	if raw, err := io.ReadAll(io.LimitReader(res.Body, maxErrorBody)); err == nil && json.Unmarshal(raw, &body) == nil {
		e.Message, e.Details = body.Message, body.Details
	}
	switch {
	case res.StatusCode == http.StatusTooManyRequests && strings.Contains(strings.ToLower(e.Message), monthlyLimit):
		e.class = stepcast.ErrQuotaExceeded
	case res.StatusCode == http.StatusUnauthorized:
		e.class = stepcast.ErrUnauthorized
	case res.StatusCode == http.StatusTooManyRequests, res.StatusCode >= 500,
		// A 408 (a proxy's or LINE's front end timed out reading the
		// request) and a 425 (a request sent in TLS early data, refused
		// lest it be a replay) were not processed: the same request may
		// be sent again.
		res.StatusCode == http.StatusRequestTimeout, res.StatusCode == http.StatusTooEarly:
		e.class = stepcast.ErrRetryLater
	}
	return e
}

// transportError classifies a request that got no answer: a timeout, a
// dropped, reset or refused connection, a cancelled context. All may
// succeed later — the request may or may not have reached LINE, which is
// what the retry key is for — so all are stepcast.ErrRetryLater; Send
// makes those of a message request without a retry key ErrUncertain
// (uncertain), unless no connection was made.
func transportError(op string, err error) *Error {
	return &Error{Op: op, class: stepcast.ErrRetryLater, cause: err, notSent: neverSent(err)}
}

// neverSent reports whether a transport error came before any of the
// request was written: no address for LINE's host, or no connection.
func neverSent(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	return errors.As(err, &dns) || errors.As(err, &op) && op.Op == "dial"
}

// waitError is a rate limiter's wait that could not end before ctx did:
// no request was made.
func waitError(op string, ctx context.Context, err error) *Error {
	if ctx.Err() != nil {
		err = ctx.Err()
	} else {
		err = fmt.Errorf("the wait for the rate limit would outlast the call's deadline: %w (%w)", context.DeadlineExceeded, err)
	}
	return &Error{Op: op, class: stepcast.ErrRetryLater, cause: err, notSent: true}
}

// IsPermanent reports whether err is a failure that another attempt would
// meet again: neither stepcast.ErrRetryLater, stepcast.ErrUncertain (it
// may have been delivered), stepcast.ErrQuotaExceeded nor
// stepcast.ErrUnauthorized (the channel's trouble, not the delivery's).
func IsPermanent(err error) bool {
	return err != nil && !errors.Is(err, stepcast.ErrRetryLater) && !errors.Is(err, stepcast.ErrUncertain) &&
		!errors.Is(err, stepcast.ErrQuotaExceeded) && !errors.Is(err, stepcast.ErrUnauthorized)
}

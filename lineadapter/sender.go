package lineadapter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/line/line-bot-sdk-go/v8/linebot/messaging_api"
	"github.com/stepcast/stepcast"
)

// SenderConfig configures a Sender. The zero value sends to LINE with
// LINE's published rate limits.
type SenderConfig struct {
	// Endpoint is the Messaging API's base URL: "" is https://api.line.me;
	// a linetest server's URL in tests.
	Endpoint string
	// HTTPClient makes the requests. nil is a client of the Sender's own
	// (NewHTTPClient): the SDK's default, http.DefaultClient, has no
	// timeout at all.
	HTTPClient *http.Client
	// Timeout bounds one attempt, from the request's first byte to the
	// answer's status (the wait for a rate limit's token is not counted):
	// 0 is 30 seconds. A call's own context may end it sooner.
	Timeout time.Duration
	// Rates replaces LINE's published rate of some endpoints (see
	// PublishedRates), e.g. a share of it when several processes send for
	// one channel, or rate.Inf in a benchmark of our own CPU.
	Rates map[Endpoint]Rate
	// Logger receives a line for each request LINE refused (status, request
	// ID, class; never a body). nil logs nothing.
	Logger *slog.Logger
}

// DefaultTimeout is a Sender's bound on one attempt when SenderConfig
// leaves it 0. LINE documents none; a push answers in well under a second.
const DefaultTimeout = 30 * time.Second

// Sender sends deliveries to LINE. It is safe for concurrent use: all
// its state after NewSender is the SDK client (never modified), the HTTP
// client and the rate limiters.
type Sender struct {
	api     *messaging_api.MessagingApiAPI
	limits  limiters
	timeout time.Duration
	log     *slog.Logger
}

var _ stepcast.Sender = (*Sender)(nil)

// NewSender returns a Sender for the channel whose access token is token.
// It fails, wrapping stepcast.ErrInvalid, on an empty token, an endpoint
// that is not an absolute URL, or a rate that is not positive.
func NewSender(token string, cfg SenderConfig) (*Sender, error) {
	if token == "" {
		return nil, fmt.Errorf("%w: lineadapter: no channel access token", stepcast.ErrInvalid)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("%w: lineadapter: a negative timeout %v", stepcast.ErrInvalid, cfg.Timeout)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = NewHTTPClient()
	}
	opts := []messaging_api.MessagingApiAPIOption{messaging_api.WithHTTPClient(hc)}
	if cfg.Endpoint != "" {
		opts = append(opts, messaging_api.WithEndpoint(cfg.Endpoint))
	}
	api, err := messaging_api.NewMessagingApiAPI(token, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: lineadapter: endpoint %s: %v", stepcast.ErrInvalid, stepcast.Quote(cfg.Endpoint), err)
	}
	lim, err := newLimiters(cfg.Rates)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", stepcast.ErrInvalid, err)
	}
	s := &Sender{api: api, limits: lim, timeout: cfg.Timeout, log: cfg.Logger}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// NewHTTPClient returns the HTTP client a Sender makes for itself: bounded
// dialing (10 s), TLS handshake (10 s) and wait for the answer's headers
// (30 s), an overall bound of a minute as a last resort, and up to 64 idle
// connections kept to LINE (Go's default keeps 2 per host, which at
// hundreds of requests a second means a new connection for most).
func NewHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = 30 * time.Second
	t.MaxIdleConns = 64
	t.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: t, Timeout: time.Minute}
}

// Send implements stepcast.Sender: one attempt at d.
//
// retryKey is the delivery's X-Line-Retry-Key (a UUID, fixed when it was
// queued), sent only with push, multicast, narrowcast and broadcast, the
// kinds LINE takes one on; "" sends without one. A key given with any
// other kind, or a key that is not a UUID, is refused with
// stepcast.ErrInvalid rather than dropped: the outbox keeps keys for
// exactly those four kinds, so a key elsewhere is a caller's mistake.
// Without a key — a reply always, a push sent without one — a 5xx, a
// timeout or a dropped connection after the request left is
// stepcast.ErrUncertain, not ErrRetryLater: it may have been delivered
// (LINE says so of 5xx and timeouts), a reply's token is single-use, and
// nothing would tell a repeat apart. With a key, LINE
// answers a repeat with 409, which
// Send returns as delivered, with the ID of the request LINE accepted
// (X-Line-Accepted-Request-Id; "" if LINE left the header out). A 409
// to a request without a key is a permanent *Error.
// The dispatcher must not reuse a key more than stepcast.RetryKeyValidity
// after the delivery's first attempt (LINE may then take it as new).
//
// Send waits for the endpoint's rate limit with ctx, then bounds the
// attempt by SenderConfig.Timeout. See the package documentation for how
// answers are classified.
func (s *Sender) Send(ctx context.Context, d stepcast.Delivery, retryKey string) (requestID string, err error) {
	if err := d.Validate(); err != nil {
		return "", err
	}
	for i, r := range d.To {
		if !isUserID(string(r.User)) {
			return "", fmt.Errorf("%w: %s delivery: recipient %d (friend %d): %s is not a LINE userId (U and 32 hex digits)", stepcast.ErrInvalid, d.Kind, i, r.Friend, stepcast.Quote(string(r.User)))
		}
	}
	if retryKey != "" {
		if !d.Kind.TakesRetryKey() {
			return "", fmt.Errorf("%w: %s delivery: LINE takes no retry key on it, got %s", stepcast.ErrInvalid, d.Kind, stepcast.Quote(retryKey))
		}
		if !stepcast.IsRetryKey(retryKey) {
			return "", fmt.Errorf("%w: %s delivery: the retry key %s is not a UUID", stepcast.ErrInvalid, d.Kind, stepcast.Quote(retryKey))
		}
	}
	r, err := buildRequest(d)
	if err != nil {
		return "", err
	}
	op := string(d.Kind)
	res, err := s.do(ctx, op, endpointOf[d.Kind], r, retryKey)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			uncertain(e, d.Kind, retryKey)
		}
		return "", err
	}
	defer drain(res)
	switch {
	case res.StatusCode/100 == 2:
		return res.Header.Get("X-Line-Request-Id"), nil
	case res.StatusCode == http.StatusConflict && retryKey != "":
		// A retry of a request LINE accepted before: delivered then.
		return res.Header.Get("X-Line-Accepted-Request-Id"), nil
	}
	e := classify(op, res)
	uncertain(e, d.Kind, retryKey)
	s.log.LogAttrs(ctx, slog.LevelWarn, "lineadapter: LINE refused a delivery", slog.String("kind", op),
		slog.Int("status", e.StatusCode), slog.String("message", e.Message), slog.String("request_id", e.RequestID),
		slog.String("retry_key", retryKey), slog.Bool("retryable", e.Retryable()))
	return "", e
}

// do waits for endpoint's rate limit, then makes request r through the SDK
// client with the call's context, bounded by the Sender's timeout. The
// caller closes the answer's body. A request that got no answer is a
// *Error of class stepcast.ErrRetryLater.
func (s *Sender) do(ctx context.Context, op string, endpoint Endpoint, r request, retryKey string) (*http.Response, error) {
	if err := s.limits.wait(ctx, endpoint); err != nil {
		return nil, waitError(op, ctx, err)
	}
	actx, cancel := context.WithTimeout(ctx, s.timeout)
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(actx, r.method, s.api.Url(r.path), body)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("%w: lineadapter: %s: %v", stepcast.ErrInvalid, op, err)
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json; charset=UTF-8")
	}
	if retryKey != "" {
		req.Header.Set("X-Line-Retry-Key", retryKey)
	}
	// Do adds the token and the SDK's User-Agent; the SDK client has no
	// context of its own (WithContext is never called), so req's stays.
	res, err := s.api.Do(req)
	if err != nil {
		cancel()
		return nil, transportError(op, err)
	}
	res.Body = cancelOnClose{res.Body, cancel}
	return res, nil
}

// cancelOnClose ends an attempt's context once its answer is read.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// maxDrain is how much of a 2xx answer is read so that its connection can
// be reused: LINE's answers to a send are a few hundred bytes.
const maxDrain = 64 << 10

func drain(res *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxDrain))
	_ = res.Body.Close()
}

// uncertain makes e, a failed attempt at a delivery of kind k with
// retryKey, stepcast.ErrUncertain where it may have been delivered and
// nothing would tell a repeat apart: a request that sends messages
// without a retry key, left, and got no answer or a 5xx — LINE's own
// words: "even if you get such error, there is a possibility that your
// message was delivered" (https://developers.line.biz/en/docs/messaging-api/retrying-api-request/).
// A 429, 408 or 425 was not processed, and a request never made never
// was: those stay stepcast.ErrRetryLater.
func uncertain(e *Error, k stepcast.DeliveryKind, retryKey string) {
	if e.class == stepcast.ErrRetryLater && k.SendsMessages() && retryKey == "" && !e.notSent && (e.StatusCode == 0 || e.StatusCode >= 500) {
		e.class = stepcast.ErrUncertain
	}
}

// endpointOf is the endpoint each delivery kind calls.
var endpointOf = map[stepcast.DeliveryKind]Endpoint{
	stepcast.DeliveryPush:               EndpointPush,
	stepcast.DeliveryMulticast:          EndpointMulticast,
	stepcast.DeliveryNarrowcast:         EndpointNarrowcast,
	stepcast.DeliveryBroadcast:          EndpointBroadcast,
	stepcast.DeliveryReply:              EndpointReply,
	stepcast.DeliveryRichMenuLink:       EndpointRichMenuLink,
	stepcast.DeliveryRichMenuUnlink:     EndpointRichMenuUnlink,
	stepcast.DeliveryRichMenuBulkLink:   EndpointBulkLink,
	stepcast.DeliveryRichMenuBulkUnlink: EndpointBulkUnlink,
	stepcast.DeliveryRichMenuDefault:    EndpointDefaultMenu,
}

// isUserID reports whether s is a LINE userId: "U" and 32 lowercase
// hexadecimal digits (the form of the webhook source's userId in LINE's
// Messaging API reference, https://developers.line.biz/en/reference/messaging-api/#source-user).
func isUserID(s string) bool {
	if len(s) != 33 || s[0] != 'U' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

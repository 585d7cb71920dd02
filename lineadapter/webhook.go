package lineadapter

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/stepcast/stepcast"
)

// DefaultMaxBody is WebhookConfig.MaxBody's zero value: 1 MiB. LINE
// publishes no limit on a webhook's size; a text message is at most 5,000
// UTF-16 units (15,000 bytes of UTF-8), so this holds dozens of the
// longest events in one request.
const DefaultMaxBody = 1 << 20

// SignatureHeader is the header that carries a webhook's signature:
// base64(HMAC-SHA256(channel secret, raw body)), per LINE's Messaging API
// reference ("Signature validation").
const SignatureHeader = "X-Line-Signature"

// Errors in WebhookReport.Err: why a request was turned away as a whole.
var (
	// ErrSignature: the request's X-Line-Signature is missing or does
	// not match the body under the channel secret (answered 400).
	ErrSignature = errors.New("lineadapter: webhook signature missing or wrong")
	// ErrBodyTooLarge: the body is longer than WebhookConfig.MaxBody
	// (answered 413).
	ErrBodyTooLarge = errors.New("lineadapter: webhook body too large")
	// ErrMalformed: a signed body that is not a webhook's JSON — no
	// object, no events array (answered 400). It is also
	// stepcast.ErrInvalid.
	ErrMalformed = stepcast.NewInvalid("lineadapter: malformed webhook body")
	// ErrDestination: the body's destination is not
	// WebhookConfig.Destination (answered 400).
	ErrDestination = errors.New("lineadapter: webhook for another destination")
	// ErrMethod: the request is not a POST (answered 405).
	ErrMethod = errors.New("lineadapter: webhook requests are POSTs")
	// ErrNotDurable: the Recorder failed to keep some of the events —
	// the store, a closed engine — (answered 500, so that LINE redelivers
	// them); it wraps the Recorder's error.
	ErrNotDurable = errors.New("lineadapter: webhook events not made durable")
)

// WebhookConfig configures a Webhook: one LINE channel's.
type WebhookConfig struct {
	// ChannelSecret is the channel's secret (LINE Developers console,
	// "Basic settings"), with which LINE signs every request. Required.
	ChannelSecret string
	// Recorder takes the events, durably, before the webhook answers:
	// all of a request's in one call. Required; usually the
	// *engine.Account of this channel.
	Recorder Recorder
	// Destination, if set, is the bot's user ID ("U" and 32 hex digits):
	// a body addressed to another is refused with ErrDestination. Empty
	// accepts any; WebhookReport.Destination says which it was.
	Destination string
	// MaxBody caps a request body, in bytes; a longer one is refused with
	// 413 before it is read further. Zero means DefaultMaxBody.
	MaxBody int64
	// Logger receives what is not answered to LINE: events refused or
	// left out, failures of the Recorder. Never the body, nor what a friend
	// wrote: an event is named by its webhookEventId and type, a refusal
	// by its class ("invalid" for stepcast.ErrInvalid, else "refused"),
	// a malformed body or event by what is wrong where, without the
	// offending JSON; WebhookReport holds the Recorder's own errors, which
	// may quote the event. Nil means slog.Default().
	Logger *slog.Logger
	// Report, if set, receives what each request came to, after the
	// answer is written and flushed, on the request's goroutine: hand it
	// off quickly.
	Report func(context.Context, WebhookReport)
}

// WebhookReport is what one webhook request came to.
type WebhookReport struct {
	Status      int    // the HTTP status answered
	Destination string // the body's destination, once it was read
	// Events are the body's events, in order, each with what became of
	// it. Empty for LINE's connectivity check (an empty events array) and
	// for requests turned away as a whole.
	Events []WebhookEvent
	// Err is why the request was turned away as a whole (ErrSignature,
	// ErrBodyTooLarge, ErrMalformed, ErrDestination, ErrMethod, a failure
	// to read the body) or why it was answered 500 (ErrNotDurable);
	// nil when answered 200.
	Err error
}

// WebhookEvent is one event of a webhook body.
type WebhookEvent struct {
	Type string // LINE's type: follow, message, …; as far as it could be read
	ID   string // LINE's webhookEventId; as far as it could be read
	// Event is the event handed to the Recorder, with Arrival; zero if it
	// was left out.
	Event stepcast.Event
	// Ingested: the event was handed to the Recorder, and Recorded says
	// what became of it: kept (Duplicate for a redelivery kept before),
	// refused for its own fault (Recorded.Err: answered 200, as a
	// redelivery cannot fix it) or Lost (answered 500).
	Ingested bool
	Recorded stepcast.Recorded
	// Note says why the event was left out (a group chat, a type about
	// the channel, a malformed event — what is wrong where, never the
	// offending JSON), or is empty.
	Note string
}

// Webhook is the http.Handler of one LINE channel's webhook URL. It
// checks the signature on the raw body, maps every event to a
// stepcast.Event and answers 200 only once the Recorder has made them
// durable. It is safe for concurrent use.
type Webhook struct {
	secret      []byte
	rec         Recorder
	destination string
	maxBody     int64
	log         *slog.Logger
	report      func(context.Context, WebhookReport)
}

var _ http.Handler = (*Webhook)(nil)

// NewWebhook returns the webhook handler of the channel cfg describes.
// It fails with stepcast.ErrInvalid if the secret or the Recorder is missing
// or MaxBody is negative.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	switch {
	case cfg.ChannelSecret == "":
		return nil, fmt.Errorf("%w: lineadapter: webhook: no channel secret", stepcast.ErrInvalid)
	case cfg.Recorder == nil:
		return nil, fmt.Errorf("%w: lineadapter: webhook: no Recorder for the events", stepcast.ErrInvalid)
	case cfg.MaxBody < 0:
		return nil, fmt.Errorf("%w: lineadapter: webhook: MaxBody is %d", stepcast.ErrInvalid, cfg.MaxBody)
	}
	h := &Webhook{
		secret:      []byte(cfg.ChannelSecret),
		rec:         cfg.Recorder,
		destination: cfg.Destination,
		maxBody:     cfg.MaxBody,
		log:         cfg.Logger,
		report:      cfg.Report,
	}
	if h.maxBody == 0 {
		h.maxBody = DefaultMaxBody
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h, nil
}

// ServeHTTP answers one webhook request:
//
//   - 405 for a method other than POST;
//   - 400 for a missing or wrong X-Line-Signature, checked in constant
//     time on the raw body, before anything in it is read;
//   - 413 for a body over MaxBody;
//   - 400 for a signed body that is not a webhook's JSON, or for another
//     destination;
//   - 200 for LINE's connectivity check (no events);
//   - otherwise 200 once the Recorder has made the events durable, or 500
//     if it failed to keep some of them (its returned error: the store
//     failing, the engine closed), so that LINE redelivers the request —
//     if the channel has webhook redelivery turned on; without it the
//     events are lost and only the log says so. Events the Recorder
//     refuses for their own fault (stepcast.Recorded.Err: invalid, an
//     unknown friend, …) are logged and answered 200: a redelivery cannot
//     fix them.
//
// Each event is decoded on its own: one malformed or left out (see the
// package documentation) is logged and reported, and the others go on.
// The events are ingested even if LINE hangs up meanwhile, so that they
// are kept whether or not LINE redelivers them.
func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rep := h.handle(w, r)
	if rep.Status != http.StatusOK {
		if rep.Status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", http.MethodPost)
		}
		http.Error(w, http.StatusText(rep.Status), rep.Status)
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "OK\n")
	}
	if h.report == nil {
		return
	}
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	h.report(r.Context(), rep)
}

// handle does the work of ServeHTTP and says what to answer.
func (h *Webhook) handle(w http.ResponseWriter, r *http.Request) WebhookReport {
	fail := func(status int, err error) WebhookReport { return WebhookReport{Status: status, Err: err} }
	if r.Method != http.MethodPost {
		return fail(http.StatusMethodNotAllowed, ErrMethod)
	}
	sig, err := base64.StdEncoding.DecodeString(r.Header.Get(SignatureHeader))
	if err != nil || len(sig) != sha256.Size {
		h.log.Warn("webhook: signature missing or not an HMAC-SHA256", "remote", r.RemoteAddr)
		return fail(http.StatusBadRequest, ErrSignature)
	}
	if r.ContentLength > h.maxBody {
		h.log.Warn("webhook: body too large", "bytes", r.ContentLength, "max", h.maxBody)
		return fail(http.StatusRequestEntityTooLarge, ErrBodyTooLarge)
	}
	if r.Body == nil { // a request built by hand; a server's always has one
		r.Body = http.NoBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			h.log.Warn("webhook: body too large", "max", h.maxBody)
			return fail(http.StatusRequestEntityTooLarge, ErrBodyTooLarge)
		}
		return fail(http.StatusBadRequest, fmt.Errorf("lineadapter: reading the webhook body: %w", err))
	}
	if !h.signed(body, sig) {
		h.log.Warn("webhook: wrong signature", "remote", r.RemoteAddr)
		return fail(http.StatusBadRequest, ErrSignature)
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		p := jsonProblem(err)
		h.log.Warn("webhook: signed body is not a webhook's JSON", "why", p)
		return fail(http.StatusBadRequest, fmt.Errorf("%w: %s", ErrMalformed, p))
	}
	if env.Events == nil {
		h.log.Warn("webhook: signed body has no events array")
		return fail(http.StatusBadRequest, fmt.Errorf("%w: no events array", ErrMalformed))
	}
	rep := WebhookReport{Status: http.StatusOK, Destination: env.Destination}
	if h.destination != "" && env.Destination != h.destination {
		h.log.Warn("webhook: for another destination", "destination", stepcast.Quote(env.Destination), "want", h.destination)
		rep.Status, rep.Err = http.StatusBadRequest, fmt.Errorf("%w: %s, not %s", ErrDestination, stepcast.Quote(env.Destination), h.destination)
		return rep
	}
	raws := *env.Events
	if len(raws) == 0 {
		return rep // LINE's connectivity check
	}
	rep.Events = make([]WebhookEvent, len(raws))
	var events []stepcast.Event
	var at []int // the position in rep.Events of each of events
	for i, raw := range raws {
		d := decodeEvent(raw)
		rep.Events[i] = WebhookEvent{Type: d.Type, ID: d.ID, Note: d.Note}
		if !d.Ingest {
			level := slog.LevelDebug // a group's, the channel's: expected
			if d.Malformed {
				level = slog.LevelWarn
			}
			h.log.Log(r.Context(), level, "webhook: event left out", "event", stepcast.Quote(d.ID), "type", stepcast.Quote(d.Type), "why", d.Note)
			continue
		}
		rep.Events[i].Event = d.Event
		events = append(events, d.Event)
		at = append(at, i)
	}
	if len(events) == 0 {
		return rep
	}
	// Ingested whatever LINE does meanwhile: a request it gave up on may
	// never come again (redelivery is a channel setting).
	ctx := context.WithoutCancel(r.Context())
	recs, err := h.rec.Record(ctx, events...)
	if len(recs) != len(events) {
		if err == nil {
			err = fmt.Errorf("the Recorder returned %d results for %d events", len(recs), len(events))
		}
		h.log.Error("webhook: events not made durable", "events", len(events), "err", err)
		rep.Status, rep.Err = http.StatusInternalServerError, fmt.Errorf("%w: %w", ErrNotDurable, err)
		return rep
	}
	lost := 0
	for j, rec := range recs {
		i := at[j]
		rep.Events[i].Ingested, rep.Events[i].Recorded = true, rec
		switch {
		case rec.Lost:
			lost++
		case rec.Err != nil:
			h.log.Warn("webhook: event refused", "event", stepcast.Quote(rep.Events[i].ID), "type", stepcast.Quote(rep.Events[i].Type), "class", refusal(rec.Err))
		}
	}
	if err == nil && lost > 0 { // a Recorder breaking its contract: still, LINE must send them again
		err = fmt.Errorf("the Recorder lost %d events without an error", lost)
	}
	if err != nil {
		h.log.Error("webhook: events not made durable; answering 500 for LINE to redeliver", "events", len(events), "lost", lost, "err", err)
		rep.Status, rep.Err = http.StatusInternalServerError, fmt.Errorf("%w: %w", ErrNotDurable, err)
	}
	return rep
}

// signed reports whether sig is the body's HMAC-SHA256 under the channel
// secret, in constant time.
func (h *Webhook) signed(body, sig []byte) bool {
	mac := hmac.New(sha256.New, h.secret)
	mac.Write(body)
	return hmac.Equal(mac.Sum(nil), sig)
}

// refusal is the class of an event's refusal, for the log: the error's
// text may quote what the friend wrote (a value that does not fit a
// field), its class never does. WebhookReport keeps the error itself.
func refusal(err error) string {
	if errors.Is(err, stepcast.ErrInvalid) {
		return "invalid"
	}
	return "refused"
}

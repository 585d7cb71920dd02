package main

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/lineadapter"
	"github.com/stepcast/stepcast/lineadapter/linetest"
)

// lineSide is where the quickstart's deliveries go: lineadapter's Sender —
// LINE's official Go SDK over real HTTP — onto linetest, a fake Messaging
// API that holds every request to LINE's rules and, given the
// specifications, to LINE's OpenAPI schemas. With -line-token the test
// friend's deliveries go to api.line.me instead, through a second Sender.
type lineSide struct {
	srv     *linetest.Server
	checked bool   // requests were validated against LINE's OpenAPI specifications
	why     string // why not, when they were not
	sender  *routeSender
	quota   lineadapter.Quota // the real channel's, with -line-token
}

// newLINE starts linetest on the simulated clock, loading LINE's
// specifications from specDir when it is set; token and to, when set,
// send the test friend's deliveries to LINE for real.
func newLINE(specDir string, now func() time.Time, token, realEndpoint string, to stepcast.UserID) (*lineSide, error) {
	l := &lineSide{}
	// The salon is on LINE's Light plan: 5,000 messages a month.
	opts := []linetest.Option{linetest.WithClock(now), linetest.WithMonthlyQuota(lightPlan)}
	if specDir == "" {
		l.why = "requests were not schema-checked: set " + linetest.EnvSpecDir + " to a checkout of github.com/line/line-openapi to check each one against LINE's OpenAPI specifications"
	} else {
		specs, err := linetest.LoadSpecs(specDir)
		if err != nil {
			return nil, fmt.Errorf("%s=%s: %w", linetest.EnvSpecDir, specDir, err)
		}
		opts = append(opts, linetest.WithSpecs(specs))
		l.checked = true
	}
	l.srv = linetest.NewServer(opts...)
	// linetest answers at once: without LINE's rate limits the run is
	// bound by our own CPU, not by a token bucket.
	rates := lineadapter.PublishedRates()
	for e := range rates {
		rates[e] = lineadapter.Rate{Limit: rate.Inf, Burst: 1}
	}
	fake, err := lineadapter.NewSender(linetest.DefaultToken, lineadapter.SenderConfig{Endpoint: l.srv.URL, Rates: rates})
	if err != nil {
		l.srv.Close()
		return nil, err
	}
	l.sender = &routeSender{fake: fake, to: to, now: now}
	if token != "" {
		// api.line.me ("" is LINE's), at LINE's published rates.
		if l.sender.real, err = lineadapter.NewSender(token, lineadapter.SenderConfig{Endpoint: realEndpoint}); err != nil {
			l.srv.Close()
			return nil, err
		}
		// Reading the quota checks the token before the story begins.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if l.quota, err = l.sender.real.Quota(ctx); err != nil {
			l.srv.Close()
			return nil, fmt.Errorf("reading the channel's message quota from LINE: %w", err)
		}
	}
	return l, nil
}

func (l *lineSide) Close() { l.srv.Close() }

// routeSender sends every delivery to linetest, but the test friend's
// share of one to LINE when a real Sender is set: only they receive
// anything for real, however many synthetic friends the story has.
type routeSender struct {
	fake, real *lineadapter.Sender
	to         stepcast.UserID

	now func() time.Time // the story's clock

	mu       sync.Mutex
	realSent []sent // what went to LINE for real
}

// sent is a request LINE accepted: when, by the story's clock, with the
// texts of its messages, and for the real ones what it was.
type sent struct {
	at    time.Time
	texts []string
	what  string
}

func (r *routeSender) Send(ctx context.Context, d stepcast.Delivery, retryKey string) (string, error) {
	if r.real == nil {
		return r.fake.Send(ctx, d, retryKey)
	}
	i := slices.IndexFunc(d.To, func(x stepcast.Recipient) bool { return x.User == r.to })
	if i < 0 {
		return r.fake.Send(ctx, d, retryKey)
	}
	mine := d
	mine.To = []stepcast.Recipient{d.To[i]}
	key := retryKey
	if len(d.To) > 1 && key != "" {
		// The test friend's copy of a multicast is a request of its own,
		// so it needs a retry key of its own — fixed by the delivery's,
		// so that a retry of the delivery repeats it under the same key
		// and LINE's 409 says it went already.
		key = derivedKey(retryKey)
	}
	if mine.Kind == stepcast.DeliveryMulticast {
		mine.Kind = stepcast.DeliveryPush
	}
	id, err := r.real.Send(ctx, mine, key)
	if err != nil {
		return "", fmt.Errorf("to %s on LINE: %w", r.to, err)
	}
	r.mu.Lock()
	if !slices.ContainsFunc(r.realSent, func(s sent) bool { return strings.HasSuffix(s.what, id) }) { // not a retry LINE answered 409
		r.realSent = append(r.realSent, sent{at: r.now(), texts: messageTexts(d.Messages), what: fmt.Sprintf("%s (%s) %d message(s), request %s", mine.Kind, d.Cause.Key(), len(d.Messages), id)})
	}
	r.mu.Unlock()
	if len(d.To) == 1 {
		return id, nil
	}
	rest := d
	rest.To = slices.Delete(slices.Clone(d.To), i, i+1)
	return r.fake.Send(ctx, rest, retryKey)
}

// lightPlan is the messages a month of LINE's Light plan, the salon's.
const lightPlan = 5000

// MessageQuota reads the story's account's quota, linetest's: what a
// broadcast's Preview prices a send against (engine.QuotaReader).
func (r *routeSender) MessageQuota(ctx context.Context) (limit, used int64, err error) {
	return r.fake.MessageQuota(ctx)
}

// derivedKey is a UUID (version 5 in form: SHA-1 of the key) standing
// for the test friend's share of the delivery whose retry key is key.
func derivedKey(key string) string {
	h := sha1.Sum([]byte("quickstart/test-friend\x00" + key))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// report prints what LINE received: requests by kind and status, the
// friends reached, the messages counted against the quota, and whether
// every request passed LINE's rules and specifications.
func (l *lineSide) report(w io.Writer) error {
	reqs := l.srv.Requests()
	type row struct {
		kind                                 linetest.Endpoint
		requests, accepted, reached, counted int
	}
	var kinds []*row
	by := map[linetest.Endpoint]*row{}
	kind := func(e linetest.Endpoint) *row {
		r := by[e]
		if r == nil {
			r = &row{kind: e}
			by[e] = r
			kinds = append(kinds, r)
		}
		return r
	}
	for _, r := range reqs {
		k := kind(r.Endpoint)
		k.requests++
		if r.Accepted {
			k.accepted++
		}
	}
	reached := map[string]bool{}
	objects := 0
	for _, s := range l.srv.Sends() {
		k := kind(s.Endpoint)
		k.reached += len(s.To)
		k.counted += s.Counted
		for _, u := range s.To {
			reached[u] = true
		}
		objects += len(s.Messages) * len(s.To)
	}
	fmt.Fprintf(w, "LINE (linetest, over HTTP from LINE's Go SDK) received %d requests:\n", len(reqs))
	t := newTable("  ", "lrrrr")
	t.Row("endpoint", "requests", "accepted", "recipients", "messages counted")
	for _, k := range kinds {
		t.Row(k.kind, k.requests, k.accepted, k.reached, k.counted)
	}
	if err := t.Write(w); err != nil {
		return err
	}
	if by[linetest.Quota] != nil {
		fmt.Fprintln(w, "(the quota reads: the dispatcher's quota guard before it sends, and the broadcast's preview)")
	}
	fmt.Fprintf(w, "%d friends reached, %d message objects delivered; %d messages counted against the month's quota\n", len(reached), objects, l.srv.Consumption())
	fmt.Fprintf(w, "(LINE counts one per recipient of a request, up to five message objects in it; replies are free)\n")
	vs := l.srv.Violations()
	switch {
	case len(vs) > 0:
		for _, v := range vs[:min(len(vs), 5)] {
			fmt.Fprintf(w, "violation: %s\n", v)
		}
		return fmt.Errorf("LINE would have refused %d requests", len(vs))
	case l.checked:
		fmt.Fprintf(w, "Every request kept LINE's rules and matched LINE's OpenAPI specifications.\n")
	default:
		fmt.Fprintf(w, "Every request kept LINE's rules; %s.\n", l.why)
	}
	if l.sender.real != nil {
		l.sender.mu.Lock()
		defer l.sender.mu.Unlock()
		fmt.Fprintf(w, "Sent for real to %s through api.line.me: %d requests\n", l.sender.to, len(l.sender.realSent))
		for _, s := range l.sender.realSent {
			fmt.Fprintf(w, "  %s\n", s.what)
		}
	}
	return nil
}

// errNoRecipient is returned for -line-token without -to.
var errNoRecipient = errors.New("-line-token needs -to, the userId (U…) of the one friend who is to receive the messages")

// errNoToken is returned for -to with neither -line-token nor
// $LINE_CHANNEL_ACCESS_TOKEN: the run would send nothing for real, and
// say nothing of it.
var errNoToken = errors.New("-to needs a channel access token, -line-token TOKEN or $LINE_CHANNEL_ACCESS_TOKEN: without one nothing is sent to the -to friend")

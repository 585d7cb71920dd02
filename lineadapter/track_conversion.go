package lineadapter

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/stepcast/stepcast"
)

// Conversion is what a friend converted: a purchase, a booking.
type Conversion struct {
	// Name is the conversion's name: the event's Name, what
	// converted("name") asks for.
	Name string
	// Amount is its revenue, finite; 0 for none.
	Amount float64
	// Order is the order or booking ID, if there is one: the conversion is
	// then recorded once per friend, name and order, however often it is
	// reported (a thank-you page reloaded) and whichever of the friend's
	// tokens reports it. The friend is part of the key so that a report
	// with one friend's token cannot use up another friend's order (order
	// IDs are often guessable: "B-1002" follows "B-1001"). Without an
	// order, reports with one token count once per
	// LinkerConfig.DedupWindow.
	Order string
}

// The beacon's parameters, in the query or a form body.
const (
	ParamToken  = "t"      // the token
	ParamName   = "name"   // Conversion.Name
	ParamAmount = "amount" // Conversion.Amount: "1200", "1,200", "¥1,200", "1200.50", "１２００円" (see ConversionHandler)
	ParamOrder  = "order"  // Conversion.Order
)

// Conversion verifies token (as Verify does) and returns the conversion
// event it makes now, for the host to record: Kind conversion, Name and
// Amount from conv (any finite amount: a refund's may be negative), the
// token's friend, Data with DataLink, DataOrder and, for a send in an
// experiment, DataExperiment and DataVariant. Its ID is
// "conversion/<name>/friend/<friend>/order/<order>" (the name
// path-escaped), or with no order one per token and
// LinkerConfig.DedupWindow.
//
// It is for the host's own servers (a checkout that kept the token from
// the landing page's URL), which know the real amount; the beacon takes
// the amount from the browser. Each conversion name has one source: a
// name listed in LinkerConfig.Conversions is the beacon's, and Conversion
// refuses it. Were both to report one name, whichever report arrived
// first would be the one recorded (the event log keeps an ID once), so a
// page's figure could stand in place of the host's, and rules on the
// conversion could run twice if the IDs differed.
//
// The error is Verify's, or wraps stepcast.ErrInvalid for a name that is
// the beacon's, a name or order that is not valid text, an ID beyond
// stepcast.MaxIDLen, or an amount that is not finite.
func (l *Linker) Conversion(token string, conv Conversion) (stepcast.Event, error) {
	now := l.now()
	c, err := l.verify(token, now)
	if err != nil {
		return stepcast.Event{}, err
	}
	if l.conversions[conv.Name] {
		return stepcast.Event{}, fmt.Errorf("%w: conversion %s of friend %d: the name is the beacon's (LinkerConfig.Conversions); report each name from one source, the host's servers or the beacon",
			stepcast.ErrInvalid, stepcast.Quote(conv.Name), c.Friend)
	}
	return l.conversionEvent(c, conv, now, "")
}

// conversionEvent is the conversion c makes at at; unread, if not empty,
// is an amount the beacon could not read, for DataUnreadAmount.
func (l *Linker) conversionEvent(c Claims, conv Conversion, at time.Time, unread string) (stepcast.Event, error) {
	bad := func(format string, args ...any) (stepcast.Event, error) {
		return stepcast.Event{}, fmt.Errorf("%w: conversion %s of friend %d: %s", stepcast.ErrInvalid, stepcast.Quote(conv.Name), c.Friend, fmt.Sprintf(format, args...))
	}
	if err := stepcast.CheckName("the name", conv.Name); err != nil {
		return bad("%s", trimInvalid(err))
	}
	if err := stepcast.CheckText("the order", conv.Order, stepcast.MaxIDLen); err != nil {
		return bad("%s", trimInvalid(err))
	}
	if math.IsNaN(conv.Amount) || math.IsInf(conv.Amount, 0) {
		return bad("amount %v is not finite", conv.Amount)
	}
	// The name is escaped so that it holds no "/": the parts of the ID
	// cannot be confused, whatever the name and the order hold.
	prefix := "conversion/" + url.PathEscape(conv.Name) + "/"
	id := prefix + "friend/" + strconv.FormatUint(uint64(c.Friend), 10) + "/order/" + conv.Order
	if conv.Order == "" {
		id = l.windowID(prefix+"token/", c, at)
	}
	if len(id) > stepcast.MaxIDLen {
		return bad("the name and the order make an event ID of %d bytes; the limit is %d", len(id), stepcast.MaxIDLen)
	}
	data := make(map[string]string, 5)
	data[DataLink] = c.Link
	if conv.Order != "" {
		data[DataOrder] = conv.Order
	}
	if unread != "" {
		data[DataUnreadAmount] = unread
	}
	if c.Experiment != "" {
		data[DataExperiment] = c.Experiment
		data[DataVariant] = c.Variant
	}
	return stepcast.Event{
		ID:     id,
		Friend: c.Friend,
		Kind:   stepcast.EventConversion,
		Name:   conv.Name,
		Amount: conv.Amount,
		Data:   data,
		At:     at,
	}, nil
}

// maxBeaconBody bounds a beacon's form body, in bytes.
const maxBeaconBody = 8 << 10

// transparentGIF is a 1×1 transparent GIF, the beacon's pixel.
var transparentGIF = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

// ConversionHandler returns the conversion beacon: GET (an <img> pixel) or
// POST (a form, navigator.sendBeacon with URLSearchParams or FormData)
// with ParamToken, ParamName and optionally ParamAmount and ParamOrder, in
// the query or an application/x-www-form-urlencoded or multipart/form-data
// body of at most 8 KiB.
//
//   - A valid token and a name listed in LinkerConfig.Conversions: the
//     conversion (see Linker.Conversion; its ID is the same) is recorded
//     through rec; the answer is the pixel (200, image/gif) to a GET, 204
//     No Content to a POST.
//   - The amount is read as a shop's page writes it: decimal digits,
//     plain or grouped by thousands with commas, optionally "." and
//     decimals, with a currency sign before (¥, ￥, $) or "円" after,
//     surrounding spaces, full-width digits: "1200", "1,200", "¥1,200",
//     "1200.50", "１，２００円". At most MaxAmountDigits digits either side
//     of the point; no sign, exponent or other notation ("-5", "1e3",
//     "0x1p10", "1_000", "NaN"). An amount that cannot be read does not
//     lose the conversion: it is recorded with Amount 0 and the text as
//     sent in Data[DataUnreadAmount], for the host to look into.
//   - Forged, tampered, truncated or of an unknown link: 404; expired:
//     410; a name not listed, a bad order or body: 400. Nothing is
//     recorded.
//   - Recording failed or timed out: 503, logged.
//   - HEAD and crawlers (IsCrawler) get the answer of a success, with
//     nothing recorded; other methods 405.
//
// The beacon is only as trustworthy as the page that calls it: anyone who
// holds a token can report a conversion with it, at any amount, for the
// token's friend — and only for that friend: an order ID counts once per
// friend, so a report with one token cannot spend another friend's order.
// Report revenue from the host's servers with Linker.Conversion, under a
// name of its own, where it matters.
// ConversionHandler panics if rec is nil.
func (l *Linker) ConversionHandler(rec Recorder) http.Handler {
	if rec == nil {
		panic("lineadapter: ConversionHandler with a nil Recorder")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.serveConversion(w, r, rec)
	})
}

func (l *Linker) serveConversion(w http.ResponseWriter, r *http.Request, rec Recorder) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost:
	default:
		h.Set("Allow", "GET, HEAD, POST")
		plainPage(w, http.StatusMethodNotAllowed, pageMethod)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBeaconBody)
	var err error
	if ct := r.Header.Get("Content-Type"); strings.HasPrefix(strings.ToLower(ct), "multipart/form-data") {
		// navigator.sendBeacon(url, new FormData(…)) sends this.
		err = r.ParseMultipartForm(maxBeaconBody)
		if r.MultipartForm != nil {
			defer r.MultipartForm.RemoveAll()
		}
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		plainPage(w, http.StatusBadRequest, pageBad)
		return
	}
	now := l.now()
	c, err := l.verify(r.Form.Get(ParamToken), now)
	switch {
	case errors.Is(err, ErrExpiredToken):
		plainPage(w, http.StatusGone, pageExpired)
		return
	case err != nil:
		plainPage(w, http.StatusNotFound, pageNotFound)
		return
	}
	conv := Conversion{Name: r.Form.Get(ParamName), Order: r.Form.Get(ParamOrder)}
	if !l.conversions[conv.Name] {
		plainPage(w, http.StatusBadRequest, pageBad)
		return
	}
	var unread string
	if s := r.Form.Get(ParamAmount); s != "" {
		if a, ok := parseAmount(s); ok {
			conv.Amount = a
		} else {
			unread = unreadAmount(s)
		}
	}
	ev, err := l.conversionEvent(c, conv, now, unread)
	if err != nil {
		plainPage(w, http.StatusBadRequest, pageBad)
		return
	}
	if r.Method != http.MethodHead && !IsCrawler(r.UserAgent()) {
		if err := l.record(r.Context(), rec, ev); err != nil {
			plainPage(w, http.StatusServiceUnavailable, pageFailed)
			return
		}
	}
	if r.Method == http.MethodPost {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h.Set("Content-Type", "image/gif")
	h.Set("Content-Length", strconv.Itoa(len(transparentGIF)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(transparentGIF)
	}
}

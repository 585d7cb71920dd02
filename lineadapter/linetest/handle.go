package linetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"time"
)

// handle does an endpoint's work: the retry key, pacing, the schema and
// LINE's rules, the quota, then the effect and LINE's answer.
func (s *Server) handle(ctx context.Context, r *http.Request, rec *Request, params map[string]string, requestID string) *answer {
	now := s.cfg.now()
	ep := rec.Endpoint

	// The schema needs no lock: specs are read-only once loaded.
	var schemaDetails []Detail
	if s.cfg.specs != nil {
		for _, e := range s.cfg.specs.validate(ctx, r, rec.Body) {
			s.violate(rec, "schema", e.Property, e.Message)
			schemaDetails = append(schemaDetails, e)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()

	// An empty key is no key: the official Go SDK sends the header empty on
	// every push made without one, and LINE takes those pushes.
	if key := rec.RetryKey; key != "" {
		switch {
		case !ep.takesRetryKey():
			// LINE ignores it; a client that sends one here misunderstands
			// which calls are idempotent.
			s.violateLocked(rec, "line", "X-Line-Retry-Key", "LINE takes a retry key only on push, multicast, narrowcast and broadcast")
		case !retryKeyRE.MatchString(key):
			s.violateLocked(rec, "line", "X-Line-Retry-Key", quote(key)+" is not a UUID")
			return ptr(errorAnswer(http.StatusBadRequest, "The retry key is invalid", Detail{Property: "X-Line-Retry-Key", Message: "must be a UUID"}))
		default:
			if k, ok := s.retryKeys[key]; ok && now.Sub(k.at) < retryKeyTTL {
				if !bytes.Equal(k.body, rec.Body) || k.endpoint != ep {
					s.violateLocked(rec, "line", "X-Line-Retry-Key", "reused for a different request (LINE requires a retried request to be identical)")
				}
				body := ErrorBody{Message: msgRetryKeyUsed}
				var prior struct {
					SentMessages []SentMessage `json:"sentMessages"`
				}
				if json.Unmarshal(k.answer, &prior) == nil {
					body.SentMessages = prior.SentMessages
				}
				return &answer{status: http.StatusConflict, body: body, header: map[string]string{"X-Line-Accepted-Request-Id": k.requestID}}
			}
		}
	}

	if s.cfg.pacing && !s.pace(ep, now) {
		return ptr(errorAnswer(http.StatusTooManyRequests, msgRateLimit))
	}

	var m map[string]json.RawMessage
	if hasBody(ep) {
		ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || ct != "application/json" {
			s.violateLocked(rec, "line", "Content-Type", quote(r.Header.Get("Content-Type"))+" is not application/json")
			return ptr(errorAnswer(http.StatusUnsupportedMediaType, "Unsupported Media Type"))
		}
		if m, err = fields(rec.Body); err != nil {
			s.violateLocked(rec, "line", "", "the body is not a JSON object: "+err.Error())
			return ptr(errorAnswer(http.StatusBadRequest, unparsable(rec.Body, err)))
		}
	}

	if len(schemaDetails) > 0 && !s.cfg.reportOnly {
		// Refused before the server's own rules: LINE validates the body
		// before it acts on it.
		return ptr(errorAnswer(http.StatusBadRequest, fmt.Sprintf("The request body has %d error(s)", len(schemaDetails)), schemaDetails...))
	}
	var c checker
	a := s.serve(&c, rec, m, params, r, now, requestID)
	if !c.ok() {
		for _, d := range c.details {
			s.violateLocked(rec, "line", d.Property, d.Message)
		}
		return ptr(errorAnswer(http.StatusBadRequest, fmt.Sprintf("The request body has %d error(s)", len(c.details)), c.details...))
	}
	if a.status/100 == 2 {
		rec.Accepted = true
		if key := rec.RetryKey; key != "" && ep.takesRetryKey() {
			out, _ := json.Marshal(a.body)
			s.retryKeys[key] = acceptedKey{requestID: requestID, at: now, endpoint: ep, body: rec.Body, answer: out}
		}
	}
	return &a
}

// retryKeyTTL is how long LINE honours a retry key after the first request
// (LINE's "Retrying a failed API request": 24 hours).
const retryKeyTTL = 24 * time.Hour

func ptr[T any](v T) *T { return &v }

func hasBody(ep Endpoint) bool {
	switch ep {
	case Push, Multicast, Narrowcast, Broadcast, Reply, BulkLinkRichMenu, BulkUnlinkRichMenu, CreateAudienceUpload, AddAudienceUpload:
		return true
	}
	return false
}

// serve checks the endpoint's body with c and, if it passes, does the work.
// Called with s.mu held. When c holds details afterwards, the answer is
// ignored and nothing must have changed.
func (s *Server) serve(c *checker, rec *Request, m map[string]json.RawMessage, params map[string]string, r *http.Request, now time.Time, requestID string) answer {
	switch rec.Endpoint {
	case Push:
		var to string
		if json.Unmarshal(m["to"], &to) != nil || to == "" {
			c.fail("to", "must be specified")
		} else if !toIDRE.MatchString(to) {
			c.fail("to", "%s is not a user, group or room ID", quote(to))
		}
		msgs := c.messages(m["messages"])
		c.aggregation(m["customAggregationUnits"])
		if !c.ok() {
			return answer{}
		}
		if s.hasFriends() && to[0] == 'U' {
			if _, ok := s.friends[to]; !ok {
				s.violateLocked(rec, "line", "to", "not a friend of the account (see AddFriends)")
				return errorAnswer(http.StatusBadRequest, "Failed to send messages")
			}
		}
		return s.send(rec, requestID, now, msgs, []string{to}, true)

	case Multicast:
		to := c.userIDs("to", m["to"], maxMulticastTo)
		msgs := c.messages(m["messages"])
		c.aggregation(m["customAggregationUnits"])
		if !c.ok() {
			return answer{}
		}
		return s.send(rec, requestID, now, msgs, dedupe(to), true)

	case Broadcast:
		msgs := c.messages(m["messages"])
		if !c.ok() {
			return answer{}
		}
		return s.send(rec, requestID, now, msgs, s.friendList(), true)

	case Narrowcast:
		return s.narrowcast(c, rec, m, now, requestID)

	case Reply:
		var token string
		if json.Unmarshal(m["replyToken"], &token) != nil || token == "" {
			c.fail("replyToken", "must be specified")
		}
		msgs := c.messages(m["messages"])
		if !c.ok() {
			return answer{}
		}
		t, ok := s.tokens[token]
		why := ""
		switch {
		case !ok:
			why = "the server issued no such reply token (Server.ReplyToken issues them)"
		case t.used:
			why = "the reply token was used already (a reply token is single-use)"
		case !now.Before(t.expires):
			why = "the reply token expired (a reply token is valid for a minute)"
		}
		if why != "" {
			s.violateLocked(rec, "line", "replyToken", why)
			return errorAnswer(http.StatusBadRequest, "Invalid reply token")
		}
		t.used = true
		s.tokens[token] = t
		return s.send(rec, requestID, now, msgs, []string{t.user}, false)

	case NarrowcastProgress:
		a := s.progress(c, r.URL.Query().Get("requestId"), now)
		if a.status == http.StatusNotFound {
			s.violateLocked(rec, "line", "requestId", "no narrowcast was accepted with this request ID")
		}
		return a

	case Quota:
		if s.cfg.quota <= 0 {
			return answer{status: http.StatusOK, body: map[string]any{"type": "none"}}
		}
		return answer{status: http.StatusOK, body: map[string]any{"type": "limited", "value": s.cfg.quota}}

	case QuotaConsumption:
		s.rollMonth(now)
		return answer{status: http.StatusOK, body: map[string]any{"totalUsage": s.consumed}}

	case Profile:
		id := params["userId"]
		if !userIDRE.MatchString(id) {
			return errorAnswer(http.StatusBadRequest, "The value for the 'userId' parameter is invalid")
		}
		p, ok := s.profiles[id]
		if !ok {
			if _, friend := s.friends[id]; s.hasFriends() && !friend {
				return errorAnswer(http.StatusNotFound, msgNotFound)
			}
			p = UserProfile{UserID: id, DisplayName: "LINE user " + id[1:7], Language: "ja"}
		}
		return answer{status: http.StatusOK, body: p}

	case LinkRichMenu:
		user, menu := params["userId"], params["richMenuId"]
		if !userIDRE.MatchString(user) {
			c.fail("userId", "%s is not a user ID", quote(user))
		}
		if !richMenuRE.MatchString(menu) {
			c.fail("richMenuId", "%s is not a rich menu ID", quote(menu))
		}
		if !c.ok() {
			return answer{}
		}
		s.richMenus[user] = menu
		return answer{status: http.StatusOK}

	case UnlinkRichMenu:
		user := params["userId"]
		if !userIDRE.MatchString(user) {
			c.fail("userId", "%s is not a user ID", quote(user))
			return answer{}
		}
		delete(s.richMenus, user)
		return answer{status: http.StatusOK}

	case GetUserRichMenu:
		user := params["userId"]
		if !userIDRE.MatchString(user) {
			c.fail("userId", "%s is not a user ID", quote(user))
			return answer{}
		}
		menu, ok := s.richMenus[user]
		if !ok {
			return errorAnswer(http.StatusNotFound, "the user has no richmenu")
		}
		return answer{status: http.StatusOK, body: map[string]string{"richMenuId": menu}}

	case BulkLinkRichMenu, BulkUnlinkRichMenu:
		users := c.userIDs("userIds", m["userIds"], maxMulticastTo)
		var menu string
		if rec.Endpoint == BulkLinkRichMenu {
			if json.Unmarshal(m["richMenuId"], &menu) != nil || menu == "" {
				c.fail("richMenuId", "must be specified")
			} else if !richMenuRE.MatchString(menu) {
				c.fail("richMenuId", "%s is not a rich menu ID", quote(menu))
			}
		}
		if !c.ok() {
			return answer{}
		}
		for _, u := range users {
			if menu == "" {
				delete(s.richMenus, u)
			} else {
				s.richMenus[u] = menu
			}
		}
		return answer{status: http.StatusAccepted}

	case SetDefaultRichMenu:
		menu := params["richMenuId"]
		if !richMenuRE.MatchString(menu) {
			c.fail("richMenuId", "%s is not a rich menu ID", quote(menu))
			return answer{}
		}
		s.defaultRM = menu
		return answer{status: http.StatusOK}

	case GetDefaultRichMenu:
		if s.defaultRM == "" {
			return errorAnswer(http.StatusNotFound, "no default richmenu")
		}
		return answer{status: http.StatusOK, body: map[string]string{"richMenuId": s.defaultRM}}

	case CancelDefaultRichMenu:
		s.defaultRM = ""
		return answer{status: http.StatusOK}

	case CreateAudienceUpload, AddAudienceUpload:
		return s.audienceUpload(c, rec, m, now)
	}
	return errorAnswer(http.StatusNotFound, msgNotFound)
}

// send counts the quota, records the send and answers LINE's success: push
// and reply list their sent messages, multicast and broadcast answer {}.
func (s *Server) send(rec *Request, requestID string, now time.Time, msgs []json.RawMessage, to []string, counts bool) answer {
	reached := make([]string, 0, len(to))
	for _, u := range to {
		if !s.friends[u] { // not blocked
			reached = append(reached, u)
		}
	}
	counted := 0
	if counts {
		// LINE counts one message per recipient reached, however many
		// message objects (up to 5) the request holds; blocked friends and
		// replies are not counted.
		counted = len(reached)
		if !s.charge(now, counted) {
			return errorAnswer(http.StatusTooManyRequests, msgMonthlyLimit)
		}
	}
	s.sends = append(s.sends, Send{
		Seq: rec.Seq, Time: now, Endpoint: rec.Endpoint, RequestID: requestID, RetryKey: rec.RetryKey,
		To: reached, Messages: msgs, Counted: counted,
	})
	switch rec.Endpoint {
	case Push, Reply:
		sent := make([]SentMessage, len(msgs))
		for i := range msgs {
			s.nextID++
			id := strconv.FormatInt(s.nextID, 10)
			sent[i] = SentMessage{ID: id, QuoteToken: "q" + id}
		}
		return answer{status: http.StatusOK, body: map[string]any{"sentMessages": sent}}
	case Narrowcast:
		return answer{status: http.StatusAccepted}
	}
	return answer{status: http.StatusOK}
}

func dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// unparsable is LINE's message for a body that is not JSON: "The request
// body could not be parsed as JSON (line: 1, column: 7)"; for JSON that is
// not an object, the server's own wording.
func unparsable(body []byte, err error) string {
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) || len(bytes.TrimSpace(body)) > 0 {
			return "The request body must be a JSON object"
		}
		se = &json.SyntaxError{Offset: 0}
	}
	// The offset counts the offending byte; at the end of the input it is
	// the length, and the column is the one after the last byte.
	pos := len(body)
	if off := int(se.Offset); off > 0 && off < len(body) {
		pos = off - 1
	}
	line := 1 + bytes.Count(body[:pos], []byte("\n"))
	col := pos - bytes.LastIndexByte(body[:pos], '\n')
	return fmt.Sprintf("The request body could not be parsed as JSON (line: %d, column: %d)", line, col)
}

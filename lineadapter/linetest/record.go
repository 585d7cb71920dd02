package linetest

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"
)

// Endpoint names one Messaging API operation the server serves, by the
// operationId of LINE's OpenAPI specification (messaging-api.yml,
// manage-audience.yml).
type Endpoint string

// The endpoints the server serves. Any other path is answered 404, as LINE
// answers it, and recorded as a violation.
const (
	Push                  Endpoint = "pushMessage"                // POST /v2/bot/message/push
	Multicast             Endpoint = "multicast"                  // POST /v2/bot/message/multicast
	Narrowcast            Endpoint = "narrowcast"                 // POST /v2/bot/message/narrowcast
	NarrowcastProgress    Endpoint = "getNarrowcastProgress"      // GET /v2/bot/message/progress/narrowcast?requestId=
	Broadcast             Endpoint = "broadcast"                  // POST /v2/bot/message/broadcast
	Reply                 Endpoint = "replyMessage"               // POST /v2/bot/message/reply
	Quota                 Endpoint = "getMessageQuota"            // GET /v2/bot/message/quota
	QuotaConsumption      Endpoint = "getMessageQuotaConsumption" // GET /v2/bot/message/quota/consumption
	Profile               Endpoint = "getProfile"                 // GET /v2/bot/profile/{userId}
	LinkRichMenu          Endpoint = "linkRichMenuIdToUser"       // POST /v2/bot/user/{userId}/richmenu/{richMenuId}
	UnlinkRichMenu        Endpoint = "unlinkRichMenuIdFromUser"   // DELETE /v2/bot/user/{userId}/richmenu
	GetUserRichMenu       Endpoint = "getRichMenuIdOfUser"        // GET /v2/bot/user/{userId}/richmenu
	BulkLinkRichMenu      Endpoint = "linkRichMenuIdToUsers"      // POST /v2/bot/richmenu/bulk/link
	BulkUnlinkRichMenu    Endpoint = "unlinkRichMenuIdFromUsers"  // POST /v2/bot/richmenu/bulk/unlink
	SetDefaultRichMenu    Endpoint = "setDefaultRichMenu"         // POST /v2/bot/user/all/richmenu/{richMenuId}
	GetDefaultRichMenu    Endpoint = "getDefaultRichMenuId"       // GET /v2/bot/user/all/richmenu
	CancelDefaultRichMenu Endpoint = "cancelDefaultRichMenu"      // DELETE /v2/bot/user/all/richmenu
	CreateAudienceUpload  Endpoint = "createAudienceGroup"        // POST /v2/bot/audienceGroup/upload
	AddAudienceUpload     Endpoint = "addAudienceToAudienceGroup" // PUT /v2/bot/audienceGroup/upload
)

// takesRetryKey reports whether LINE honours X-Line-Retry-Key on the
// endpoint: push, multicast, narrowcast and broadcast only (LINE's
// "Retrying a failed API request").
func (e Endpoint) takesRetryKey() bool {
	switch e {
	case Push, Multicast, Narrowcast, Broadcast:
		return true
	}
	return false
}

// Request is one request the server received, with what it answered.
type Request struct {
	Seq      int           // 1 for the first request the server received
	Time     time.Time     // when it arrived, by the server's clock
	Endpoint Endpoint      // "" when the path or method is none of the server's
	Method   string        // GET, POST, …
	Path     string        // the URL path, e.g. /v2/bot/message/push
	Query    string        // the raw query, without '?'
	Header   http.Header   // the request's headers, as received
	RetryKey string        // the X-Line-Retry-Key header, "" without one
	Body     []byte        // the body as received
	Status   int           // the status answered; 0 when the connection was dropped without an answer
	ID       string        // the X-Line-Request-Id answered ("" when none was)
	Answer   []byte        // the body answered
	Fault    string        // the fault injected into this request, "" for none
	Accepted bool          // LINE would have acted on it: sent, linked, uploaded (also when the answer was then dropped)
	Took     time.Duration // from arrival to the answer (or the drop), delays included
}

// Violation is a request that broke one of LINE's rules or did not match
// LINE's OpenAPI specification.
type Violation struct {
	Seq      int      // the Request's Seq
	Endpoint Endpoint // "" when the path or method is none of the server's
	Method   string
	Path     string
	Source   string // "line" for the server's own rules, "schema" for LINE's OpenAPI specification
	Field    string // the property or header at fault, "" when none applies
	Message  string // what was wrong
}

func (v Violation) String() string {
	s := "#" + itoa(v.Seq) + " " + v.Method + " " + v.Path + ": "
	if v.Field != "" {
		s += v.Field + ": "
	}
	return s + v.Message + " (" + v.Source + ")"
}

// Send is one accepted request that sends messages.
type Send struct {
	Seq       int               // the Request's Seq
	Time      time.Time         // when it was accepted
	Endpoint  Endpoint          // Push, Multicast, Narrowcast, Broadcast or Reply
	RequestID string            // the X-Line-Request-Id of the accepting answer
	RetryKey  string            // "" without one
	To        []string          // the userIds it reached (a reply: the token's user, when the server issued the token)
	Messages  []json.RawMessage // the message objects, as sent
	Counted   int               // what it added to the month's quota consumption (recipients; 0 for a reply)
}

// Requests returns every request received so far, in order of arrival,
// including those still being answered (Status 0 until they are).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = *r
		out[i].Header = r.Header.Clone()
	}
	return out
}

// Violations returns every violation recorded so far, in order.
func (s *Server) Violations() []Violation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

// Sends returns every accepted request that sent messages, in order.
func (s *Server) Sends() []Send {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Send, len(s.sends))
	for i, x := range s.sends {
		out[i] = x
		out[i].To = slices.Clone(x.To)
		out[i].Messages = slices.Clone(x.Messages)
	}
	return out
}

// Delivered returns the messages each user received, by userId, in the
// order they were accepted: a push counts for its recipient, a multicast
// for each of its recipients, a broadcast or narrowcast for each friend it
// reached (known only for friends added with AddFriends), a reply for the
// user the server issued its token to. A blocked friend receives nothing.
func (s *Server) Delivered() map[string][]json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]json.RawMessage)
	for _, x := range s.sends {
		for _, u := range x.To {
			out[u] = append(out[u], x.Messages...)
		}
	}
	return out
}

// Reset forgets the recorded requests, violations and sends, the injected
// faults, the retry keys seen and the month's consumption; friends,
// profiles, rich menus, audiences and options stay.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests, s.violations, s.sends, s.faults = nil, nil, nil, nil
	s.retryKeys = make(map[string]acceptedKey)
	s.consumed = 0
	s.window = make(map[Endpoint]*window)
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

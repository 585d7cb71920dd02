package linetest

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/stepcast/stepcast"
)

// UserProfile is what GET /v2/bot/profile/{userId} answers
// (UserProfileResponse in messaging-api.yml).
type UserProfile struct {
	DisplayName   string `json:"displayName"`
	UserID        string `json:"userId"`
	PictureURL    string `json:"pictureUrl,omitempty"`
	StatusMessage string `json:"statusMessage,omitempty"`
	Language      string `json:"language,omitempty"`
}

// UserID returns a well-formed LINE userId ("U" and 32 hex digits) for n,
// the same for the same n: for tests that need many distinct friends.
func UserID(n int) string { return fmt.Sprintf("U%032x", n) }

// RichMenuID returns a well-formed rich menu ID for n.
func RichMenuID(n int) string { return fmt.Sprintf("richmenu-%032x", n) }

// AddFriends makes users friends of the account. Until the first is added
// every well-formed userId counts as a friend; after, the server answers
// as LINE does for strangers: a push to one is refused ("Failed to send
// messages"), a profile is 404, and a broadcast reaches exactly the
// friends added and not blocked.
func (s *Server) AddFriends(userIDs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range userIDs {
		if _, ok := s.friends[u]; !ok {
			s.friends[u] = false
		}
	}
}

// Block marks friends as having blocked the account (adding them if
// needed): LINE accepts sends to them but delivers nothing and counts
// nothing. Unblock undoes it.
func (s *Server) Block(userIDs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range userIDs {
		s.friends[u] = true
	}
}

// Unblock marks friends as following again.
func (s *Server) Unblock(userIDs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range userIDs {
		s.friends[u] = false
	}
}

// SetProfile sets the profile the server answers for p.UserID (a generated
// one otherwise).
func (s *Server) SetProfile(p UserProfile) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.profiles[p.UserID] = p
}

// ReplyToken issues a reply token for a message from userID, as a webhook
// event carries one: valid for one reply within a minute of the server's
// clock (LINE's reply tokens expire about a minute after the event and
// are single-use). A reply with any other token is answered 400 "Invalid
// reply token".
func (s *Server) ReplyToken(userID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	token := fmt.Sprintf("%032x", s.nextID)
	s.tokens[token] = replyToken{user: userID, expires: s.cfg.now().Add(replyTokenTTL)}
	return token
}

const replyTokenTTL = time.Minute

// AcceptReplyTokens makes the server take the reply tokens of a webhook
// body (LINE's {"destination": …, "events": [...]}) as if it had issued
// them, each for its event's source userId, valid a minute from now: for
// webhook requests built elsewhere (WebhookBody) whose replies come here.
// It returns how many tokens it took; an error wraps stepcast.ErrInvalid
// for a body that is not a webhook body.
func (s *Server) AcceptReplyTokens(webhookBody []byte) (int, error) {
	var body struct {
		Events []struct {
			ReplyToken string `json:"replyToken"`
			Source     struct {
				UserID string `json:"userId"`
			} `json:"source"`
		} `json:"events"`
	}
	if err := json.Unmarshal(webhookBody, &body); err != nil {
		return 0, fmt.Errorf("linetest: a webhook body: %w: %v", stepcast.ErrInvalid, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range body.Events {
		if e.ReplyToken == "" {
			continue
		}
		s.tokens[e.ReplyToken] = replyToken{user: e.Source.UserID, expires: s.cfg.now().Add(replyTokenTTL)}
		n++
	}
	return n, nil
}

// RichMenu returns the rich menu linked to userID ("" for none) and the
// account's default rich menu.
func (s *Server) RichMenu(userID string) (linked, defaultMenu string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.richMenus[userID], s.defaultRM
}

// Audience returns the userIds uploaded to an audience group, nil if there
// is no such group.
func (s *Server) Audience(id int64) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.audiences[id])
}

// Consumption returns the month's quota consumption, as GET
// /v2/bot/message/quota/consumption answers it.
func (s *Server) Consumption() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rollMonth(s.cfg.now())
	return s.consumed
}

func (s *Server) hasFriends() bool { return len(s.friends) > 0 }

// friendList is every friend added, sorted (blocked ones included: send
// leaves them out).
func (s *Server) friendList() []string {
	return slices.Sorted(maps.Keys(s.friends))
}

// tokyo is the zone LINE's month starts in for Japanese accounts.
var tokyo = time.FixedZone("Asia/Tokyo", 9*60*60)

// rollMonth starts a new month's consumption when now is in another month
// (in Japan time) than the last count.
func (s *Server) rollMonth(now time.Time) {
	m := now.In(tokyo).Format("2006-01")
	if m != s.month {
		s.month, s.consumed = m, 0
	}
}

// charge counts n messages against the month's quota; false when the
// quota would be exceeded (nothing is counted then).
func (s *Server) charge(now time.Time, n int) bool {
	s.rollMonth(now)
	if s.cfg.quota > 0 && s.consumed+int64(n) > s.cfg.quota {
		return false
	}
	s.consumed += int64(n)
	return true
}

package lineadapter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"unicode/utf8"

	"github.com/line/line-bot-sdk-go/v8/linebot/manage_audience"
	"github.com/stepcast/stepcast"
)

// LINE's limits on narrowcasting to an uploaded audience
// (https://developers.line.biz/en/reference/messaging-api/#create-upload-audience-group).
const (
	// MaxAudienceUpload is how many user IDs one upload request takes.
	MaxAudienceUpload = 10_000
	// MinNarrowcastAudience is the smallest audience LINE narrowcasts to:
	// a narrowcast whose audience is smaller is accepted (202) and then
	// fails (its progress: error code 4).
	MinNarrowcastAudience = 50
	// MaxAudienceDescription is how long an audience's name may be, in characters.
	MaxAudienceDescription = 120
)

// UploadAudience creates an audience of users for a narrowcast
// (POST /v2/bot/audienceGroup/upload, then PUT for each further 10,000
// IDs), and returns LINE's audienceGroupId, to be named in a narrowcast
// delivery's Audience (AudienceRecipient). Each request waits for its
// endpoint's rate limit (60 a minute).
//
// Only accounts in Japan, Thailand and Taiwan may upload audiences: LINE
// answers others 403, a permanent *Error. LINE processes an upload for a
// while before the audience can be sent to; a narrowcast sent too early,
// or to fewer than MinNarrowcastAudience friends, fails later (see
// NarrowcastProgress). So UploadAudience refuses fewer than
// MinNarrowcastAudience users with ErrAudienceTooSmall (and
// stepcast.ErrInvalid) without a request — distinct users: LINE keeps one
// of an ID given twice — send to them by multicast.
//
// description is the audience's name (1–120 characters, LINE's limit).
// If a request after the first fails, the audience exists with the IDs
// uploaded so far: UploadAudience returns its ID with the error, and
// AddToAudience can add the rest (adding an ID twice is harmless).
func (s *Sender) UploadAudience(ctx context.Context, description string, users []stepcast.UserID) (audienceGroupID int64, err error) {
	if n := utf8.RuneCountInString(description); n == 0 || n > MaxAudienceDescription || !utf8.ValidString(description) {
		return 0, fmt.Errorf("%w: audience upload: the description %s: want 1 to %d characters", stepcast.ErrInvalid, stepcast.Quote(description), MaxAudienceDescription)
	}
	if err := checkUsers(users); err != nil {
		return 0, err
	}
	// LINE keeps one of each user: the audience is as large as the
	// distinct IDs are many.
	if n := distinct(users, MinNarrowcastAudience); n < MinNarrowcastAudience {
		return 0, fmt.Errorf("%w: audience upload: %w: %d distinct users of %d IDs (LINE narrowcasts to %d or more)", stepcast.ErrInvalid, ErrAudienceTooSmall, n, len(users), MinNarrowcastAudience)
	}
	first := users[:min(len(users), MaxAudienceUpload)]
	body, err := json.Marshal(&manage_audience.CreateAudienceGroupRequest{Description: description, Audiences: audiences(first)})
	if err != nil {
		return 0, err
	}
	res, err := s.do(ctx, "audience upload", EndpointAudienceCreate, request{http.MethodPost, "/v2/bot/audienceGroup/upload", body}, "")
	if err != nil {
		return 0, err
	}
	defer drain(res)
	if res.StatusCode/100 != 2 {
		return 0, classify("audience upload", res)
	}
	var created manage_audience.CreateAudienceGroupResponse
	if err := json.NewDecoder(io.LimitReader(res.Body, maxDrain)).Decode(&created); err != nil || created.AudienceGroupId == 0 {
		return 0, &Error{Op: "audience upload", StatusCode: res.StatusCode, RequestID: res.Header.Get("X-Line-Request-Id"),
			cause: fmt.Errorf("no audienceGroupId in LINE's answer: %v", err)}
	}
	return created.AudienceGroupId, s.AddToAudience(ctx, created.AudienceGroupId, users[len(first):])
}

// AddToAudience adds users to the uploaded audience audienceGroupID
// (PUT /v2/bot/audienceGroup/upload), 10,000 a request, each waiting for
// the endpoint's rate limit (60 a minute). Errors are *Error, classified
// as Send's are; the requests before a failed one have been applied.
func (s *Sender) AddToAudience(ctx context.Context, audienceGroupID int64, users []stepcast.UserID) error {
	if err := checkUsers(users); err != nil {
		return err
	}
	for len(users) > 0 {
		chunk := users[:min(len(users), MaxAudienceUpload)]
		users = users[len(chunk):]
		body, err := json.Marshal(&manage_audience.AddAudienceToAudienceGroupRequest{AudienceGroupId: audienceGroupID, Audiences: audiences(chunk)})
		if err != nil {
			return err
		}
		res, err := s.do(ctx, "audience add", EndpointAudienceAdd, request{http.MethodPut, "/v2/bot/audienceGroup/upload", body}, "")
		if err != nil {
			return err
		}
		if res.StatusCode/100 != 2 {
			e := classify("audience add", res)
			drain(res)
			return e
		}
		drain(res)
	}
	return nil
}

// AudienceRecipient is a narrowcast delivery's Audience that sends to the
// uploaded audience audienceGroupID: {"recipient":{"type":"audience","audienceGroupId":…}}.
func AudienceRecipient(audienceGroupID int64) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"recipient":{"type":"audience","audienceGroupId":%d}}`, audienceGroupID))
}

func audiences(users []stepcast.UserID) []manage_audience.Audience {
	out := make([]manage_audience.Audience, len(users))
	for i, u := range users {
		out[i] = manage_audience.Audience{Id: string(u)}
	}
	return out
}

// distinct counts the distinct users, stopping once it reaches enough.
func distinct(users []stepcast.UserID, enough int) int {
	seen := make(map[stepcast.UserID]struct{}, min(len(users), enough))
	for _, u := range users {
		seen[u] = struct{}{}
		if len(seen) >= enough {
			break
		}
	}
	return len(seen)
}

func checkUsers(users []stepcast.UserID) error {
	for i, u := range users {
		if u == "" || pathSafe("userId", string(u)) != nil {
			return fmt.Errorf("%w: audience upload: user %d: %s is not a LINE userId", stepcast.ErrInvalid, i, stepcast.Quote(string(u)))
		}
	}
	return nil
}

package linetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// minNarrowcastTargets is the audience below which LINE fails a narrowcast
// that names recipients or a filter (asynchronously: the request is
// accepted, its progress reports failed).
const minNarrowcastTargets = 50

type narrowcast struct {
	accepted time.Time
	targets  []string
	failed   string // failedDescription, "" when it succeeded
	code     int    // errorCode when failed
}

// Progress is what GET /v2/bot/message/progress/narrowcast
// answers (NarrowcastProgressResponse in messaging-api.yml).
type Progress struct {
	Phase             string     `json:"phase"` // waiting, sending, succeeded, failed
	SuccessCount      *int64     `json:"successCount,omitempty"`
	FailureCount      *int64     `json:"failureCount,omitempty"`
	TargetCount       *int64     `json:"targetCount,omitempty"`
	FailedDescription string     `json:"failedDescription,omitempty"`
	ErrorCode         int64      `json:"errorCode,omitempty"`
	AcceptedTime      time.Time  `json:"acceptedTime"`
	CompletedTime     *time.Time `json:"completedTime,omitempty"`
}

// narrowcast resolves the recipients: every friend, or an audience or an
// operator over audiences, or the targets of an earlier narrowcast
// (redelivery); capped by limit.max. A demographic filter is checked for
// its shape only: the fake knows no one's age or area, so it narrows
// nothing.
func (s *Server) narrowcast(c *checker, rec *Request, m map[string]json.RawMessage, now time.Time, requestID string) answer {
	msgs := c.messages(m["messages"])
	targets := s.friendList()
	named := false
	if raw, ok := m["recipient"]; ok && string(raw) != "null" {
		named = true
		targets = s.recipient(c, "recipient", raw)
	}
	if raw, ok := m["filter"]; ok && string(raw) != "null" {
		named = true
		var f struct {
			Demographic json.RawMessage `json:"demographic"`
		}
		if json.Unmarshal(raw, &f) != nil || f.Demographic == nil {
			c.fail("filter.demographic", "must be specified")
		}
	}
	var limit struct {
		Max                *int `json:"max"`
		UpToRemainingQuota bool `json:"upToRemainingQuota"`
	}
	if raw, ok := m["limit"]; ok && json.Unmarshal(raw, &limit) != nil {
		c.fail("limit", "must be an object")
	}
	if limit.Max != nil && *limit.Max < 1 {
		c.fail("limit.max", "must be at least 1")
	}
	if !c.ok() {
		return answer{}
	}
	targets = slices.DeleteFunc(dedupe(targets), func(u string) bool { return s.friends[u] }) // blocked
	if limit.Max != nil && len(targets) > *limit.Max {
		targets = targets[:*limit.Max]
	}
	if limit.UpToRemainingQuota && s.cfg.quota > 0 {
		s.rollMonth(now)
		if left := int(max(0, s.cfg.quota-s.consumed)); len(targets) > left {
			targets = targets[:left]
		}
	}
	n := &narrowcast{accepted: now, targets: targets}
	if named && len(targets) < minNarrowcastTargets {
		n.failed, n.code = fmt.Sprintf("the audience has %d recipients, fewer than %d", len(targets), minNarrowcastTargets), 2
		s.narrow[requestID] = n
		return answer{status: http.StatusAccepted}
	}
	a := s.send(rec, requestID, now, msgs, targets, true)
	if a.status == http.StatusAccepted {
		s.narrow[requestID] = n
	}
	return a
}

// recipient resolves a recipient object to userIds.
func (s *Server) recipient(c *checker, at string, raw json.RawMessage) []string {
	var r struct {
		Type            string          `json:"type"`
		AudienceGroupID int64           `json:"audienceGroupId"`
		RequestID       string          `json:"requestId"`
		And             json.RawMessage `json:"and"`
		Or              json.RawMessage `json:"or"`
		Not             json.RawMessage `json:"not"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		c.fail(at, "must be a recipient object")
		return nil
	}
	switch r.Type {
	case "audience":
		ids, ok := s.audiences[r.AudienceGroupID]
		if !ok {
			c.fail(at+".audienceGroupId", "no audience %d was uploaded", r.AudienceGroupID)
		}
		return ids
	case "redelivery":
		n, ok := s.narrow[r.RequestID]
		if !ok {
			c.fail(at+".requestId", "no narrowcast %s was accepted", quote(r.RequestID))
			return nil
		}
		return n.targets
	case "operator":
		set := func(raw json.RawMessage, what string) [][]string {
			var list []json.RawMessage
			if raw == nil {
				return nil
			}
			if json.Unmarshal(raw, &list) != nil || len(list) == 0 {
				c.fail(at+"."+what, "must be a non-empty array of recipients")
				return nil
			}
			out := make([][]string, len(list))
			for i, x := range list {
				out[i] = s.recipient(c, fmt.Sprintf("%s.%s[%d]", at, what, i), x)
			}
			return out
		}
		var result []string
		switch {
		case r.And != nil:
			parts := set(r.And, "and")
			if len(parts) > 0 {
				result = slices.Clone(parts[0])
				for _, p := range parts[1:] {
					result = slices.DeleteFunc(result, func(u string) bool { return !slices.Contains(p, u) })
				}
			}
		case r.Or != nil:
			for _, p := range set(r.Or, "or") {
				result = append(result, p...)
			}
			result = dedupe(result)
		case r.Not != nil:
			excl := s.recipient(c, at+".not", r.Not)
			result = slices.DeleteFunc(s.friendList(), func(u string) bool { return slices.Contains(excl, u) })
		default:
			c.fail(at, "an operator needs and, or or not")
		}
		return result
	case "":
		c.fail(at+".type", "must be specified")
	default:
		c.fail(at+".type", "%s is not a recipient type (audience, redelivery, operator)", quote(r.Type))
	}
	return nil
}

func (s *Server) progress(c *checker, id string, now time.Time) answer {
	if id == "" {
		c.fail("requestId", "must be specified")
		return answer{}
	}
	n, ok := s.narrow[id]
	if !ok {
		return errorAnswer(http.StatusNotFound, msgNotFound)
	}
	p := Progress{Phase: "waiting", AcceptedTime: n.accepted.UTC()}
	done := n.accepted.Add(s.cfg.narrowWait)
	if now.Before(done) {
		return answer{status: http.StatusOK, body: p}
	}
	target := int64(len(n.targets))
	p.TargetCount = &target
	p.CompletedTime = ptr(done.UTC())
	if n.failed != "" {
		p.Phase, p.FailedDescription, p.ErrorCode = "failed", n.failed, int64(n.code)
		return answer{status: http.StatusOK, body: p}
	}
	zero := int64(0)
	p.Phase, p.SuccessCount, p.FailureCount = "succeeded", &target, &zero
	return answer{status: http.StatusOK, body: p}
}

// audienceUpload creates an audience from userIds (POST) or adds userIds
// to one (PUT), up to 10,000 per request.
func (s *Server) audienceUpload(c *checker, rec *Request, m map[string]json.RawMessage, now time.Time) answer {
	var body struct {
		AudienceGroupID int64  `json:"audienceGroupId"`
		Description     string `json:"description"`
		IsIfaAudience   bool   `json:"isIfaAudience"`
		Audiences       []struct {
			ID string `json:"id"`
		} `json:"audiences"`
	}
	raw, _ := json.Marshal(m)
	if err := json.Unmarshal(raw, &body); err != nil {
		c.fail("", "must be an audience upload: %v", err)
		return answer{}
	}
	create := rec.Endpoint == CreateAudienceUpload
	if create {
		if body.Description == "" {
			c.fail("description", "must be specified")
		} else if len([]rune(body.Description)) > maxAudienceDesc {
			c.fail("description", "must be at most %d characters", maxAudienceDesc)
		}
	} else if _, ok := s.audiences[body.AudienceGroupID]; !ok {
		c.fail("audienceGroupId", "no audience %d was uploaded", body.AudienceGroupID)
	}
	if len(body.Audiences) > maxAudienceIDs || !create && len(body.Audiences) == 0 {
		c.fail("audiences", "size must be between 1 and %d", maxAudienceIDs)
	}
	ids := make([]string, 0, len(body.Audiences))
	for i, a := range body.Audiences {
		if !body.IsIfaAudience && !userIDRE.MatchString(a.ID) {
			c.fail(fmt.Sprintf("audiences[%d].id", i), "%s is not a user ID", quote(a.ID))
		}
		ids = append(ids, a.ID)
	}
	if !c.ok() {
		return answer{}
	}
	if !create {
		s.audiences[body.AudienceGroupID] = dedupe(append(s.audiences[body.AudienceGroupID], ids...))
		return answer{status: http.StatusAccepted}
	}
	s.nextAud++
	s.audiences[s.nextAud] = dedupe(ids)
	return answer{status: http.StatusAccepted, body: map[string]any{
		"audienceGroupId": s.nextAud, "createRoute": "MESSAGING_API", "type": "UPLOAD",
		"description": body.Description, "created": now.Unix(), "permission": "READ_WRITE",
		"expireTimestamp": now.AddDate(0, 0, 180).Unix(), "isIfaAudience": body.IsIfaAudience,
	}}
}

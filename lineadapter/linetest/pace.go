package linetest

import "time"

// Limit is a rate limit: Requests per Per.
type Limit struct {
	Requests int
	Per      time.Duration
}

// RateLimit returns LINE's published rate limit for an endpoint, per
// channel (Messaging API reference, "Rate limits"): narrowcast and
// broadcast 60 requests an hour, audience uploads 60 a minute, multicast
// 200 a second, every other endpoint 2,000 a second.
func RateLimit(ep Endpoint) Limit {
	switch ep {
	case Narrowcast, Broadcast:
		return Limit{60, time.Hour}
	case CreateAudienceUpload, AddAudienceUpload:
		return Limit{60, time.Minute}
	case Multicast:
		return Limit{200, time.Second}
	}
	return Limit{2000, time.Second}
}

// window counts an endpoint's requests in a fixed window of the clock.
type window struct {
	start time.Time
	n     int
}

// pace counts a request to ep at now; false when it is beyond the
// endpoint's rate limit in the current window (and is not counted).
func (s *Server) pace(ep Endpoint, now time.Time) bool {
	lim := RateLimit(ep)
	w := s.window[ep]
	if w == nil || !now.Before(w.start.Add(lim.Per)) || now.Before(w.start) {
		w = &window{start: now.Truncate(lim.Per)}
		s.window[ep] = w
	}
	if w.n >= lim.Requests {
		return false
	}
	w.n++
	return true
}

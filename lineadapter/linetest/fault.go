package linetest

import (
	"fmt"
	"net/http"
	"time"
)

// Fault is a failure the server injects into the next requests, in place
// of (or after) handling them. Faults are taken in the order they were
// injected: a request takes the first fault whose Endpoint matches and
// that has uses left, after its route and token were checked.
type Fault struct {
	Endpoint Endpoint      // only requests to this endpoint; "" for any
	Times    int           // how many requests it fails; 0 means 1
	Status   int           // answer this status (429, 500, 503, …) instead of handling the request; 0 for none
	Message  string        // the error message answered with Status; LINE's own for 429 and 5xx if empty
	Delay    time.Duration // wait this long first (cut short if the client gives up or the server closes)
	Drop     bool          // close the connection without answering
	// AfterAccept, with Drop, handles the request first — the messages are
	// delivered, the retry key remembered, the quota counted — and then
	// closes the connection: the client never learns it was accepted.
	AfterAccept bool
}

// RateLimited fails the next n requests to ep ("" for any) with 429 "Too
// many requests", LINE's answer beyond a rate limit.
func RateLimited(ep Endpoint, n int) Fault {
	return Fault{Endpoint: ep, Times: n, Status: http.StatusTooManyRequests, Message: msgRateLimit}
}

// MonthlyLimitReached fails the next n requests to ep with 429 "You have
// reached your monthly limit.", LINE's answer once the monthly message
// quota is used up.
func MonthlyLimitReached(ep Endpoint, n int) Fault {
	return Fault{Endpoint: ep, Times: n, Status: http.StatusTooManyRequests, Message: msgMonthlyLimit}
}

// ServerError fails the next n requests to ep with status (500, 502, 503 …).
func ServerError(ep Endpoint, status, n int) Fault {
	return Fault{Endpoint: ep, Times: n, Status: status}
}

// Slow delays the next n requests to ep by d, then handles them.
func Slow(ep Endpoint, d time.Duration, n int) Fault {
	return Fault{Endpoint: ep, Times: n, Delay: d}
}

// Dropped closes the connection of the next n requests to ep without
// handling or answering them.
func Dropped(ep Endpoint, n int) Fault {
	return Fault{Endpoint: ep, Times: n, Drop: true}
}

// AcceptedThenDropped handles the next n requests to ep — they are
// accepted, and delivered — then closes the connection without answering.
func AcceptedThenDropped(ep Endpoint, n int) Fault {
	return Fault{Endpoint: ep, Times: n, Drop: true, AfterAccept: true}
}

// Inject queues faults for the next requests.
func (s *Server) Inject(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range faults {
		if f.Times <= 0 {
			f.Times = 1
		}
		s.faults = append(s.faults, &f)
	}
}

// PendingFaults returns how many injected fault uses are left.
func (s *Server) PendingFaults() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, f := range s.faults {
		n += f.Times
	}
	return n
}

func (s *Server) takeFault(rec *Request) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Endpoint != "" && f.Endpoint != rec.Endpoint {
			continue
		}
		f.Times--
		if f.Times == 0 {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		taken := *f
		rec.Fault = taken.describe()
		return &taken
	}
	return nil
}

func (f Fault) message() string {
	if f.Message != "" {
		return f.Message
	}
	switch {
	case f.Status == http.StatusTooManyRequests:
		return msgRateLimit
	case f.Status >= 500:
		return msgInternal
	}
	return http.StatusText(f.Status)
}

func (f Fault) describe() string {
	s := ""
	if f.Delay > 0 {
		s = "delay " + f.Delay.String()
	}
	add := func(x string) {
		if s != "" {
			s += ", "
		}
		s += x
	}
	switch {
	case f.Status != 0:
		add(fmt.Sprintf("%d %s", f.Status, f.message()))
	case f.Drop && f.AfterAccept:
		add("accepted, then dropped")
	case f.Drop:
		add("dropped")
	}
	return s
}

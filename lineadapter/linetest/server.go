package linetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// DefaultToken is the channel access token a Server accepts unless
// WithToken names another.
const DefaultToken = "linetest-channel-access-token"

// maxBody is the largest request LINE takes: 2 MB (413 Payload Too Large
// beyond, LINE's status codes). The server answers 413 past it too.
const maxBody = 2 << 20

// Server is a fake LINE Messaging API: an httptest server that checks each
// request against LINE's rules (and, with WithSpecs, LINE's OpenAPI
// specification), records it, answers as LINE does, and fails on demand.
// Point a client at URL instead of https://api.line.me.
//
// A Server is safe for concurrent use. It is a test double: never expose
// it to a network.
type Server struct {
	// URL is the base URL of the server, http://127.0.0.1:port, without a
	// trailing slash.
	URL string

	hs   *httptest.Server
	cfg  config
	stop chan struct{} // closed by Close: cuts delays short
	once sync.Once

	mu         sync.Mutex
	seq        int
	requests   []*Request
	violations []Violation
	sends      []Send
	faults     []*Fault
	retryKeys  map[string]acceptedKey
	consumed   int64  // the month's quota consumption
	month      string // the month consumed counts, "2026-11" in Asia/Tokyo
	window     map[Endpoint]*window
	friends    map[string]bool // userId → blocked
	profiles   map[string]UserProfile
	tokens     map[string]replyToken
	richMenus  map[string]string // userId → linked rich menu
	defaultRM  string
	audiences  map[int64][]string
	narrow     map[string]*narrowcast // request ID → progress
	nextID     int64                  // message IDs
	nextAud    int64
}

type acceptedKey struct {
	requestID string
	at        time.Time
	endpoint  Endpoint
	body      []byte
	answer    []byte
}

type replyToken struct {
	user    string
	expires time.Time
	used    bool
}

// Option configures a Server.
type Option func(*config)

type config struct {
	token      string
	specs      *Specs
	reportOnly bool
	now        func() time.Time
	quota      int64 // 0: none
	pacing     bool
	narrowWait time.Duration
}

// WithToken sets the channel access token the server accepts in
// "Authorization: Bearer <token>" (DefaultToken otherwise).
func WithToken(token string) Option { return func(c *config) { c.token = token } }

// WithSpecs makes the server validate every request against LINE's OpenAPI
// specification (see LoadSpecs) as well as its own rules. A request that
// does not match is recorded as a violation and answered 400 with LINE's
// error body, as LINE answers a malformed request.
func WithSpecs(specs *Specs) Option { return func(c *config) { c.specs = specs } }

// WithSchemaReportOnly makes schema mismatches violations only: the
// request is answered as if it matched. The server's own rules still
// refuse what they refuse.
func WithSchemaReportOnly() Option { return func(c *config) { c.reportOnly = true } }

// WithClock sets the server's clock (time.Now otherwise): it dates
// requests, ages retry keys (24 hours) and reply tokens (1 minute), paces
// requests and starts a new quota month.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithMonthlyQuota sets the account's monthly message limit (LINE's plans:
// 200 on the free plan, 5,000 on Light, 30,000 on Standard plus paid
// extras). Sends that would take the month's consumption past it are
// answered 429 "You have reached your monthly limit." Without it the quota
// endpoint answers type "none" and nothing is refused.
func WithMonthlyQuota(messages int64) Option { return func(c *config) { c.quota = messages } }

// WithRateLimits makes the server answer 429 "Too many requests" to
// requests beyond LINE's published per-endpoint rate limits (see the
// package doc), counted in fixed windows of the server's clock.
func WithRateLimits() Option { return func(c *config) { c.pacing = true } }

// WithNarrowcastDelay sets how long a narrowcast stays in phase "waiting"
// before its progress reports it done (0 otherwise: done at once). Its
// messages are delivered when it is accepted either way.
func WithNarrowcastDelay(d time.Duration) Option { return func(c *config) { c.narrowWait = d } }

// NewServer starts a fake Messaging API server on a loopback port. Close
// it when done.
func NewServer(opts ...Option) *Server {
	cfg := config{token: DefaultToken, now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	s := &Server{
		cfg:       cfg,
		stop:      make(chan struct{}),
		retryKeys: make(map[string]acceptedKey),
		window:    make(map[Endpoint]*window),
		friends:   make(map[string]bool),
		profiles:  make(map[string]UserProfile),
		tokens:    make(map[string]replyToken),
		richMenus: make(map[string]string),
		audiences: make(map[int64][]string),
		narrow:    make(map[string]*narrowcast),
		nextID:    600000000000000000,
		nextAud:   4000000000000,
	}
	s.hs = httptest.NewServer(s)
	s.URL = s.hs.URL
	return s
}

// Close shuts the server down, cutting injected delays short, and waits
// for the requests in flight.
func (s *Server) Close() {
	s.once.Do(func() { close(s.stop) })
	s.hs.Close()
}

// Client returns an HTTP client for the server (its own transport).
func (s *Server) Client() *http.Client { return s.hs.Client() }

// answer is what the server answers a request.
type answer struct {
	status int
	body   any               // marshalled to JSON; nil → {}
	header map[string]string // extra headers
}

func errorAnswer(status int, message string, details ...Detail) answer {
	return answer{status: status, body: ErrorBody{Message: message, Details: details}}
}

// ErrorBody is LINE's error response: {"message": …, "details": [...]}
// (ErrorResponse in messaging-api.yml). SentMessages is set on the 409 of
// a repeated retry key of a push.
type ErrorBody struct {
	Message      string        `json:"message"`
	Details      []Detail      `json:"details,omitempty"`
	SentMessages []SentMessage `json:"sentMessages,omitempty"`
}

// Detail is one entry of an error's details (ErrorDetail in
// messaging-api.yml).
type Detail struct {
	Message  string `json:"message,omitempty"`
	Property string `json:"property,omitempty"`
}

// SentMessage is one sent message of a push or reply answer.
type SentMessage struct {
	ID         string `json:"id"`
	QuoteToken string `json:"quoteToken,omitempty"`
}

// LINE's error messages, as its API answers them.
const (
	msgRateLimit    = "Too many requests"
	msgMonthlyLimit = "You have reached your monthly limit."
	msgNoAuthHeader = "Authorization header required. Must follow the scheme, 'Authorization: Bearer <ACCESS TOKEN>'"
	msgBadToken     = "Authentication failed due to the following reason: invalid token. Confirm that the access token in the authorization header is valid."
	msgNotFound     = "Not found"
	msgRetryKeyUsed = "The retry key is already accepted"
	msgInternal     = "An error occurred in the server"
)

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.cfg.now()
	body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	ep, params, routeErr := route(r.Method, r.URL.Path)

	s.mu.Lock()
	s.seq++
	rec := &Request{
		Seq: s.seq, Time: start, Endpoint: ep, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Header: r.Header.Clone(), RetryKey: r.Header.Get("X-Line-Retry-Key"), Body: body,
	}
	s.requests = append(s.requests, rec)
	s.mu.Unlock()

	requestID := s.requestID(rec.Seq)
	a, fault := s.preflight(r, rec, readErr, routeErr)
	if fault != nil && fault.Delay > 0 {
		t := time.NewTimer(fault.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
		case <-s.stop:
		}
		t.Stop()
	}
	switch {
	case a != nil:
	case fault != nil && fault.Status != 0:
		a = &answer{status: fault.Status, body: ErrorBody{Message: fault.message()}}
	case fault != nil && fault.Drop && !fault.AfterAccept:
		s.drop(w, rec, start)
		return
	default:
		a = s.handle(r.Context(), r, rec, params, requestID)
	}
	if fault != nil && fault.Drop && fault.AfterAccept {
		s.drop(w, rec, start)
		return
	}
	s.write(w, rec, *a, requestID, start)
}

// preflight checks what comes before the endpoint's own work: the body was
// read, the route exists, the token is right; then takes an injected fault.
func (s *Server) preflight(r *http.Request, rec *Request, readErr, routeErr error) (*answer, *Fault) {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(readErr, &mbe):
		s.violate(rec, "line", "", fmt.Sprintf("the body is over %d bytes", maxBody))
		return &answer{status: http.StatusRequestEntityTooLarge, body: ErrorBody{Message: "Payload Too Large"}}, nil
	case readErr != nil:
		s.violate(rec, "line", "", "the body could not be read: "+readErr.Error())
		return &answer{status: http.StatusBadRequest, body: ErrorBody{Message: "The request body could not be read"}}, nil
	case errors.Is(routeErr, errMethod):
		s.violate(rec, "line", "", "LINE serves no "+r.Method+" on "+r.URL.Path)
		return &answer{status: http.StatusMethodNotAllowed, body: ErrorBody{Message: "Method Not Allowed"}}, nil
	case routeErr != nil:
		s.violate(rec, "line", "", "no Messaging API endpoint the server knows is at "+r.URL.Path)
		return &answer{status: http.StatusNotFound, body: ErrorBody{Message: msgNotFound}}, nil
	}
	auth := r.Header.Get("Authorization")
	token, isBearer := strings.CutPrefix(auth, "Bearer ")
	switch {
	case auth == "" || !isBearer:
		s.violate(rec, "line", "Authorization", "missing or not a Bearer token")
		return &answer{status: http.StatusUnauthorized, body: ErrorBody{Message: msgNoAuthHeader}}, nil
	case token != s.cfg.token:
		s.violate(rec, "line", "Authorization", "not the channel access token the server accepts")
		return &answer{status: http.StatusUnauthorized, body: ErrorBody{Message: msgBadToken}}, nil
	}
	return nil, s.takeFault(rec)
}

func (s *Server) drop(w http.ResponseWriter, rec *Request, start time.Time) {
	s.mu.Lock()
	rec.Took = s.cfg.now().Sub(start)
	s.mu.Unlock()
	// Hijack and close without a byte answered: the client sees the
	// connection end (EOF or reset), as when LINE's answer is lost.
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler) // HTTP/2: abort the stream instead
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}

func (s *Server) write(w http.ResponseWriter, rec *Request, a answer, requestID string, start time.Time) {
	var out []byte
	switch b := a.body.(type) {
	case nil:
		out = []byte("{}")
	case []byte:
		out = b
	default:
		var err error
		if out, err = json.Marshal(b); err != nil {
			out = []byte(`{"message":"linetest: ` + strings.ReplaceAll(err.Error(), `"`, `'`) + `"}`)
			a.status = http.StatusInternalServerError
		}
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Line-Request-Id", requestID)
	for k, v := range a.header {
		h.Set(k, v)
	}
	s.mu.Lock()
	rec.Status, rec.ID, rec.Answer = a.status, requestID, out
	rec.Took = s.cfg.now().Sub(start)
	s.mu.Unlock()
	w.WriteHeader(a.status)
	w.Write(out)
}

// violate records a violation of the request (callers may hold s.mu only
// through violateLocked).
func (s *Server) violate(rec *Request, source, field, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.violateLocked(rec, source, field, message)
}

func (s *Server) violateLocked(rec *Request, source, field, message string) {
	s.violations = append(s.violations, Violation{
		Seq: rec.Seq, Endpoint: rec.Endpoint, Method: rec.Method, Path: rec.Path,
		Source: source, Field: field, Message: message,
	})
}

// requestID is the X-Line-Request-Id of the seq-th request: a UUID (v4
// layout) that differs between servers (by their URL) and numbers the
// requests of one.
func (s *Server) requestID(seq int) string {
	h := fnv.New32a()
	h.Write([]byte(s.URL))
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", h.Sum32(), seq)
}

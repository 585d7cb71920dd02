package linetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/stepcast/stepcast"
)

// EnvSpecDir names the environment variable that holds the directory of
// LINE's OpenAPI specifications (line/line-openapi's *.yml). The project's
// CI sets it; tests that need the specifications skip without it.
const EnvSpecDir = "STEPCAST_LINE_OPENAPI"

// ErrNoOperation is returned by Specs.ValidateRequest for a method and
// path that no loaded specification defines.
var ErrNoOperation = errors.New("linetest: no operation in LINE's specifications")

// Specs are LINE's OpenAPI specifications, loaded with kin-openapi and
// fixed for validation (see LoadSpecs). Safe for concurrent use.
type Specs struct {
	docs   map[string]*openapi3.T // by file name without .yml
	ops    []specOp
	opts   openapi3filter.Options
	schema []openapi3.SchemaValidationOption
}

type specOp struct {
	doc    *openapi3.T
	method string
	path   string   // the template, /v2/bot/profile/{userId}
	segs   []string // its segments
	item   *openapi3.PathItem
	op     *openapi3.Operation
}

// rfc9562 is the uuid format LINE's retry key is checked with: RFC 9562
// UUIDs (versions 1–8, nil and max). kin-openapi's RFC 4122 pattern
// rejects the version-8 keys stepcast derives.
var rfc9562 = openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC9562)

// LoadSpecs loads every *.yml in dir (messaging-api.yml, manage-audience.yml,
// insight.yml, webhook.yml from line/line-openapi) and closes two gaps
// between LINE's files and kin-openapi's validator, in memory only:
//
//   - LINE's polymorphic schemas (Message, Action, FlexComponent,
//     Recipient, …) name their subtypes in a discriminator mapping but have
//     no oneOf, and the validator checks a discriminator only through
//     oneOf. Each such schema gets a oneOf of its mapping, and each subtype's
//     allOf reference to it is pointed at a copy without the oneOf (else
//     the subtype would contain itself). So {"type":"text"} without text,
//     or an unknown type, fails.
//   - The format uuid is checked as RFC 9562 (see rfc9562).
//
// Errors wrap stepcast.ErrInvalid for a directory without specifications.
func LoadSpecs(dir string) (*Specs, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yml"))
	if err != nil {
		return nil, fmt.Errorf("linetest: specs in %s: %w", dir, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("linetest: no *.yml in %q: %w", dir, stepcast.ErrInvalid)
	}
	s := &Specs{docs: make(map[string]*openapi3.T)}
	for _, f := range files {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromFile(f)
		if err != nil {
			return nil, fmt.Errorf("linetest: load %s: %w", f, err)
		}
		addOneOfs(doc)
		s.docs[strings.TrimSuffix(filepath.Base(f), ".yml")] = doc
		for path, item := range doc.Paths.Map() {
			for method, op := range item.Operations() {
				s.ops = append(s.ops, specOp{doc: doc, method: method, path: path,
					segs: strings.Split(strings.Trim(path, "/"), "/"), item: item, op: op})
			}
		}
	}
	// Literal segments first: /v2/bot/user/all/richmenu/{id} before
	// /v2/bot/user/{userId}/richmenu/{richMenuId}.
	slices.SortStableFunc(s.ops, func(a, b specOp) int { return literals(b.segs) - literals(a.segs) })
	s.schema = []openapi3.SchemaValidationOption{openapi3.WithStringFormatValidator("uuid", rfc9562)}
	s.opts = openapi3filter.Options{
		MultiError:              true,
		AuthenticationFunc:      openapi3filter.NoopAuthenticationFunc, // the server checks the token itself
		SchemaValidationOptions: s.schema,
	}
	return s, nil
}

// LoadSpecsFromEnv loads the specifications from the directory in
// EnvSpecDir; it skips tb with a message when the variable is unset and
// fails it when they do not load.
func LoadSpecsFromEnv(tb testing.TB) *Specs {
	tb.Helper()
	dir := os.Getenv(EnvSpecDir)
	if dir == "" {
		tb.Skipf("%s is unset: set it to the directory of LINE's OpenAPI specifications (line/line-openapi) to check requests against them", EnvSpecDir)
	}
	s, err := LoadSpecs(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// Doc returns one loaded specification by file name without .yml
// ("messaging-api", "webhook", …), nil if it was not loaded.
func (s *Specs) Doc(name string) *openapi3.T { return s.docs[name] }

// SchemaOptions returns the schema validation options the specifications
// are checked with (the RFC 9562 uuid format), for validating a value
// against one of Doc's schemas with openapi3.Schema.VisitJSON.
func (s *Specs) SchemaOptions() []openapi3.SchemaValidationOption { return slices.Clone(s.schema) }

// ValidateRequest checks a request — path, method, parameters, headers and
// body — against the operation of LINE's specifications it calls. It
// reads r.Body and puts it back. The error lists every mismatch; it wraps
// ErrNoOperation when no specification defines the method and path.
func (s *Specs) ValidateRequest(r *http.Request) error {
	var body []byte
	if r.Body != nil {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			return fmt.Errorf("linetest: read the body: %w", err)
		}
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	var errs []error
	for _, d := range s.validate(r.Context(), r, body) {
		if d.Property == "" && d.Message == ErrNoOperation.Error() {
			return fmt.Errorf("%s %s: %w", r.Method, r.URL.Path, ErrNoOperation)
		}
		errs = append(errs, fmt.Errorf("%s: %s", d.Property, d.Message))
	}
	if len(errs) > 0 {
		return fmt.Errorf("linetest: %s %s does not match LINE's specification: %w", r.Method, r.URL.Path, errors.Join(errs...))
	}
	return nil
}

// ValidateResponse checks an answer to req — its status, headers and
// body — against the responses LINE's specifications define for the
// operation (a status they do not list passes: they list few error
// statuses). It wraps ErrNoOperation when no specification defines req's
// method and path.
func (s *Specs) ValidateResponse(req *http.Request, status int, header http.Header, body []byte) error {
	op, params := s.find(req.Method, req.URL.Path)
	if op == nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, ErrNoOperation)
	}
	opts := s.opts
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    req,
			PathParams: params,
			Route:      &routers.Route{Spec: op.doc, Path: op.path, PathItem: op.item, Method: op.method, Operation: op.op},
			Options:    &opts,
		},
		Status:  status,
		Header:  header,
		Body:    io.NopCloser(bytes.NewReader(body)),
		Options: &opts,
	}
	if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
		return fmt.Errorf("linetest: the answer %d to %s %s does not match LINE's specification: %w", status, req.Method, req.URL.Path, err)
	}
	return nil
}

// validate checks r with body against the specifications and returns
// what does not match, as LINE's error details.
func (s *Specs) validate(ctx context.Context, r *http.Request, body []byte) []Detail {
	op, params := s.find(r.Method, r.URL.Path)
	if op == nil {
		return []Detail{{Message: ErrNoOperation.Error()}}
	}
	// A copy with the body the caller read, so the caller's stays as is.
	req := r.Clone(ctx)
	body = dropNulls(body)
	if req.Header.Get("X-Line-Retry-Key") == "" {
		req.Header.Del("X-Line-Retry-Key") // see Server: an empty key is no key
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	in := &openapi3filter.RequestValidationInput{
		Request:    req,
		PathParams: params,
		Route:      &routers.Route{Spec: op.doc, Path: op.path, PathItem: op.item, Method: op.method, Operation: op.op},
		Options:    &s.opts,
	}
	err := openapi3filter.ValidateRequest(ctx, in)
	if err == nil {
		return nil
	}
	var out []Detail
	var me openapi3.MultiError
	if errors.As(err, &me) {
		for _, e := range me {
			out = append(out, detailOf(e))
		}
	} else {
		out = append(out, detailOf(err))
	}
	return out
}

// detailOf turns a kin-openapi error into a detail naming the property.
func detailOf(err error) Detail {
	var re *openapi3filter.RequestError
	var se *openapi3.SchemaError
	d := Detail{Message: err.Error()}
	if errors.As(err, &se) {
		d.Property = jsonPath(se.JSONPointer())
		d.Message = se.Reason
		if inner := innermost(se); inner != nil && inner != se {
			d.Property, d.Message = jsonPath(inner.JSONPointer()), inner.Reason
		}
	}
	if errors.As(err, &re) {
		if re.Parameter != nil {
			d.Property = re.Parameter.Name
		} else if d.Property == "" {
			d.Property = "body"
		}
		if se == nil {
			d.Message = re.Error()
		}
	}
	if d.Message == "" {
		d.Message = err.Error()
	}
	return d
}

// innermost follows a schema error's origins to the deepest schema error,
// which names the property actually at fault (a oneOf reports at the
// message, its cause at messages[0].text).
func innermost(se *openapi3.SchemaError) *openapi3.SchemaError {
	cur := se
	for cur.Origin != nil {
		var next *openapi3.SchemaError
		if !errors.As(cur.Origin, &next) || next == cur {
			break
		}
		cur = next
	}
	return cur
}

// jsonPath renders a JSON pointer's parts as LINE names properties:
// messages[0].text.
func jsonPath(parts []string) string {
	var b strings.Builder
	for _, p := range parts {
		if p != "" && strings.Trim(p, "0123456789") == "" {
			b.WriteString("[" + p + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

func (s *Specs) find(method, path string) (*specOp, map[string]string) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i := range s.ops {
		op := &s.ops[i]
		if op.method != method {
			continue
		}
		if params, ok := matchPath(op.segs, segs); ok {
			if params == nil {
				params = map[string]string{}
			}
			return op, params
		}
	}
	return nil, nil
}

func literals(segs []string) int {
	n := 0
	for _, s := range segs {
		if !strings.HasPrefix(s, "{") {
			n++
		}
	}
	return n
}

// addOneOfs gives every schema of doc with a discriminator mapping and no
// oneOf (or anyOf) a oneOf of its mapping's schemas, and points the
// subtypes' allOf references to it at a copy without discriminator.
func addOneOfs(doc *openapi3.T) {
	if doc.Components == nil {
		return
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range doc.Components.Schemas {
			if !yield(k) {
				return
			}
		}
	}) {
		ref := doc.Components.Schemas[name]
		parent := ref.Value
		if parent == nil || parent.Discriminator == nil || len(parent.Discriminator.Mapping) == 0 ||
			len(parent.OneOf) > 0 || len(parent.AnyOf) > 0 {
			continue
		}
		base := *parent // the parent's own properties, without the choice
		base.Discriminator = nil
		base.OneOf = nil
		for _, key := range slices.Sorted(func(yield func(string) bool) {
			for k := range parent.Discriminator.Mapping {
				if !yield(k) {
					return
				}
			}
		}) {
			m := parent.Discriminator.Mapping[key]
			sub := m.Value
			if sub == nil { // kin-openapi leaves local mapping refs unresolved
				if r := doc.Components.Schemas[strings.TrimPrefix(m.Ref, "#/components/schemas/")]; r != nil {
					sub = r.Value
				}
			}
			if sub == nil {
				continue
			}
			for i, a := range sub.AllOf {
				if a.Value == parent {
					sub.AllOf[i] = &openapi3.SchemaRef{Value: &base}
				}
			}
			parent.OneOf = append(parent.OneOf, &openapi3.SchemaRef{Ref: m.Ref, Value: sub})
		}
	}
}

// dropNulls removes the properties whose value is null from a JSON body,
// at any depth. LINE's servers take a null optional property as absent,
// and the official SDKs send them ("customAggregationUnits": null on every
// push of line-bot-sdk-go v8), but LINE's schemas do not declare them
// nullable. A body that is not JSON is returned as is.
func dropNulls(body []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil || dec.More() {
		return body
	}
	var strip func(any) any
	strip = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if e == nil {
					delete(x, k)
				} else {
					x[k] = strip(e)
				}
			}
		case []any:
			for i, e := range x {
				x[i] = strip(e)
			}
		}
		return v
	}
	out, err := json.Marshal(strip(v))
	if err != nil {
		return body
	}
	return out
}

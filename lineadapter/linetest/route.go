package linetest

import (
	"errors"
	"net/http"
	"strings"
)

var (
	errNotFound = errors.New("linetest: no such endpoint")
	errMethod   = errors.New("linetest: method not allowed")
)

// routeEntry is one endpoint: its method and path template, with {name}
// standing for one path segment.
type routeEntry struct {
	method   string
	path     []string
	endpoint Endpoint
}

var routes = func() []routeEntry {
	list := []struct {
		method, path string
		ep           Endpoint
	}{
		{http.MethodPost, "/v2/bot/message/push", Push},
		{http.MethodPost, "/v2/bot/message/multicast", Multicast},
		{http.MethodPost, "/v2/bot/message/narrowcast", Narrowcast},
		{http.MethodGet, "/v2/bot/message/progress/narrowcast", NarrowcastProgress},
		{http.MethodPost, "/v2/bot/message/broadcast", Broadcast},
		{http.MethodPost, "/v2/bot/message/reply", Reply},
		{http.MethodGet, "/v2/bot/message/quota", Quota},
		{http.MethodGet, "/v2/bot/message/quota/consumption", QuotaConsumption},
		{http.MethodGet, "/v2/bot/profile/{userId}", Profile},
		{http.MethodPost, "/v2/bot/user/all/richmenu/{richMenuId}", SetDefaultRichMenu},
		{http.MethodGet, "/v2/bot/user/all/richmenu", GetDefaultRichMenu},
		{http.MethodDelete, "/v2/bot/user/all/richmenu", CancelDefaultRichMenu},
		{http.MethodPost, "/v2/bot/user/{userId}/richmenu/{richMenuId}", LinkRichMenu},
		{http.MethodDelete, "/v2/bot/user/{userId}/richmenu", UnlinkRichMenu},
		{http.MethodGet, "/v2/bot/user/{userId}/richmenu", GetUserRichMenu},
		{http.MethodPost, "/v2/bot/richmenu/bulk/link", BulkLinkRichMenu},
		{http.MethodPost, "/v2/bot/richmenu/bulk/unlink", BulkUnlinkRichMenu},
		{http.MethodPost, "/v2/bot/audienceGroup/upload", CreateAudienceUpload},
		{http.MethodPut, "/v2/bot/audienceGroup/upload", AddAudienceUpload},
	}
	out := make([]routeEntry, len(list))
	for i, r := range list {
		out[i] = routeEntry{method: r.method, path: strings.Split(strings.Trim(r.path, "/"), "/"), endpoint: r.ep}
	}
	return out
}()

// route finds the endpoint of a method and path, with the path's
// parameters; errMethod when the path exists under another method only.
// The first template that matches wins: routes lists the literal
// /v2/bot/user/all/… before /v2/bot/user/{userId}/….
func route(method, path string) (Endpoint, map[string]string, error) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	found := false
	for _, r := range routes {
		params, ok := matchPath(r.path, segs)
		if !ok {
			continue
		}
		if params["userId"] == "all" {
			continue // /v2/bot/user/all/… is the default rich menu, under its own routes
		}
		found = true
		if r.method == method {
			return r.endpoint, params, nil
		}
	}
	if found {
		return "", nil, errMethod
	}
	return "", nil, errNotFound
}

// matchPath matches path segments against a template; a literal segment
// wins over a parameter, so /v2/bot/user/all/richmenu/{id} is the default
// rich menu, not a user named "all" (the routes list it first).
func matchPath(tmpl, segs []string) (map[string]string, bool) {
	if len(tmpl) != len(segs) {
		return nil, false
	}
	var params map[string]string
	for i, t := range tmpl {
		if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
			if segs[i] == "" {
				return nil, false
			}
			if params == nil {
				params = make(map[string]string)
			}
			params[t[1:len(t)-1]] = segs[i]
			continue
		}
		if t != segs[i] {
			return nil, false
		}
	}
	return params, true
}

package lineadapter

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/time/rate"
)

// Endpoint names one Messaging API endpoint the way LINE's rate-limit
// table does — one limit per endpoint and channel — as "METHOD path"
// with LINE's path parameters in braces.
type Endpoint string

// The endpoints a Sender calls.
const (
	EndpointPush           Endpoint = "POST /v2/bot/message/push"
	EndpointMulticast      Endpoint = "POST /v2/bot/message/multicast"
	EndpointNarrowcast     Endpoint = "POST /v2/bot/message/narrowcast"
	EndpointBroadcast      Endpoint = "POST /v2/bot/message/broadcast"
	EndpointReply          Endpoint = "POST /v2/bot/message/reply"
	EndpointRichMenuLink   Endpoint = "POST /v2/bot/user/{userId}/richmenu/{richMenuId}"
	EndpointRichMenuUnlink Endpoint = "DELETE /v2/bot/user/{userId}/richmenu"
	EndpointBulkLink       Endpoint = "POST /v2/bot/richmenu/bulk/link"
	EndpointBulkUnlink     Endpoint = "POST /v2/bot/richmenu/bulk/unlink"
	EndpointDefaultMenu    Endpoint = "POST /v2/bot/user/all/richmenu/{richMenuId}"
	EndpointQuota          Endpoint = "GET /v2/bot/message/quota"
	EndpointConsumption    Endpoint = "GET /v2/bot/message/quota/consumption"
	EndpointProgress       Endpoint = "GET /v2/bot/message/progress/narrowcast"
	EndpointAudienceCreate Endpoint = "POST /v2/bot/audienceGroup/upload"
	EndpointAudienceAdd    Endpoint = "PUT /v2/bot/audienceGroup/upload"
)

// Rate is a token bucket: Limit requests a second on average, at most
// Burst at once. Over any span T the bucket lets through at most
// Limit·T + Burst requests. A Limit of rate.Inf does not wait at all.
type Rate struct {
	Limit rate.Limit
	Burst int
}

// PerSecond is n requests a second, evenly spaced (a burst of 1): requests
// 1/n s apart never put more than n into any second, however LINE's
// window falls, where a larger burst could put n+burst into one.
func PerSecond(n int) Rate { return Rate{Limit: rate.Limit(n), Burst: 1} }

// PerMinute is n requests a minute, evenly spaced.
func PerMinute(n int) Rate { return Rate{Limit: rate.Every(time.Minute / time.Duration(n)), Burst: 1} }

// PerHour is n requests an hour, evenly spaced: LINE's hourly limits are
// for whole campaigns (a narrowcast, a broadcast), never bursts.
func PerHour(n int) Rate { return Rate{Limit: rate.Every(time.Hour / time.Duration(n)), Burst: 1} }

// OtherEndpoints is LINE's limit for every endpoint its table does not
// name: 2,000 requests a second.
var OtherEndpoints = PerSecond(2000)

// PublishedRates returns LINE's published rate limits per channel for the
// endpoints a Sender calls
// (https://developers.line.biz/en/reference/messaging-api/#rate-limits):
// narrowcast and broadcast 60 requests an hour; the audience uploads 60 a
// minute; multicast 200 a second; the bulk rich menu link and unlink 100 a
// second; every other endpoint —
// push, reply, a single rich menu link, the quota and progress reads —
// 2,000 a second (OtherEndpoints). The caller owns the map.
func PublishedRates() map[Endpoint]Rate {
	return map[Endpoint]Rate{
		EndpointPush:           OtherEndpoints,
		EndpointMulticast:      PerSecond(200),
		EndpointNarrowcast:     PerHour(60),
		EndpointBroadcast:      PerHour(60),
		EndpointReply:          OtherEndpoints,
		EndpointRichMenuLink:   OtherEndpoints,
		EndpointRichMenuUnlink: OtherEndpoints,
		EndpointBulkLink:       PerSecond(100),
		EndpointBulkUnlink:     PerSecond(100),
		EndpointDefaultMenu:    OtherEndpoints,
		EndpointQuota:          OtherEndpoints,
		EndpointConsumption:    OtherEndpoints,
		EndpointProgress:       OtherEndpoints,
		EndpointAudienceCreate: PerMinute(60),
		EndpointAudienceAdd:    PerMinute(60),
	}
}

// limiters holds one token bucket per endpoint, shared by every goroutine
// that sends through the Sender. The map is fixed at construction; each
// *rate.Limiter is safe for concurrent use.
type limiters map[Endpoint]*rate.Limiter

func newLimiters(override map[Endpoint]Rate) (limiters, error) {
	rates := PublishedRates()
	for e, r := range override {
		if _, ok := rates[e]; !ok {
			return nil, fmt.Errorf("lineadapter: a rate for %q, an endpoint the sender does not call", e)
		}
		if !(r.Limit > 0) || r.Limit != rate.Inf && r.Burst < 1 {
			return nil, fmt.Errorf("lineadapter: the rate of %s: limit %v, burst %d: want a positive limit and burst", e, r.Limit, r.Burst)
		}
		rates[e] = r
	}
	l := make(limiters, len(rates))
	for e, r := range rates {
		l[e] = rate.NewLimiter(r.Limit, r.Burst)
	}
	return l, nil
}

// wait blocks until endpoint e may take a request or ctx ends (at once, if
// ctx's deadline comes before the token would).
func (l limiters) wait(ctx context.Context, e Endpoint) error {
	return l[e].Wait(ctx)
}

// Package lineadapter is stepcast's edge to LINE: the webhook handler that
// turns a channel's webhook requests into stepcast events (Webhooks), the
// Sender that sends the outbox's deliveries through LINE's official SDK
// (Sending), the signed per-friend tracking links and conversion beacon
// (Tracking links), and inflow routes that identify a visitor through
// LINE Login before they become a friend (Inflow routes). Its subpackage linetest is a fake Messaging API
// server that holds every request to LINE's rules and OpenAPI
// specifications, for tests and examples.
//
// It hands its events to a Recorder, which says what became of each in the
// root's terms (stepcast.Recorded): *engine.Account is one (its Record).
// The package imports the root package only, never the engine — the
// runtime depends on the edges, not the reverse.
//
// # Webhooks
//
// NewWebhook returns the http.Handler of one channel's webhook URL (one
// channel secret, one Recorder — usually the channel's *engine.Account).
// For each request it:
//
//  1. refuses any method but POST (405);
//  2. checks X-Line-Signature — base64(HMAC-SHA256(channel secret, raw
//     body)), LINE's "Signature validation" — in constant time, on the raw
//     body, before anything in the body is decoded (400 if missing or
//     wrong: nothing is ingested);
//  3. reads the body behind http.MaxBytesReader, at most
//     WebhookConfig.MaxBody (1 MiB by default; 413 beyond it). It does not
//     use the SDK's webhook.ParseRequest, which reads without a limit and
//     puts the whole body in its error text; no body is ever logged, nor
//     anything a friend wrote: the log names an event by its
//     webhookEventId and type, says what is malformed where without the
//     offending JSON, and gives a refusal's class ("invalid" for
//     stepcast.ErrInvalid, else "refused") — the Recorder's error itself,
//     which may quote the event, is in the WebhookReport only;
//  4. answers LINE's connectivity check (an empty events array) 200;
//  5. decodes each event on its own: one that is malformed, or that is not
//     a friend's (see the table), is left out with a note in the log and
//     the WebhookReport, and the others go on;
//  6. hands the rest to the Recorder in one call (Record), which makes
//     them durable before it returns — each event wholly or not at all,
//     the store deduplicating by LINE's webhookEventId, so a redelivered
//     event changes nothing twice;
//  7. answers 200 — or 500 if the Recorder returns an error (it failed to
//     keep some events: the store failing, the engine closed), so that
//     LINE redelivers them (only if the channel has webhook redelivery
//     turned on). Events refused for their own fault (Recorded.Err:
//     invalid, an unknown friend, …; the engine decides which) are logged
//     and answered 200: a redelivery would be refused the same way.
//
// LINE expects the answer within 2 seconds. On boltstore, which syncs
// every commit, 16 concurrent senders of one-event webhooks are answered
// in a few milliseconds at the median and tens at the 99th percentile,
// at over a thousand events a second (BenchmarkWebhook). Open the engine
// with engine.Config.ShareCommits, so that concurrent one-event webhooks
// share a commit and its sync.
//
// # The events
//
// Every event handed on has ID = webhookEventId, User = source.userId,
// At = timestamp (milliseconds since the Unix epoch, in UTC), and Arrival
// — which the engine acts on and no store keeps — with ReplyToken =
// replyToken, Redelivered = deliveryContext.isRedelivery, Standby = mode
// "standby" and, for a follow, Unblocked = follow.isUnblocked (which LINE
// warns is not always accurate). Data keys are LINE's own field names; Data holds only what
// the event has.
//
// Kind, Name, Value and Data by LINE's type (— for empty):
//
//   - follow: kind follow; Arrival.Unblocked from follow.isUnblocked.
//   - unfollow (a block): kind unfollow.
//   - message: kind message, Name the message's type ("text", "sticker",
//     "image", "video", "audio", "file", "location", or a newer one), Data
//     messageId and, when the message quotes another, quotedMessageId;
//     then by the message's type:
//   - message, text: Value the text.
//   - message, sticker: Value the text of a message sticker (— for others); Data
//     packageId, stickerId, stickerResourceType, keywords
//     (comma-separated).
//   - message, image: Data contentProvider (line or external), originalContentUrl
//     and previewImageUrl (external only), imageSetId, imageSetIndex and
//     imageSetTotal (several images sent at once).
//   - message, video or audio: Data contentProvider, originalContentUrl,
//     previewImageUrl, duration (ms).
//   - message, file: Data fileName, fileSize (bytes).
//   - message, location: Data title, address, latitude and longitude (decimal
//     degrees).
//   - postback: kind postback, Name —, Value postback.data, Data
//     postback.params as LINE gives them: date, time or datetime from a
//     datetime picker (set_field and start_reminder read "data.datetime",
//     in the account's zone),
//     newRichMenuAliasId and status from a rich menu switch.
//   - beacon: kind beacon, Name beacon.hwid, Value beacon.type (enter,
//     banner, stay), Data dm (the device message).
//   - accountLink: kind accountLink, Name link.result (ok, failed), Value
//     link.nonce (what the host's service issued for the friend).
//   - videoPlayComplete: kind videoPlayComplete, Name
//     videoPlayComplete.trackingId.
//   - membership: kind membership, Name membership.membershipId, Value
//     membership.type (joined, left, renewed).
//   - unsend: kind unsend, Data messageId (of the message taken back).
//   - things (LINE Things, not in today's webhook.yml): kind things, Name
//     things.deviceId, Value things.type (link, unlink, scenarioResult),
//     Data scenarioId and resultCode (a scenario's result).
//
// The kinds LINE has and package stepcast has not are this package's
// constants (EventBeacon, EventAccountLink, …), spelled as LINE's types; a
// segment counts them once the schema lists them (segment.SchemaConfig.Events)
// and a rule triggers on them by that kind.
//
// Left out, with a note:
//
//   - join, leave, memberJoined, memberLeft, and any event whose source is
//     a group chat or a multi-person chat (room) — a member's message
//     included: the account is a member there, and the member is not
//     necessarily a friend;
//   - module, activated, deactivated, botSuspended, botResumed and
//     delivery (LINE notification messages): about the channel, not a
//     friend;
//   - an event without a userId in its source, without a webhookEventId or
//     a timestamp, or whose type's object cannot be read (malformed, also
//     logged as a warning);
//   - types this version does not know.
//
// Events of a channel in standby mode (another module channel has chat
// control) are ingested like the others, with Arrival.Standby; they carry
// no reply token, and LINE's reference says the bot that receives them
// should not send messages: the engine changes state for them (tags,
// fields, scores) and queues no message their unit decides.
//
// # Sending
//
// A Sender sends the outbox's deliveries to LINE's Messaging API through
// the official SDK's client (github.com/line/line-bot-sdk-go/v8,
// messaging_api.MessagingApiAPI): it implements stepcast.Sender for every
// delivery kind. One Send is one attempt; the dispatcher that drains the
// outbox decides when to try again, from the error's class:
//
//	2xx                        delivered: LINE's X-Line-Request-Id
//	409, with a retry key      delivered before: X-Line-Accepted-Request-Id
//	429 "…monthly limit."      stepcast.ErrQuotaExceeded: stop the send
//	other 429, 408, 425, 5xx,  stepcast.ErrRetryLater: again later, with the
//	timeout, dropped or        same retry key, within its 24 hours (a
//	refused connection         reply: within its token's minute)
//	5xx, timeout or dropped    stepcast.ErrUncertain: it may have been
//	connection of a message    delivered (LINE says so of 5xx and
//	request without a retry    timeouts), and nothing would tell a repeat
//	key (a reply)              apart (a reply's token is single-use): not
//	                           retried
//	401                        stepcast.ErrUnauthorized: the channel access
//	                           token is refused; stop the send
//	400, 403, 404, …           permanent: a *Error with LINE's message
//
// A request never made — the wait for the rate limit would outlast the
// call's deadline, the connection was refused — is ErrRetryLater whatever
// the kind, and says "no request made" (Error.NotSent).
//
// A 401 (the channel access token expired or was revoked) would fail
// every delivery alike: the engine's dispatcher stops on it, as on the
// quota, and fails nothing for it.
//
// Every error from a request is a *Error (errors.As) with the HTTP status,
// LINE's message and details, and the request ID. A delivery that fails
// stepcast.Delivery.Validate (its messages checked by stepcast.CheckMessage
// against LINE's reference), a recipient that is not a LINE userId ("U"
// and 32 lowercase hex digits), or a retry key where LINE takes none, makes
// no request and fails with stepcast.ErrInvalid.
//
// The body carries each message as the outbox queued it, byte for byte:
// the Sender writes the request around the stored message objects and
// sends it with the SDK client's Do, which adds the channel access token,
// on an http.Request made with the call's context. The SDK's typed calls
// are not used to send: they re-encode the messages (encoding/json
// compacts and HTML-escapes even a json.RawMessage a message type would
// return from MarshalJSON), write "customAggregationUnits":null and
// "notificationDisabled":false, send an empty X-Line-Retry-Key header when
// given no key (LINE's specification wants a UUID), and take their context
// from WithContext, a field of the shared client that concurrent calls
// race on. The quota and progress reads use the SDK's typed calls on a
// copy of the client made for the one call.
//
// Each endpoint has a token bucket at LINE's published rate (PublishedRates),
// shared by all goroutines sending through the Sender and waited on with
// the call's context. The buckets are per Sender: several processes
// sending for one channel must share the rate among them (SenderConfig.Rates).
//
// Before a large send, Sender.Quota reads the month's quota and its use;
// the pure helpers plan and check the send before it is queued:
// GroupPushes turns pushes of identical rendered messages into multicasts
// of at most 500 (with a statistics unit per experiment variant, where
// asked), and Cost and Quota.Fits say whether it fits the quota. After a
// failed attempt, Backoff.Next says when to try again, if at all: only
// ErrRetryLater is retried, and never once the retry key is 24 hours old;
// Backoff.NextFor a reply, never once its token is a minute old.
//
// A narrowcast goes to every friend, to a demographic filter, or to an
// audience uploaded with Sender.UploadAudience (accounts in Japan,
// Thailand and Taiwan only). LINE accepts it (202) and sends it later:
// Sender.NarrowcastProgress polls it, and its Err says whether it failed
// — ErrAudienceTooSmall for an audience of fewer than 50, which
// UploadAudience refuses from the start (distinct users: LINE keeps one
// of an ID given twice).
//
// # Tracking links
//
// LINE reports no per-friend opens or clicks (its statistics are
// aggregates, and numbers under 20 come back null), so clicks through our
// own redirects are the per-friend signal. A Linker signs per-friend
// redirect URLs, and its two handlers turn their use into events:
//
//   - Linker.URL(friend, link, opts) returns BaseURL + a token: the friend,
//     the link's name, an expiry and, for a send in an experiment, the
//     experiment and variant, signed with HMAC-SHA256 (truncated to 128
//     bits) under a key bound to the account. Destinations come from the
//     Linker's registry of named links, never from the token, so a token
//     cannot become an open redirect.
//   - Linker.ClickHandler(rec) answers GET BaseURL/<token>: it records a
//     click (Kind click, Name the link, the friend, the experiment and
//     variant in Data) through rec — a Recorder, such as an
//     *engine.Account — durably, then
//     redirects (302) to the link's
//     destination. A forged, tampered, truncated or unknown-link token is
//     a 404, an expired one a 410, and neither records anything. HEAD
//     requests, prefetches and link-preview crawlers — LINE fetches every
//     link of a message to draw its preview — are redirected without
//     counting.
//   - Linker.ConversionHandler(rec) is the conversion beacon: a pixel (GET)
//     or a POST taking the same token, a conversion name and optionally an
//     amount and an order ID, recording a conversion with the token's
//     friend, experiment and variant. An order ID makes it count once per
//     friend, name and order (a reloaded thank-you page): the friend is
//     part of the key, so a report with one friend's token cannot use up
//     another's order. The amount is read as a shop's page writes it
//     ("1200", "1,200", "¥1,200", "１２００円", "1200.50"); one that cannot
//     be read ("1e3", "-5", "NaN") does not lose the conversion, which is
//     recorded at 0 with the text in Data (DataUnreadAmount).
//   - Linker.Conversion builds a conversion on the host's server, which is
//     where revenue should be reported from: a browser can send any
//     amount. Each conversion name has one source — the beacon's names are
//     those in LinkerConfig.Conversions, and Linker.Conversion refuses
//     them — so a page's report never stands in for the host's and no
//     conversion is counted twice.
//
// With LinkerConfig.TokenParam, the click's redirect hands the token to
// the landing page in that query parameter (replacing one of that name
// the destination already has), for the page to pass to the beacon or the
// host's checkout.
//
// The click and conversion events carry the experiment and the variant in
// Data (DataExperiment, DataVariant) so that A/B tallies can be counted
// from the event log. The segment language sees them as any click or
// conversion: clicked("link", 7), converted("purchase").
//
// A Linker is per account: friend IDs are. Its secrets are at least 32
// bytes; the first signs and all verify, so a secret is rotated by
// putting a new one first and dropping the old one once its tokens have
// expired.
//
// Personalized URLs make every friend's message different, so a message
// with one cannot be sent as a multicast (one request for up to 500
// friends, identical messages): it takes one push per friend.
//
// # Inflow routes (流入経路)
//
// A route is a URL per source — a poster's QR code, an ad, a web page —
// that tells which one a friend came through. LINE's follow webhook says
// nothing of where a friend came from, so the route's URL identifies the
// visitor through LINE Login before they become a friend:
//
//   - Routes.URL(route) is EntryURL + the route's name. Routes.EntryHandler
//     answers it with 302 Found to LINE Login's authorization endpoint:
//     response_type=code, the LINE Login channel linked to the LINE
//     Official Account (client_id), CallbackURL (redirect_uri), a signed
//     state carrying the route, its expiry and a random nonce, scope
//     "openid profile", that nonce, and bot_prompt (aggressive by default:
//     LINE asks the visitor to add the account right after they consent).
//     A cookie bound to the callback's path holds the nonce, one cookie
//     per route: two routes opened in one browser both complete.
//   - Routes.CallbackHandler(rec) is served at CallbackURL: it verifies
//     the state (signed by these Routes, unexpired; the cookie, when the
//     browser kept it, matches), exchanges the code at the token endpoint,
//     verifies the ID token (HS256 with the channel secret, iss, aud, exp,
//     the nonce) and reads the visitor's LINE userId (sub). It records one
//     event through rec — Kind stepcast.EventRoute, Name the route, User
//     the userId, Value what the visit found: stepcast.RouteAdded when
//     LINE says friendship_status_changed (the visitor added the account
//     at the prompt), RouteFriend when they already followed, RouteVisitor
//     otherwise (LINE's friendship status API decides the last two) — and
//     redirects to the route's destination.
//
// The engine attributes the follow to the route whichever comes first —
// the visit (the route is held for the visitor until they follow) or the
// follow webhook (which the add-friend prompt sends before the visitor is
// back at the callback; see engine.Config.RouteWait) — and sets off the
// follow rules of that route (rules.OnFollow with Route, FirstOnly for
// first follows only). A route's follow rule that starts a scenario takes
// the place of the default friend-add scenario — if the route is known
// before the default rules run (engine.Config.RouteWait); a visit after
// them is attributed, but starts no second scenario. Account.RouteCounts
// counts each route's visitors, new friends, returning friends and
// friends who already followed.
//
// A forged, tampered or expired state is a 400 and records nothing; so is
// a code LINE refuses (400 invalid_grant: a reloaded or repeated
// callback) or an ID token that does not verify. LINE failing or out of
// reach is a 502, recording nothing either. A visitor who cancels the
// login reaches the destination with nothing recorded.
package lineadapter

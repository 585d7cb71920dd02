// Package lineadapter is stepcast's edge to LINE: the webhook handler that
// turns a channel's webhook requests into stepcast events.
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
//     puts the whole body in its error text; no body is ever logged;
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
// replyToken, Redelivered = deliveryContext.isRedelivery and, for a
// follow, Unblocked = follow.isUnblocked (which LINE warns is not always
// accurate). Data keys are LINE's own field names; Data holds only what
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
// control) are ingested like the others; they carry no reply token.
package lineadapter

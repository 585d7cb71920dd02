// Package linetest is a fake LINE Messaging API server for tests and
// examples: point a client (the official SDK's messaging_api client with
// WithEndpoint, or stepcast's Sender) at Server.URL instead of
// https://api.line.me, and it checks every request against LINE's rules,
// records it, answers as LINE does, and fails on demand.
//
// It is a test double: never expose it to a network.
package linetest

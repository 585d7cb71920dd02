// Package stepcast is the shared vocabulary of the stepcast module: friend
// identifiers, field types and the errors that several packages speak.
//
// stepcast gives a Go host application what L-step (Lステップ) gives a LINE
// Official Account: friends with tags, typed fields and scores, a segment
// language compiled to roaring bitmaps, scenario delivery, A/B tests and
// delivery through the LINE Messaging API, over pluggable storage.
//
// This root package holds no logic beyond validation, does no I/O and imports
// none of its subpackages. The work happens in:
//
//   - [github.com/stepcast/stepcast/segment]: the segment language (expr
//     syntax) compiled to bitmap set operations over an in-memory index.
//
// The runtime that wires the pieces (engine), persistence (store) and the LINE
// edge (lineadapter) follow in later packages.
package stepcast

// Package render fills placeholders for friend fields into LINE message
// objects: the "{{name}}さん、こんにちは" of a broadcast, a test send, a
// scenario or reminder step, a rule's push or reply (the engine parses
// the definitions' messages when they are set, and renders at queue time).
// It is pure: Parse checks a list of messages against an account's
// schema once, and Template.Render renders them for one friend's record,
// with no I/O.
//
// # Syntax
//
// Within the string values LINE shows to the person (see below):
//
//   - {{name}} is replaced by the friend's value of the field name (a
//     field of the schema: letters of any script, digits, '_'; spaces
//     around the name are ignored: {{ name }});
//   - {{name|default text}} is replaced by the default text, as written
//     between '|' and "}}", when the friend has no value (never set, or
//     the empty string); {{name|}} renders nothing then;
//   - {{{{ is a literal "{{" (write "{{{{name}}" to show "{{name}}"); a lone
//     "}}" is literal text.
//
// A friend without a value for a placeholder without a default is
// skipped, with that reason (Skip): their messages are not sent.
//
// display_name is the friend's LINE display name (their profile, set by
// store.SetProfile), unless the schema declares a field of that name,
// which then wins.
//
// # Values
//
// A string or choice field renders as it is; an int in decimal
// ("12000"); a float in the shortest decimal form that reads back the
// same ("0.5", "3"); a time in the account's zone (the schema's
// Location) with TimeLayout, "2006-01-02 15:04". A bool field cannot be
// rendered (what would "true" say to a person?): a placeholder naming
// one is an error; segment on it instead.
//
// # Where placeholders go
//
// Placeholders are rendered in string values under the keys LINE shows
// to the person, anywhere in the message (RenderedKeys): "text" (a text
// message, a flex text or span, a template's text, a message action's
// text), "altText" (the notification and the chat list), "title" (a
// template, a location), "label" (a button, a quick reply, a template
// action), "displayText" (a postback action's echo) and "address" (a
// location). Two exceptions: a textV2 message's own text, whose braces
// are LINE's ({{ is its literal "{" and {name} its substitutions), is
// sent as written; and any other string (a URL, a postback's data, a
// type) may not hold "{{" at all — ErrNotAllowed —, so that a
// placeholder put where it would not be rendered is caught, not sent.
//
// A text message's LINE emojis ("emojis": each index the position of a
// "$" in the text, in UTF-16 units) are counted in the text as written,
// placeholders as their syntax; Render moves each index by what the
// placeholders before it grew or shrank. A "$" inside a placeholder
// cannot be an emoji's (ErrNotAllowed).
//
// # Errors
//
// Parse reports the first problem as an *Error naming the message (from
// 0), the property (a path such as "contents.body.contents[0].text") and
// the position in that string (in characters, from 0), wrapping one of:
// ErrUnclosed ("{{" with no "}}"), ErrEmptyName ("{{}}", "{{|x}}"),
// ErrBadName (not a field name, or a nested "{{"), ErrUnknownField (not
// in the schema), ErrUnrenderable (a bool field), ErrDefaultTooLong (a
// default over MaxDefaultLen characters), ErrNotAllowed (see above), or
// ErrMessage (a message that is not a JSON object, or that
// stepcast.CheckMessage refuses after a trial render, in which each
// placeholder stands as its default, or its name when it has none). Every
// error also wraps stepcast.ErrInvalid.
//
// # Rendering
//
// Render returns messages LINE takes — each rendered message that holds a
// placeholder passes stepcast.CheckMessage again, unless it is shorter
// in bytes than the smallest length limit CheckMessage holds its strings
// to (then it passes by construction, without a decode) — or a *Skip: a field
// unset with no default (SkipMissing), or a message the values made
// invalid (SkipInvalid: a text grown past 5,000 UTF-16 units, an altText
// past its limit), so that a friend with an outsized value is left out,
// with the reason, instead of failing the send. Messages without a
// placeholder are checked once, by Parse, and returned as they are.
//
// For counting without rendering: Template.Required lists the fields used
// without a default, in the order Render reports them missing, and
// Template.Bounded says whether no value can make a message invalid (no
// string field, no value long enough to pass a limit), so that a caller
// can count a whole audience's skips from an index (!has("field")).
package render

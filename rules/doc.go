// Package rules is stepcast's action rules (アクション設定): triggers,
// ordered {condition, action} steps, the queue of rules one unit of work
// sets off, and the decision of what each action does to a friend.
//
// It is pure, like scoring: no I/O, no clock, no goroutines. The engine
// runs a unit of work — an event, or due work waking up — and asks this
// package three things:
//
//  1. which rules the unit sets off (Run.Event: an event by kind, name and
//     value, a follow, a message matching a keyword — exact, partial or
//     prefix, compared as NormalizeText folds them), and which a change sets off
//     in turn (Run.Changed: a tag added or removed, a field changed;
//     Run.Crossed: a score threshold crossed), first in, first out, with a
//     chain deeper than the engine's limit refused as a *LoopError;
//  2. whether a step's condition holds — a segment expression matched
//     against the friend as the steps before it left them (CompiledStep.If,
//     segment.Segment.MatchRecord);
//  3. what the step's action does to the friend (Set.Decide): the action
//     resolved into a concrete one — a value read from the event, a field
//     incremented, a random number drawn from a seed fixed by the unit and
//     the step, a date shifted by calendar days in the account's zone — or
//     nothing, with a note saying why.
//
// The engine then applies the concrete action to its transaction: state
// changes, timers, the outbox. Scenario and reminder steps run their
// actions through the same Decide, so a rule and a scenario do the same
// thing with the same action.
package rules

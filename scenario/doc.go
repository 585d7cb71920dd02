// Package scenario is stepcast's scenario (step) delivery — シナリオ配信,
// ステップ配信 — and reminders (リマインダ配信): per-friend state machines,
// pure in the manner of etcd's raft and of package scoring.
//
// A scenario is a list of steps a friend goes through from the moment
// they enter: each at its time — a day after entry at a clock time, a
// duration after entry, immediately, after a random delay, at the next
// clock time —, each with an optional condition checked when it is due,
// messages and actions, and branches (go to a step, switch to another
// scenario, end). An exit condition and a goal end a run early; an entry
// policy says who may enter again. A reminder is the same, timed backwards
// from a goal (a booking): "3 days before at 08:00", "1 hour before".
//
// Machine.Step and ReminderMachine.Step take the definition, the friend's
// state, an input (start, stop, move, wake up; set or cancel a goal) and
// now, and return the new state and an Output: messages to send and
// actions to run, each with its idempotency key, the journey records —
// every step ends in exactly one recorded way: sent, skipped or cancelled,
// with the reason —, and when to wake the machine next. They read no
// clock, do no I/O, start no goroutines; the caller (the engine) owns
// time, storage and sending, and must honour Output's ordering obligations.
//
// Compile refuses steps of one scenario that a run could only go round
// without waiting, and CheckLoops scenarios that enter one another so; a
// wait counts from MinWait, a minute. A reminder's goal follows the
// current definition: ReminderState names the steps gone through, so
// that an edit never sends one again and records a step it removes.
//
// A step may be an A/B test: Step.Experiment names the caller's
// experiment and Step.Variants holds each variant's messages. The machine
// does not choose — it is pure and knows no friend's userId —: the step
// sends, and its Send carries the variants for the caller to pick one
// (the engine assigns the friend with package abtest).
//
// Conditions are segment expressions (package segment) compiled against
// the account's schema; the caller evaluates them for the friend through
// the Conditions interface, at the moment the step is due.
package scenario

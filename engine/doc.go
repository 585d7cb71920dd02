// Package engine is stepcast's runtime: it turns a LINE account's events
// into friend state, durably and exactly once, and keeps a live segment
// index over it.
//
// An Engine holds a store (memstore, boltstore, pgstore) and serves any
// number of accounts, each with its own Definitions — the friend schema,
// the scoring model, the action rules (アクション設定), the scenarios
// (ステップ配信) and the reminders (リマインダ配信) — and its own index.
// Nothing crosses from one account to another.
//
// # Ingesting
//
// Account.Ingest takes events (a follow from a webhook, a click on a
// tracking link, a survey answer, a conversion the host reports) and makes
// each one unit of work in the store:
//
//  1. the friend is found, or created on first sight from Event.User;
//  2. the event is logged — an ID logged before makes the event a duplicate
//     that changes nothing (LINE redelivers webhooks);
//  3. follow and unfollow change the follow status, decided by event time
//     rather than arrival: a friend follows when their latest follow is
//     later than their latest block (a block wins a tie), so a follow that
//     arrives late, dated before a block, leaves them blocked; the follow
//     rules run for a follow that made the friend follow. A friend who
//     writes (a message, a postback) with no follow or block ever
//     recorded — they added the account before its webhook was wired up,
//     or while webhooks were down — follows from that event, logged as a
//     follow at its time, without the follow rules: LINE lets no one who
//     blocked the account write to it. Their follow event, should it come
//     after all (out of order, redelivered), is their first follow: the
//     follow rules run, and followed_at moves back to it if earlier;
//  4. the scoring model scores the event; crossing a threshold runs the
//     threshold's actions and the rules that watch it;
//  5. the rules the event sets off run, in order of definition; then the
//     rules their actions set off (a tag added, a field changed, a
//     threshold crossed), first in, first out. Each step's condition is a
//     segment expression evaluated for that friend at that moment, against
//     the state the steps before it left — including events of the same
//     unit. A chain deeper than Config.MaxDepth fails with a *rules.LoopError;
//  6. the state changes, the scoring state and the outbox entries commit
//     together, or — on any error — nothing does;
//  7. the live index takes the unit's changes.
//
// Everything a unit decides uses the event's time, never the clock, and
// random_field draws from a seed fixed by the event: replaying the same
// events into an empty store gives the same state.
//
// # Late, early and malformed events
//
// LINE redelivers webhooks late and hosts report conversions late. State
// that is a function of event times — follow status and times, lifetime
// and recent scores, threshold tags of a score whose two thresholds share
// a level — ends the same whatever the arrival order (tested by shuffling),
// but for scoring rules limited to once or N per window, which count
// events as they arrive.
// Rules, though, run when an event is processed and see the state at that
// moment: a late event's rule conditions see today's tags and fields, and
// a threshold is judged at the friend's latest time (see package scoring).
//
// Every event is checked where it enters (Ingest, IngestBatch, Record, Backfill)
// against the input limits of the root package (stepcast.Event.Validate:
// lengths, UTF-8, no NUL, finite amounts, times from 1970) and refused if
// dated more than Config.FutureTolerance (an hour) after the clock
// (ErrFutureEvent), or of kind journey or with an ID beginning "journey/"
// or "wake/" (the engine's own), before anything is written: every store then keeps
// alike what is accepted.
//
// IngestBatch commits many events at once for throughput; each event still
// applies wholly or not at all. Backfill does the same for history and
// sends nothing. Record is IngestBatch in the root's terms
// (stepcast.Recorded) for the LINE edge, which must not import the engine
// (*Account is a lineadapter.Recorder): it says which events were refused
// for their own fault and returns an error only when some were lost for
// another (the store, Close, the context), which a redelivery may fix.
//
// # Due work
//
// A unit of work runs for an event or for due work waking up: a timer of a
// friend or of the account whose time has come. Tick leases the due timers
// of the kinds it has a handler for (DueKind: DueScoring, a decaying score
// crossing a threshold; DueScenario, a scenario's pending step; DueReminder,
// a reminder's; DueStart, an account's check of a relative start
// condition; DueReminderEdit, an account's pass over the goals of an
// edited reminder; DueBroadcast, a scheduled broadcast's next chunk;
// DueExperiment, an A/B test's auto-winner plan), runs each as a unit of
// work, and commits them in batches, each still all or nothing. Run calls
// Tick every PollInterval.
//
// # Scenarios and reminders
//
// A scenario (package scenario) is entered by start_scenario, by
// move_scenario or, with StartWhen, when a change brings the friend into
// its condition — on that change, not in a nightly batch — or time alone
// does: a relative condition (followed_days >= 3, !clicked("offer", 7))
// comes true only at a midnight in the account's zone, when the account's
// DueStart timer compares it over the index with its last check and wakes
// the friends it brought in. The friend's state is one timer per
// scenario, due at the pending step, and their membership is in the index
// (in_scenario, scenario_step). A step due queues its messages as one push
// with a key fixed by the run and the step — its placeholders ({{name}},
// package render) rendered for the friend, as in every message the engine
// queues (rules' pushes and replies too); a friend without a value and no
// default has the step recorded skipped, with the reason, and the run goes
// on —, runs its actions as a rule's are run, and records the journey as events of kind stepcast.EventJourney
// (the segment language's scenario_entered, scenario_finished,
// scenario_exited). An exit or goal condition is checked on every change
// of the friend. A run that ends early — stopped, an exit, a goal, a block,
// a restart, a move — takes back the messages of its steps still in the
// outbox and records them withdrawn; those of a run that went through, or
// that a branch switched to another scenario, are left to go. Nothing
// starts for, or is sent to, a friend who does not follow.
//
// Editing a scenario gives it a new version: runs stay on the version they
// entered on unless the scenario says Migrate (then they move by the name
// of their pending step). A scenario or reminder removed from the
// definitions ends its runs when their next step comes due.
//
// Definitions whose scenarios would enter one another round and round
// without waiting (a step's start_scenario or move_scenario, a branch's
// switch, back to where it began, no step on the way waiting
// scenario.MinWait or more) are refused when given, naming the cycle
// (scenario.CheckLoops); a loop only a condition keeps going fails its
// unit of work at run time with ErrScenarioLoop.
//
// A reminder counts back from a goal (a booking's time) that
// start_reminder sets, per goal key (one per booking), and moves or
// cancels. Reminders are not versioned: when SetDefinitions edits a
// reminder's steps, its pending goals are reconciled with the new steps by
// name — a step sent is not sent again, a step removed is recorded
// cancelled, a step added is sent at its time, or follows the reminder's
// if_past if that has passed. SetDefinitions only records the edit, as the
// account's due work (DueReminderEdit, one timer per reminder edited): the
// next Tick pages through the reminder's goals due later, 1000 a unit, in
// the order of due work (store.ReadTx.DueTimers) — their number, not the
// friends', is its cost — making each due, and each is then reconciled in
// its friend's own unit. Another edit while a pass goes on starts it
// again from the first goal.
//
// # A/B tests
//
// Definitions.Experiments declares A/B (and A/B/n) tests (Experiment): the
// variants with their weights, a holdout, the tracking links and
// conversion names that count, the attribution window, the analysis and,
// optionally, the auto-winner plan. A scenario step (scenario.Step) or a
// broadcast (Broadcast) names one and has the messages of each variant.
// When the step is due, or the broadcast plans a chunk of its audience,
// the engine assigns the friend by abtest.Experiment.Assign on
// their LINE userId — the same variant in every process and on every
// replay —, records it in the same unit of work (variant("offer") == "B"
// in segments; a friend in the holdout is recorded as "holdout" and sent
// nothing) and queues the variant's messages with the delivery's
// Experiment and Variant set. The tallies (store.Tally) grow in the unit
// of work of what they count: the recipients when the push is queued (by
// assignment, so that a push LINE refuses or a guard drops dilutes every
// variant alike), a friend's first click of a listed link and first
// conversion, with its amount as revenue, within the window after their
// send — marked in the friend's exposure (their timer "variant/<name>",
// never due), so that a second click or a redelivered event counts
// nothing. Nothing is scanned: a click costs a map lookup and a read of
// one timer.
//
// The experiment begins with its first send, in the account's timer
// "experiment/<name>" (DueExperiment). With a plan (ExperimentPlan), that
// timer is due work: at each wake-up abtest.Plan.Next decides on the
// tallies — test share, wait, decision, fallback at the deadline, a
// review when the split is broken — and the timer is due again when the
// plan next looks. In a scenario step, until the decision, friends outside
// the test share get the control, unrecorded; after it, every friend who
// reaches the step gets the winner (or nothing, by the fallback),
// unrecorded. A broadcast sends its test share when due and then waits,
// its audience frozen, until the plan decides: the experiment's due work
// then makes the broadcast due again for the rest, who get the winner.
// Account.DecideExperiment chooses a winner by hand, at once;
// Account.Experiment reports the tallies, the analysis (abtest.Result)
// with its explanation in words, and the plan.
//
// # Deliveries and notifications
//
// send_messages, link_rich_menu, unlink_rich_menu and the steps of scenarios and reminders
// queue typed deliveries (stepcast.Delivery: the kind, the recipients, the
// exact LINE JSON, the cause: rule, scenario or reminder and its name) in
// the outbox in the unit that decided them, with a key fixed by the unit,
// the rule and the step, and a retry key for the kinds LINE takes one for. Account.Deliveries lists them, DeliveryProgress counts
// them by cause, CancelDeliveries takes pending ones back. notify_host is
// the host's: Config.Notify gets it after the commit.
//
// Rich menus: link_rich_menu and unlink_rich_menu switch the unit's
// friend's menu; Account.LinkRichMenu and UnlinkRichMenu switch a whole
// segment's as one named operation of bulk requests (500 friends each,
// cause "rich_menu:<name>", resumable, never queuing a friend twice under
// one name), and SetDefaultRichMenu sets the account's default. A string
// field named rich_menu (RichMenuField) in the schema records the menu
// each friend was last linked to, for segments.
//
// reply answers the unit's event with its reply token (Event.Arrival): the
// reply actions of one unit make one reply of up to five messages, queued
// at ReplyPriority, whether or not the friend follows (a reply answers
// whoever wrote); the rest, and all of them when there is no token to use
// (due work, an event without one, an event older than
// Config.ReplyWithin), are pushed, each push and step saying why — or
// dropped, saying why, for a friend who does not follow (a push reaches
// only friends) or an event older than Config.ReplyPushWithin (ten
// minutes: too late to answer; a redelivered webhook's event keeps its
// time, so the cut-off holds for redeliveries too).
//
// An event that came in standby mode (Arrival.Standby: another channel
// has chat control, and LINE's reference says the bot should send no
// messages) changes state as any other, and its unit queues no message —
// no reply, no push, not a scenario step it runs —, each step saying why;
// rich menu links, which are not messages, still go.
//
// # Broadcasts
//
// A broadcast (Broadcast: a name, a segment, 1–5 messages with
// placeholders, a minute) is the account's due work: ScheduleBroadcast
// checks it — the segment compiles, each message passes
// stepcast.CheckMessage after a trial render, each placeholder names a
// field of the schema (package render) — and keeps it in a timer of
// friend 0, "broadcast/<name>" (DueBroadcast), due at its minute. When
// it comes due, Tick evaluates the segment on the live index then — not
// when it was scheduled: a friend who answered at 09:59 is in, one who
// blocked at 09:59 is out —, among friends who follow, and freezes that
// audience (a roaring bitmap, in a timer of its own, never due). It then
// plans BroadcastChunk (5,000) friends a unit of work, each committed
// with the broadcast's cursor, BroadcastChunksPerTick (20) a Tick — so
// that Run's dispatcher starts sending while the rest is planned: it reads their records, skips those who
// no longer follow or whose messages do not render (a field unset with
// no default, a text grown past LINE's limit), and queues friends whose
// rendered messages are byte-identical as multicasts of up to 500 — one
// alone in its chunk as a push, which LINE takes ten times faster and
// the dispatcher keeps in order with the friend's other pushes. Each
// delivery is keyed "broadcast/<name>/<chunk>/<n>", with a retry key
// derived from the key, its cause "broadcast:<name>", at
// BroadcastPriority (-1: below pushes and replies) unless the broadcast
// sets one. A crash loses at most the chunk under way, planned again from
// the same cursor over the same frozen audience: no friend is queued
// twice. Memory follows the chunk, not the audience (but for the frozen
// bitmap: about 40 KB for a million dense IDs, 128 KB at most).
//
// CancelBroadcast ends a scheduled broadcast before it is evaluated, or
// one being planned at its next chunk, and takes back its pending
// deliveries. Broadcast and Broadcasts report the status (scheduled,
// sending, sent, cancelled, failed), what planning did (audience,
// planned, skipped by reason, deliveries) and the outbox's progress.
// Preview says what a broadcast would do now, writing nothing: the
// audience, a sample rendered, the skips for missing fields counted over
// the whole audience from the index, and the cost in messages and in yen
// under each of LINE's plans (Plans), with the month's quota when
// Config.Sender is a QuotaReader.
//
// # Queries
//
// Account.Count, Evaluate, Explain and CrossTab run segment expressions
// over the live index; Account.Friend gives one friend's record, scores
// with their explanation (which rule, which event, how many points, how
// much of them is left after decay) and due work.
//
// # Changing definitions
//
// Account.SetDefinitions replaces an account's definitions while it runs;
// units of work in flight finish on the old ones. A schema change builds a
// new index from the store before it takes the old one's place.
//
// # Several instances
//
// Many engines may share one PostgreSQL database. Each unit of work is
// serialized per account by the store; each engine's index follows its own
// commits at once and everyone else's on CatchUp, which Run calls every
// PollInterval, so all indexes converge on the shared change log. Due work
// is leased from the store, so that one instance handles each.
//
// # Test sends and the sandbox
//
// Account.TestSend sends messages, or a broadcast's, to the account's
// test friends only (Definitions.TestFriends: the staff's LINE userIds),
// each rendered with that friend's own fields (package render), as
// pushes with a cause of
// their own (stepcast.CauseTest, "test:<name>"): counted in no
// broadcast's or experiment's progress or statistics, running no rules,
// changing no friend's state — only the outbox rows of the pushes are
// written —, each saying in its note that it is a test. Each push costs a
// message of the monthly quota, as any push does (TestSendReport.Messages);
// TestSend.Preview renders without queuing.
//
// Account.Sandbox runs events, and with SandboxRun.Until the due work of
// their friends that comes by then, as units of work inside one store
// transaction that it rolls back (store.Store.Update returns its error
// and keeps nothing, on every backend), and reports what would have
// happened to whom (SandboxReport): tags, fields, scores, thresholds,
// scenario and reminder steps, the deliveries that would be queued,
// notifications, the due work left. The index moves only after a commit
// and Config.Notify is called only after one, so neither is touched;
// nothing is leased, nothing reaches LINE. A run holds the account's
// write transaction while it runs — on boltstore and memstore, the whole
// store's —, so it is bounded: MaxSandboxEvents events, MaxSandboxUnits
// units of work.
//
// # Dispatching
//
// With Config.Sender set (lineadapter.Sender, or the host's own), Run
// drains each account's outbox every PollInterval through
// Account.Dispatch, which a host may also call itself. Each due delivery
// is leased (Config.DispatchLease, longer than one attempt of the Sender
// may take) and sent, with up to Config.DispatchConcurrency in flight,
// under the retry key fixed when it was queued; the outcomes are
// committed in groups. Order holds across lease rounds and engines: a
// leased push or reply is sent only once nothing queued before it to the
// same friend, of at least its priority, is pending (in flight, or
// waiting for a retry) — a reply may overtake pushes —, and the account's
// rich menu requests go one at a time in queue order; one held back is
// put back pending (ReasonWaitsForEarlier, ReasonRichMenuWaits), due when
// the earlier one may be done. A push to a friend who unfollowed after it
// was queued fails without a request (ReasonNotFollowing). A success is sent, with LINE's request ID — a 409,
// a retry of a request LINE accepted before, is a success under the
// accepted request's ID. stepcast.ErrRetryLater (a 5xx, the rate limit's
// 429, a timeout, a dropped connection) puts it back for later, with
// exponential backoff and jitter; stepcast.ErrUncertain (a reply, or a
// send without a retry key, answered with a 5xx or not at all: it may
// have been delivered) fails it with ReasonUncertain, never retried; any other
// error fails it, with the reason. No attempt is made that could reach LINE more than
// stepcast.RetryKeyValidity (24 hours) after the first, when LINE may no
// longer recognize the key: the delivery fails instead
// (ReasonRetryKeyExpired). The monthly quota (stepcast.ErrQuotaExceeded)
// holds back, pending for Config.QuotaPause, the deliveries it cannot
// cover — not the account: replies, rich menu requests and deliveries
// that fit go on. A refused channel access token (stepcast.ErrUnauthorized)
// stops the dispatch with nothing more failed or sent; Run then leaves
// the account alone for Config.QuotaPause. A reply whose token lapsed in
// the outbox (its event older than stepcast.ReplyTokenValidity) is
// replaced by a push of its messages, queued in the same commit that
// fails the reply, saying why.
//
// # Guards at dispatch
//
// Definitions.Guards are checked just before a message delivery's first
// request, not when it was scheduled (see Guards for what each covers):
//
//   - quiet hours (QuietHours) put a delivery due within the window back,
//     pending and untried, due at the window's end in the friend's zone
//     (store.Friend.TimeZone, else the account's) — DST-safe by
//     stepcast.LocalTime —, with ReasonQuietHours;
//   - frequency caps (FrequencyCap) count a friend's sent messages per
//     local day or rolling window, from a per-friend send log the
//     recorder appends to in the commit that records each send; a capped
//     message is deferred (ReasonCapDefer), dropped — failed
//     (ReasonCapDrop) — or skipped — cancelled (ReasonCapSkip) — by the
//     cap's policy for its cause; a priority at or above ExemptPriority
//     counts but is never capped (scenario steps, reminder steps and
//     send_messages actions set their push's with Priority, up to
//     MaxStepPriority; broadcasts with Broadcast.Priority);
//   - the quota guard refuses, pending and untried, what the month's
//     remaining quota (a QuotaReader Sender's, read at most every
//     Config.QuotaRefresh) cannot cover, and stops the dispatch with an
//     error wrapping stepcast.ErrQuotaExceeded (ReasonOverQuota), unless
//     Guards.SendOverQuota.
//
// A multicast whose recipients' verdicts differ is split before its first
// request: cancelled (ReasonSplit), and one delivery per verdict queued
// in the same commit under keys and retry keys of their own. A delivery
// that may have reached LINE (Attempts above 1 when leased) is never
// judged: its retry goes under its key. A guard-deferred delivery holds
// back none of its friend's later ones. DispatchReport counts Deferred,
// Dropped, Skipped and Split.
//
// # Progress
//
// Config.Progress receives DispatchProgress every Config.ProgressEvery
// and once at the end (Done): the dispatch's counts, requests and
// recipients with their rates, and per cause the outbox's figures
// (store.DeliveryProgress) with an ETA. It runs on a goroutine of its
// own, handed the newest report (older ones it has not taken are
// dropped), so a slow callback never holds up a send; Dispatch waits
// only for it to take the last. The figures are logged at Info at the
// same cadence. The worker pool is bounded (Config.DispatchConcurrency
// sends, one lease of 8 per worker at a time), so an outbox of any size
// drains in pages, resumable after a crash as leases expire.
//
// Exactly once rests on the retry key: a dispatcher killed after LINE
// accepted a send, or whose lease expired during a slow one, leaves the
// delivery to be tried again under the same key, and LINE's 409 records
// it sent. Sending the outbox some other way remains possible: a host may
// lease deliveries itself (Store.LeaseDeliveries, Tx.FinishDelivery).
package engine

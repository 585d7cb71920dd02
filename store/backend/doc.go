// Package backend is the kit of store backend authors, as
// database/sql/driver is to database/sql: package store says what a backend
// must do (its interfaces, records, sentinels and limits) to the code that
// uses one; this package holds what backends share to do it alike.
//
//   - The validators (ValidateChange, ValidateEvent, CheckUser,
//     ValidateTimer, ValidateDelivery, ValidateRestored, ValidateOutcome,
//     ValidateCancel, ValidateFilter, ValidateDefinition, ValidateTally,
//     ValidateLease, and store.AccountID.Validate at every entry point): a
//     backend calls the one of each input before it writes, so that every
//     backend accepts and refuses the same input, with errors matching
//     store.ErrInvalid and stepcast.ErrInvalid.
//   - The answers to edge reads: UserKey, EventKey, TimerKey,
//     DefinitionKey, DeliveryKey, CauseKey and NameKey say whether a
//     record may have a key — a lookup by one it may not finds nothing,
//     before the backend's storage sees it —, and Page whether a paged
//     read returns anything at all (limits not positive, after the last
//     key).
//   - The shared steps of a write: PrepareChanges (validate and apply
//     changes to copies of the friends' records), CheckNewEvent,
//     CheckTimer, CheckPut and CheckDelete (versioned records), Found,
//     PrepareFinish and Finish, Enqueued, Restored and CheckRestoreID,
//     Cancellable and Cancel, TakeLease, AddTally (a tally's checked sum);
//     and the meaning of a selection:
//     OfKind (Lease's kinds), Matches (a store.DeliveryFilter), Count (a
//     store.DeliveryProgress).
//   - The codecs: JSON (MarshalChange, UnmarshalChange, MarshalEvent,
//     UnmarshalEvent) and a compact binary form of friends and events
//     (AppendFriend, DecodeFriend, FriendDecoder, AppendEventRecord,
//     DecodeEventRecord), several times faster to decode.
//
// A new backend runs the conformance suite, store/storetest.
//
// The name says who imports it: the backends (memstore, boltstore,
// pgstore). "driver" would have said the same in database/sql's words, but
// here the backends are the drivers, and a package of that name beside
// them would read as one more.
package backend

package stepcast

// FriendID is the dense internal identifier of a friend within one LINE
// account. Stores allocate it on first sight of a LINE userId and never reuse
// it; dense IDs are what makes roaring bitmaps compact and fast.
type FriendID uint32

// UserID is the LINE userId of a friend ("U" followed by 32 hex digits), the
// external identifier LINE uses in webhooks and when sending.
type UserID string

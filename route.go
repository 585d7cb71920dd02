package stepcast

// EventRoute is a visit through an inflow route (流入経路): a URL of its own
// for each source — a poster's QR code, an ad, a web page — that
// identifies the visitor through LINE Login before they become a friend.
// Name is the route; Value what the visit found (RouteVisitor,
// RouteAdded, RouteFriend), or, for the records the engine makes when it
// attributes a follow to a route, RouteFollowed or RouteRefollowed. The
// event arrives with the visitor's LINE userId (User): a visitor who
// never followed becomes a friend record that is neither following nor
// blocked.
const EventRoute EventKind = "route"

// The values of an EventRoute event.
const (
	// RouteVisitor: the visitor was not a friend when the visit ended
	// (declined the add-friend prompt, or had blocked the account).
	RouteVisitor = "visitor"
	// RouteAdded: the visitor became a friend during the visit — LINE
	// Login's friendship_status_changed was true: they added (or
	// unblocked) the account at the add-friend prompt.
	RouteAdded = "added"
	// RouteFriend: the visitor already followed the account.
	RouteFriend = "friend"
	// RouteFollowed is recorded by the engine when it attributes a
	// friend's first follow to the route: a new friend through it.
	RouteFollowed = "followed"
	// RouteRefollowed is recorded by the engine when it attributes a
	// later follow (an unblock, a re-add) to the route.
	RouteRefollowed = "refollowed"
)

// DataRoute is the key of Data that names the inflow route on a follow
// event: what follow rules with a route match.
const DataRoute = "route"

package engine

import (
	"fmt"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
)

// Rich menus (リッチメニュー) per friend: a link_rich_menu or
// unlink_rich_menu action of a rule or a scenario's step queues a link or
// an unlink for the unit's friend; Account.LinkRichMenu and
// UnlinkRichMenu (richmenu_bulk.go) do it for a whole segment.

// RichMenuField is the field in which the engine records the rich menu it
// last linked to each friend, if the schema declares it (a string field):
// a link sets it to the menu's ID, an unlink unsets it, so that segments
// can ask for the current menu — rich_menu == "richmenu-…", or
// !has("rich_menu") for friends on the default menu. It records what the
// engine queued, not what LINE confirmed: a link LINE refuses (a menu
// deleted since) leaves the field ahead of the friend's screen, and the
// failed delivery says so in the outbox. Without the field nothing is
// recorded, and bulk operations write no change per friend.
const RichMenuField = "rich_menu"

// checkRichMenuField reports a RichMenuField declared with a type other
// than string.
func checkRichMenuField(sc segment.SchemaConfig) error {
	for i, f := range sc.Fields {
		if f.Name == RichMenuField && f.Type != stepcast.FieldString {
			return &DefinitionError{Path: fmt.Sprintf("schema.fields[%d].type", i), Err: fmt.Errorf(
				"%w: the field %q records the rich menu linked to each friend (its ID): it must be a string, not %s",
				ErrDefinition, RichMenuField, f.Type)}
		}
	}
	return nil
}

// hasRichMenuField reports whether sc declares RichMenuField.
func hasRichMenuField(sc segment.SchemaConfig) bool {
	for _, f := range sc.Fields {
		if f.Name == RichMenuField {
			return true
		}
	}
	return false
}

// switchRichMenu carries out link_rich_menu (a.Name: the menu) or
// unlink_rich_menu for the unit's friend: it queues the request and,
// when it did and the schema has RichMenuField, records the menu there.
func (u *unit) switchRichMenu(src source, a stepcast.Action) error {
	f := &u.friend
	// At the bulk requests' priority: LINE keeps the last switch it got,
	// so a friend's switches must go out in the order decided, which
	// equal priorities keep (oldest first).
	d := stepcast.Delivery{Kind: stepcast.DeliveryRichMenuUnlink, To: []stepcast.Recipient{{Friend: f.ID, User: f.User}}, Priority: RichMenuPriority}
	if a.Kind == stepcast.LinkRichMenu {
		d.Kind, d.RichMenu = stepcast.DeliveryRichMenuLink, a.Name
	}
	queued := len(u.res.Queued)
	if err := u.queueDelivery(src, d); err != nil || len(u.res.Queued) == queued || !u.def.richMenuField {
		return err // or nothing queued (a backfill, a friend who blocked): nothing to record
	}
	c := store.Change{Kind: store.UnsetField, Name: RichMenuField}
	if a.Kind == stepcast.LinkRichMenu {
		c = store.Change{Kind: store.SetField, Name: RichMenuField, Value: stepcast.StringValue(a.Name)}
	}
	return u.change(c, src.act)
}

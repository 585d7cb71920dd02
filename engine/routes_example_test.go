package engine_test

import (
	"context"
	"fmt"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/store/memstore"
)

// Inflow routes: a visit through the ad's route, then the follow, whose
// rule for that route starts the ad's scenario in place of the default
// one; and the route's counts.
func ExampleAccount_RouteCounts() {
	ctx := context.Background()
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	e, _ := engine.Open(engine.Config{Store: memstore.New(), Now: func() time.Time { return now }})
	defs, err := engine.ParseDefinitions("shop.yaml", []byte(`
schema: {events: [route]}
rules:
  - name: welcome
    trigger: {kind: follow}
    steps: [{kind: start_scenario, name: welcome}]
  - name: from-the-ad
    trigger: {kind: follow, route: ad, first_only: true}
    steps: [{kind: start_scenario, name: ad-offer}]
scenarios:
  - name: welcome
    steps: [{name: hello, day: 1, at: "10:00", messages: [{type: text, text: "ようこそ"}]}]
  - name: ad-offer
    steps: [{name: offer, day: 1, at: "10:00", messages: [{type: text, text: "広告をご覧の方へ"}]}]
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	shop, err := e.AddAccount(ctx, "shop", defs)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = shop.Ingest(ctx,
		// What lineadapter.Routes records at LINE Login's callback.
		stepcast.Event{ID: "visit/1", User: "Ua", Kind: stepcast.EventRoute, Name: "ad", Value: stepcast.RouteVisitor, At: now},
		// LINE's follow webhook, later.
		stepcast.Event{ID: "w1", User: "Ua", Kind: stepcast.EventFollow, At: now.Add(time.Minute)},
		// A friend of old comes through the ad too.
		stepcast.Event{ID: "w2", User: "Ub", Kind: stepcast.EventFollow, At: now},
		stepcast.Event{ID: "visit/2", User: "Ub", Kind: stepcast.EventRoute, Name: "ad", Value: stepcast.RouteFriend, At: now.Add(time.Hour)},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range []string{`in_scenario("ad-offer")`, `in_scenario("welcome")`} {
		n, _ := shop.Count(s)
		fmt.Println(s, n)
	}
	c, err := shop.RouteCounts("ad")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%+v\n", c)
	// Output:
	// in_scenario("ad-offer") 1
	// in_scenario("welcome") 1
	// {Route:ad Visitors:2 NewFriends:1 Returning:0 AlreadyFriends:1}
}

package lineadapter_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/lineadapter"
	"github.com/stepcast/stepcast/lineadapter/linetest"
)

// An inflow route for a poster's QR code: the visitor goes through LINE
// Login (here the fake one), adds the account at the prompt, and the
// visit is recorded with their LINE userId before they reach the page.
func ExampleRoutes() {
	login := linetest.NewLoginServer("1656000000", "channel-secret")
	defer login.Close()
	login.SetUser("U4af4980629bbbbbbbbbbbbbbbbbbbbbb")

	mux := http.NewServeMux()
	app := httptest.NewServer(mux)
	defer app.Close()
	routes, err := lineadapter.NewRoutes(lineadapter.RouteConfig{
		ChannelID: "1656000000", ChannelSecret: "channel-secret",
		Secrets:     [][]byte{[]byte("a secret of 32 bytes or more ......")},
		EntryURL:    app.URL + "/r/",
		CallbackURL: app.URL + "/login/callback",
		Routes:      map[string]string{"poster-station": app.URL + "/welcome"},
		// The fake LINE Login; leave both empty for LINE's.
		AuthorizeURL: login.AuthorizeURL(), APIURL: login.URL,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux.Handle("/r/", routes.EntryHandler())
	// In an application: the *engine.Account.
	mux.Handle("/login/callback", routes.CallbackHandler(printRecorder{}))
	mux.HandleFunc("/welcome", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "welcome") })

	qr, _ := routes.URL("poster-station") // what the poster's QR code holds
	jar, _ := cookiejar.New(nil)
	resp, err := (&http.Client{Jar: jar}).Get(qr)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println("landed on", resp.Request.URL.Path)
	// Output:
	// recorded: route poster-station U4af4980629bbbbbbbbbbbbbbbbbbbbbb added
	// landed on /welcome
}

// printRecorder prints what it is given to record.
type printRecorder struct{}

func (printRecorder) Record(ctx context.Context, events ...stepcast.Event) ([]stepcast.Recorded, error) {
	out := make([]stepcast.Recorded, len(events))
	for i, ev := range events {
		fmt.Println("recorded:", ev.Kind, ev.Name, ev.User, ev.Value)
		out[i].Friend = 1
	}
	return out, nil
}

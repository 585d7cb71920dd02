package engine_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/store/memstore"
)

// Progress while 10,000 welcome pushes drain into linetest, with a
// frequency cap on (each send logged per friend, none refused): reports
// come at their cadence, their counts only grow, the rule's remaining
// falls to zero, and the last report (Done) has every figure; a slow
// callback misses reports but holds up no send. linetest's record: each
// friend once.
func TestDispatchProgressLinetest(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 requests")
	}
	const n = 10_000
	srv := newLINE(t, n)
	var mu sync.Mutex
	var reports []engine.DispatchProgress
	e, err := engine.Open(engine.Config{Store: memstore.New(), Sender: newSender(t, srv.URL, 5*time.Second), DispatchConcurrency: 8,
		ProgressEvery: 20 * time.Millisecond,
		Progress: func(p engine.DispatchProgress) {
			mu.Lock()
			reports = append(reports, p)
			mu.Unlock()
			time.Sleep(30 * time.Millisecond) // slower than the cadence
		}})
	if err != nil {
		t.Fatal(err)
	}
	defs := welcomeDefs()
	defs.Guards.Caps = []engine.FrequencyCap{{Max: 3, Causes: []stepcast.CauseKind{stepcast.CauseRule}}}
	a, err := e.AddAccount(context.Background(), "shop", defs)
	if err != nil {
		t.Fatal(err)
	}
	followAll(t, a, n, time.Now())
	rep, err := a.Dispatch(context.Background())
	if err != nil || rep.Sent != n {
		t.Fatalf("%+v, %v", rep, err)
	}
	exactlyOnce(t, srv, a, n)
	mu.Lock()
	defer mu.Unlock()
	if len(reports) < 2 {
		t.Fatalf("%d reports", len(reports))
	}
	last := reports[len(reports)-1]
	if !last.Done || last.Report != rep || last.Requests != n || last.Recipients != n || len(last.Causes) != 1 {
		t.Fatalf("last report %+v; want done, the dispatch's report, %d requests and recipients, one cause", last, n)
	}
	c := last.Causes[0]
	if c.Cause != "rule:welcome" || c.Sent != n || c.Remaining != 0 || c.SentRecipients != n || c.Done != n || c.Recipients != n || c.ETA != 0 {
		t.Fatalf("the rule's progress %+v", c)
	}
	if last.RequestsPerSecond <= 0 || last.RecipientsPerSecond <= 0 {
		t.Fatalf("rates %v, %v", last.RequestsPerSecond, last.RecipientsPerSecond)
	}
	eta := false
	for i, r := range reports[:len(reports)-1] {
		if r.Done {
			t.Fatalf("report %d of %d is Done", i, len(reports))
		}
		if i > 0 && (r.Report.Sent < reports[i-1].Report.Sent || r.Elapsed < reports[i-1].Elapsed) {
			t.Fatalf("report %d went back: %+v after %+v", i, r.Report, reports[i-1].Report)
		}
		if len(r.Causes) == 1 && r.Causes[0].Remaining > 0 {
			if r.Causes[0].Remaining+r.Causes[0].Sent != n {
				t.Fatalf("report %d: %d remaining and %d sent of %d", i, r.Causes[0].Remaining, r.Causes[0].Sent, n)
			}
			eta = eta || r.Causes[0].ETA > 0
		}
	}
	if !eta {
		t.Errorf("no report gave an ETA over %d reports", len(reports))
	}
}

package engine_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/lineadapter/linetest"
	"github.com/stepcast/stepcast/store/boltstore"
)

// The dispatcher's crash test: a child process (this test binary, re-run
// with STEPCAST_DISPATCH_CHILD set) drains a boltstore outbox into a
// linetest server that runs in the parent, each push answered slowly. The
// parent kills it with SIGKILL while a push is in flight — which LINE then
// accepts, unknown to the outbox — and starts it again, several times, and
// at last lets it finish. linetest's record must then show every friend's
// push accepted exactly once, and the outbox every delivery sent under the
// accepted request's ID.

const crashFriends = 120

// TestDispatchCrashChild is the child's body; it does nothing in a normal run.
func TestDispatchCrashChild(t *testing.T) {
	path := os.Getenv("STEPCAST_DISPATCH_CHILD")
	if path == "" {
		t.Skip("runs only as the dispatcher crash test's child process")
	}
	fail := func(err error) {
		fmt.Println("error", err)
		os.Exit(2)
	}
	ctx := context.Background()
	st, err := boltstore.Open(path)
	if err != nil {
		fail(err)
	}
	e, err := engine.Open(engine.Config{Store: st, Sender: newSender(t, os.Getenv("STEPCAST_DISPATCH_LINE"), 2*time.Second),
		Holder: fmt.Sprintf("child-%d", os.Getpid()), DispatchLease: time.Second, RetryBase: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fail(err)
	}
	// With a cap of one welcome a day, dropping the rest: a send counted
	// twice across the crashes would drop a friend's welcome.
	defs := welcomeDefs()
	defs.Guards.Caps = []engine.FrequencyCap{{Max: 1, Causes: []stepcast.CauseKind{stepcast.CauseRule}, Policy: engine.CapDrop}}
	a, err := e.AddAccount(ctx, "shop", defs)
	if err != nil {
		fail(err)
	}
	for {
		rep, err := a.Dispatch(ctx)
		if err != nil {
			fail(err)
		}
		fmt.Printf("sent %d\n", rep.Sent)
		p, err := a.DeliveryProgress(ctx, "rule:welcome")
		if err != nil {
			fail(err)
		}
		if p.Pending == 0 {
			fmt.Println("done")
			os.Exit(0)
		}
		time.Sleep(20 * time.Millisecond) // for retries and a killed child's leases to come due
	}
}

func TestDispatchCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("the crash test kills processes; skipped with -short")
	}
	srv := newLINE(t, crashFriends)
	srv.Inject(linetest.Slow(linetest.Push, 40*time.Millisecond, 1_000_000))
	path := filepath.Join(t.TempDir(), "outbox.db")
	withStore := func(fn func(a *engine.Account)) {
		st, err := boltstore.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		e, err := engine.Open(engine.Config{Store: st})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		a, err := e.AddAccount(context.Background(), "shop", welcomeDefs())
		if err != nil {
			t.Fatal(err)
		}
		fn(a)
	}
	withStore(func(a *engine.Account) { followAll(t, a, crashFriends, time.Now()) })

	r := rand.New(rand.NewPCG(5, 8))
	const kills = 5
	for round := 0; round <= kills; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestDispatchCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "STEPCAST_DISPATCH_CHILD="+path, "STEPCAST_DISPATCH_LINE="+srv.URL)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		seen := len(srv.Requests())
		if round < kills {
			// Kill it while a request of its own is in flight, after a while.
			time.Sleep(time.Duration(100+r.IntN(300)) * time.Millisecond)
			killed := false
			for deadline := time.Now().Add(10 * time.Second); !killed && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				reqs := srv.Requests()
				for _, q := range reqs[seen:] {
					if q.Status == 0 && q.Endpoint == linetest.Push {
						_ = cmd.Process.Signal(syscall.SIGKILL)
						killed = true
						break
					}
				}
			}
			if !killed {
				t.Fatalf("round %d: no push in flight to kill the child in", round)
			}
		}
		done := false
		timeout := time.After(60 * time.Second)
	read:
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					break read
				}
				if strings.HasPrefix(line, "error") {
					t.Fatalf("round %d: child: %s", round, line)
				}
				done = done || line == "done"
			case <-timeout:
				_ = cmd.Process.Signal(syscall.SIGKILL)
				t.Fatalf("round %d: the child did not finish", round)
			}
		}
		_ = cmd.Wait()
		if round < kills && done {
			t.Fatalf("round %d: the child finished before it was killed", round)
		}
		if round == kills && !done {
			t.Fatalf("the last child did not finish the outbox")
		}
	}
	conflicts := 0
	for _, q := range srv.Requests() {
		if q.Status == 409 {
			conflicts++
		}
	}
	if conflicts == 0 {
		t.Errorf("no request was answered 409: no push accepted after a kill was sent again")
	}
	t.Logf("%d requests over %d SIGKILLs, %d of them answered 409", len(srv.Requests()), kills, conflicts)
	withStore(func(a *engine.Account) { exactlyOnce(t, srv, a, crashFriends) })
}

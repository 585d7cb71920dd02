package store_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/pgstore"
)

// The multi-process lease test: worker processes (this test binary, re-run
// with STEPCAST_LEASE_WORKER set) lease due timers from one PostgreSQL
// schema with a short lease, complete each (delete it at the leased
// version) and print "done <key>". One worker is killed with SIGKILL while
// it holds leases; its timers must be taken over by the others once the
// leases expire. Every timer must be completed exactly once.

const leaseAccount = store.AccountID("lease")

// TestLeaseWorker is a worker's body; it does nothing in a normal run.
func TestLeaseWorker(t *testing.T) {
	spec := os.Getenv("STEPCAST_LEASE_WORKER") // schema:holder:slow
	if spec == "" {
		t.Skip("runs only as the multi-process lease test's worker")
	}
	parts := strings.Split(spec, ":")
	ctx := context.Background()
	s, err := pgstore.Open(ctx, os.Getenv("STEPCAST_POSTGRES_DSN"), pgstore.Options{Schema: parts[0]})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	holder, slow := parts[1], parts[2] == "slow"
	idle := 0
	for idle < 30 { // stop after 3 s without work
		timers, err := s.Lease(ctx, leaseAccount, holder, time.Now(), time.Second, 5)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		if len(timers) == 0 {
			idle++
			time.Sleep(100 * time.Millisecond)
			continue
		}
		idle = 0
		if slow {
			fmt.Println("leased", len(timers))
			time.Sleep(time.Hour) // the parent kills it here, holding leases
		}
		for _, tm := range timers {
			err := s.Update(ctx, leaseAccount, func(tx store.Tx) error { return tx.DeleteTimer(tm.Friend, tm.Key, tm.Version) })
			if err != nil {
				fmt.Println("error", tm.Key, err)
				os.Exit(2)
			}
			fmt.Println("done", tm.Key)
		}
	}
}

func TestLeaseAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes; skipped with -short")
	}
	ctx := context.Background()
	s := mustPG(t, "")
	const n = 200
	err := s.Update(ctx, leaseAccount, func(tx store.Tx) error {
		f, _, err := tx.AddFriend("U1")
		if err != nil {
			return err
		}
		for i := range n {
			if _, err := tx.PutTimer(store.Timer{Friend: f.ID, Key: fmt.Sprintf("k%03d", i), Due: time.Now().Add(-time.Minute)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	run := func(holder, mode string) (*exec.Cmd, *bufio.Scanner) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLeaseWorker$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("STEPCAST_LEASE_WORKER=%s:%s:%s", s.Schema(), holder, mode))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, bufio.NewScanner(out)
	}
	// The doomed worker leases first, then dies holding its leases.
	doomed, out := run("doomed", "slow")
	for out.Scan() {
		if strings.HasPrefix(out.Text(), "leased") {
			break
		}
	}
	doomed.Process.Signal(syscall.SIGKILL)
	doomed.Wait()

	var mu sync.Mutex
	done := map[string]int{}
	var wg sync.WaitGroup
	for w := range 3 {
		cmd, out := run(fmt.Sprintf("w%d", w), "fast")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for out.Scan() {
				line := out.Text()
				if key, ok := strings.CutPrefix(line, "done "); ok {
					mu.Lock()
					done[key]++
					mu.Unlock()
				} else if strings.HasPrefix(line, "error") {
					t.Errorf("worker w%d: %s", w, line)
				}
			}
			cmd.Wait()
		}()
	}
	wg.Wait()
	if len(done) != n {
		t.Fatalf("%d of %d timers completed", len(done), n)
	}
	for k, c := range done {
		if c != 1 {
			t.Fatalf("%s completed %d times", k, c)
		}
	}
	err = s.View(ctx, leaseAccount, func(tx store.ReadTx) error {
		left, err := tx.FriendTimers(stepcast.FriendID(1))
		if err == nil && len(left) != 0 {
			t.Errorf("%d timers left", len(left))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

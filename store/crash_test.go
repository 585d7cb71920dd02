package store_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/boltstore"
	"github.com/stepcast/stepcast/store/pgstore"
)

// The crash test: a child process (this test binary, re-run with
// STEPCAST_CRASH_CHILD set) commits units of work as fast as it can and
// prints "acked N" after each commit returns. The parent kills it with
// SIGKILL at a random moment, reopens the store and checks that every
// acknowledged unit is there whole, that no unit is there in part, and that
// friend IDs are dense and unique. Then again, many times.

const crashAccount = store.AccountID("crash")

// crashAppName tags the child's PostgreSQL sessions, so that the parent can
// wait for a killed child's session to end: PostgreSQL may still finish a
// COMMIT the child sent just before it died.
const crashAppName = "stepcast-crash-child"

func withAppName(dsn, name string) string {
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "application_name=" + name
}

// waitForSessions waits until no PostgreSQL session named name is left.
func waitForSessions(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, os.Getenv("STEPCAST_POSTGRES_DSN"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatalf("the killed child's PostgreSQL sessions did not end")
}

// unit n adds friend U<n> with a tag, a field, a score and an event: four
// writes that must appear together or not at all.
func crashUnit(ctx context.Context, s store.Store, n int) error {
	return s.Update(ctx, crashAccount, func(tx store.Tx) error {
		f, _, err := tx.AddFriend(stepcast.UserID(fmt.Sprintf("U%d", n)))
		if err != nil {
			return err
		}
		if _, err := tx.Apply(
			store.Change{Friend: f.ID, Kind: store.SetTag, Name: fmt.Sprintf("unit-%d", n)},
			store.Change{Friend: f.ID, Kind: store.SetField, Name: "n", Value: stepcast.IntValue(int64(n))},
			store.Change{Friend: f.ID, Kind: store.SetScore, Name: "lead", Number: int64(n)},
		); err != nil {
			return err
		}
		_, err = tx.AppendEvent(stepcast.Event{ID: fmt.Sprintf("ev-%d", n), Friend: f.ID, Kind: "click", At: time.Unix(int64(n), 0)})
		return err
	})
}

func openCrashStore(ctx context.Context, spec string) (store.Store, error) {
	backend, where, _ := strings.Cut(spec, ":")
	switch backend {
	case "bolt":
		return boltstore.Open(where)
	case "pg":
		return pgstore.Open(ctx, withAppName(os.Getenv("STEPCAST_POSTGRES_DSN"), crashAppName), pgstore.Options{Schema: where})
	}
	return nil, fmt.Errorf("unknown backend %q", backend)
}

// TestCrashChild is the child's body; it does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	spec := os.Getenv("STEPCAST_CRASH_CHILD")
	if spec == "" {
		t.Skip("runs only as the crash test's child process")
	}
	ctx := context.Background()
	s, err := openCrashStore(ctx, spec)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	start, _ := strconv.Atoi(os.Getenv("STEPCAST_CRASH_START"))
	for n := start; ; n++ {
		if err := crashUnit(ctx, s, n); err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Printf("acked %d\n", n)
	}
}

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("the crash test kills processes; skipped with -short")
	}
	t.Run("boltstore", func(t *testing.T) {
		crashLoop(t, "bolt:"+filepath.Join(t.TempDir(), "crash.db"))
	})
	t.Run("pgstore", func(t *testing.T) {
		s := mustPG(t, "")
		schema := s.Schema()
		s.Close()
		crashLoop(t, "pg:"+schema)
	})
}

func crashLoop(t *testing.T, spec string) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(11, 12))
	acked := 0 // units 1..acked were acknowledged
	kills := 12
	for round := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "STEPCAST_CRASH_CHILD="+spec, fmt.Sprintf("STEPCAST_CRASH_START=%d", acked+1))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
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
		deadline := time.After(time.Duration(50+r.IntN(400)) * time.Millisecond)
	read:
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("round %d: the child exited on its own", round)
				}
				if n, found := strings.CutPrefix(line, "acked "); found {
					acked, _ = strconv.Atoi(n)
				} else if strings.HasPrefix(line, "error") {
					t.Fatalf("round %d: child: %s", round, line)
				}
			case <-deadline:
				cmd.Process.Signal(syscall.SIGKILL)
				break read
			}
		}
		for line := range lines { // acknowledgements printed before the kill landed
			if n, found := strings.CutPrefix(line, "acked "); found {
				acked, _ = strconv.Atoi(n)
			}
		}
		cmd.Wait()
		if strings.HasPrefix(spec, "pg:") {
			waitForSessions(t, crashAppName)
		}
		acked = checkCrashStore(t, ctx, spec, acked, round)
	}
	if acked < kills {
		t.Fatalf("only %d units were acknowledged over %d runs", acked, kills)
	}
	t.Logf("%d units acknowledged and found whole over %d SIGKILLs", acked, kills)
}

// checkCrashStore verifies the store after a kill and returns the number of
// whole units in it (at least acked: one more may have committed without
// its acknowledgement being read).
func checkCrashStore(t *testing.T, ctx context.Context, spec string, acked, round int) int {
	t.Helper()
	s, err := openCrashStore(ctx, spec)
	if err != nil {
		t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
	}
	defer s.Close()
	whole := 0
	err = s.View(ctx, crashAccount, func(tx store.ReadTx) error {
		friends, err := tx.Friends(0, 1<<30)
		if err != nil {
			return err
		}
		for i, f := range friends {
			n := i + 1
			if f.ID != stepcast.FriendID(n) || f.User != stepcast.UserID(fmt.Sprintf("U%d", n)) {
				return fmt.Errorf("friend %d is %d %s: IDs are not dense and in order", n, f.ID, f.User)
			}
			has, _ := tx.HasEvent(fmt.Sprintf("ev-%d", n))
			if len(f.Tags) != 1 || f.Tags[0] != fmt.Sprintf("unit-%d", n) || !f.Fields["n"].Equal(stepcast.IntValue(int64(n))) ||
				f.Scores["lead"] != int64(n) || !has {
				return fmt.Errorf("unit %d is half-applied: %+v, event %v", n, f, has)
			}
		}
		last, _ := tx.LastSeq()
		if last != uint64(3*len(friends)) {
			return fmt.Errorf("%d friends but LastSeq %d: a unit's changes are partly logged", len(friends), last)
		}
		whole = len(friends)
		return nil
	})
	if err != nil {
		t.Fatalf("round %d: %v", round, err)
	}
	if whole < acked || whole > acked+1 {
		t.Fatalf("round %d: %d units acknowledged, %d in the store", round, acked, whole)
	}
	return whole
}

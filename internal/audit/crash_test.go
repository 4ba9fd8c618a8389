package audit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/store"
	"github.com/vigil-sec/vigil/internal/store/storetest"
)

// The crash test re-executes the test binary as a child that appends
// under load; these variables tell the child what to do.
const (
	crashEnvChild = "VIGIL_AUDIT_CRASH_CHILD" // "1" selects the child mode
	crashEnvDSN   = "VIGIL_AUDIT_CRASH_DSN"
	crashEnvDir   = "VIGIL_AUDIT_CRASH_DIR"
	crashEnvKey   = "VIGIL_AUDIT_CRASH_KEY" // the signing key file
	crashEnvRun   = "VIGIL_AUDIT_CRASH_RUN" // distinguishes the keys of each run
)

const (
	crashOrigin  = "vigil.audit/crash-test"
	crashKills   = 3
	crashWorkers = 4
	// Lines the child prints: one per acknowledged entry, and one per
	// failure (the parent fails the test on it).
	crashAck   = "VIGIL-ACK "
	crashErr   = "VIGIL-ERR "
	crashReady = "VIGIL-READY"
)

// TestCrashAppend is the acceptance test "kill -9 the process while it
// appends under load; after restart the log verifies and every entry that
// was acknowledged is present", on each backend. A child process (this
// test binary again, in child mode) appends with several goroutines and
// signs checkpoints, printing each entry as soon as Append returned it;
// the parent SIGKILLs it while it appends, then opens the store again and
// runs Verify as vigil audit verify does (trusted key from the key file,
// the checkpoints seen by the earlier runs from a state file), and checks
// that every acknowledged key is at its acknowledged index. Three kills
// per backend, on one log.
func TestCrashAppend(t *testing.T) {
	if os.Getenv(crashEnvChild) == "1" {
		crashChild()
		return
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for _, be := range []struct {
		name  string
		newDB storetest.NewDB
	}{{"sqlite", storetest.SQLite}, {"postgres", storetest.Postgres}} {
		t.Run(be.name, func(t *testing.T) {
			dsn, dir := be.newDB(t) // postgres: skipped when unreachable, fails when CI=true
			crashParent(t, dsn, dir)
		})
	}
}

// crashParent runs the kills on one database and checks the log after each.
func crashParent(t *testing.T, dsn, dir string) {
	work := t.TempDir()
	keyFile := filepath.Join(work, "audit.key")
	if _, err := LoadOrCreateKey(keyFile, crashOrigin); err != nil {
		t.Fatal(err)
	}
	stateFile := filepath.Join(work, "audit-verify.json")
	acked := map[uint64]string{} // every acknowledged entry of every run
	for run := range crashKills {
		n := crashRunChild(t, run, dsn, dir, keyFile, acked)
		crashCheck(t, run, dsn, dir, keyFile, stateFile, acked)
		t.Logf("run %d: %d entries acknowledged before kill -9; %d in total", run, n, len(acked))
	}
}

// crashRunChild starts a child, lets it append for a while, kills it with
// SIGKILL and adds what it acknowledged to acked; it returns how many.
func crashRunChild(t *testing.T, run int, dsn, dir, keyFile string, acked map[uint64]string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashAppend$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnvChild+"=1", crashEnvDSN+"="+dsn, crashEnvDir+"="+dir,
		crashEnvKey+"="+keyFile, crashEnvRun+"="+strconv.Itoa(run))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	kill := func() {
		if !killed {
			killed = true
			_ = cmd.Process.Signal(syscall.SIGKILL)
		}
	}
	defer kill() // a failing test does not leave the child running

	type ack struct {
		idx uint64
		key string
	}
	lines := make(chan string, 1024)
	var readErr error
	go func() {
		defer close(lines)
		r := bufio.NewReader(out)
		for {
			s, err := r.ReadString('\n')
			if err != nil {
				// A line cut by the kill has no newline: it was not
				// printed whole, so it acknowledges nothing.
				if !errors.Is(err, io.EOF) {
					readErr = err
				}
				return
			}
			lines <- strings.TrimSuffix(s, "\n")
		}
	}()

	var (
		acks    []ack
		fails   []string
		ready   bool
		killAt  <-chan time.Time
		timeout = time.After(20 * time.Second)
		// Kill 200-700 ms into the appends, but not before 100 acks, so
		// the kill lands under load with transactions in flight.
		delay  = time.Duration(200+rand.IntN(500)) * time.Millisecond
		minAck = 100
		late   = false
	)
loop:
	for {
		select {
		case s, ok := <-lines:
			if !ok {
				break loop
			}
			switch {
			case s == crashReady:
				ready = true
				killAt = time.After(delay)
			case strings.HasPrefix(s, crashAck):
				f := strings.Fields(strings.TrimPrefix(s, crashAck))
				if len(f) != 2 {
					fails = append(fails, "bad ack line "+strconv.Quote(s))
					continue
				}
				i, err := strconv.ParseUint(f[0], 10, 64)
				if err != nil {
					fails = append(fails, "bad ack line "+strconv.Quote(s))
					continue
				}
				acks = append(acks, ack{i, f[1]})
				if late && len(acks) >= minAck {
					kill()
				}
			case strings.HasPrefix(s, crashErr):
				fails = append(fails, strings.TrimPrefix(s, crashErr))
				kill()
			}
		case <-killAt:
			killAt = nil
			if len(acks) >= minAck {
				kill()
			} else {
				late = true
			}
		case <-timeout:
			kill()
			fails = append(fails, "the child neither failed nor acknowledged enough entries in 20 s")
			timeout = nil
		}
	}
	werr := cmd.Wait()
	if readErr != nil {
		t.Fatalf("run %d: reading the child's output: %v", run, readErr)
	}
	var ee *exec.ExitError
	signaled := errors.As(werr, &ee) && ee.ProcessState.Sys().(syscall.WaitStatus).Signaled() &&
		ee.ProcessState.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
	if len(fails) > 0 || !ready || !killed || !signaled || strings.Contains(stderr.String(), "DATA RACE") {
		t.Fatalf("run %d: child failed (ready %v, killed %v, wait: %v):\n%s\nstderr:\n%s",
			run, ready, killed, werr, strings.Join(fails, "\n"), stderr.String())
	}
	for _, a := range acks {
		if k, dup := acked[a.idx]; dup {
			t.Fatalf("run %d: index %d acknowledged twice (%s and %s)", run, a.idx, k, a.key)
		}
		acked[a.idx] = a.key
	}
	return len(acks)
}

// crashCheck opens the store after a kill, verifies the log and checks
// that every acknowledged entry is there.
func crashCheck(t *testing.T, run int, dsn, dir, keyFile, stateFile string, acked map[uint64]string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn, dir)
	if err != nil {
		t.Fatalf("run %d: reopen after kill -9: %v", run, err)
	}
	defer st.Close()

	// What vigil audit verify does: the key file's public key is
	// trusted, the state file holds the checkpoints seen before.
	k, err := LoadKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	state, err := LoadState(stateFile)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(ctx, st, VerifyOptions{Origin: crashOrigin, Keys: []PublicKey{k.Public()}, Seen: state.Seen})
	if err != nil {
		t.Fatalf("run %d: verify: %v", run, err)
	}
	if !rep.OK() {
		t.Fatalf("run %d: the log does not verify after kill -9: %v", run, rep.Problems)
	}
	if rep.Entries != rep.Size {
		t.Fatalf("run %d: verified %d entries of %d", run, rep.Entries, rep.Size)
	}
	if rep.Size < uint64(len(acked)) {
		t.Fatalf("run %d: the log has %d entries, %d were acknowledged", run, rep.Size, len(acked))
	}
	// A restarted log signs a checkpoint (as the control plane does at
	// start); the next run's verify checks consistency from it.
	l, err := New(st, k, crashOrigin)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatalf("run %d: checkpoint after restart: %v", run, err)
	}
	if cp.Size != rep.Size {
		t.Fatalf("run %d: checkpoint after restart at size %d, the log has %d", run, cp.Size, rep.Size)
	}
	if rep.Latest != nil {
		state.Origin = crashOrigin
		state.Remember(*rep.Latest)
	}
	state.Remember(cp)
	if err := state.Save(stateFile); err != nil {
		t.Fatal(err)
	}

	stored := make(map[uint64]string, rep.Size)
	for next := uint64(0); next < rep.Size; {
		es, err := st.ListAuditEntries(ctx, next, 5000)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			stored[e.Index] = e.Key
		}
		next = es[len(es)-1].Index + 1
	}
	missing := 0
	for idx, key := range acked {
		if got, ok := stored[idx]; !ok || got != key {
			if missing < 10 {
				t.Errorf("run %d: acknowledged entry %d (%s) is not in the log (stored there: %q)", run, idx, key, got)
			}
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("run %d: %d of %d acknowledged entries missing", run, missing, len(acked))
	}
	// Entry 0..size-1 are each stored once: every index a key.
	if uint64(len(stored)) != rep.Size {
		t.Fatalf("run %d: %d entries stored, the head says %d", run, len(stored), rep.Size)
	}
}

// crashChild is the child mode: append under load until killed.
func crashChild() {
	var mu sync.Mutex // one goroutine writes stdout at a time, whole lines
	emit := func(b []byte) {
		mu.Lock()
		defer mu.Unlock()
		if _, err := os.Stdout.Write(b); err != nil {
			os.Exit(4)
		}
	}
	fail := func(format string, args ...any) {
		mu.Lock() // held until exit: nothing is printed after the failure
		fmt.Fprintf(os.Stdout, crashErr+format+"\n", args...)
		os.Exit(3)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, os.Getenv(crashEnvDSN), os.Getenv(crashEnvDir))
	if err != nil {
		fail("open store: %v", err)
	}
	k, err := LoadKey(os.Getenv(crashEnvKey))
	if err != nil {
		fail("key: %v", err)
	}
	l, err := New(st, k, crashOrigin)
	if err != nil {
		fail("log: %v", err)
	}
	run := os.Getenv(crashEnvRun)
	emit([]byte(crashReady + "\n"))

	// Checkpoints while appending, as the control plane signs them at
	// its interval.
	go func() {
		for {
			time.Sleep(50 * time.Millisecond)
			if _, err := l.Checkpoint(ctx); err != nil {
				fail("checkpoint: %v", err)
			}
		}
	}()
	for g := range crashWorkers {
		go func() {
			prev := ""
			for b := 0; ; b++ {
				n := 1 + (b*7+g*13)%40 // batches of 1 to 40
				recs := records(fmt.Sprintf("crash%s-g%d-b%d", run, g, b), n)
				if prev != "" {
					// A key logged before: idempotent, not appended again.
					recs = append(recs, records(prev, 1)...)
				}
				idx, err := l.Append(ctx, recs)
				if err != nil {
					fail("append: %v", err)
				}
				if len(idx) != len(recs) {
					fail("append: %d indices for %d records", len(idx), len(recs))
				}
				var out []byte
				for i, x := range idx {
					switch {
					case i == n && x != -1:
						fail("a key logged before was appended again at %d", x)
					case i < n && x < 0:
						fail("new key %s not appended", recs[i].Key)
					case i < n:
						out = fmt.Appendf(out, "%s%d %s\n", crashAck, x, recs[i].Key)
					}
				}
				emit(out)
				prev = fmt.Sprintf("crash%s-g%d-b%d", run, g, b)
			}
		}()
	}
	select {} // until killed
}

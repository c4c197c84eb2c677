package runner

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
)

func procRunner(t *testing.T) *Runner {
	t.Helper()
	r := localRunner(t)
	r.procDir = t.TempDir()
	t.Cleanup(func() {
		// Background processes outlive runners by design: end the test's.
		list, _ := r.Procs(context.Background())
		for _, p := range list {
			if p.Running {
				r.Signal(context.Background(), p.ID, int(syscall.SIGKILL))
			}
		}
	})
	return r
}

// waitEnd polls a process until it ended (bounded).
func waitEnd(t *testing.T, r *Runner, id string) ProcInfo {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		p, err := r.Proc(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if !p.Running {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %s still running after 20 s", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readAll(t *testing.T, r *Runner, id string) (stdout, stderr string, next int64) {
	t.Helper()
	var o, e strings.Builder
	for {
		out, err := r.ReadOutput(context.Background(), id, next, 1<<16)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range out.Chunks {
			if c.Stream == "out" {
				o.Write(c.Data)
			} else {
				e.Write(c.Data)
			}
		}
		if out.Next == next {
			return o.String(), e.String(), next
		}
		next = out.Next
	}
}

func TestExecStream(t *testing.T) {
	r := localRunner(t)
	var mu sync.Mutex
	var chunks []Chunk
	res, err := r.ExecStream(context.Background(), sdk.ExecRequest{Argv: []string{"sh", "-c", "echo one; echo two >&2; echo three"}},
		nil, func(stream string, b []byte) {
			mu.Lock()
			chunks = append(chunks, Chunk{stream, append([]byte(nil), b...)})
			mu.Unlock()
		})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	var out, errs bytes.Buffer
	for _, c := range chunks {
		if c.Stream == "out" {
			out.Write(c.Data)
		} else {
			errs.Write(c.Data)
		}
	}
	if out.String() != "one\nthree\n" || errs.String() != "two\n" || string(res.Stdout) != "one\nthree\n" || string(res.Stderr) != "two\n" {
		t.Errorf("chunks %q %q, result %q %q", out.String(), errs.String(), res.Stdout, res.Stderr)
	}
}

func TestProcesses(t *testing.T) {
	r := procRunner(t)
	ctx := context.Background()
	p, err := r.Spawn(ctx, ProcSpec{ID: "p1", Argv: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, RingBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != "p1" || p.PID == nil || p.Started == 0 {
		t.Errorf("spawned %+v", p)
	}
	end := waitEnd(t, r, "p1")
	if end.Code == nil || *end.Code != 3 || end.Ended == nil || end.Signal != nil {
		t.Errorf("ended %+v, want code 3", end)
	}
	o, e, next := readAll(t, r, "p1")
	if o != "out\n" || e != "err\n" || next != 8 {
		t.Errorf("output %q %q next %d", o, e, next)
	}

	t.Run("stdin", func(t *testing.T) {
		if _, err := r.Spawn(ctx, ProcSpec{ID: "rev", Argv: []string{"python3", "-c", "print(input()[::-1])"}, RingBytes: 1 << 16}); err != nil {
			t.Fatal(err)
		}
		if err := r.WriteStdin(ctx, "rev", []byte("hello\n"), false); err != nil {
			t.Fatal(err)
		}
		waitEnd(t, r, "rev")
		if o, _, _ := readAll(t, r, "rev"); o != "olleh\n" {
			t.Errorf("reversed %q", o)
		}
		if err := r.WriteStdin(ctx, "rev", []byte("x"), false); !errors.Is(err, ErrFinished) {
			t.Errorf("stdin of a finished process: %v, want ErrFinished", err)
		}
	})
	t.Run("signal", func(t *testing.T) {
		if _, err := r.Spawn(ctx, ProcSpec{ID: "sleeper", Argv: []string{"sleep", "60"}, RingBytes: 1 << 16}); err != nil {
			t.Fatal(err)
		}
		if err := r.Signal(ctx, "sleeper", int(syscall.SIGTERM)); err != nil {
			t.Fatal(err)
		}
		end := waitEnd(t, r, "sleeper")
		if end.Signal == nil || *end.Signal != int(syscall.SIGTERM) || *end.Code != 143 {
			t.Errorf("after SIGTERM: %+v", end)
		}
		if err := r.Signal(ctx, "sleeper", int(syscall.SIGTERM)); !errors.Is(err, ErrFinished) {
			t.Errorf("signal to a finished process: %v", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		if _, err := r.Spawn(ctx, ProcSpec{ID: "late", Argv: []string{"sleep", "60"}, Timeout: 200 * time.Millisecond, RingBytes: 1 << 16}); err != nil {
			t.Fatal(err)
		}
		if end := waitEnd(t, r, "late"); !end.TimedOut || end.Code == nil || *end.Code != 143 {
			t.Errorf("past its deadline: %+v", end)
		}
	})
	t.Run("ring keeps the latest output", func(t *testing.T) {
		// 64 KiB ring; 2,000 numbered lines of 100 bytes.
		if _, err := r.Spawn(ctx, ProcSpec{ID: "chatty", Argv: []string{"python3", "-c",
			"import sys\nfor i in range(2000):\n    sys.stdout.write('%099d\\n' % i); sys.stdout.flush()"}, RingBytes: 64 << 10}); err != nil {
			t.Fatal(err)
		}
		waitEnd(t, r, "chatty")
		out, err := r.ReadOutput(ctx, "chatty", 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		for _, c := range out.Chunks {
			got.Write(c.Data)
		}
		total := int64(2000 * 100)
		if out.Dropped+int64(got.Len()) != total || int64(got.Len()) < 64<<10 || out.Next != total {
			t.Errorf("dropped %d + kept %d != %d (next %d)", out.Dropped, got.Len(), total, out.Next)
		}
		if !strings.HasSuffix(got.String(), "1999\n") {
			t.Errorf("the last line is not kept: %q", got.String()[got.Len()-20:])
		}
		// Reading on from the middle of what is kept continues exactly.
		mid := out.Dropped + int64(got.Len())/2
		rest, err := r.ReadOutput(ctx, "chatty", mid, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		var tail bytes.Buffer
		for _, c := range rest.Chunks {
			tail.Write(c.Data)
		}
		if rest.Dropped != 0 || tail.String() != got.String()[int(mid-out.Dropped):] {
			t.Errorf("read from %d: dropped %d, %d bytes", mid, rest.Dropped, tail.Len())
		}
	})
	t.Run("unknown", func(t *testing.T) {
		if _, err := r.Proc(ctx, "nope"); !errors.Is(err, ErrNoProcess) {
			t.Errorf("Proc(unknown) = %v", err)
		}
		if _, err := r.Proc(ctx, "../etc"); !errors.Is(err, ErrBadOp) {
			t.Errorf("Proc(../etc) = %v", err)
		}
	})
	list, err := r.Procs(ctx)
	if err != nil || len(list) != 5 || list[0].ID != "p1" {
		t.Errorf("list: %d processes, %v", len(list), err)
	}
}

// TestProcessOutlivesRunner: a background process is not the runner's: it
// runs on, and a new runner sees it and its output.
func TestProcessOutlivesRunner(t *testing.T) {
	r := procRunner(t)
	ctx := context.Background()
	if _, err := r.Spawn(ctx, ProcSpec{ID: "long", Argv: []string{"sh", "-c", "echo before; read x; echo after $x"}, RingBytes: 1 << 16}); err != nil {
		t.Fatal(err)
	}
	r.Close()
	<-r.Done()
	r2 := localRunner(t)
	r2.procDir = r.procDir
	p, err := r2.Proc(ctx, "long")
	if err != nil || !p.Running {
		t.Fatalf("after the runner ended: %+v, %v", p, err)
	}
	if err := r2.WriteStdin(ctx, "long", []byte("x\n"), true); err != nil {
		t.Fatal(err)
	}
	waitEnd(t, r2, "long")
	if o, _, _ := readAll(t, r2, "long"); o != "before\nafter x\n" {
		t.Errorf("output %q", o)
	}
}

func TestPTY(t *testing.T) {
	r := localRunner(t)
	var mu sync.Mutex
	var out bytes.Buffer
	p, err := r.OpenPTY(context.Background(), PTYSpec{Argv: []string{"sh"}, Rows: 30, Cols: 100}, func(b []byte) {
		mu.Lock()
		out.Write(b)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	saw := func(s string) bool {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			ok := strings.Contains(out.String(), s)
			mu.Unlock()
			if ok {
				return true
			}
			time.Sleep(5 * time.Millisecond)
		}
		return false
	}
	p.Write([]byte("stty size\n"))
	if !saw("30 100") {
		t.Fatalf("stty size: %q", out.String())
	}
	p.Resize(40, 120)
	p.Write([]byte("stty size; tty\n"))
	if !saw("40 120") || !saw("/dev/pts/") {
		t.Fatalf("after resize: %q", out.String())
	}
	p.Write([]byte("exit 7\n"))
	if code, err := p.Code(); code != 7 || err != nil {
		t.Errorf("exit: %d, %v", code, err)
	}
}

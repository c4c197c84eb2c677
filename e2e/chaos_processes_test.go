package e2e

// Chaos for background processes and terminals: kill -9 of the backend
// plugin that carries the runner's session, the runtime restarted, the
// container removed underneath.

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/enclave-sandbox/enclave/client"
)

// ticker is a background process that prints a line every 50 ms.
var ticker = client.ProcessRequest{Command: "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.05; done"}

// outputGrows reports (bounded) that a process's output grows past from.
func outputGrows(t *testing.T, s *server, id, pid string, from int64) bool {
	t.Helper()
	return within(30*time.Second, func() bool {
		o, err := s.C.ReadOutput(context.Background(), id, pid, from, 0)
		return err == nil && o.NextOffset > from && o.Running
	})
}

// ticking is a sandbox of a new server with a ticker running in it.
func ticking(t *testing.T) (s *server, id string, p *client.Process) {
	t.Helper()
	s = startServer(t, "")
	id = s.sandbox(t, nil)
	p, err := s.C.StartProcess(context.Background(), id, ticker)
	if err != nil {
		t.Fatal(err)
	}
	return s, id, p
}

func TestChaosProcessesKillBackendPlugin(t *testing.T) {
	s, id, p := ticking(t)
	ctx := context.Background()
	term, err := s.C.OpenTerminal(ctx, id, client.TerminalOptions{Command: "cat"})
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	killAndWait(t, pluginPID(t, s.cmd.Process.Pid, "enclave-backend-"+backendName()))
	if kubeMode() {
		// The terminal rode the runner's session, which died: it ends, it
		// does not hang.
		ended := make(chan error, 1)
		go func() { _, err := io.Copy(io.Discard, term); ended <- err }()
		select {
		case <-ended:
		case <-time.After(30 * time.Second):
			t.Error("a terminal whose runner died did not end in 30 s")
		}
	} else {
		// On Podman the runner speaks over its channel, not the session:
		// it and the terminal it runs live on.
		echoes(t, term, "still here")
	}
	// The background process did not: the next runner sees it running on.
	var before int64
	if !within(30*time.Second, func() bool {
		o, err := s.C.ReadOutput(ctx, id, p.ProcessID, 0, 1)
		if err == nil {
			before = o.NextOffset
		}
		return err == nil
	}) {
		t.Fatal("processes not readable after kill -9 of the backend plugin")
	}
	if !outputGrows(t, s, id, p.ProcessID, before) {
		t.Error("the background process stopped with the backend plugin")
	}
}

func TestChaosProcessesPodmanRestart(t *testing.T) {
	s, start, kill := onPrivatePodman(t)
	id := s.sandbox(t, nil)
	ctx := context.Background()
	p, err := s.C.StartProcess(ctx, id, ticker)
	if err != nil {
		t.Fatal(err)
	}
	kill()
	// With the runtime down the API answers, with an error, in bounded time.
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	_, err = s.C.Processes(cctx, id)
	hung := cctx.Err() != nil
	cancel()
	if hung {
		t.Fatalf("listing processes with Podman down hung: %v", err)
	}
	start()
	if !outputGrows(t, s, id, p.ProcessID, 0) {
		t.Fatal("background process not readable and running after the Podman service restarted")
	}
}

func TestChaosProcessesContainerRemoved(t *testing.T) {
	s, id, p := ticking(t)
	ctx := context.Background()
	info, err := s.C.GetSandbox(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	cid, _ := info.Metadata["container_id"].(string)
	if kubeMode() {
		zero := int64(0)
		if err := kubeClient(t).CoreV1().Pods(kubeNamespace).Delete(ctx, cid, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			t.Fatal(err)
		}
	} else {
		podmanRm(t, s.Podman, cid)
	}
	// The process died with its sandbox: its routes say the sandbox is gone.
	if !within(30*time.Second, func() bool {
		_, err := s.C.GetProcess(ctx, id, p.ProcessID)
		return client.StatusOf(err) == http.StatusNotFound
	}) {
		_, err := s.C.GetProcess(ctx, id, p.ProcessID)
		t.Errorf("process of a removed container: %v, want 404", err)
	}
	if _, err := s.C.StartProcess(ctx, id, ticker); err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("start a process in a removed sandbox: %v", err)
	}
}

// echoes writes a line to a terminal running cat and waits (bounded) for
// it to come back.
func echoes(t *testing.T, term *client.Terminal, line string) {
	t.Helper()
	if _, err := term.Write([]byte(line + "\n")); err != nil {
		t.Fatalf("write to the terminal: %v", err)
	}
	got := make(chan string, 1)
	go func() {
		var seen strings.Builder
		b := make([]byte, 4096)
		for !strings.Contains(seen.String(), line) {
			n, err := term.Read(b)
			seen.Write(b[:n])
			if err != nil {
				break
			}
		}
		got <- seen.String()
	}()
	select {
	case s := <-got:
		if !strings.Contains(s, line) {
			t.Errorf("the terminal ended before echoing %q: %q", line, s)
		}
	case <-time.After(20 * time.Second):
		t.Errorf("no echo of %q from the terminal in 20 s", line)
	}
}

package manager

// Terminals (docs/api.md §12.3): a shell on a pseudo-terminal in a sandbox,
// relayed by its runner. An open terminal is a call in flight: the sandbox
// is not reaped while it is open.

import (
	"context"
	"sync"

	"github.com/enclave-sandbox/enclave/internal/runner"
)

// DefaultShell is what a terminal runs when the client names nothing: bash
// where the image has it, else sh.
var DefaultShell = []string{"sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash -i; fi; exec sh -i"}

// TerminalRequest opens a terminal.
type TerminalRequest struct {
	Argv       []string
	Env        map[string]string
	Cwd        string
	Rows, Cols int
}

// Terminal is an open terminal.
type Terminal struct {
	p       *runner.PTY
	release func()
	once    sync.Once
}

// OpenTerminal starts a terminal in sandbox id; onOutput gets its output
// in order and must not block (Ack returns the credit for more).
func (m *Manager) OpenTerminal(ctx context.Context, id string, req TerminalRequest, onOutput func([]byte)) (*Terminal, error) {
	_, release, err := m.ownSandbox(id)
	if err != nil {
		return nil, err
	}
	if len(req.Argv) == 0 {
		req.Argv = DefaultShell
	}
	p, err := m.exec.OpenPTY(ctx, id, runner.PTYSpec{Argv: req.Argv, Env: req.Env, Cwd: req.Cwd, Rows: req.Rows, Cols: req.Cols}, onOutput)
	if err != nil {
		release()
		return nil, processErr(id, "", err)
	}
	return &Terminal{p: p, release: release}, nil
}

// Write types into the terminal.
func (t *Terminal) Write(b []byte) error { return t.p.Write(b) }

// Resize sets its size.
func (t *Terminal) Resize(rows, cols int) error { return t.p.Resize(rows, cols) }

// Ack returns output credit.
func (t *Terminal) Ack(n int) error { return t.p.Ack(n) }

// Done is closed when the terminal's process has ended.
func (t *Terminal) Done() <-chan struct{} { return t.p.Done() }

// Code is the terminal process's exit status once Done.
func (t *Terminal) Code() (int, error) { return t.p.Code() }

// Close ends the terminal (killing its session) and releases the sandbox.
func (t *Terminal) Close() {
	t.once.Do(func() {
		select {
		case <-t.p.Done():
		default:
			t.p.Kill()
		}
		t.release()
	})
}

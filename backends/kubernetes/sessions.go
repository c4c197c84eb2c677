package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/enclave-sandbox/enclave/internal/execwrap"
	"github.com/enclave-sandbox/enclave/sdk"
)

// sessionStart bounds how long a session may take to announce its pid.
const sessionStart = 30 * time.Second

// Session implements backend.SessionOpener: a long-lived process with
// streamed stdio over one exec stream through the API server, which is
// how the resident runner keeps warm calls off the per-exec path.
func (k *Kubernetes) Session(ctx context.Context, ref string, req sdk.ExecRequest) (sdk.Session, error) {
	if err := k.connect(ctx); err != nil {
		return nil, err
	}
	if len(req.Argv) == 0 {
		return nil, fmt.Errorf("empty argv: %w", sdk.ErrInvalidArgument)
	}
	sctx, cancel := context.WithCancel(ctx)
	s := &session{k: k, ctx: sctx, cancel: cancel, ref: ref, ended: make(chan struct{})}
	var stdinR *io.PipeReader
	stdinR, s.stdinW = io.Pipe()
	s.outR, s.outW = io.Pipe()
	s.errR, s.errW = io.Pipe()
	s.mw = execwrap.NewMarkerWriter(s.errW)
	go func() {
		s.code, s.err = k.stream(sctx, ref, execwrap.SessionArgv(req, true), stdinR, s.outW, s.mw)
		s.outW.Close()
		s.errW.Close()
		// Writers to a process that is gone fail at once instead of
		// blocking on a pipe nobody reads.
		stdinR.CloseWithError(io.ErrClosedPipe)
		close(s.ended)
	}()
	t := time.NewTimer(sessionStart)
	defer t.Stop()
	select {
	case <-s.mw.Found():
		return s, nil
	case <-s.ended:
		s.Close()
		if s.err != nil {
			return nil, s.err
		}
		return nil, fmt.Errorf("session in pod %s ended at start (exit code %d): %w", ref, s.code, sdk.ErrStartFailed)
	case <-t.C:
		s.Close()
		return nil, fmt.Errorf("session in pod %s did not start within %s: %w", ref, sessionStart, sdk.ErrUnavailable)
	}
}

type session struct {
	k          *Kubernetes
	ctx        context.Context
	cancel     context.CancelFunc
	ref        string
	ended      chan struct{}
	code       int
	err        error
	stdinW     *io.PipeWriter
	outR, errR *io.PipeReader
	outW, errW *io.PipeWriter
	mw         *execwrap.MarkerWriter
	closeOnce  sync.Once
}

func (s *session) Stdin() io.WriteCloser { return s.stdinW }
func (s *session) Stdout() io.Reader     { return s.outR }
func (s *session) Stderr() io.Reader     { return s.errR }

func (s *session) Wait() (int, error) {
	<-s.ended
	return s.code, s.err
}

func (s *session) Close() error {
	s.closeOnce.Do(func() {
		select {
		case <-s.ended: // the process is gone: nothing to kill
		default:
			if pid, ok := s.mw.PID(); ok {
				s.k.killGroup(s.ctx, s.ref, pid)
			}
		}
		s.cancel()
		s.stdinW.Close()
		s.outR.Close()
		s.errR.Close()
	})
	return nil
}

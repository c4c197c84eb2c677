//go:build remote

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/containers/podman/v4/pkg/bindings/containers"

	"github.com/enclave-sandbox/enclave/internal/execwrap"
	"github.com/enclave-sandbox/enclave/sdk"
)

// Session implements backend.SessionOpener: a long-lived process with streamed
// stdio, over one exec attach.
func (p *Podman) Session(ctx context.Context, ref string, req sdk.ExecRequest) (sdk.Session, error) {
	cctx, err := p.withConn(ctx)
	if err != nil {
		return nil, err
	}
	if len(req.Argv) == 0 {
		return nil, fmt.Errorf("empty argv: %w", sdk.ErrInvalidArgument)
	}
	id, err := p.createExec(cctx, ref, execwrap.SessionArgv(req, false), req, true)
	if err != nil {
		return nil, err
	}
	s := &session{p: p, ctx: cctx, ref: ref, id: id}
	var stdinR *io.PipeReader
	stdinR, s.stdinW = io.Pipe()
	s.outR, s.outW = io.Pipe()
	s.errR, s.errW = io.Pipe()
	s.mw = execwrap.NewMarkerWriter(s.errW)
	conn, done, err := p.attach(cctx, id, stdinR, s.outW, s.mw)
	if err != nil {
		return nil, err
	}
	s.conn = conn
	s.attached = make(chan struct{})
	go func() {
		s.attachErr = <-done
		s.outW.Close()
		s.errW.Close()
		// Writers to a process that is gone fail at once instead of
		// blocking on a pipe nobody reads.
		stdinR.CloseWithError(io.ErrClosedPipe)
		close(s.attached)
	}()
	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.closed():
		}
	}()
	return s, nil
}

type session struct {
	p          *Podman
	ctx        context.Context
	ref, id    string
	conn       net.Conn
	attached   chan struct{}
	attachErr  error
	stdinW     *io.PipeWriter
	outR, errR *io.PipeReader
	outW, errW *io.PipeWriter
	mw         *execwrap.MarkerWriter
	waitOnce   sync.Once
	closeOnce  sync.Once
	closedCh   chan struct{}
	mu         sync.Mutex
	code       int
	err        error
}

func (s *session) closed() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closedCh == nil {
		s.closedCh = make(chan struct{})
	}
	return s.closedCh
}

func (s *session) Stdin() io.WriteCloser { return s.stdinW }
func (s *session) Stdout() io.Reader     { return s.outR }
func (s *session) Stderr() io.Reader     { return s.errR }

func (s *session) Wait() (int, error) {
	s.waitOnce.Do(func() {
		<-s.attached
		s.code = -1
		if s.attachErr != nil {
			s.err = s.attachErr
			return
		}
		ictx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 10*time.Second)
		defer cancel()
		for i := 0; i < 100; i++ {
			ins, err := containers.ExecInspect(ictx, s.id, nil)
			if err != nil {
				s.err = mapErr(err, "inspect exec")
				return
			}
			if !ins.Running {
				s.code = ins.ExitCode
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	return s.code, s.err
}

func (s *session) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed())
		ended := false
		select {
		case <-s.attached:
			ended = true // the process is gone: nothing to kill
		default:
		}
		if pid, ok := s.mw.PID(); ok && !ended {
			s.p.killGroup(s.ctx, s.ref, pid)
		}
		s.stdinW.Close()
		s.conn.Close()
		s.outR.Close()
		s.errR.Close()
	})
	return nil
}

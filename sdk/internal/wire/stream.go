package wire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/enclave-sandbox/enclave/sdk"
	pb "github.com/enclave-sandbox/enclave/sdk/proto/enclave/plugin/v1"
)

// ChunkSize bounds one archive or session message, well under gRPC's 4 MiB.
const ChunkSize = 256 << 10

// ChunkSender is the Send side of an archive stream.
type ChunkSender interface {
	Send(*pb.ArchiveChunk) error
}

// ChunkReceiver is the Recv side of an archive stream.
type ChunkReceiver interface {
	Recv() (*pb.ArchiveChunk, error)
}

// SendArchive streams r as chunks; the first carries ref and path.
func SendArchive(s ChunkSender, ref, path string, r io.Reader) error {
	buf := make([]byte, ChunkSize)
	first := true
	for {
		n, err := r.Read(buf)
		if n > 0 || (first && err == io.EOF) {
			c := &pb.ArchiveChunk{Data: append([]byte(nil), buf[:n]...)}
			if first {
				c.Ref, c.Path = ref, path
				first = false
			}
			if serr := s.Send(c); serr != nil {
				return serr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// PutArchiveStream is the client side of a PutArchive RPC.
type PutArchiveStream interface {
	ChunkSender
	CloseAndRecv() (*pb.Empty, error)
}

// PutArchive streams r to ref's dir and waits for the outcome.
func PutArchive(stream PutArchiveStream, ref, dir string, r io.Reader) error {
	// io.EOF from Send means the server ended the stream; CloseAndRecv has
	// its real answer.
	if err := SendArchive(stream, ref, dir, r); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	_, err := stream.CloseAndRecv()
	return sdk.FromStatus(err)
}

// RecvArchive copies a GetArchive stream to w.
func RecvArchive(stream ChunkReceiver, w io.Writer) error {
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return sdk.FromStatus(err)
		}
		if _, err := w.Write(m.GetData()); err != nil {
			return err
		}
	}
}

// ChunkWriter is an io.Writer that sends what it gets as archive chunks.
type ChunkWriter struct{ S ChunkSender }

func (w ChunkWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), ChunkSize)
		if err := w.S.Send(&pb.ArchiveChunk{Data: append([]byte(nil), p[:k]...)}); err != nil {
			return n, err
		}
		n += k
		p = p[k:]
	}
	return n, nil
}

// ChunkReader reads the data of an archive stream. The first chunk's ref and
// path are recorded in First.
type ChunkReader struct {
	R     ChunkReceiver
	First *pb.ArchiveChunk
	buf   []byte
	err   error
}

// Header receives the first chunk (ref and path) before any data is read.
func (c *ChunkReader) Header() (*pb.ArchiveChunk, error) {
	if c.First != nil || c.err != nil {
		return c.First, c.err
	}
	m, err := c.R.Recv()
	if err != nil {
		c.err = err
		return nil, err
	}
	c.First = m
	c.buf = m.GetData()
	return m, nil
}

func (c *ChunkReader) Read(p []byte) (int, error) {
	if c.First == nil && c.err == nil {
		if _, err := c.Header(); err != nil {
			return 0, err
		}
	}
	for len(c.buf) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		m, err := c.R.Recv()
		if err != nil {
			c.err = err
			continue
		}
		c.buf = m.GetData()
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

// SessionServerStream is the server side of a Session RPC.
type SessionServerStream interface {
	Context() context.Context
	Send(*pb.SessionOutput) error
	Recv() (*pb.SessionInput, error)
}

// ServeSession runs a session for a stream: the first message starts it via
// open, later ones feed stdin; output is streamed back, then the exit code.
func ServeSession(stream SessionServerStream, open func(ctx context.Context, ref string, req sdk.ExecRequest) (sdk.Session, error)) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if first.GetStart() == nil {
		return fmt.Errorf("first session message must carry start: %w", sdk.ErrInvalidArgument)
	}
	sess, err := open(ctx, first.GetStart().GetRef(), ExecFromPB(first.GetStart()))
	if err != nil {
		return err
	}
	defer sess.Close()

	var sendMu sync.Mutex
	send := func(m *pb.SessionOutput) error {
		sendMu.Lock()
		defer sendMu.Unlock()
		return stream.Send(m)
	}
	go func() {
		stdin := sess.Stdin()
		for {
			in, err := stream.Recv()
			if err != nil {
				stdin.Close()
				return
			}
			if len(in.GetStdin()) > 0 {
				if _, err := stdin.Write(in.GetStdin()); err != nil {
					return
				}
			}
			if in.GetCloseStdin() {
				stdin.Close()
			}
		}
	}()
	var wg sync.WaitGroup
	pump := func(r io.Reader, stderr bool) {
		defer wg.Done()
		// A session idles most of its life (a sandbox's runner): its
		// buffers start small and grow once output fills them.
		buf := make([]byte, 4<<10)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				m := &pb.SessionOutput{}
				data := append([]byte(nil), buf[:n]...)
				if n == len(buf) && len(buf) < 32<<10 {
					buf = make([]byte, 32<<10)
				}
				if stderr {
					m.Stderr = data
				} else {
					m.Stdout = data
				}
				if send(m) != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	wg.Add(2)
	go pump(sess.Stdout(), false)
	go pump(sess.Stderr(), true)
	wg.Wait()
	code, err := sess.Wait()
	if err != nil {
		return err
	}
	return send(&pb.SessionOutput{Exited: true, ExitCode: int32(code)})
}

// SessionClientStream is the client side of a Session RPC.
type SessionClientStream interface {
	Send(*pb.SessionInput) error
	Recv() (*pb.SessionOutput, error)
	CloseSend() error
}

// NewClientSession starts a session over an opened stream.
func NewClientSession(stream SessionClientStream, cancel context.CancelFunc, ref string, req sdk.ExecRequest) (sdk.Session, error) {
	if err := stream.Send(&pb.SessionInput{Start: ExecToPB(ref, req)}); err != nil {
		cancel()
		return nil, sdk.FromStatus(err)
	}
	s := &clientSession{stream: stream, cancel: cancel, done: make(chan struct{})}
	s.outR, s.outW = io.Pipe()
	s.errR, s.errW = io.Pipe()
	go s.recvLoop()
	return s, nil
}

type clientSession struct {
	stream     SessionClientStream
	cancel     context.CancelFunc
	outR, errR *io.PipeReader
	outW, errW *io.PipeWriter
	done       chan struct{}
	code       int
	err        error
	sendMu     sync.Mutex
	closeOnce  sync.Once
}

func (s *clientSession) recvLoop() {
	defer close(s.done)
	for {
		m, err := s.stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("session ended without an exit status")
			}
			s.code, s.err = -1, sdk.FromStatus(err)
			s.outW.CloseWithError(io.EOF)
			s.errW.CloseWithError(io.EOF)
			return
		}
		if len(m.GetStdout()) > 0 {
			s.outW.Write(m.GetStdout())
		}
		if len(m.GetStderr()) > 0 {
			s.errW.Write(m.GetStderr())
		}
		if m.GetExited() {
			s.code = int(m.GetExitCode())
			s.outW.Close()
			s.errW.Close()
			return
		}
	}
}

type stdinWriter struct{ s *clientSession }

func (w stdinWriter) Write(p []byte) (int, error) {
	w.s.sendMu.Lock()
	defer w.s.sendMu.Unlock()
	for off := 0; off < len(p); off += ChunkSize {
		end := min(off+ChunkSize, len(p))
		if err := w.s.stream.Send(&pb.SessionInput{Stdin: p[off:end]}); err != nil {
			return off, sdk.FromStatus(err)
		}
	}
	return len(p), nil
}

func (w stdinWriter) Close() error {
	w.s.sendMu.Lock()
	defer w.s.sendMu.Unlock()
	return w.s.stream.Send(&pb.SessionInput{CloseStdin: true})
}

func (s *clientSession) Stdin() io.WriteCloser { return stdinWriter{s} }
func (s *clientSession) Stdout() io.Reader     { return s.outR }
func (s *clientSession) Stderr() io.Reader     { return s.errR }

func (s *clientSession) Wait() (int, error) {
	<-s.done
	return s.code, s.err
}

func (s *clientSession) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.outR.Close()
		s.errR.Close()
	})
	return nil
}

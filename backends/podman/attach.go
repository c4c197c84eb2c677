//go:build remote

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/containers/podman/v4/pkg/bindings/containers"

	"github.com/enclave-sandbox/enclave/sdk"
)

// attach starts exec session id over a raw hijacked connection and copies its
// demultiplexed output to stdout/stderr until the process closes them. The
// bindings' ExecStartAndAttach swaps the shared connection's transport on
// every call, which races under concurrent execs; a connection per attach
// does not. Closing the returned conn aborts the attach.
func (p *Podman) attach(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer) (net.Conn, <-chan error, error) {
	conn, err := p.dial(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("dial podman: %w", err)
	}
	body := `{"Detach":false,"Tty":false}`
	req := fmt.Sprintf("POST /v4.0.0/libpod/exec/%s/start HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n%s", id, len(body), body)
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("start exec: %w", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("start exec: %w", err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusSwitchingProtocols {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		conn.Close()
		var em struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(msg, &em) == nil && em.Message != "" {
			msg = []byte(em.Message)
		}
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusConflict {
			return nil, nil, fmt.Errorf("start exec: %s: %w", msg, sdk.ErrSandboxNotFound)
		}
		return nil, nil, fmt.Errorf("start exec: HTTP %d: %s", resp.StatusCode, msg)
	}
	if stdin != nil {
		go func() {
			copyGrowing(conn, stdin)
			if cw, ok := conn.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
		}()
	}
	done := make(chan error, 1)
	go func() {
		// Small at first (a session idles most of its life); DemuxFrame
		// grows it for a longer frame, and the grown one is kept.
		buf := make([]byte, 4<<10)
		for {
			fd, l, err := containers.DemuxHeader(br, buf)
			if err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					err = nil
				}
				done <- err
				return
			}
			frame, err := containers.DemuxFrame(br, buf, l)
			if err != nil {
				done <- err
				return
			}
			if cap(frame) > len(buf) {
				buf = frame[:cap(frame)]
			}
			switch fd {
			case 1:
				stdout.Write(frame[:l])
			case 2:
				stderr.Write(frame[:l])
			case 3:
				done <- fmt.Errorf("podman: %s", frame[:l])
				return
			}
		}
	}()
	return conn, done, nil
}

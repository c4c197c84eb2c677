//go:build remote

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	docker "github.com/docker/docker/api/types"

	"github.com/containers/podman/v4/pkg/api/handlers"
	"github.com/containers/podman/v4/pkg/bindings/containers"

	"github.com/enclave-sandbox/enclave/internal/execwrap"
	"github.com/enclave-sandbox/enclave/sdk"
)

func (p *Podman) createExec(ctx context.Context, ref string, argv []string, req sdk.ExecRequest, withStdin bool) (string, error) {
	cfg := &handlers.ExecCreateConfig{ExecConfig: docker.ExecConfig{
		AttachStdout: true, AttachStderr: true, AttachStdin: withStdin,
		Env: execwrap.EnvList(req.Env), WorkingDir: req.WorkingDir, Cmd: argv,
	}}
	id, err := containers.ExecCreate(ctx, ref, cfg)
	if err != nil {
		err = mapErr(err, "create exec")
		if !errors.Is(err, sdk.ErrSandboxNotFound) && (strings.Contains(err.Error(), "not running") || strings.Contains(err.Error(), "state improper")) {
			err = fmt.Errorf("%s: %w", err.Error(), sdk.ErrSandboxNotFound)
		}
		return "", err
	}
	return id, nil
}

// killGroup SIGKILLs process group pgid inside the container. It uses a
// fresh exec with its own bound: the caller's context is usually done.
func (p *Podman) killGroup(ctx context.Context, ref string, pgid int) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	id, err := p.createExec(ctx, ref, []string{"sh", "-c", execwrap.KillScript, "enclave-kill", strconv.Itoa(pgid)}, sdk.ExecRequest{}, false)
	if err != nil {
		slog.Warn("kill process group", "container", ref, "pgid", pgid, "err", err)
		return
	}
	if err := containers.ExecStart(ctx, id, nil); err != nil {
		slog.Warn("kill process group", "container", ref, "pgid", pgid, "err", err)
	}
}

// Exec implements backend.Backend.
func (p *Podman) Exec(ctx context.Context, ref string, req sdk.ExecRequest) (sdk.ExecResult, error) {
	ctx, err := p.withConn(ctx)
	if err != nil {
		return sdk.ExecResult{}, err
	}
	if len(req.Argv) == 0 {
		return sdk.ExecResult{}, fmt.Errorf("empty argv: %w", sdk.ErrInvalidArgument)
	}
	grace := execwrap.Grace(req)
	id, err := p.createExec(ctx, ref, execwrap.Argv(req), req, req.Stdin != nil)
	if err != nil {
		return sdk.ExecResult{}, err
	}
	stdout := execwrap.NewCapped(req.MaxOutputBytes)
	stderr := execwrap.NewCapped(req.MaxOutputBytes)
	mw := execwrap.NewMarkerWriter(stderr)
	var stdin io.Reader
	if req.Stdin != nil {
		stdin = bytes.NewReader(req.Stdin)
	}
	conn, done, err := p.attach(ctx, id, stdin, stdout, mw)
	if err != nil {
		return sdk.ExecResult{}, err
	}
	defer conn.Close()

	// The spec's bound: the result comes back by deadline + grace + 5 s even
	// if something keeps the output streams open.
	var hard <-chan time.Time
	if req.Timeout > 0 {
		t := time.NewTimer(req.Timeout + grace + 5*time.Second)
		defer t.Stop()
		hard = t.C
	}
	res := sdk.ExecResult{ExitCode: -1}
	pgid := func() int { pid, _ := mw.PID(); return pid }
	select {
	case err := <-done:
		if err != nil {
			return sdk.ExecResult{}, fmt.Errorf("exec attach: %w", err)
		}
	case <-ctx.Done():
		if g := pgid(); g > 0 {
			p.killGroup(ctx, ref, g)
		}
		res.Killed = true
	case <-hard:
		if g := pgid(); g > 0 {
			go p.killGroup(ctx, ref, g)
		}
		res.TimedOut = true
	}
	if !res.Killed && !res.TimedOut {
		ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		// The stream ends a moment before podman records the exit code.
		for i := 0; i < 100; i++ {
			ins, err := containers.ExecInspect(ictx, id, nil)
			if err != nil {
				return sdk.ExecResult{}, mapErr(err, "inspect exec")
			}
			if !ins.Running {
				res.ExitCode = ins.ExitCode
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if before, ask := execwrap.Collect(&res, stdout, stderr, mw); ask {
		res.OOMKilled = execwrap.OOMKillsSince(ctx, func(ctx context.Context, req sdk.ExecRequest) (sdk.ExecResult, error) {
			return p.Exec(ctx, ref, req)
		}, before)
	}
	return res, nil
}

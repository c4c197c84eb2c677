package main

// One-shot processes through the API server's exec subresource (WebSocket,
// SPDY fallback), under enclave's exec wrapper.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/enclave-sandbox/enclave/internal/execwrap"
	"github.com/enclave-sandbox/enclave/sdk"
)

// executor streams argv in the sandbox container of pod ref.
func (k *Kubernetes) executor(ref string, argv []string, stdin bool) (remotecommand.Executor, error) {
	u := k.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(k.cfg.Namespace).Name(ref).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: containerName, Command: argv, Stdin: stdin, Stdout: true, Stderr: true}, scheme.ParameterCodec).URL()
	ws, err := remotecommand.NewWebSocketExecutor(k.rest, "GET", u.String())
	if err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	spdy, err := remotecommand.NewSPDYExecutor(k.rest, "POST", u)
	if err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	return remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
}

// stream runs argv to completion and returns its exit code; an error means
// the process could not be run (the pod is gone: sdk.ErrSandboxNotFound).
func (k *Kubernetes) stream(ctx context.Context, ref string, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	ex, err := k.executor(ref, argv, stdin != nil)
	if err != nil {
		return -1, err
	}
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: stdout, Stderr: stderr})
	return k.exitCode(ctx, ref, err)
}

// exitCode reads a stream's outcome: nil is 0, an exit error its code,
// anything else a failure to run, typed by what the pod is now.
func (k *Kubernetes) exitCode(ctx context.Context, ref string, err error) (int, error) {
	if err == nil {
		return 0, nil
	}
	var ee utilexec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitStatus(), nil
	}
	if ctx.Err() != nil {
		return -1, ctx.Err()
	}
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	st, ierr := k.Inspect(ictx, ref)
	switch {
	case isNotFound(ierr):
		return -1, ierr
	case ierr == nil && st.Status != "running":
		return -1, fmt.Errorf("exec in pod %s: not running (%s): %w", ref, st.Status, sdk.ErrSandboxNotFound)
	}
	return -1, fmt.Errorf("exec in pod %s: %w", ref, err)
}

func isNotFound(err error) bool { return errors.Is(err, sdk.ErrSandboxNotFound) }

// killGroup SIGKILLs process group pgid in the sandbox with a fresh exec
// of its own bound: the caller's context is usually done. Closing an exec
// stream does not end its process on Kubernetes, so every cancelled call
// comes here.
func (k *Kubernetes) killGroup(ctx context.Context, ref string, pgid int) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var errOut bytes.Buffer
	if _, err := k.stream(ctx, ref, []string{"sh", "-c", execwrap.KillScript, "enclave-kill", strconv.Itoa(pgid)}, nil, io.Discard, &errOut); err != nil {
		slog.Warn("kill process group", "pod", ref, "pgid", pgid, "err", err)
	}
}

// Exec implements backend.Backend.
func (k *Kubernetes) Exec(ctx context.Context, ref string, req sdk.ExecRequest) (sdk.ExecResult, error) {
	if err := k.connect(ctx); err != nil {
		return sdk.ExecResult{}, err
	}
	if len(req.Argv) == 0 {
		return sdk.ExecResult{}, fmt.Errorf("empty argv: %w", sdk.ErrInvalidArgument)
	}
	stdout := execwrap.NewCapped(req.MaxOutputBytes)
	stderr := execwrap.NewCapped(req.MaxOutputBytes)
	mw := execwrap.NewMarkerWriter(stderr)
	var stdin io.Reader
	if req.Stdin != nil {
		stdin = bytes.NewReader(req.Stdin)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type outcome struct {
		code int
		err  error
	}
	done := make(chan outcome, 1)
	go func() {
		code, err := k.stream(sctx, ref, execwrap.InlineArgv(req), stdin, stdout, mw)
		done <- outcome{code, err}
	}()
	// The spec's bound: the result comes back by deadline + grace + 5 s even
	// if something keeps the output streams open.
	var hard <-chan time.Time
	if req.Timeout > 0 {
		t := time.NewTimer(req.Timeout + execwrap.Grace(req) + 5*time.Second)
		defer t.Stop()
		hard = t.C
	}
	res := sdk.ExecResult{ExitCode: -1}
	select {
	case o := <-done:
		switch {
		case o.err != nil && ctx.Err() != nil:
			// The stream ended with the caller's context; the process
			// may still run.
			if g, ok := mw.PID(); ok {
				k.killGroup(ctx, ref, g)
			}
			res.Killed = true
		case o.err != nil:
			return sdk.ExecResult{}, o.err
		default:
			res.ExitCode = o.code
		}
	case <-ctx.Done():
		if g, ok := mw.PID(); ok {
			k.killGroup(ctx, ref, g)
		}
		res.Killed = true
	case <-hard:
		if g, ok := mw.PID(); ok {
			go k.killGroup(ctx, ref, g)
		}
		res.TimedOut = true
	}
	cancel()
	if before, ask := execwrap.Collect(&res, stdout, stderr, mw); ask {
		res.OOMKilled = execwrap.OOMKillsSince(ctx, func(ctx context.Context, req sdk.ExecRequest) (sdk.ExecResult, error) {
			return k.Exec(ctx, ref, req)
		}, before)
	}
	return res, nil
}

package main

// enclave attach: a shell in a sandbox on this terminal, as podman exec -it
// gives one, through the server's terminal WebSocket.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/enclave-sandbox/enclave/client"
)

// exitError carries the remote shell's status out of runAttach.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("the shell exited with status %d", e.code) }

func runAttach(args []string) error {
	fs := flag.NewFlagSet("enclave attach", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: enclave attach [flags] SANDBOX_ID\n\nA shell (or --command) on a terminal in the sandbox, attached to this one; exits with its status.\nWithout a terminal on stdin, stdin is typed in and end of input ends the shell.\n\n")
		fs.PrintDefaults()
	}
	base := fs.String("url", envOr("ENCLAVE_URL", "http://127.0.0.1:8000"), "the enclave server (ENCLAVE_URL)")
	key := fs.String("api-key", os.Getenv("ENCLAVE_API_KEY"), "API key (ENCLAVE_API_KEY)")
	command := fs.String("command", "", "run this shell command instead of the image's bash or sh")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return flag.ErrHelp
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	in := int(os.Stdin.Fd())
	interactive := term.IsTerminal(in)
	opts := client.TerminalOptions{Command: *command, Rows: 24, Cols: 80}
	if interactive {
		if cols, rows, err := term.GetSize(in); err == nil {
			opts.Rows, opts.Cols = rows, cols
		}
	}
	t, err := client.New(*base, *key).OpenTerminal(ctx, fs.Arg(0), opts)
	if err != nil {
		return err
	}
	defer t.Close()
	if interactive {
		old, err := term.MakeRaw(in)
		if err != nil {
			return fmt.Errorf("raw mode: %w", err)
		}
		defer term.Restore(in, old)
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		go func() {
			for range winch {
				if cols, rows, err := term.GetSize(in); err == nil {
					t.Resize(rows, cols)
				}
			}
		}()
	}
	go func() {
		io.Copy(t, os.Stdin)
		if !interactive {
			t.Write([]byte{4}) // ^D: end of input ends the shell
		}
	}()
	if _, err := io.Copy(os.Stdout, t); err != nil {
		return err
	}
	code, err := t.ExitCode()
	if err != nil {
		return err
	}
	if code != 0 {
		return exitError{code}
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

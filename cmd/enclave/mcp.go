package main

// enclave mcp --stdio: MCP over stdin/stdout for desktop agents, relayed
// message by message to a running server's /mcp, so a desktop agent shares
// the server's sandboxes, pool and limits instead of starting its own.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func runMCP(args []string) error {
	fs := flag.NewFlagSet("enclave mcp", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: enclave mcp --stdio [flags]\n\nServe MCP on stdin and stdout (newline-delimited JSON-RPC), relayed to the enclave server's /mcp:\nthe tools are the server's (create_sandbox, list_sandboxes, delete_sandbox, read_file, write_file,\nand every enclave tool in a sandbox and from the pool). The session's sandboxes are deleted when\nstdin ends.\n\n")
		fs.PrintDefaults()
	}
	stdio := fs.Bool("stdio", false, "serve on stdin/stdout (the only transport of this command; the server itself serves streamable HTTP at /mcp)")
	base := fs.String("url", envOr("ENCLAVE_URL", "http://127.0.0.1:8000"), "the enclave server (ENCLAVE_URL)")
	key := fs.String("api-key", os.Getenv("ENCLAVE_API_KEY"), "API key (ENCLAVE_API_KEY)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*stdio || fs.NArg() != 0 {
		fs.Usage()
		return flag.ErrHelp
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return relayMCP(ctx, &mcp.StdioTransport{}, strings.TrimRight(*base, "/")+"/mcp", *key)
}

// relayMCP copies JSON-RPC messages both ways between the local transport
// and the server's streamable HTTP endpoint until either side ends.
func relayMCP(ctx context.Context, local mcp.Transport, endpoint, key string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	in, err := local.Connect(ctx)
	if err != nil {
		return fmt.Errorf("mcp: stdio: %w", err)
	}
	defer in.Close()
	remote := &mcp.StreamableClientTransport{Endpoint: endpoint,
		HTTPClient: &http.Client{Transport: keyTransport{key: key, base: http.DefaultTransport}}}
	out, err := remote.Connect(ctx)
	if err != nil {
		return fmt.Errorf("mcp: %s: %w", endpoint, err)
	}
	// Closing the remote side ends the session (its sandboxes go).
	defer out.Close()
	errc := make(chan error, 2)
	pump := func(from, to mcp.Connection) {
		for {
			msg, err := from.Read(ctx)
			if err != nil {
				errc <- err
				return
			}
			if err := to.Write(ctx, msg); err != nil {
				errc <- err
				return
			}
		}
	}
	go pump(in, out)
	go pump(out, in)
	err = <-errc
	if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) || ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("mcp: %w", err)
}

// keyTransport adds the API key to every request.
type keyTransport struct {
	key  string
	base http.RoundTripper
}

func (k keyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if k.key != "" {
		r = r.Clone(r.Context())
		r.Header.Set("X-API-Key", k.key)
	}
	return k.base.RoundTrip(r)
}

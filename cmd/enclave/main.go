// Command enclave is a sandbox server for AI agents and evaluation harnesses,
// wire-compatible with ms-enclave's HTTP API.
//
//	enclave server [flags]   serve the HTTP API
//	enclave plugins [flags]  list the plugins found in the plugin directory
//	enclave attach SANDBOX   a shell in a sandbox on this terminal
//	enclave mcp --stdio      MCP on stdin/stdout, relayed to a server's /mcp
//	enclave version          print the version
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "0.1.0-dev"

const usage = `enclave: isolated sandboxes for AI agents, over an ms-enclave-compatible HTTP API

Usage:
  enclave server [flags]    serve the HTTP API (enclave server --help lists the flags)
  enclave plugins [flags]   list the plugins in the plugin directory and check them
  enclave attach [flags] ID a shell in sandbox ID on this terminal (enclave attach --help)
  enclave mcp --stdio       MCP on stdin/stdout for desktop agents, relayed to a server (enclave mcp --help)
  enclave version           print the version

Every flag can also be set as ENCLAVE_<NAME> (upper case, '-' -> '_'); repeatable
flags take a comma-separated list there. Flags win over the environment.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "server":
		err = runServer(os.Args[2:])
	case "plugins":
		err = runPlugins(os.Args[2:])
	case "attach":
		err = runAttach(os.Args[2:])
	case "mcp":
		err = runMCP(os.Args[2:])
	case "version", "--version", "-v":
		fmt.Printf("enclave %s (%s %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "enclave: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	var exit exitError
	if errors.As(err, &exit) {
		os.Exit(exit.code)
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "enclave:", err)
		os.Exit(1)
	}
}

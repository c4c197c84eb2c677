// Command testplugin is a plugin for the plugin host's tests. What it is
// depends on the name it was started under: enclave-backend-* serves the
// fake backend, enclave-tool-* an echo tool; a name containing "badapi"
// claims an API version the host does not speak, "wrongkind" claims the
// other kind than its name, "dieininfo" is killed while the host asks its
// Info (a plugin killed during its start), "dieatlisten" is killed having
// made its socket, before its handshake names it to the host.
package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/enclave-sandbox/enclave/internal/fake"
	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

var name = filepath.Base(os.Args[0])

func adjust(i sdk.Info) sdk.Info {
	if strings.Contains(name, "dieininfo") {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
	}
	if strings.Contains(name, "badapi") {
		i.APIVersions = []uint32{99}
	}
	if strings.Contains(name, "wrongkind") {
		i.Kind = sdk.KindBackend
	}
	return i
}

type fakeBackend struct{ *fake.Backend }

func (b fakeBackend) Info(ctx context.Context) (sdk.Info, error) {
	i, err := b.Backend.Info(ctx)
	return adjust(i), err
}

type echo struct{}

func (echo) Info(context.Context) (sdk.Info, error) {
	return adjust(sdk.Info{Name: strings.TrimPrefix(name, sdk.ToolPrefix), Kind: sdk.KindTool, Version: "test",
		APIVersions: []uint32{sdk.APIVersion}, Schema: json.RawMessage(fake.EchoSchema)}), nil
}

func (echo) Execute(ctx context.Context, sb tool.Sandbox, call tool.Call) (tool.Result, error) {
	return fake.Echo{}.Execute(ctx, tool.SandboxInfo{ID: sb.ID()}, call)
}

func main() {
	if strings.Contains(name, "dieatlisten") {
		// What go-plugin's Serve does first (a listening socket named like
		// its own in PLUGIN_UNIX_SOCKET_DIR), then death before the handshake.
		l, err := net.Listen("unix", filepath.Join(os.Getenv("PLUGIN_UNIX_SOCKET_DIR"), "plugin123"))
		if err == nil {
			l.(*net.UnixListener).SetUnlinkOnClose(false)
		}
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
	}
	if strings.HasPrefix(name, sdk.BackendPrefix) {
		backend.Serve(fakeBackend{fake.NewBackend()})
		return
	}
	tool.Serve(echo{})
}

//go:build remote

// Command enclave-backend-podman is enclave's Podman backend plugin: it serves
// the docker, docker_notebook and podman sandbox types with Podman containers,
// driven through Podman's REST API. The enclave host starts it; it is not run
// by hand.
//
// Build tags (see the Makefile): remote containers_image_openpgp
// exclude_graphdriver_btrfs btrfs_noversion exclude_graphdriver_devicemapper.
package main

import (
	"log/slog"
	"os"

	"github.com/enclave-sandbox/enclave/sdk/backend"
)

func main() {
	// go-plugin forwards the plugin's stderr to the host's log.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	userns := DefaultUserNS
	if v, ok := os.LookupEnv("ENCLAVE_USERNS"); ok {
		userns = v
	}
	b := New(Config{URL: os.Getenv("ENCLAVE_PODMAN_URL"), UserNS: userns})
	defer b.Shutdown()
	backend.Serve(b)
}

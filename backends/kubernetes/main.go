// Command enclave-backend-kubernetes is enclave's Kubernetes backend plugin:
// a sandbox is a pod in one namespace, exec goes through the API server,
// and every replica watches the pods by label. The enclave host starts it
// with the settings of `enclave server`'s --k8s-* flags in ENCLAVE_K8S_*
// variables; it is not run by hand.
package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"

	"github.com/enclave-sandbox/enclave/sdk/backend"
)

func main() {
	// go-plugin forwards the plugin's stderr to the host's log.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	// client-go logs through klog; its messages join the plugin's log.
	klog.SetLogger(logr.FromSlogHandler(slog.Default().Handler()))
	cfg, err := configFromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "enclave-backend-kubernetes:", err)
		os.Exit(1)
	}
	k := New(cfg)
	defer k.Shutdown()
	backend.Serve(k)
}

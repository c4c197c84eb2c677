package main

// Booting a sandbox's runner with its container (sdk.Spec.Boot): Podman
// runs enclave-boot (cmd/enclave-boot, built beside this plugin) as the
// container's init in place of its own, and enclave-boot starts the runner
// the server described, then execs Podman's init, catatonit, mounted at
// bootInit.

import (
	"path/filepath"

	"golang.org/x/sys/unix"
)

// bootInit is where a booted sandbox finds catatonit.
const bootInit = "/.enclave-boot/catatonit"

// bootFiles are the host paths a booted sandbox needs.
type bootFiles struct{ shim, catatonit string }

// findBootFiles looks for enclave-boot beside this plugin's executable and
// for catatonit, both executable by this plugin's user (who, with a Podman
// service on this host, is the service's: rootful both, or the same user).
func findBootFiles(exe string, catatonits []string) (bootFiles, bool) {
	shim := filepath.Join(filepath.Dir(exe), "enclave-boot")
	if unix.Access(shim, unix.X_OK) != nil {
		return bootFiles{}, false
	}
	for _, c := range catatonits {
		if unix.Access(c, unix.X_OK) == nil {
			return bootFiles{shim, c}, true
		}
	}
	return bootFiles{}, false
}

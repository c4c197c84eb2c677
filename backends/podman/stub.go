//go:build !remote

// The Podman backend needs build tags (the Podman bindings pull in gpgme,
// btrfs and devicemapper otherwise). Build it with `make build`, or:
//
//	CGO_ENABLED=0 go build -tags "remote containers_image_openpgp exclude_graphdriver_btrfs btrfs_noversion exclude_graphdriver_devicemapper" ./backends/podman
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "enclave-backend-podman was built without its build tags; build it with `make build`")
	os.Exit(1)
}

//go:build !remote

// enclave-bench measures floors through the Podman bindings, which need
// build tags; build it with `make bench`.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "enclave-bench was built without its build tags; run `make bench`")
	os.Exit(1)
}

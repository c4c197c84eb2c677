// Command enclave-boot is a sandbox's init on Podman when the server boots
// the sandbox's runner with its container (internal/runner's Boot): Podman
// runs it as PID 1 in place of its own init (catatonit), with the
// container's command as its arguments. It starts the runner the server
// described in the channel directory, then becomes catatonit, which runs
// the command, forwards signals to it and reaps every orphan (the runner
// included). Without a description it only becomes catatonit; without
// catatonit it runs the command itself.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// Where the server's Podman backend mounts things; variables so the tests
// can point them elsewhere (-ldflags -X).
var (
	bootFile = "/.enclave-channel/runner.boot" // JSON array: the runner's argv
	initPath = "/.enclave-boot/catatonit"
)

func main() {
	boot(bootFile)
	args := os.Args[1:]
	err := syscall.Exec(initPath, append([]string{"catatonit"}, args...), os.Environ())
	fmt.Fprintf(os.Stderr, "enclave-boot: no init (%v): running the command without one\n", err)
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		os.Exit(127)
	}
	path, err := exec.LookPath(args[0])
	if err == nil {
		err = syscall.Exec(path, args, os.Environ())
	}
	fmt.Fprintf(os.Stderr, "enclave-boot: %s: %v\n", args[0], err)
	os.Exit(127)
}

// boot starts the runner file describes, detached (its own session, stdio
// on /dev/null), and does not wait for it: once this process is catatonit,
// the runner is an orphan it reaps.
func boot(file string) {
	b, err := os.ReadFile(file)
	if err != nil {
		return // not booted
	}
	var argv []string
	if err := json.Unmarshal(b, &argv); err != nil || len(argv) == 0 {
		fmt.Fprintf(os.Stderr, "enclave-boot: %s: not an argv\n", file)
		return
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// nil stdio is /dev/null; the runner speaks on its channel.
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "enclave-boot: start the runner: %v\n", err)
		return
	}
	cmd.Process.Release()
}

package main

import (
	"encoding/json"
	"fmt"

	"github.com/containers/common/pkg/seccomp"
	"golang.org/x/sys/unix"
)

// keyringSyscalls are refused in every sandbox. The kernel keyring is not
// namespaced: rootful sandboxes share one host uid (DefaultUserNS), so a
// sandbox creating keys would spend the quota every other sandbox's start
// needs, and without a keyring of its own (deploy/containers.conf, keyring =
// false) it would share the service's session keyring with its neighbours.
// Docker's default profile refuses the same calls; Podman's allows keyctl.
var keyringSyscalls = []string{"add_key", "keyctl", "request_key"}

// sandboxSeccomp is Podman's default seccomp profile without the keyring
// calls, which fail with EPERM.
func sandboxSeccomp() ([]byte, error) {
	p := seccomp.DefaultProfile()
	refused := map[string]bool{}
	for _, n := range keyringSyscalls {
		refused[n] = true
	}
	for _, s := range p.Syscalls {
		if s.Action != seccomp.ActAllow {
			continue
		}
		kept := s.Names[:0]
		for _, n := range s.Names {
			if !refused[n] {
				kept = append(kept, n)
			}
		}
		s.Names = kept
	}
	eperm := uint(unix.EPERM)
	p.Syscalls = append(p.Syscalls, &seccomp.Syscall{Names: keyringSyscalls, Action: seccomp.ActErrno, ErrnoRet: &eperm,
		Comment: "enclave: the kernel keyring is not namespaced"})
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode seccomp profile: %w", err)
	}
	return b, nil
}

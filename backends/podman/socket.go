package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// socketCandidates lists the Podman sockets to try, in order: an explicit URL,
// CONTAINER_HOST, then the default socket of the current uid (rootful or
// rootless).
func socketCandidates(explicit string) []string {
	if explicit != "" {
		return []string{explicit}
	}
	var out []string
	if v := os.Getenv("CONTAINER_HOST"); v != "" {
		out = append(out, v)
	}
	if os.Getuid() == 0 {
		out = append(out, "unix:///run/podman/podman.sock")
	} else {
		dir := os.Getenv("XDG_RUNTIME_DIR")
		if dir == "" {
			dir = fmt.Sprintf("/run/user/%d", os.Getuid())
		}
		out = append(out, "unix://"+filepath.Join(dir, "podman", "podman.sock"))
	}
	return out
}

// mountsLocally reports whether every service connect may use runs on this
// host (a unix socket; one it starts listens on one too), so that its
// containers' bind mounts are this host's paths. One reached over tcp or
// ssh may be another host's.
func mountsLocally(explicit string) bool {
	for _, c := range socketCandidates(explicit) {
		if !strings.HasPrefix(c, "unix:") {
			return false
		}
	}
	return true
}

// dialable reports whether a unix or tcp socket accepts connections; cheaper
// and quieter than a full bindings connection attempt.
func dialable(uri string) bool {
	u, err := url.Parse(uri)
	if err != nil {
		return false
	}
	var c net.Conn
	switch u.Scheme {
	case "unix":
		c, err = net.DialTimeout("unix", u.Path, time.Second)
	case "tcp":
		c, err = net.DialTimeout("tcp", u.Host, time.Second)
	default:
		return true // ssh etc.: let bindings try
	}
	if err != nil {
		return false
	}
	c.Close()
	return true
}

package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
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

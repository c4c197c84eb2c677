package manager

// The operator's security policy applied to a config.

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/enclave-sandbox/enclave/internal/sandboxconfig"
)

// resolveImage applies aliases (chains allowed, loops cut).
func (m *Manager) resolveImage(image string) string {
	seen := map[string]bool{}
	for !seen[image] {
		seen[image] = true
		to, ok := m.opts.ImageAliases[image]
		if !ok {
			break
		}
		image = to
	}
	return image
}

func matchImage(pattern, image string) bool {
	if ok, _ := path.Match(pattern, image); ok {
		return true
	}
	return pattern == image
}

// policy applies the operator's policy to a config.
func (m *Manager) policy(cfg *sandboxconfig.Config) error {
	if cfg.Privileged && !m.opts.AllowPrivileged {
		return errors.New("privileged sandboxes are not allowed on this server (enable with --allow-privileged)")
	}
	for _, v := range cfg.Mounts() {
		if !underAny(v.HostPath, m.opts.AllowVolumes) {
			return fmt.Errorf("host volume %s is not allowed on this server (allow with --allow-volume)", v.HostPath)
		}
	}
	if cfg.NetworkEnabled && !m.opts.AllowNetwork {
		return errors.New("network access is not allowed on this server (enable with --allow-network)")
	}
	if len(m.opts.ImageAllow) > 0 {
		resolved := m.resolveImage(cfg.Image)
		ok := false
		for _, p := range m.opts.ImageAllow {
			ok = ok || matchImage(p, cfg.Image) || matchImage(p, resolved)
		}
		if !ok {
			return fmt.Errorf("image %s is not allowed on this server (allow with --image-allow)", cfg.Image)
		}
	}
	return nil
}

func underAny(p string, prefixes []string) bool {
	clean := path.Clean(p)
	if !path.IsAbs(clean) {
		return false
	}
	for _, pre := range prefixes {
		pre = path.Clean(pre)
		if clean == pre || strings.HasPrefix(clean, strings.TrimSuffix(pre, "/")+"/") {
			return true
		}
	}
	return false
}

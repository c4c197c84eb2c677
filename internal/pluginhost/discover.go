package pluginhost

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/enclave-sandbox/enclave/sdk"
)

// Discover lists plugin executables in dir, sorted by name.
func Discover(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read plugin dir: %w", err)
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, sdk.BackendPrefix) && !strings.HasPrefix(n, sdk.ToolPrefix) {
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			continue
		}
		out = append(out, filepath.Join(dir, n))
	}
	sort.Strings(out)
	return out, nil
}

// errUnused marks a backend that serves nothing as configured (the
// kubernetes backend without a cluster): not used, and not a fault.
var errUnused = errors.New("not used")

func checkInfo(kind string, info sdk.Info) error {
	if info.Kind != kind {
		return fmt.Errorf("plugin says it is a %q, its file name says %q", info.Kind, kind)
	}
	if info.Name == "" {
		return errors.New("plugin has no name")
	}
	if !info.Supports(sdk.APIVersion) {
		return fmt.Errorf("plugin %s speaks API versions %v, this server speaks %d", info.Name, info.APIVersions, sdk.APIVersion)
	}
	if kind == sdk.KindTool && len(info.Schema) == 0 {
		return fmt.Errorf("tool %s has no schema", info.Name)
	}
	if kind == sdk.KindBackend && len(info.SandboxTypes) == 0 {
		return fmt.Errorf("backend %s serves no sandbox type (%s): %w", info.Name, info.Description, errUnused)
	}
	return nil
}

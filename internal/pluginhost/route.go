package pluginhost

import (
	"fmt"
	"slices"

	"github.com/enclave-sandbox/enclave/sdk"
)

// DefaultTypeBackends keeps the ms-enclave types on Podman when Podman is
// loaded, whatever else is; the operator moves them (--type-backend).
var DefaultTypeBackends = map[string]string{sdk.TypeDocker: "podman", sdk.TypeNotebook: "podman", sdk.TypePodman: "podman"}

// route decides the backend serving each sandbox type, as an index into
// infos: the operator's choice (prefs: type → backend name), else the
// default choice when that backend is loaded, else a backend named like
// the type, else the first that declares it. A choice naming a backend
// that is not loaded or does not serve the type is an error.
func route(infos []sdk.Info, prefs map[string]string) (map[string]int, error) {
	byName := map[string]int{}
	for i, in := range infos {
		if _, dup := byName[in.Name]; !dup {
			byName[in.Name] = i
		}
	}
	out := map[string]int{}
	for typ, name := range prefs {
		i, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("--type-backend %s=%s: no backend plugin named %q is loaded", typ, name, name)
		}
		if !slices.Contains(infos[i].SandboxTypes, typ) {
			return nil, fmt.Errorf("--type-backend %s=%s: that backend does not serve %q (it serves %v)", typ, name, typ, infos[i].SandboxTypes)
		}
		out[typ] = i
	}
	for i, in := range infos {
		for _, typ := range in.SandboxTypes {
			if _, chosen := prefs[typ]; chosen {
				continue
			}
			cur, taken := out[typ]
			switch {
			case !taken:
				out[typ] = i
			case in.Name == DefaultTypeBackends[typ] && infos[cur].Name != in.Name:
				out[typ] = i
			case in.Name == typ && infos[cur].Name != DefaultTypeBackends[typ]:
				out[typ] = i
			}
		}
	}
	return out, nil
}

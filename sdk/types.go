package sdk

// Sandbox types of the ms-enclave API. Backends declare the types they serve
// (Info.SandboxTypes); the host reads this table for what a type means.
const (
	TypeDocker     = "docker"
	TypeNotebook   = "docker_notebook"
	TypePodman     = "podman"
	TypeVolcengine = "volcengine"
	TypeDummy      = "dummy"
)

// SandboxType is one known sandbox type.
type SandboxType struct {
	Name string
	// ServedAs is the type a sandbox of this name becomes ("podman" is a
	// "docker" sandbox); empty: itself.
	ServedAs string
	// Notebook: the config describes a Jupyter kernel gateway (host, port,
	// token) and the default image is a kernel gateway's.
	Notebook bool
	// Unserved: ms-enclave's API accepts the name, but no enclave backend
	// serves it (a create answers "not available").
	Unserved bool
}

// SandboxTypes is the table of known types, in ms-enclave's enum order.
// A backend may serve further types of its own; they are accepted too.
var SandboxTypes = []SandboxType{
	{Name: TypeDocker},
	{Name: TypeNotebook, Notebook: true},
	{Name: TypePodman, ServedAs: TypeDocker},
	{Name: TypeVolcengine, Unserved: true},
	{Name: TypeDummy, Unserved: true},
}

// LookupType returns the table entry of name; a type the table does not
// know is a plain, served type of its own (a backend's).
func LookupType(name string) SandboxType {
	for _, t := range SandboxTypes {
		if t.Name == name {
			return t
		}
	}
	return SandboxType{Name: name}
}

// CanonicalType is the type a sandbox requested as name is registered as.
func CanonicalType(name string) string {
	if t := LookupType(name); t.ServedAs != "" {
		return t.ServedAs
	}
	return name
}

// ContainerTypes are the types a general container backend serves: every
// served type of the table.
func ContainerTypes() []string {
	var out []string
	for _, t := range SandboxTypes {
		if !t.Unserved {
			out = append(out, t.Name)
		}
	}
	return out
}

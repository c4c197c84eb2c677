package pluginhost

import (
	"testing"

	"github.com/enclave-sandbox/enclave/sdk"
)

func TestRoute(t *testing.T) {
	k8s := sdk.Info{Name: "kubernetes", SandboxTypes: []string{"kubernetes", "docker", "docker_notebook", "podman"}}
	podman := sdk.Info{Name: "podman", SandboxTypes: []string{"docker", "docker_notebook", "podman"}}
	other := sdk.Info{Name: "bwrap", SandboxTypes: []string{"docker", "bwrap"}}
	tests := []struct {
		name  string
		infos []sdk.Info
		prefs map[string]string
		want  map[string]string // type → backend name
		err   bool
	}{
		{"ms-enclave types stay on podman, discovered second", []sdk.Info{k8s, podman}, nil,
			map[string]string{"docker": "podman", "docker_notebook": "podman", "podman": "podman", "kubernetes": "kubernetes"}, false},
		{"kubernetes alone serves them", []sdk.Info{k8s}, nil,
			map[string]string{"docker": "kubernetes", "docker_notebook": "kubernetes", "kubernetes": "kubernetes"}, false},
		{"the operator moves docker to the cluster", []sdk.Info{podman, k8s}, map[string]string{"docker": "kubernetes", "docker_notebook": "kubernetes"},
			map[string]string{"docker": "kubernetes", "docker_notebook": "kubernetes", "podman": "podman"}, false},
		{"first declared wins without a default", []sdk.Info{other, k8s}, nil, map[string]string{"docker": "bwrap", "bwrap": "bwrap"}, false},
		{"unknown backend", []sdk.Info{podman}, map[string]string{"docker": "kubernetes"}, nil, true},
		{"backend that does not serve the type", []sdk.Info{podman}, map[string]string{"kubernetes": "podman"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := route(tt.infos, tt.prefs)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			for typ, name := range tt.want {
				if i, ok := got[typ]; !ok || tt.infos[i].Name != name {
					t.Errorf("%s served by %v, want %s", typ, got[typ], name)
				}
			}
		})
	}
}

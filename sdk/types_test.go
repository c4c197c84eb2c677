package sdk

import (
	"slices"
	"testing"
)

func TestSandboxTypeTable(t *testing.T) {
	for _, tc := range []struct {
		name, canonical    string
		notebook, unserved bool
	}{
		{TypeDocker, TypeDocker, false, false},
		{TypePodman, TypeDocker, false, false},
		{TypeNotebook, TypeNotebook, true, false},
		{TypeVolcengine, TypeVolcengine, false, true},
		{TypeDummy, TypeDummy, false, true},
		{"k8s", "k8s", false, false}, // a backend's own type
	} {
		st := LookupType(tc.name)
		if got := CanonicalType(tc.name); got != tc.canonical {
			t.Errorf("CanonicalType(%q) = %q, want %q", tc.name, got, tc.canonical)
		}
		if st.Notebook != tc.notebook || st.Unserved != tc.unserved {
			t.Errorf("LookupType(%q) = %+v, want notebook=%v unserved=%v", tc.name, st, tc.notebook, tc.unserved)
		}
	}
	if got, want := ContainerTypes(), []string{TypeDocker, TypeNotebook, TypePodman}; !slices.Equal(got, want) {
		t.Errorf("ContainerTypes() = %v, want %v", got, want)
	}
}

package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/enclave-sandbox/enclave/sdk"
)

func TestParseIDMap(t *testing.T) {
	tests := []struct {
		in   string
		want *idMap
		ok   bool
	}{
		{"", nil, true}, {"off", nil, true},
		{"0:1000000000:65536", &idMap{0, 1000000000, 65536}, true},
		{"0:0:65536", nil, false}, // host root
		{"0:1:0", nil, false},     // empty range
		{"0:1", nil, false}, {"a:b:c", nil, false}, {"0:-1:5", nil, false},
	}
	for _, tt := range tests {
		got, err := parseIDMap(tt.in)
		if (err == nil) != tt.ok || (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
			t.Errorf("parseIDMap(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestDecideHostFacts(t *testing.T) {
	tests := []struct {
		name      string
		host      podmanHost
		userns    string
		diskLimit bool
		userNS    bool
		warn      []string // substrings, one per warning
	}{
		{"rootful on btrfs: everything", podmanHost{cgroupsVersion: "v1", graphDriver: "btrfs"}, "0:1000000000:65536", true, true, nil},
		{"rootful on overlay: no disk limit", podmanHost{graphDriver: "overlay"}, "0:1000000000:65536", false, true, []string{"storage driver is overlay"}},
		{"user namespace turned off", podmanHost{graphDriver: "btrfs"}, "off", true, false, []string{"root in a sandbox is root on the host"}},
		{"rootless on cgroups v1", podmanHost{rootless: true, cgroupsVersion: "v1", graphDriver: "overlay"}, "0:1000000000:65536", false, false,
			[]string{"limits are not enforced", "cannot set storage quotas"}},
		{"rootless on cgroups v2", podmanHost{rootless: true, cgroupsVersion: "v2"}, "", false, false, []string{"cannot set storage quotas"}},
	}
	for _, tt := range tests {
		f, err := decideHostFacts(tt.host, tt.userns)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if f.diskLimit != tt.diskLimit || (f.idmap != nil) != tt.userNS || len(f.warnings) != len(tt.warn) {
			t.Errorf("%s: diskLimit=%v userNS=%v warnings=%q", tt.name, f.diskLimit, f.idmap != nil, f.warnings)
			continue
		}
		for i, w := range tt.warn {
			if !strings.Contains(f.warnings[i], w) {
				t.Errorf("%s: warning %q lacks %q", tt.name, f.warnings[i], w)
			}
		}
	}
	if _, err := decideHostFacts(podmanHost{}, "bad"); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Errorf("a bad map: %v, want ErrInvalidArgument", err)
	}
}

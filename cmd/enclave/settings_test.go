package main

import (
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/enclave-sandbox/enclave/internal/manager"
)

// defaults is the config the server's flags give with no arguments.
func defaults(t *testing.T) config {
	t.Helper()
	var c config
	if err := serverFlags(&c).Parse(nil); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLimits(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*config)
		problem string // "" = accepted
	}{
		{"defaults", func(*config) {}, ""},
		{"no memory cap", func(c *config) { c.maxMemory = "0" }, "--max-memory"},
		{"bad disk cap", func(c *config) { c.maxDisk = "lots" }, "--max-disk"},
		{"no default disk", func(c *config) { c.diskLimit = "0" }, "--disk-limit"},
		{"no CPU cap", func(c *config) { c.maxCPUs = 0 }, "--max-cpus"},
		{"no pids limit", func(c *config) { c.pidsLimit = -1 }, "--pids-limit"},
		{"a body no plugin message can carry", func(c *config) { c.maxBody = 1 << 30 }, "--max-body-bytes"},
		{"no output cap", func(c *config) { c.maxOutput = 0 }, "--max-output-bytes"},
		{"negative stop grace", func(c *config) { c.stopGrace = -1 }, "--stop-grace"},
		{"no snapshot bound", func(c *config) { c.maxSnapshots, c.maxSnapshotBytes = 0, "0" }, ""},
		{"negative snapshot count", func(c *config) { c.maxSnapshots = -1 }, "--max-snapshots"},
		{"bad snapshot size", func(c *config) { c.maxSnapshotBytes = "much" }, "--max-snapshot-bytes"},
		{"negative snapshot ttl", func(c *config) { c.snapshotTTL = -5 }, "--snapshot-ttl"},
		{"no runner standbys", func(c *config) { c.runnerStandbys = 0 }, ""},
		{"negative runner standbys", func(c *config) { c.runnerStandbys = -1 }, "--runner-standbys"},
		{"too many runner standbys", func(c *config) { c.runnerStandbys = 9 }, "--runner-standbys"},
		{"no spares", func(c *config) { c.spares = 0 }, ""},
		{"negative spares", func(c *config) { c.spares = -1 }, "--spares"},
		{"no spares per config", func(c *config) { c.sparesPerConfig = 0 }, "--spares-per-config"},
		{"no spare ttl", func(c *config) { c.spareTTL = 0 }, "--spare-ttl"},
	}
	for _, tt := range tests {
		c := defaults(t)
		tt.mutate(&c)
		opts := manager.DefaultOptions()
		err := limits(&c, &opts)
		if tt.problem == "" {
			if err != nil || opts.MaxMemory != 8<<30 || opts.DefaultDisk != 2<<30 || opts.MaxDisk != 10<<30 {
				t.Errorf("%s: %v, opts %+v", tt.name, err, opts)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.problem) {
			t.Errorf("%s: %v, want an error naming %s", tt.name, err, tt.problem)
		}
	}
}

func TestAPIKeys(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "keys")
	os.WriteFile(file, []byte("# rotation\nnew-key\n\n  old-key  \n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("# nothing\n"), 0o600)
	tests := []struct {
		flagKey, file string
		want          []string
		ok            bool
	}{
		{"", "", nil, true},
		{"k", "", []string{"k"}, true},
		{"k", file, []string{"k", "new-key", "old-key"}, true},
		{"", empty, nil, false},
		{"", filepath.Join(dir, "missing"), nil, false},
	}
	for _, tt := range tests {
		got, err := apiKeys(tt.flagKey, tt.file)
		if (err == nil) != tt.ok || !slices.Equal(got, tt.want) {
			t.Errorf("apiKeys(%q, %q) = %q, %v; want %q ok=%v", tt.flagKey, tt.file, got, err, tt.want, tt.ok)
		}
	}
}

func TestEnvironmentBeforeFlags(t *testing.T) {
	t.Setenv("ENCLAVE_PORT", "9001")
	t.Setenv("ENCLAVE_ALLOW_VOLUME", "/data, /srv")
	t.Setenv("ENCLAVE_HOST", "0.0.0.0")
	var c config
	if err := parse(serverFlags(&c), []string{"--host", "127.0.0.2"}); err != nil {
		t.Fatal(err)
	}
	if c.port != "9001" || c.host != "127.0.0.2" || !slices.Equal(c.allowVolume, []string{"/data", "/srv"}) {
		t.Errorf("port %q host %q volumes %q", c.port, c.host, c.allowVolume)
	}
	t.Setenv("ENCLAVE_MAX_CPUS", "many")
	if err := parse(serverFlags(&config{}), nil); err == nil || !strings.Contains(err.Error(), "ENCLAVE_MAX_CPUS") {
		t.Errorf("a bad environment value: %v", err)
	}
	os.Unsetenv("ENCLAVE_MAX_CPUS")
	var c2 config
	fs := serverFlags(&c2)
	fs.SetOutput(new(strings.Builder))
	if err := parse(fs, []string{"--help"}); err != flag.ErrHelp {
		t.Errorf("--help: %v", err)
	}
}

func TestServedTypes(t *testing.T) {
	got := servedTypes([]string{"docker", "docker_notebook", "podman", "k8s", "dummy"})
	if want := []string{"docker", "docker_notebook", "k8s"}; !slices.Equal(got, want) {
		t.Errorf("servedTypes = %v, want %v", got, want)
	}
}

func TestTypeRoutes(t *testing.T) {
	tests := []struct {
		in   listFlag
		want map[string]string
		err  bool
	}{
		{nil, map[string]string{}, false},
		{listFlag{"docker=kubernetes", "docker_notebook=kubernetes"}, map[string]string{"docker": "kubernetes", "docker_notebook": "kubernetes"}, false},
		{listFlag{"docker"}, nil, true},
		{listFlag{"=kubernetes"}, nil, true},
	}
	for _, tt := range tests {
		got, err := typeRoutes(tt.in)
		if (err != nil) != tt.err || !tt.err && !maps.Equal(got, tt.want) {
			t.Errorf("typeRoutes(%v) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// TestKubernetesSettingsReachPlugins: the --k8s-* flags (or their
// ENCLAVE_K8S_* variables) are what the backend plugin's environment holds.
func TestKubernetesSettingsReachPlugins(t *testing.T) {
	t.Setenv("ENCLAVE_K8S_NAMESPACE", "from-env")
	var c config
	if err := parse(serverFlags(&c), []string{"--k8s-pull-policy", "Never", "--type-backend", "docker=kubernetes"}); err != nil {
		t.Fatal(err)
	}
	env := pluginEnv(&c)
	for _, want := range []string{"ENCLAVE_K8S_NAMESPACE=from-env", "ENCLAVE_K8S_PULL_POLICY=Never", "ENCLAVE_K8S_REQUEST_FRACTION=0.1"} {
		if !slices.Contains(env, want) {
			t.Errorf("plugin env lacks %s: %v", want, env)
		}
	}
	if !slices.Equal(c.backends.typeBackends, listFlag{"docker=kubernetes"}) {
		t.Errorf("type routes %v", c.backends.typeBackends)
	}
}

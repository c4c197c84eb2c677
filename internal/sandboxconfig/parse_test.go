package sandboxconfig_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/enclave-sandbox/enclave/internal/sandboxconfig"
	"github.com/enclave-sandbox/enclave/sdk"
)

// view is what the manager reads of a config.
type view struct {
	Argv       []string
	Entrypoint []string
	EPSet      bool
	Env        map[string]string
	Hosts      map[string]string
	Mounts     []sdk.Mount
	Ports      []sdk.Port
	Memory     int64
	Disk       int64
	Tools      []sandboxconfig.Tool
}

func viewOf(c *sandboxconfig.Config) view {
	ep, set := c.EntrypointArgv()
	return view{c.Argv(), ep, set, c.Env(), c.Hosts(), c.Mounts(), c.PortBindings(), c.MemoryBytes(), c.DiskBytes(), c.Tools()}
}

func TestParseTypedValues(t *testing.T) {
	tests := []struct {
		name string
		body string
		want view
	}{
		{"defaults", ``, view{Env: map[string]string{}, Hosts: map[string]string{}, Memory: 4 << 30}},
		{"command string runs under sh", `{"command":"sleep 1"}`,
			view{Argv: []string{"sh", "-c", "sleep 1"}, Env: map[string]string{}, Hosts: map[string]string{}, Memory: 4 << 30}},
		{"entrypoint string and env", `{"entrypoint":"/bin/x","env_vars":{"A":"1"},"memory_limit":"512m","disk_limit":"1g"}`,
			view{Entrypoint: []string{"/bin/x"}, EPSet: true, Env: map[string]string{"A": "1"}, Hosts: map[string]string{}, Memory: 512 << 20, Disk: 1 << 30}},
		{"empty entrypoint clears", `{"entrypoint":[]}`,
			view{Entrypoint: []string{}, EPSet: true, Env: map[string]string{}, Hosts: map[string]string{}, Memory: 4 << 30}},
		{"volumes, ports, hosts", `{"volumes":{"/h":{"bind":"/c","mode":"ro"}},"ports":{"80/tcp":["127.0.0.1",8080],"81":"9"},"extra_hosts":{"db":"10.0.0.1"}}`,
			view{Env: map[string]string{}, Hosts: map[string]string{"db": "10.0.0.1"}, Memory: 4 << 30,
				Mounts: []sdk.Mount{{HostPath: "/h", ContainerPath: "/c", ReadOnly: true}},
				Ports:  []sdk.Port{{ContainerPort: "80/tcp", HostIP: "127.0.0.1", HostPort: 8080}, {ContainerPort: "81", HostPort: 9}}}},
		{"tools list and options", `{"tools_config":{"echo":{"name":"say","enabled":true},"off":{"enabled":false},"plain":null}}`,
			view{Env: map[string]string{}, Hosts: map[string]string{}, Memory: 4 << 30, Tools: []sandboxconfig.Tool{
				{Plugin: "echo", Name: "say", Enabled: true, Options: json.RawMessage(`{"name":"say","enabled":true}`)},
				{Plugin: "off", Name: "off", Enabled: false, Options: json.RawMessage(`{"enabled":false}`)},
				{Plugin: "plain", Name: "plain", Enabled: true, Options: json.RawMessage(`{}`)},
			}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := sandboxconfig.Parse(sdk.TypeDocker, json.RawMessage(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, viewOf(c)); diff != "" {
				t.Errorf("Parse(%s) mismatch (-want +got):\n%s", tt.body, diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ body, field, problem string }{
		{`[1]`, "body", "must be an object"},
		{`{"timeout":null}`, "timeout", "must be an integer"},
		{`{"timeout":1.5}`, "timeout", "must be an integer"},
		{`{"memory_limit":"1.5g"}`, "memory_limit", "Invalid memory limit format"},
		{`{"disk_limit":5}`, "disk_limit", "Invalid disk limit format"},
		{`{"cpu_limit":"2"}`, "cpu_limit", "must be a number"},
		{`{"cpu_limit":0}`, "cpu_limit", "must be greater than 0"},
		{`{"command":[]}`, "command", "must be a string or a non-empty array of strings"},
		{`{"volumes":{"/h":{"bind":"/c","mode":"rx"}}}`, "volumes", "/h: mode must be rw or ro"},
		{`{"ports":{"80":[1,2,3]}}`, "ports", "80: must be a port number, a string or [host_ip, port]"},
		{`{"tools_config":{"echo":{"enabled":"no"}}}`, "tools_config", "echo: options name and description must be strings, enabled a boolean"},
		{`{"tools_config":{"echo":[1]}}`, "tools_config", "echo: options must be an object"},
		{`{"env_vars":{"A":1}}`, "env_vars", "must be an object of strings"},
	}
	for _, tt := range tests {
		_, err := sandboxconfig.Parse(sdk.TypeDocker, json.RawMessage(tt.body))
		var ce *sandboxconfig.Error
		if !errors.As(err, &ce) {
			t.Errorf("Parse(%s) = %v, want a config error", tt.body, err)
			continue
		}
		if got, want := *ce, (sandboxconfig.Error{Field: tt.field, Problem: tt.problem}); got != want {
			t.Errorf("Parse(%s) = %+v, want %+v", tt.body, got, want)
		}
	}
}

func TestClamp(t *testing.T) {
	caps := sandboxconfig.Caps{MaxMemory: 8 << 30, MaxMemoryText: "8g", MaxCPUs: 4, MaxDisk: 10 << 30, MaxDiskText: "10g"}
	tests := []struct {
		body     string
		memText  string
		mem      int64
		cpus     float64
		diskText string
		disk     int64
	}{
		{`{}`, "4g", 4 << 30, 2, "", 0},
		{`{"memory_limit":"0","cpu_limit":99,"disk_limit":"0"}`, "8g", 8 << 30, 4, "10g", 10 << 30},
		{`{"memory_limit":"99999999999999g","disk_limit":"1g"}`, "8g", 8 << 30, 2, "1g", 1 << 30},
	}
	for _, tt := range tests {
		c, err := sandboxconfig.Parse(sdk.TypeDocker, json.RawMessage(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		c.Clamp(caps)
		got := []any{c.MemoryLimit, c.MemoryBytes(), float64(c.CPULimit), c.DiskLimit, c.DiskBytes()}
		want := []any{tt.memText, tt.mem, tt.cpus, tt.diskText, tt.disk}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Clamp of %s (-want +got):\n%s", tt.body, diff)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{{"4g", 4 << 30, true}, {"512M", 512 << 20, true}, {"10k", 10 << 10, true}, {"100", 100, true}, {"1.5g", 0, false}, {"g", 0, false}, {"", 0, false}}
	for _, tt := range tests {
		got, err := sandboxconfig.ParseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v", tt.in, got, err)
		}
	}
}

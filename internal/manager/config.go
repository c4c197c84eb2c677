package manager

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/enclave-sandbox/enclave/internal/pyjson"
	"github.com/enclave-sandbox/enclave/sdk"
)

// Volume is a host path bound into a sandbox.
type Volume struct {
	Bind string `json:"bind"`
	Mode string `json:"mode"`
}

// Config is a sandbox config. Field order is dump order;
// nil pointers are the null fields that the dump omits.
type Config struct {
	Timeout        int             `json:"timeout"`
	ToolsConfig    pyjson.Ordered  `json:"tools_config"`
	WorkingDir     string          `json:"working_dir"`
	EnvVars        pyjson.Ordered  `json:"env_vars"`
	ResourceLimits json.RawMessage `json:"resource_limits"`
	Image          string          `json:"image"`
	Command        json.RawMessage `json:"command,omitempty"`
	// Entrypoint (ms-enclave 0.0.8): a list; [] clears the image's.
	Entrypoint  json.RawMessage `json:"entrypoint,omitempty"`
	Volumes     pyjson.Ordered  `json:"volumes"`
	Ports       pyjson.Ordered  `json:"ports"`
	Network     string          `json:"network"`
	ExtraHosts  pyjson.Ordered  `json:"extra_hosts"`
	Platform    *string         `json:"platform,omitempty"`
	MemoryLimit string          `json:"memory_limit"`
	// DiskLimit (enclave): bound on what the sandbox writes; shown only when
	// the request set it.
	DiskLimit             string       `json:"disk_limit,omitempty"`
	CPULimit              pyjson.Float `json:"cpu_limit"`
	NetworkEnabled        bool         `json:"network_enabled"`
	Privileged            bool         `json:"privileged"`
	RemoveOnExit          bool         `json:"remove_on_exit"`
	PullProgress          bool         `json:"pull_progress"`
	PullProgressInterval  pyjson.Float `json:"pull_progress_interval"`
	DockerExecutorWorkers int          `json:"docker_executor_workers"`
	// docker_notebook only.
	Host  *string `json:"host,omitempty"`
	Port  *int    `json:"port,omitempty"`
	Token *string `json:"token,omitempty"`
}

// ConfigError is an invalid config value.
type ConfigError struct{ Field, Problem string }

func (e *ConfigError) Error() string {
	return fmt.Sprintf("invalid config: %s: %s", e.Field, e.Problem)
}

var memoryRE = regexp.MustCompile(`^\d+[kmgKMG]?$`)

// ParseMemory converts a memory_limit string to bytes (k/m/g: powers of
// 1024). A value too large for int64 is math.MaxInt64 (callers clamp it).
func ParseMemory(s string) (int64, error) {
	if !memoryRE.MatchString(s) {
		return 0, fmt.Errorf("Invalid memory limit format")
	}
	mult := int64(1)
	switch s[len(s)-1] {
	case 'k', 'K':
		mult = 1 << 10
	case 'm', 'M':
		mult = 1 << 20
	case 'g', 'G':
		mult = 1 << 30
	}
	digits := strings.TrimRight(s, "kmgKMG")
	n, err := strconv.ParseInt(digits, 10, 64)
	if errors.Is(err, strconv.ErrRange) || (err == nil && n > math.MaxInt64/mult) {
		return math.MaxInt64, nil
	}
	if err != nil {
		return 0, fmt.Errorf("Invalid memory limit format")
	}
	return n * mult, nil
}

// DefaultConfig returns the defaults for a sandbox type.
func DefaultConfig(typ string) *Config {
	c := &Config{Timeout: 30, ToolsConfig: pyjson.Ordered{}, WorkingDir: "/sandbox", EnvVars: pyjson.Ordered{},
		ResourceLimits: json.RawMessage("{}"), Image: "python:3.11-slim", Volumes: pyjson.Ordered{}, Ports: pyjson.Ordered{},
		Network: "bridge", ExtraHosts: pyjson.Ordered{}, MemoryLimit: "4g", CPULimit: 2.0, RemoveOnExit: true,
		PullProgressInterval: 3.0, DockerExecutorWorkers: 8}
	if sdk.LookupType(typ).Notebook {
		host, port := "127.0.0.1", 8888
		c.Image = "jupyter-kernel-gateway"
		c.Host, c.Port = &host, &port
	}
	return c
}

// ParseConfig validates a config body (a JSON object, or empty/null for
// defaults). Unknown keys are ignored.
func ParseConfig(typ string, body json.RawMessage) (*Config, error) {
	c := DefaultConfig(typ)
	body = bytes.TrimSpace(body)
	if len(body) == 0 || string(body) == "null" {
		return c, nil
	}
	obj, err := pyjson.ParseOrdered(body)
	if err != nil {
		return nil, &ConfigError{"body", "must be an object"}
	}
	notebook := sdk.LookupType(typ).Notebook
	for _, kv := range obj {
		f, v := kv.Key, kv.Value
		null := string(v) == "null"
		bad := func(problem string) error { return &ConfigError{f, problem} }
		switch f {
		case "timeout":
			if null {
				return nil, bad("must be an integer")
			}
			n, err := intValue(v)
			if err != nil {
				return nil, bad("must be an integer")
			}
			c.Timeout = n
		case "tools_config":
			if null {
				continue
			}
			tc, err := parseTools(v)
			if err != nil {
				return nil, bad(err.Error())
			}
			c.ToolsConfig = tc
		case "working_dir":
			s, err := stringValue(v)
			if err != nil || s == "" {
				return nil, bad("must be a non-empty string")
			}
			c.WorkingDir = s
		case "env_vars":
			o, err := stringObject(v)
			if err != nil {
				return nil, bad("must be an object of strings")
			}
			c.EnvVars = o
		case "resource_limits":
			if _, err := pyjson.ParseOrdered(v); err != nil {
				return nil, bad("must be an object")
			}
			c.ResourceLimits = v
		case "image":
			s, err := stringValue(v)
			if err != nil || strings.TrimSpace(s) == "" {
				return nil, bad("must be a non-empty string")
			}
			c.Image = s
		case "command":
			if null {
				continue
			}
			if _, err := stringValue(v); err == nil {
				c.Command = v
				continue
			}
			var list []string
			if json.Unmarshal(v, &list) != nil || len(list) == 0 {
				return nil, bad("must be a string or a non-empty array of strings")
			}
			c.Command = v
		case "volumes":
			o, err := pyjson.ParseOrdered(v)
			if err != nil {
				return nil, bad("must be an object {host_path: {\"bind\": path, \"mode\": \"rw\"|\"ro\"}}")
			}
			for _, vol := range o {
				var spec Volume
				if json.Unmarshal(vol.Value, &spec) != nil || spec.Bind == "" || vol.Key == "" {
					return nil, bad(fmt.Sprintf("%s: must be {\"bind\": path, \"mode\": \"rw\"|\"ro\"}", vol.Key))
				}
				if spec.Mode != "" && spec.Mode != "rw" && spec.Mode != "ro" {
					return nil, bad(fmt.Sprintf("%s: mode must be rw or ro", vol.Key))
				}
			}
			c.Volumes = o
		case "ports":
			o, err := pyjson.ParseOrdered(v)
			if err != nil {
				return nil, bad("must be an object")
			}
			for _, p := range o {
				if _, _, err := parsePort(p.Value); err != nil {
					return nil, bad(fmt.Sprintf("%s: %v", p.Key, err))
				}
			}
			c.Ports = o
		case "network":
			s, err := stringValue(v)
			if err != nil || s == "" {
				return nil, bad("must be a non-empty string")
			}
			c.Network = s
		case "extra_hosts":
			o, err := stringObject(v)
			if err != nil {
				return nil, bad("must be an object of strings")
			}
			c.ExtraHosts = o
		case "platform":
			if null {
				continue
			}
			s, err := stringValue(v)
			if err != nil {
				return nil, bad("must be a string")
			}
			c.Platform = &s
		case "disk_limit":
			if null {
				continue
			}
			s, err := stringValue(v)
			if err != nil {
				return nil, bad("Invalid disk limit format")
			}
			if _, err := ParseMemory(s); err != nil {
				return nil, bad("Invalid disk limit format")
			}
			c.DiskLimit = s
		case "entrypoint":
			if null {
				continue
			}
			if s, err := stringValue(v); err == nil {
				// Docker's CLI form: one executable path ("" clears).
				list := []string{}
				if s != "" {
					list = []string{s}
				}
				c.Entrypoint, _ = json.Marshal(list)
				continue
			}
			var list []string
			if json.Unmarshal(v, &list) != nil {
				return nil, bad("must be an array of strings")
			}
			c.Entrypoint = pyjson.Compact(v)
		case "memory_limit":
			s, err := stringValue(v)
			if err != nil {
				return nil, bad("Invalid memory limit format")
			}
			if _, err := ParseMemory(s); err != nil {
				return nil, bad(err.Error())
			}
			c.MemoryLimit = s
		case "cpu_limit":
			var f float64
			if null || json.Unmarshal(v, &f) != nil || v[0] == '"' {
				return nil, bad("must be a number")
			}
			if f <= 0 {
				return nil, bad("must be greater than 0")
			}
			c.CPULimit = pyjson.Float(f)
		case "network_enabled", "privileged", "remove_on_exit", "pull_progress":
			b, err := boolValue(v)
			if err != nil {
				return nil, bad("must be a boolean")
			}
			switch f {
			case "network_enabled":
				c.NetworkEnabled = b
			case "privileged":
				c.Privileged = b
			case "remove_on_exit":
				c.RemoveOnExit = b
			case "pull_progress":
				c.PullProgress = b
			}
		case "pull_progress_interval":
			var fl float64
			if null || json.Unmarshal(v, &fl) != nil {
				return nil, bad("must be a number")
			}
			c.PullProgressInterval = pyjson.Float(fl)
		case "docker_executor_workers":
			n, err := intValue(v)
			if err != nil {
				return nil, bad("must be an integer")
			}
			c.DockerExecutorWorkers = n
		case "host":
			if notebook {
				s, err := stringValue(v)
				if err != nil {
					return nil, bad("must be a string")
				}
				c.Host = &s
			}
		case "port":
			if notebook {
				n, err := intValue(v)
				if err != nil {
					return nil, bad("must be an integer")
				}
				c.Port = &n
			}
		case "token":
			if notebook && !null {
				s, err := stringValue(v)
				if err != nil {
					return nil, bad("must be a string")
				}
				c.Token = &s
			}
		}
	}
	return c, nil
}

func stringValue(v json.RawMessage) (string, error) {
	var s string
	if len(v) == 0 || v[0] != '"' {
		return "", fmt.Errorf("not a string")
	}
	err := json.Unmarshal(v, &s)
	return s, err
}

func intValue(v json.RawMessage) (int, error) {
	if len(v) == 0 || v[0] == '"' {
		return 0, fmt.Errorf("not an integer")
	}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil || f != float64(int(f)) {
		return 0, fmt.Errorf("not an integer")
	}
	return int(f), nil
}

func boolValue(v json.RawMessage) (bool, error) {
	var b bool
	err := json.Unmarshal(v, &b)
	return b, err
}

func stringObject(v json.RawMessage) (pyjson.Ordered, error) {
	o, err := pyjson.ParseOrdered(v)
	if err != nil {
		return nil, err
	}
	for _, kv := range o {
		if _, err := stringValue(kv.Value); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// parseTools accepts {name: {options}} or [name, ...].
func parseTools(v json.RawMessage) (pyjson.Ordered, error) {
	if len(v) > 0 && v[0] == '[' {
		var names []string
		if err := json.Unmarshal(v, &names); err != nil {
			return nil, fmt.Errorf("must be an object or an array of tool names")
		}
		out := pyjson.Ordered{}
		for _, n := range names {
			if _, dup := out.Get(n); !dup {
				out = append(out, pyjson.KV{Key: n, Value: json.RawMessage("{}")})
			}
		}
		return out, nil
	}
	o, err := pyjson.ParseOrdered(v)
	if err != nil {
		return nil, fmt.Errorf("must be an object or an array of tool names")
	}
	for i, kv := range o {
		if string(kv.Value) == "null" {
			o[i].Value = json.RawMessage("{}")
			continue
		}
		if _, err := pyjson.ParseOrdered(kv.Value); err != nil {
			return nil, fmt.Errorf("%s: options must be an object", kv.Key)
		}
	}
	return o, nil
}

// parsePort reads 8888, "8888" or ["127.0.0.1", 8888].
func parsePort(v json.RawMessage) (ip string, port uint32, err error) {
	var n float64
	if json.Unmarshal(v, &n) == nil && n == float64(uint16(n)) {
		return "", uint32(n), nil
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		p, err := strconv.ParseUint(s, 10, 16)
		return "", uint32(p), err
	}
	var pair []json.RawMessage
	if json.Unmarshal(v, &pair) == nil && len(pair) == 2 {
		if json.Unmarshal(pair[0], &ip) == nil {
			_, p, err := parsePort(pair[1])
			return ip, p, err
		}
	}
	return "", 0, fmt.Errorf("must be a port number, a string or [host_ip, port]")
}

// EntrypointArgv returns the entrypoint and whether the config sets one.
func (c *Config) EntrypointArgv() ([]string, bool) {
	if len(c.Entrypoint) == 0 {
		return nil, false
	}
	list := []string{}
	json.Unmarshal(c.Entrypoint, &list)
	return list, true
}

// Argv returns the command as argv; a string runs under sh -c.
func (c *Config) Argv() []string {
	if len(c.Command) == 0 {
		return nil
	}
	if s, err := stringValue(c.Command); err == nil {
		return []string{"sh", "-c", s}
	}
	var list []string
	json.Unmarshal(c.Command, &list)
	return list
}

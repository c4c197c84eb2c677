// Package sandboxconfig reads the config body of a sandbox create (ms-enclave's
// DockerSandboxConfig, docs/api.md §4.1). Parse validates it once
// into typed values the manager uses; the exported fields are the dump
// clients see and the container label keeps, in ms-enclave's key order.
package sandboxconfig

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/enclave-sandbox/enclave/internal/pyjson"
	"github.com/enclave-sandbox/enclave/sdk"
)

// Config is a sandbox config. Field order is dump order; nil pointers are
// the null fields that the dump omits.
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
	DiskLimit string `json:"disk_limit,omitempty"`
	// IdleTimeout (enclave): seconds without activity after which the
	// sandbox is deleted; shown only when the request set it.
	IdleTimeout *int `json:"idle_timeout,omitempty"`
	// Snapshot (enclave): the snapshot the sandbox starts from; shown only
	// when the request set it.
	Snapshot              string       `json:"snapshot,omitempty"`
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

	v values
}

// values are the config read into the types the manager uses, set by Parse
// and Clamp together with the dump fields they come from.
type values struct {
	argv          []string
	entrypoint    []string
	entrypointSet bool
	env           map[string]string
	extraHosts    map[string]string
	mounts        []sdk.Mount
	ports         []sdk.Port
	memory        int64
	disk          int64 // 0: not set (the operator's default applies)
	tools         []Tool
}

// Tool is one tools_config entry: a tool to bind and how.
type Tool struct {
	// Plugin is the tool's plugin name (the tools_config key).
	Plugin string
	// Name is what the tool is called by (Plugin unless renamed).
	Name string
	// Description and Parameters override the advertised schema's.
	Description *string
	Parameters  json.RawMessage
	Enabled     bool
	// Options is the whole entry, passed to the tool with each call.
	Options json.RawMessage
}

// Volume is a host path bound into a sandbox.
type Volume struct {
	Bind string `json:"bind"`
	Mode string `json:"mode"`
}

// Error is an invalid config value.
type Error struct{ Field, Problem string }

func (e *Error) Error() string {
	return fmt.Sprintf("invalid config: %s: %s", e.Field, e.Problem)
}

// Default returns the defaults for a sandbox type.
func Default(typ string) *Config {
	c := &Config{Timeout: 30, ToolsConfig: pyjson.Ordered{}, WorkingDir: "/sandbox", EnvVars: pyjson.Ordered{},
		ResourceLimits: json.RawMessage("{}"), Image: "python:3.11-slim", Volumes: pyjson.Ordered{}, Ports: pyjson.Ordered{},
		Network: "bridge", ExtraHosts: pyjson.Ordered{}, MemoryLimit: "4g", CPULimit: 2.0, RemoveOnExit: true,
		PullProgressInterval: 3.0, DockerExecutorWorkers: 8}
	c.v = values{env: map[string]string{}, extraHosts: map[string]string{}, memory: 4 << 30}
	if sdk.LookupType(typ).Notebook {
		host, port := "127.0.0.1", 8888
		c.Image = "jupyter-kernel-gateway"
		c.Host, c.Port = &host, &port
	}
	return c
}

// Argv is the command as argv (a string runs under sh -c); nil: the image's.
func (c *Config) Argv() []string { return c.v.argv }

// EntrypointArgv returns the entrypoint and whether the config sets one.
func (c *Config) EntrypointArgv() ([]string, bool) { return c.v.entrypoint, c.v.entrypointSet }

// Env is env_vars as a map.
func (c *Config) Env() map[string]string { return c.v.env }

// Idle is the sandbox's own idle timeout (0: none).
func (c *Config) Idle() time.Duration {
	if c.IdleTimeout == nil {
		return 0
	}
	return time.Duration(*c.IdleTimeout) * time.Second
}

// Hosts is extra_hosts as a map.
func (c *Config) Hosts() map[string]string { return c.v.extraHosts }

// Mounts are the host volumes.
func (c *Config) Mounts() []sdk.Mount { return c.v.mounts }

// PortBindings are the published ports.
func (c *Config) PortBindings() []sdk.Port { return c.v.ports }

// MemoryBytes is memory_limit in bytes.
func (c *Config) MemoryBytes() int64 { return c.v.memory }

// DiskBytes is disk_limit in bytes; 0 when the config sets none.
func (c *Config) DiskBytes() int64 { return c.v.disk }

// Tools are the tools_config entries in order.
func (c *Config) Tools() []Tool { return c.v.tools }

// Caps are the operator's resource caps.
type Caps struct {
	MaxMemory     int64
	MaxMemoryText string
	MaxCPUs       float64
	MaxDisk       int64
	MaxDiskText   string
}

// Clamp applies the operator's caps to every resource the config asks for:
// an unlimited ("0") or oversized request gets the cap. The applied value is
// what the sandbox shows.
func (c *Config) Clamp(caps Caps) {
	if c.v.memory <= 0 || c.v.memory > caps.MaxMemory {
		c.MemoryLimit, c.v.memory = caps.MaxMemoryText, caps.MaxMemory
	}
	if float64(c.CPULimit) > caps.MaxCPUs || c.CPULimit <= 0 {
		c.CPULimit = pyjson.Float(caps.MaxCPUs)
	}
	if c.DiskLimit != "" && (c.v.disk <= 0 || c.v.disk > caps.MaxDisk) {
		c.DiskLimit, c.v.disk = caps.MaxDiskText, caps.MaxDisk
	}
}

// Dump is the config as clients see it and the container label keeps it.
func (c *Config) Dump() json.RawMessage { return pyjson.MustMarshal(c) }

package sandboxconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/enclave-sandbox/enclave/internal/pyjson"
	"github.com/enclave-sandbox/enclave/sdk"
)

// Parse validates a config body (a JSON object, or empty/null for the
// defaults) into a Config. Unknown keys are ignored, as ms-enclave does.
func Parse(typ string, body json.RawMessage) (*Config, error) {
	return ParseOver(typ, nil, body)
}

// ParseOver is Parse with base (a config dump: a snapshot's) in place of
// the defaults: the body's fields replace base's.
func ParseOver(typ string, base, body json.RawMessage) (*Config, error) {
	c := Default(typ)
	notebook := sdk.LookupType(typ).Notebook
	for _, b := range []json.RawMessage{base, body} {
		b = bytes.TrimSpace(b)
		if len(b) == 0 || string(b) == "null" {
			continue
		}
		obj, err := pyjson.ParseOrdered(b)
		if err != nil {
			return nil, &Error{"body", "must be an object"}
		}
		for _, kv := range obj {
			if err := c.set(kv.Key, kv.Value, notebook); err != nil {
				return nil, &Error{kv.Key, err.Error()}
			}
		}
	}
	return c, nil
}

// ValidSnapshotName reports whether s can name a snapshot: 1 to 63 of
// [A-Za-z0-9_.-], starting with a letter or digit.
func ValidSnapshotName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || (c != '_' && c != '.' && c != '-')) {
			return false
		}
	}
	return true
}

// set reads one field; the error is the problem with its value.
func (c *Config) set(field string, v json.RawMessage, notebook bool) error {
	null := string(v) == "null"
	switch field {
	case "timeout":
		n, err := intValue(v)
		if err != nil || null {
			return errors.New("must be an integer")
		}
		c.Timeout = n
	case "tools_config":
		if null {
			return nil
		}
		return c.setTools(v)
	case "working_dir":
		s, err := stringValue(v)
		if err != nil || s == "" {
			return errors.New("must be a non-empty string")
		}
		c.WorkingDir = s
	case "env_vars":
		o, m, err := stringObject(v)
		if err != nil {
			return errors.New("must be an object of strings")
		}
		c.EnvVars, c.v.env = o, m
	case "resource_limits":
		if _, err := pyjson.ParseOrdered(v); err != nil {
			return errors.New("must be an object")
		}
		c.ResourceLimits = v
	case "image":
		s, err := stringValue(v)
		if err != nil || strings.TrimSpace(s) == "" {
			return errors.New("must be a non-empty string")
		}
		c.Image = s
	case "command":
		return c.setCommand(v, null)
	case "volumes":
		return c.setVolumes(v)
	case "ports":
		return c.setPorts(v)
	case "network":
		s, err := stringValue(v)
		if err != nil || s == "" {
			return errors.New("must be a non-empty string")
		}
		c.Network = s
	case "extra_hosts":
		o, m, err := stringObject(v)
		if err != nil {
			return errors.New("must be an object of strings")
		}
		c.ExtraHosts, c.v.extraHosts = o, m
	case "platform":
		if null {
			return nil
		}
		s, err := stringValue(v)
		if err != nil {
			return errors.New("must be a string")
		}
		c.Platform = &s
	case "idle_timeout":
		if null {
			return nil
		}
		n, err := intValue(v)
		if err != nil || n <= 0 {
			return errors.New("must be a positive integer (seconds)")
		}
		c.IdleTimeout = &n
	case "disk_limit":
		if null {
			return nil
		}
		s, err := stringValue(v)
		if err != nil {
			return errDiskFormat
		}
		n, err := ParseSize(s)
		if err != nil {
			return errDiskFormat
		}
		c.DiskLimit, c.v.disk = s, n
	case "entrypoint":
		return c.setEntrypoint(v, null)
	case "snapshot":
		if null {
			c.Snapshot = ""
			return nil
		}
		s, err := stringValue(v)
		if err != nil || !ValidSnapshotName(s) {
			return errors.New("must be a snapshot name (1 to 63 of A-Z a-z 0-9 _ . -, starting with a letter or digit)")
		}
		c.Snapshot = s
	case "memory_limit":
		s, err := stringValue(v)
		if err != nil {
			return errSizeFormat
		}
		n, err := ParseSize(s)
		if err != nil {
			return err
		}
		c.MemoryLimit, c.v.memory = s, n
	case "cpu_limit":
		var f float64
		if null || json.Unmarshal(v, &f) != nil || v[0] == '"' {
			return errors.New("must be a number")
		}
		if f <= 0 {
			return errors.New("must be greater than 0")
		}
		c.CPULimit = pyjson.Float(f)
	case "network_enabled", "privileged", "remove_on_exit", "pull_progress":
		var b bool
		if json.Unmarshal(v, &b) != nil {
			return errors.New("must be a boolean")
		}
		switch field {
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
		var f float64
		if null || json.Unmarshal(v, &f) != nil {
			return errors.New("must be a number")
		}
		c.PullProgressInterval = pyjson.Float(f)
	case "docker_executor_workers":
		n, err := intValue(v)
		if err != nil {
			return errors.New("must be an integer")
		}
		c.DockerExecutorWorkers = n
	case "host", "port", "token":
		if notebook {
			return c.setNotebook(field, v, null)
		}
	}
	return nil
}

func (c *Config) setCommand(v json.RawMessage, null bool) error {
	if null {
		return nil
	}
	if s, err := stringValue(v); err == nil {
		c.Command, c.v.argv = v, []string{"sh", "-c", s}
		return nil
	}
	var list []string
	if json.Unmarshal(v, &list) != nil || len(list) == 0 {
		return errors.New("must be a string or a non-empty array of strings")
	}
	c.Command, c.v.argv = v, list
	return nil
}

func (c *Config) setEntrypoint(v json.RawMessage, null bool) error {
	if null {
		return nil
	}
	if s, err := stringValue(v); err == nil {
		// Docker's CLI form: one executable path ("" clears).
		list := []string{}
		if s != "" {
			list = []string{s}
		}
		c.Entrypoint, c.v.entrypoint, c.v.entrypointSet = pyjson.MustMarshal(list), list, true
		return nil
	}
	list := []string{}
	if json.Unmarshal(v, &list) != nil {
		return errors.New("must be an array of strings")
	}
	c.Entrypoint, c.v.entrypoint, c.v.entrypointSet = pyjson.Compact(v), list, true
	return nil
}

func (c *Config) setVolumes(v json.RawMessage) error {
	o, err := pyjson.ParseOrdered(v)
	if err != nil {
		return errors.New(`must be an object {host_path: {"bind": path, "mode": "rw"|"ro"}}`)
	}
	var mounts []sdk.Mount
	for _, vol := range o {
		var spec Volume
		if json.Unmarshal(vol.Value, &spec) != nil || spec.Bind == "" || vol.Key == "" {
			return fmt.Errorf(`%s: must be {"bind": path, "mode": "rw"|"ro"}`, vol.Key)
		}
		if spec.Mode != "" && spec.Mode != "rw" && spec.Mode != "ro" {
			return fmt.Errorf("%s: mode must be rw or ro", vol.Key)
		}
		mounts = append(mounts, sdk.Mount{HostPath: vol.Key, ContainerPath: spec.Bind, ReadOnly: spec.Mode == "ro"})
	}
	c.Volumes, c.v.mounts = o, mounts
	return nil
}

func (c *Config) setPorts(v json.RawMessage) error {
	o, err := pyjson.ParseOrdered(v)
	if err != nil {
		return errors.New("must be an object")
	}
	var ports []sdk.Port
	for _, p := range o {
		ip, port, err := parsePort(p.Value)
		if err != nil {
			return fmt.Errorf("%s: %w", p.Key, err)
		}
		ports = append(ports, sdk.Port{ContainerPort: p.Key, HostIP: ip, HostPort: port})
	}
	c.Ports, c.v.ports = o, ports
	return nil
}

func (c *Config) setNotebook(field string, v json.RawMessage, null bool) error {
	switch field {
	case "host":
		s, err := stringValue(v)
		if err != nil {
			return errors.New("must be a string")
		}
		c.Host = &s
	case "port":
		n, err := intValue(v)
		if err != nil {
			return errors.New("must be an integer")
		}
		c.Port = &n
	case "token":
		if null {
			return nil
		}
		s, err := stringValue(v)
		if err != nil {
			return errors.New("must be a string")
		}
		c.Token = &s
	}
	return nil
}

// setTools reads {name: {options}} or [name, ...]. The options enclave
// reads itself (name, description, parameters, enabled) must have their
// types; the rest belongs to the tool.
func (c *Config) setTools(v json.RawMessage) error {
	var o pyjson.Ordered
	if len(v) > 0 && v[0] == '[' {
		var names []string
		if err := json.Unmarshal(v, &names); err != nil {
			return errors.New("must be an object or an array of tool names")
		}
		o = pyjson.Ordered{}
		for _, n := range names {
			if _, dup := o.Get(n); !dup {
				o = append(o, pyjson.KV{Key: n, Value: json.RawMessage("{}")})
			}
		}
	} else {
		var err error
		if o, err = pyjson.ParseOrdered(v); err != nil {
			return errors.New("must be an object or an array of tool names")
		}
	}
	var tools []Tool
	for i, kv := range o {
		if string(kv.Value) == "null" {
			o[i].Value = json.RawMessage("{}")
		}
		var opts struct {
			Name        *string         `json:"name"`
			Description *string         `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
			Enabled     *bool           `json:"enabled"`
		}
		if _, err := pyjson.ParseOrdered(o[i].Value); err != nil {
			return fmt.Errorf("%s: options must be an object", kv.Key)
		}
		if err := json.Unmarshal(o[i].Value, &opts); err != nil {
			return fmt.Errorf("%s: options name and description must be strings, enabled a boolean", kv.Key)
		}
		t := Tool{Plugin: kv.Key, Name: kv.Key, Description: opts.Description, Enabled: opts.Enabled == nil || *opts.Enabled, Options: o[i].Value}
		if opts.Name != nil && *opts.Name != "" {
			t.Name = *opts.Name
		}
		if len(opts.Parameters) > 0 && string(opts.Parameters) != "null" {
			t.Parameters = pyjson.Compact(opts.Parameters)
		}
		tools = append(tools, t)
	}
	c.ToolsConfig, c.v.tools = o, tools
	return nil
}

func stringValue(v json.RawMessage) (string, error) {
	var s string
	if len(v) == 0 || v[0] != '"' {
		return "", errors.New("not a string")
	}
	err := json.Unmarshal(v, &s)
	return s, err
}

func intValue(v json.RawMessage) (int, error) {
	if len(v) == 0 || v[0] == '"' {
		return 0, errors.New("not an integer")
	}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil || f != float64(int(f)) {
		return 0, errors.New("not an integer")
	}
	return int(f), nil
}

// stringObject reads an object of strings, in order and as a map.
func stringObject(v json.RawMessage) (pyjson.Ordered, map[string]string, error) {
	o, err := pyjson.ParseOrdered(v)
	if err != nil {
		return nil, nil, err
	}
	m := make(map[string]string, len(o))
	for _, kv := range o {
		s, err := stringValue(kv.Value)
		if err != nil {
			return nil, nil, err
		}
		m[kv.Key] = s
	}
	return o, m, nil
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
	return "", 0, errors.New("must be a port number, a string or [host_ip, port]")
}

package manager

// Binding a sandbox's tools from its tools_config.

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"slices"

	"github.com/enclave-sandbox/enclave/internal/pyjson"
	"github.com/enclave-sandbox/enclave/internal/sandboxconfig"
	"github.com/enclave-sandbox/enclave/internal/schema"
)

type boundTool struct {
	name      string // as called
	tool      Tool
	schema    json.RawMessage // advertised
	validator *schema.Validator
	options   json.RawMessage
}

// bindTools resolves tools_config: unknown, disabled or
// unsupported tools are skipped and logged.
func (m *Manager) bindTools(id, typ string, cfg *sandboxconfig.Config) []boundTool {
	var out []boundTool
	for _, tc := range cfg.Tools() {
		if !tc.Enabled {
			continue
		}
		t, ok := m.plugins.Tool(tc.Plugin)
		if !ok {
			slog.Warn("tool not available, skipped", "sandbox_id", id, "tool", tc.Plugin)
			continue
		}
		info := t.Info()
		if len(info.SandboxTypes) > 0 && !slices.Contains(info.SandboxTypes, typ) {
			slog.Warn("tool does not support sandbox type, skipped", "sandbox_id", id, "tool", tc.Plugin, "type", typ)
			continue
		}
		v, err := schema.Compile(info.Schema)
		if err != nil {
			slog.Warn("tool schema invalid, skipped", "tool", tc.Plugin, "err", err)
			continue
		}
		advertised, err := overrideSchema(stripExtension(info.Schema), tc)
		if err != nil {
			slog.Warn("tool schema override failed, skipped", "tool", tc.Plugin, "err", err)
			continue
		}
		out = append(out, boundTool{name: tc.Name, tool: t, schema: advertised, validator: v, options: tc.Options})
	}
	return out
}

// stripExtension removes the schema.Extension key from a tool schema,
// keeping the rest byte-for-byte.
func stripExtension(s json.RawMessage) json.RawMessage {
	if !bytes.Contains(s, []byte(schema.Extension)) {
		return s
	}
	top, err := pyjson.ParseOrdered(s)
	if err != nil {
		return s
	}
	out := top[:0]
	for _, kv := range top {
		if kv.Key != schema.Extension {
			out = append(out, kv)
		}
	}
	b, err := out.MarshalJSON()
	if err != nil {
		return s
	}
	return b
}

// overrideSchema applies name/description/parameters overrides to the
// schema, keeping its byte form when nothing changes.
func overrideSchema(s json.RawMessage, tc sandboxconfig.Tool) (json.RawMessage, error) {
	if tc.Name == tc.Plugin && tc.Description == nil && len(tc.Parameters) == 0 {
		return s, nil
	}
	top, err := pyjson.ParseOrdered(s)
	if err != nil {
		return nil, err
	}
	for i, kv := range top {
		if kv.Key != "function" {
			continue
		}
		fn, err := pyjson.ParseOrdered(kv.Value)
		if err != nil {
			return nil, err
		}
		for j := range fn {
			switch fn[j].Key {
			case "name":
				fn[j].Value = pyjson.MustMarshal(tc.Name)
			case "description":
				if tc.Description != nil {
					fn[j].Value = pyjson.MustMarshal(*tc.Description)
				}
			case "parameters":
				if len(tc.Parameters) > 0 {
					fn[j].Value = tc.Parameters
				}
			}
		}
		top[i].Value, _ = fn.MarshalJSON()
	}
	return top.MarshalJSON()
}

// Tools returns the advertised tool schemas of a sandbox.
func (m *Manager) Tools(id string) (pyjson.Ordered, error) {
	info, ok := m.Get(id)
	if !ok {
		return nil, errorf(KindNotFound, "Sandbox %s not found", id)
	}
	return info.Tools, nil
}

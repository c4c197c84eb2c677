// Package schema validates tool parameters against a tool's OpenAI function
// schema, the subset the built-in tools use: string, integer
// (any JSON number: the integers are timeouts in seconds), number, array of
// strings, object of strings, anyOf, required, additionalProperties false.
package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

type prop struct {
	Type                 string          `json:"type"`
	AnyOf                []prop          `json:"anyOf"`
	Items                *prop           `json:"items"`
	AdditionalProperties json.RawMessage `json:"additionalProperties"`
}

// Validator checks parameters against one tool schema.
type Validator struct {
	props    map[string]prop
	required map[string]bool
	closed   bool
}

// Extension is the top-level key of a tool schema where a plugin declares
// what enclave accepts beyond the advertised schema:
// {"x-enclave":{"extra_parameters":{"stdin":{"type":"string"}}}}. The host
// strips it before advertising, so ms-enclave's schemas stay byte-for-byte.
const Extension = "x-enclave"

// Compile reads {"type":"function","function":{"parameters":{...}}} plus
// the extra parameters of its Extension.
func Compile(fnSchema json.RawMessage) (*Validator, error) {
	var s struct {
		Function struct {
			Parameters struct {
				Properties           map[string]prop `json:"properties"`
				Required             []string        `json:"required"`
				AdditionalProperties *bool           `json:"additionalProperties"`
			} `json:"parameters"`
		} `json:"function"`
		Ext struct {
			Extra map[string]prop `json:"extra_parameters"`
		} `json:"x-enclave"`
	}
	if err := json.Unmarshal(fnSchema, &s); err != nil {
		return nil, fmt.Errorf("tool schema: %w", err)
	}
	p := s.Function.Parameters
	v := &Validator{props: p.Properties, required: map[string]bool{}, closed: p.AdditionalProperties != nil && !*p.AdditionalProperties}
	if v.props == nil {
		v.props = map[string]prop{}
	}
	for k, x := range s.Ext.Extra {
		if _, ok := v.props[k]; !ok {
			v.props[k] = x
		}
	}
	for _, r := range p.Required {
		v.required[r] = true
	}
	return v, nil
}

type problem struct{ param, text string }

// Validate returns "" when params conform, else the problems joined by "; ",
// sorted by parameter name. params must be a JSON object.
func (v *Validator) Validate(params json.RawMessage) string {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(params, &m); err != nil {
		return "parameters must be an object"
	}
	var probs []problem
	for k, raw := range m {
		p, ok := v.props[k]
		if !ok {
			if v.closed {
				probs = append(probs, problem{k, fmt.Sprintf("unexpected parameter '%s'", k)})
			}
			continue
		}
		if isNull(raw) {
			if v.required[k] {
				probs = append(probs, problem{k, fmt.Sprintf("missing required parameter '%s'", k)})
			}
			continue
		}
		if t := check(p, raw); t != "" {
			probs = append(probs, problem{k, fmt.Sprintf("parameter '%s' must be %s", k, t)})
			continue
		}
		if p.Type == "integer" || p.Type == "number" {
			var f float64
			if json.Unmarshal(raw, &f) == nil && f < 0 && strings.Contains(k, "timeout") {
				probs = append(probs, problem{k, fmt.Sprintf("parameter '%s' must be >= 0", k)})
			}
		}
	}
	for k := range v.required {
		if _, ok := m[k]; !ok {
			probs = append(probs, problem{k, fmt.Sprintf("missing required parameter '%s'", k)})
		}
	}
	if len(probs) == 0 {
		return ""
	}
	sort.Slice(probs, func(i, j int) bool { return probs[i].param < probs[j].param })
	texts := make([]string, len(probs))
	for i, p := range probs {
		texts[i] = p.text
	}
	return strings.Join(texts, "; ")
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// check returns "" when raw matches p, else the expected type's description.
func check(p prop, raw json.RawMessage) string {
	if len(p.AnyOf) > 0 {
		var descs []string
		for _, alt := range p.AnyOf {
			d := check(alt, raw)
			if d == "" {
				return ""
			}
			descs = append(descs, d)
		}
		if len(descs) == 2 && descs[0] == "a string" && descs[1] == "an array of strings" {
			return "a string or an array of strings"
		}
		return strings.Join(descs, " or ")
	}
	raw = bytes.TrimSpace(raw)
	switch p.Type {
	case "string":
		if len(raw) == 0 || raw[0] != '"' {
			return "a string"
		}
	case "integer", "number":
		var f float64
		if len(raw) == 0 || raw[0] == '"' || json.Unmarshal(raw, &f) != nil {
			return "a number"
		}
	case "boolean":
		if string(raw) != "true" && string(raw) != "false" {
			return "a boolean"
		}
	case "array":
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil || raw[0] != '[' {
			return "an array of strings"
		}
		for _, it := range items {
			if p.Items != nil && check(*p.Items, it) != "" {
				return "an array of strings"
			}
		}
	case "object":
		var obj map[string]json.RawMessage
		if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &obj) != nil {
			return "an object with string values"
		}
		for _, val := range obj {
			if check(prop{Type: "string"}, val) != "" {
				return "an object with string values"
			}
		}
	}
	return ""
}

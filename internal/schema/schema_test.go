package schema

import (
	"encoding/json"
	"testing"
)

const python = `{"type":"function","function":{"name":"python_executor","description":"x","parameters":{"type":"object","properties":{"code":{"type":"string","description":"c"},"timeout":{"type":"integer","description":"t","default":30}},"required":["code"],"additionalProperties":false}}}`

const shell = `{"type":"function","function":{"name":"shell_executor","description":"x","parameters":{"type":"object","properties":{"command":{"anyOf":[{"type":"string"},{"type":"array","items":{"type":"string"}}]},"timeout":{"type":"integer"}},"required":["command"],"additionalProperties":false}}}`

const shellExt = `{"type":"function","function":{"name":"shell_executor","description":"x","parameters":{"type":"object","properties":{"command":{"type":"string"}},"required":["command"],"additionalProperties":false}},"x-enclave":{"extra_parameters":{"stdin":{"type":"string"}}}}`

func TestValidate(t *testing.T) {
	tests := []struct {
		schema, params, want string
	}{
		{python, `{"code":"print(1)"}`, ""},
		{python, `{"code":"print(1)","timeout":0.3}`, ""},
		{python, `{"code":"print(1)","timeout":null}`, ""},
		{python, `{"code":"print(1)","foo":1}`, "unexpected parameter 'foo'"},
		{python, `{"code":123}`, "parameter 'code' must be a string"},
		{python, `{}`, "missing required parameter 'code'"},
		{python, `{"code":null}`, "missing required parameter 'code'"},
		{python, `{"code":"x","timeout":-1}`, "parameter 'timeout' must be >= 0"},
		{python, `{"code":"x","timeout":true}`, "parameter 'timeout' must be a number"},
		{python, `{"zz":1,"code":1,"aa":2}`, "unexpected parameter 'aa'; parameter 'code' must be a string; unexpected parameter 'zz'"},
		{shell, `{"command":["a","b"]}`, ""},
		{shell, `{"command":"echo"}`, ""},
		{shell, `{"command":[1]}`, "parameter 'command' must be a string or an array of strings"},
		{shell, `{"command":{}}`, "parameter 'command' must be a string or an array of strings"},
		{shell, `{"command":"cat","stdin":"x"}`, "unexpected parameter 'stdin'"},
		{shellExt, `{"command":"cat","stdin":"x"}`, ""},
		{shellExt, `{"command":"cat","stdin":1}`, "parameter 'stdin' must be a string"},
	}
	for _, tt := range tests {
		v, err := Compile(json.RawMessage(tt.schema))
		if err != nil {
			t.Fatal(err)
		}
		if got := v.Validate(json.RawMessage(tt.params)); got != tt.want {
			t.Errorf("Validate(%s) = %q, want %q", tt.params, got, tt.want)
		}
	}
}

// FuzzValidate: any parameters get an answer (never a panic), the same
// answer twice.
func FuzzValidate(f *testing.F) {
	for _, p := range []string{`{"code":"x"}`, `{"code":1,"zz":null}`, `[]`, `null`, `{"command":["a",1]}`, `{"stdin":{}}`} {
		f.Add(p)
	}
	vs := []*Validator{}
	for _, s := range []string{python, shell, shellExt} {
		v, err := Compile(json.RawMessage(s))
		if err != nil {
			f.Fatal(err)
		}
		vs = append(vs, v)
	}
	f.Fuzz(func(t *testing.T, params string) {
		for _, v := range vs {
			if a, b := v.Validate(json.RawMessage(params)), v.Validate(json.RawMessage(params)); a != b {
				t.Fatalf("Validate(%s) not deterministic: %q vs %q", params, a, b)
			}
		}
	})
}

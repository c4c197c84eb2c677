package main

import (
	"testing"

	"github.com/enclave-sandbox/enclave/sdk/sdktest"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

func TestContract(t *testing.T) {
	check := func(status, output, errText string) func(*testing.T, tool.Result) {
		return func(t *testing.T, r tool.Result) {
			if r.Status != status || r.Output != output || (errText != "" && (r.Error == nil || *r.Error != errText)) {
				t.Errorf("got %s %q %v, want %s %q %q", r.Status, r.Output, r.Error, status, output, errText)
			}
		}
	}
	sdktest.RunTool(t, New(),
		sdktest.ToolCase{Name: "string runs under sh", Params: `{"command":"echo a && echo b | tr b c"}`, Check: check("success", "a\nc\n", "")},
		sdktest.ToolCase{Name: "argv", Params: `{"command":["printf","%s","x y"]}`, Check: check("success", "x y", "")},
		sdktest.ToolCase{Name: "exit 124 before deadline", Params: `{"command":["sh","-c","exit 124"],"timeout":5}`, Check: check("error", "", "Command failed with exit code 124")},
		sdktest.ToolCase{Name: "deadline", Params: `{"command":"sleep 5","timeout":0.2}`, Check: check("timeout", "", "Command timed out after 0.2 seconds")},
		sdktest.ToolCase{Name: "empty", Params: `{"command":[]}`, Check: check("error", "", "No command provided")},
	)
}

func TestArgv(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`"ls -l"`, []string{"sh", "-c", "ls -l"}},
		{`["ls","-l"]`, []string{"ls", "-l"}},
		{`"  "`, nil},
		{`[]`, nil},
	}
	for _, tt := range tests {
		got, err := argv([]byte(tt.in))
		if err != nil || len(got) != len(tt.want) {
			t.Errorf("argv(%s) = %q, %v; want %q", tt.in, got, err, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("argv(%s) = %q, want %q", tt.in, got, tt.want)
			}
		}
	}
}

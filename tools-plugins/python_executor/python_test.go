package main

import (
	"strings"
	"testing"

	"github.com/enclave-sandbox/enclave/sdk/sdktest"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

func want(status, output string, errSub string) func(*testing.T, tool.Result) {
	return func(t *testing.T, r tool.Result) {
		t.Helper()
		if r.Status != status || r.Output != output {
			t.Errorf("got %s %q, want %s %q (error %v)", r.Status, r.Output, status, output, r.Error)
		}
		if errSub != "" && (r.Error == nil || !strings.Contains(*r.Error, errSub)) {
			t.Errorf("error %v lacks %q", r.Error, errSub)
		}
	}
}

func TestContract(t *testing.T) {
	sdktest.RunTool(t, New(),
		sdktest.ToolCase{Name: "print", Params: `{"code":"print(40+2)"}`, Check: want("success", "42\n", "")},
		sdktest.ToolCase{Name: "exit code", Params: `{"code":"import sys; sys.exit(3)"}`, Check: want("error", "", "Command failed with exit code 3")},
		sdktest.ToolCase{Name: "traceback", Params: `{"code":"1/0"}`, Check: want("error", "", "ZeroDivisionError")},
		sdktest.ToolCase{Name: "empty", Params: `{"code":""}`, Check: want("error", "", "No code provided")},
		sdktest.ToolCase{Name: "timeout", Params: `{"code":"import time; time.sleep(5)","timeout":0.2}`, Check: want("timeout", "", "Command timed out after 0.2 seconds")},
	)
}

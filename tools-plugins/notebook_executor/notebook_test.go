package main

import (
	"strings"
	"testing"

	"github.com/enclave-sandbox/enclave/sdk/sdktest"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

// The kernel runs on the test machine's python3 through LocalHost sessions.
func TestContract(t *testing.T) {
	check := func(status, output, errHas string) func(*testing.T, tool.Result) {
		return func(t *testing.T, r tool.Result) {
			e := ""
			if r.Error != nil {
				e = *r.Error
			}
			if r.Status != status || r.Output != output || !strings.Contains(e, errHas) {
				t.Errorf("got %s %q %q, want %s %q containing %q", r.Status, r.Output, e, status, output, errHas)
			}
		}
	}
	sdktest.RunTool(t, New(),
		sdktest.ToolCase{Name: "define", Params: `{"code":"a = 20"}`, Check: check("success", "", "")},
		sdktest.ToolCase{Name: "state persists", Params: `{"code":"print(a)\na * 2 + 2"}`, Check: check("success", "20\n\nResult: 42", "")},
		sdktest.ToolCase{Name: "exception", Params: `{"code":"1/0"}`, Check: check("error", "", "ZeroDivisionError: division by zero")},
		sdktest.ToolCase{Name: "interrupt keeps state", Params: `{"code":"import time; time.sleep(5); b = 1","timeout":0.5}`, Check: check("timeout", "", "Execution timed out after 0.5 seconds")},
		sdktest.ToolCase{Name: "after interrupt", Params: `{"code":"print(a, globals().get('b', 'ABSENT'))"}`, Check: check("success", "20 ABSENT\n", "")},
	)
}

package main

import (
	"testing"

	"github.com/enclave-sandbox/enclave/sdk/sdktest"
)

// The kernel runs on the test machine's python3 through LocalHost sessions.
func TestContract(t *testing.T) {
	check := sdktest.Expect
	sdktest.RunTool(t, New(),
		sdktest.ToolCase{Name: "define", Params: `{"code":"a = 20"}`, Check: check("success", "", "")},
		sdktest.ToolCase{Name: "state persists", Params: `{"code":"print(a)\na * 2 + 2"}`, Check: check("success", "20\n\nResult: 42", "")},
		sdktest.ToolCase{Name: "exception", Params: `{"code":"1/0"}`, Check: check("error", "", "ZeroDivisionError: division by zero")},
		sdktest.ToolCase{Name: "interrupt keeps state", Params: `{"code":"import time; time.sleep(5); b = 1","timeout":0.5}`, Check: check("timeout", "", "Execution timed out after 0.5 seconds")},
		sdktest.ToolCase{Name: "after interrupt", Params: `{"code":"print(a, globals().get('b', 'ABSENT'))"}`, Check: check("success", "20 ABSENT\n", "")},
	)
}

package main

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/enclave-sandbox/enclave/sdk/sdktest"
)

func TestContract(t *testing.T) {
	check := sdktest.Expect
	sdktest.RunTool(t, New(),
		sdktest.ToolCase{Name: "python", Params: `{"language":"python","code":"import helper; print(helper.X)","files":{"a/helper.py":"X = 7"}}`, Check: check("success", "7\n", "")},
		sdktest.ToolCase{Name: "bash exit code", Params: `{"language":"bash","code":"exit 5"}`, Check: check("error", "", "Command failed with exit code 5")},
		sdktest.ToolCase{Name: "run timeout", Params: `{"language":"bash","code":"sleep 5","run_timeout":0.3}`, Check: check("timeout", "", "")},
		sdktest.ToolCase{Name: "unknown language", Params: `{"language":"cobol","code":"x"}`, Check: check("error", "", "Unsupported language: cobol")},
		sdktest.ToolCase{Name: "blank code", Params: `{"language":"python","code":" "}`, Check: check("error", "", "Invalid input")},
	)
}

func TestArchiveUsesBaseNames(t *testing.T) {
	b, err := archive("mce_x", map[string]string{"../../etc/passwd": "p", "d/e.txt": "e"}, "main.py", "print(1)")
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(b))
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		names = append(names, h.Name)
	}
	if got := strings.Join(names, ","); got != "mce_x/,mce_x/passwd,mce_x/e.txt,mce_x/main.py" {
		t.Errorf("entries = %s", got)
	}
}

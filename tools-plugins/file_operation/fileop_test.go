package main

import (
	"bytes"
	"testing"

	"github.com/enclave-sandbox/enclave/sdk/sdktest"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

func TestContract(t *testing.T) {
	check := func(status, output string) func(*testing.T, tool.Result) {
		return func(t *testing.T, r tool.Result) {
			if r.Status != status || r.Output != output {
				t.Errorf("got %s %q (error %v), want %s %q", r.Status, r.Output, r.Error, status, output)
			}
		}
	}
	sdktest.RunTool(t, New(),
		sdktest.ToolCase{Name: "create", Params: `{"operation":"create","file_path":"d/$(x) q\"f","content":"hi"}`, Check: check("success", `File written successfully: d/$(x) q"f`)},
		sdktest.ToolCase{Name: "read", Params: `{"operation":"read","file_path":"d/$(x) q\"f"}`, Check: check("success", "hi")},
		sdktest.ToolCase{Name: "exists", Params: `{"operation":"exists","file_path":"d"}`, Check: check("success", "exists")},
		sdktest.ToolCase{Name: "delete", Params: `{"operation":"delete","file_path":"d"}`, Check: check("success", "Successfully deleted: d")},
		sdktest.ToolCase{Name: "gone", Params: `{"operation":"exists","file_path":"d"}`, Check: check("success", "does not exist")},
		sdktest.ToolCase{Name: "unknown", Params: `{"operation":"zap","file_path":"d"}`, Check: check("error", "")},
	)
}

func TestEncode(t *testing.T) {
	tests := []struct {
		text, enc string
		want      []byte
		wantErr   bool
	}{
		{"é", "utf-8", []byte{0xc3, 0xa9}, false},
		{"é", "UTF8", []byte{0xc3, 0xa9}, false},
		{"é", "latin-1", []byte{0xe9}, false},
		{"é", "iso-8859-1", []byte{0xe9}, false},
		{"a", "utf-16", []byte{0xff, 0xfe, 'a', 0}, false},
		{"a", "utf-16-be", []byte{0, 'a'}, false},
		{"é", "ascii", nil, true},
		{"a", "klingon", nil, true},
		{"€", "cp1252", []byte{0x80}, false},
	}
	for _, tt := range tests {
		got, err := encode(tt.text, tt.enc)
		if (err != nil) != tt.wantErr || !bytes.Equal(got, tt.want) {
			t.Errorf("encode(%q, %q) = %x, %v; want %x, err %v", tt.text, tt.enc, got, err, tt.want, tt.wantErr)
		}
	}
}

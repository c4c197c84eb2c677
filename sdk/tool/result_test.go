package tool

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/enclave-sandbox/enclave/sdk"
)

func TestParseDeadline(t *testing.T) {
	withDefault := DeadlineRule{Default: 30 * time.Second, DefaultText: "30"}
	none := DeadlineRule{Default: 30 * time.Second, DefaultText: "30", NoneOnNull: true}
	hour := time.Hour
	tests := []struct {
		name string
		raw  string
		rule DeadlineRule
		max  time.Duration
		want Deadline
	}{
		{"omitted: the default", "", withDefault, hour, Deadline{30 * time.Second, "30"}},
		{"a number, as written", "2.5", withDefault, hour, Deadline{2500 * time.Millisecond, "2.5"}},
		{"capped by the operator", "7200", withDefault, hour, Deadline{hour, "3600"}},
		{"null: the default", "null", withDefault, hour, Deadline{30 * time.Second, "30"}},
		{"null with NoneOnNull: the operator bound", "null", none, hour, Deadline{hour, "3600"}},
		{"0 with NoneOnNull: the operator bound", "0", none, hour, Deadline{hour, "3600"}},
		{"a default over the bound", "", withDefault, 10 * time.Second, Deadline{10 * time.Second, "10"}},
		{"not a number: the default", `"x"`, withDefault, hour, Deadline{30 * time.Second, "30"}},
	}
	for _, tt := range tests {
		var raw json.RawMessage
		if tt.raw != "" {
			raw = json.RawMessage(tt.raw)
		}
		if diff := cmp.Diff(tt.want, ParseDeadline(raw, tt.rule, tt.max)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestFromExec(t *testing.T) {
	errText := func(s string) *string { return &s }
	d := Deadline{D: 5 * time.Second, Text: "5"}
	tests := []struct {
		name string
		in   sdk.ExecResult
		want Result
	}{
		{"success", sdk.ExecResult{Stdout: []byte("hi\n")}, Result{Status: StatusSuccess, Output: "hi\n"}},
		{"success with stderr", sdk.ExecResult{Stdout: []byte("x"), Stderr: []byte("warn")}, Result{Status: StatusSuccess, Output: "x", Error: errText("warn")}},
		{"failure names the code", sdk.ExecResult{ExitCode: 3}, Result{Status: StatusError, ExitCode: 3, Error: errText("Command failed with exit code 3")}},
		{"failure keeps stderr", sdk.ExecResult{ExitCode: 1, Stderr: []byte("boom")}, Result{Status: StatusError, ExitCode: 1, Error: errText("boom")}},
		{"timeout", sdk.ExecResult{TimedOut: true, ExitCode: 124, Stdout: []byte("part")},
			Result{Status: StatusTimeout, ExitCode: -1, Output: "part", Verdict: VerdictTimeout, Error: errText("Command timed out after 5 seconds")}},
		{"oom beats truncation", sdk.ExecResult{ExitCode: 137, OOMKilled: true, StdoutTruncated: true},
			Result{Status: StatusError, ExitCode: 137, Verdict: VerdictOOMKilled, Error: errText("Command failed with exit code 137")}},
		{"invalid UTF-8 is replaced", sdk.ExecResult{Stdout: []byte{'a', 0xff, 'b'}}, Result{Status: StatusSuccess, Output: "a\uFFFDb"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, FromExec(tt.in, d)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

var version = "dev"

// Schema is served byte-for-byte.
const Schema = `{"type":"function","function":{"name":"multi_code_executor","description":"Execute code in various languages (python, cpp, csharp, go, java, nodejs, ts, rust, php, bash, pytest, jest, go_test, lua, r, perl, d_ut, ruby, scala, julia, kotlin_script, verilog, lean, swift, racket) with runtime tuning","parameters":{"type":"object","properties":{"language":{"type":"string","description":"Language to execute (python, cpp, csharp, go, java, nodejs, ts, rust, php, bash, pytest, jest, go_test, lua, r, perl, d_ut, ruby, scala, julia, kotlin_script, verilog, lean, swift, racket)"},"code":{"type":"string","description":"Source code to execute"},"files":{"type":"object","description":"Optional additional files to write before execution (filename -> content)","additionalProperties":{"type":"string"}},"compile_timeout":{"type":"integer","description":"Compile timeout in seconds (omit to disable compilation timeout)"},"run_timeout":{"type":"integer","description":"Run timeout in seconds","default":30}},"required":["language","code"],"additionalProperties":false}}}`

type params struct {
	Language       string            `json:"language"`
	Code           string            `json:"code"`
	Files          map[string]string `json:"files"`
	CompileTimeout json.RawMessage   `json:"compile_timeout"`
	RunTimeout     json.RawMessage   `json:"run_timeout"`
}

// MultiCode is the multi_code_executor tool.
type MultiCode struct {
	mu     sync.Mutex
	probes map[string]map[string]bool // sandbox id -> available programs
}

// New returns the tool.
func New() *MultiCode { return &MultiCode{probes: map[string]map[string]bool{}} }

// Info implements tool.Tool.
func (*MultiCode) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "multi_code_executor", Kind: sdk.KindTool, Version: version, APIVersions: []uint32{sdk.APIVersion},
		Description: "Build and run code in many languages", Schema: json.RawMessage(Schema)}, nil
}

// available probes the image's toolchains once per sandbox.
func (m *MultiCode) available(ctx context.Context, sb tool.Sandbox, call tool.Call) (map[string]bool, error) {
	m.mu.Lock()
	got, ok := m.probes[sb.ID()]
	m.mu.Unlock()
	if ok {
		return got, nil
	}
	seen := map[string]bool{}
	var all []string
	for _, l := range languages {
		for _, n := range l.needs {
			if !seen[n] {
				seen[n] = true
				all = append(all, n)
			}
		}
	}
	sort.Strings(all)
	res, err := sb.Exec(ctx, sdk.ExecRequest{Argv: append([]string{"sh", "-c", probeScript, "probe"}, all...), Env: sb.Env(),
		Timeout: time.Minute, MaxOutputBytes: call.MaxOutputBytes})
	if err != nil {
		return nil, err
	}
	got = map[string]bool{}
	for _, line := range strings.Fields(string(res.Stdout)) {
		got[line] = true
	}
	m.mu.Lock()
	m.probes[sb.ID()] = got
	m.mu.Unlock()
	return got, nil
}

func workDir() string {
	var b [16]byte
	rand.Read(b[:])
	return "mce_" + hex.EncodeToString(b[:])
}

// archive packs the work directory: extra files by base name, then main.
func archive(dir string, files map[string]string, mainName, code string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	if err := tw.WriteHeader(&tar.Header{Name: dir + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: now}); err != nil {
		return nil, err
	}
	add := func(name, content string) error {
		if err := tw.WriteHeader(&tar.Header{Name: dir + "/" + name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(content)), ModTime: now}); err != nil {
			return err
		}
		_, err := tw.Write([]byte(content))
		return err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		base := path.Base(strings.ReplaceAll(n, "\\", "/"))
		if base == "." || base == ".." || base == "/" || base == "" {
			continue
		}
		if err := add(base, files[n]); err != nil {
			return nil, err
		}
	}
	if err := add(mainName, code); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

var scalaObject = regexp.MustCompile(`(?m)^\s*object\s+([A-Za-z_][A-Za-z0-9_]*)`)

// Execute implements tool.Tool.
func (m *MultiCode) Execute(ctx context.Context, sb tool.Sandbox, call tool.Call) (tool.Result, error) {
	var p params
	if err := json.Unmarshal(call.Params, &p); err != nil {
		return tool.Failed("Execution failed: " + err.Error()), nil
	}
	lang := strings.TrimSpace(p.Language)
	if lang == "" || strings.TrimSpace(p.Code) == "" {
		return tool.Failed("Invalid input"), nil
	}
	if a, ok := aliases[lang]; ok {
		lang = a
	}
	spec, ok := languages[lang]
	if !ok {
		return tool.Failed("Unsupported language: " + p.Language), nil
	}
	avail, err := m.available(ctx, sb, call)
	if err != nil {
		return tool.Failed(fmt.Sprintf("Execution failed: %v", err)), nil
	}
	for _, n := range spec.needs {
		if !avail[n] {
			what := strings.ReplaceAll(n, "|", " or ")
			if n == "pytest-module" {
				what = "pytest"
			}
			return tool.Failed(fmt.Sprintf("Unsupported language: %s (%s not found in the sandbox image)", p.Language, what)), nil
		}
	}
	env := map[string]string{}
	for k, v := range sb.Env() {
		env[k] = v
	}
	mainName, code := spec.main, p.Code
	if lang == "scala" {
		mm := scalaObject.FindStringSubmatch(code)
		if mm == nil {
			return tool.Failed("Object name not found."), nil
		}
		env["ENCLAVE_SCALA_OBJECT"] = mm[1]
	}
	if lang == "csharp" {
		// `dotnet new console` writes its own Program.cs: keep ours aside.
		mainName = "Program.cs.src"
	}
	dir := workDir()
	tarball, err := archive(dir, p.Files, mainName, code)
	if err != nil {
		return tool.Failed("Execution failed: " + err.Error()), nil
	}
	if err := sb.PutArchive(ctx, "/tmp", bytes.NewReader(tarball)); err != nil {
		return tool.Failed(fmt.Sprintf("Execution failed: %v", err)), nil
	}
	full := "/tmp/" + dir
	defer func() { go removeDir(ctx, sb, full) }()

	var buildOut string
	if spec.build != "" {
		d := tool.ParseDeadline(p.CompileTimeout, tool.DeadlineRule{NoneOnNull: true}, call.MaxDuration)
		r, err := sb.Exec(ctx, sdk.ExecRequest{Argv: []string{"sh", "-lc", spec.build}, Env: env, WorkingDir: full, Timeout: d.D, MaxOutputBytes: call.MaxOutputBytes})
		if err != nil {
			return tool.Failed(fmt.Sprintf("Execution failed: %v", err)), nil
		}
		buildOut = tool.Text(r.Stdout)
		stderr := tool.Text(r.Stderr)
		switch {
		case r.TimedOut:
			return tool.Result{Status: tool.StatusTimeout, Output: buildOut, Error: orText(stderr, fmt.Sprintf("Command timed out after %s seconds", d.Text)),
				ExitCode: -1, Verdict: tool.VerdictTimeout}, nil
		case r.ExitCode != 0:
			return tool.Result{Status: tool.StatusError, Output: buildOut, Error: orText(stderr, "Compilation failed"), ExitCode: r.ExitCode, Verdict: tool.Verdict(r)}, nil
		}
	}
	d := tool.ParseDeadline(p.RunTimeout, tool.DeadlineRule{Default: 30 * time.Second, DefaultText: "30"}, call.MaxDuration)
	r, err := sb.Exec(ctx, sdk.ExecRequest{Argv: []string{"sh", "-lc", spec.run}, Env: env, WorkingDir: full, Timeout: d.D, MaxOutputBytes: call.MaxOutputBytes})
	if err != nil {
		return tool.Failed(fmt.Sprintf("Execution failed: %v", err)), nil
	}
	res := tool.FromExec(r, d)
	var parts []string
	for _, s := range []string{buildOut, res.Output} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	res.Output = strings.Join(parts, "\n")
	return res, nil
}

func orText(s, fallback string) *string {
	if s != "" {
		return tool.ErrorText(s)
	}
	return tool.ErrorText(fallback)
}

// removeDir deletes the call's work directory after the result is sent.
func removeDir(ctx context.Context, sb tool.Sandbox, dir string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	sb.Exec(ctx, sdk.ExecRequest{Argv: []string{"rm", "-rf", "--", dir}, Timeout: 30 * time.Second})
}

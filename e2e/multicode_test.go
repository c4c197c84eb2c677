package e2e

import (
	"os"
	"strings"
	"testing"
)

type langCase struct {
	lang                                   string
	hello, compileErr, runtimeErr, forever string
}

// Every language of the polyglot image: hello world, a compile (or syntax)
// error, a runtime error, and a loop that hits run_timeout.
var langCases = []langCase{
	{"python", `print("hello")`, `print("x"`, `raise SystemExit(3)`, `while True: pass`},
	{"bash", `echo hello`, `if then fi`, `exit 3`, `while :; do :; done`},
	{"cpp", "#include <iostream>\nint main(){std::cout<<\"hello\"<<std::endl;}", `int main(){ return x; }`, `int main(){ return 3; }`, `int main(){ for(;;){} }`},
	{"go", "package main\nimport \"fmt\"\nfunc main(){ fmt.Println(\"hello\") }", "package main\nfunc main(){ x }", "package main\nimport \"os\"\nfunc main(){ os.Exit(3) }", "package main\nfunc main(){ for {} }"},
	{"java", "public class Main { public static void main(String[] a){ System.out.println(\"hello\"); } }", "public class Main { int x = ; }", "public class Main { public static void main(String[] a){ System.exit(3); } }", "public class Main { public static void main(String[] a){ while(true){} } }"},
	{"nodejs", `console.log("hello")`, `console.log(`, `process.exit(3)`, `for(;;){}`},
	{"rust", `fn main(){ println!("hello"); }`, `fn main(){ let x: i32 = "s"; }`, `fn main(){ std::process::exit(3); }`, `fn main(){ loop {} }`},
	{"ruby", `puts "hello"`, `def x(`, `exit 3`, `loop {}`},
	{"perl", `print "hello\n";`, `print "x`, `exit 3;`, `1 while 1;`},
	{"php", `<?php echo "hello\n";`, `<?php echo "x`, `<?php exit(3);`, `<?php while(true){}`},
	{"lua", `print("hello")`, `print("x"`, `os.exit(3)`, `while true do end`},
}

func TestMultiCodeExecutor(t *testing.T) {
	img := os.Getenv("ENCLAVE_POLYGLOT_IMAGE")
	if img == "" {
		if os.Getenv("ENCLAVE_REQUIRE_PODMAN") == "1" {
			t.Fatal("ENCLAVE_POLYGLOT_IMAGE is not set (make test builds localhost/enclave-polyglot)")
		}
		t.Skip("set ENCLAVE_POLYGLOT_IMAGE (make image-polyglot builds it)")
	}
	s := startServer(t, "")
	id := s.sandbox(t, map[string]any{"image": img, "tools_config": []string{"multi_code_executor"}})
	for _, lc := range langCases {
		t.Run(lc.lang, func(t *testing.T) {
			run := func(code string, extra map[string]any) (string, string, string, int) {
				p := map[string]any{"language": lc.lang, "code": code, "run_timeout": 20, "compile_timeout": 120}
				for k, v := range extra {
					p[k] = v
				}
				r := s.exec(t, id, "multi_code_executor", p)
				return r.Status, r.Output, errText(r), r.Metadata.ExitCode
			}
			if st, out, e, _ := run(lc.hello, nil); st != "success" || !strings.HasSuffix(out, "hello\n") {
				t.Errorf("hello: %s %q %q", st, out, e)
			}
			if st, _, e, _ := run(lc.compileErr, nil); st != "error" || e == "" {
				t.Errorf("compile error: %s %q", st, e)
			}
			if st, _, e, code := run(lc.runtimeErr, nil); st != "error" || code != 3 {
				t.Errorf("runtime error: %s exit %d %q", st, code, e)
			}
			if st, _, e, _ := run(lc.forever, map[string]any{"run_timeout": 1}); st != "timeout" || e == "" {
				t.Errorf("timeout: %s %q", st, e)
			}
		})
	}
	t.Run("pytest", func(t *testing.T) {
		r := s.exec(t, id, "multi_code_executor", map[string]any{"language": "pytest", "code": "def test_ok():\n    assert 1 + 1 == 2\n"})
		if r.Status != "success" || !strings.Contains(r.Output, "1 passed") {
			t.Errorf("pytest: %s %q %s", r.Status, r.Output, errText(r))
		}
	})
	t.Run("go_test", func(t *testing.T) {
		r := s.exec(t, id, "multi_code_executor", map[string]any{"language": "go_test", "code": "package main\nimport \"testing\"\nfunc TestX(t *testing.T){ if 1+1 != 2 { t.Fatal() } }\n"})
		if r.Status != "success" || !strings.Contains(r.Output, "PASS") {
			t.Errorf("go_test: %s %q %s", r.Status, r.Output, errText(r))
		}
	})
	t.Run("extra files and build output", func(t *testing.T) {
		r := s.exec(t, id, "multi_code_executor", map[string]any{"language": "python", "code": "import helper\nprint(helper.X)",
			"files": map[string]string{"sub/dir/helper.py": "X = 41 + 1\n"}})
		if r.Status != "success" || r.Output != "42\n" {
			t.Errorf("files: %s %q %s", r.Status, r.Output, errText(r))
		}
	})
	t.Run("compile timeout", func(t *testing.T) {
		r := s.exec(t, id, "multi_code_executor", map[string]any{"language": "rust", "code": "fn main(){}", "compile_timeout": 0.01})
		if r.Status != "timeout" || r.Metadata.Verdict != "timeout" {
			t.Errorf("compile timeout: %s %q", r.Status, errText(r))
		}
	})
	t.Run("missing toolchain", func(t *testing.T) {
		r := s.exec(t, id, "multi_code_executor", map[string]any{"language": "csharp", "code": "x"})
		if r.Status != "error" || errText(r) != "Unsupported language: csharp (dotnet not found in the sandbox image)" {
			t.Errorf("csharp: %s %q", r.Status, errText(r))
		}
	})
	t.Run("work directories removed", func(t *testing.T) {
		r := s.exec(t, id, "multi_code_executor", map[string]any{"language": "bash",
			"code": "sleep 1; ls -d /tmp/mce_* | grep -v \"$PWD\" | wc -l"})
		if r.Status != "success" || strings.TrimSpace(r.Output) != "0" {
			t.Errorf("leftover work directories: %q %s", r.Output, errText(r))
		}
	})
}

func TestMultiCodeOnPythonImage(t *testing.T) {
	s := startServer(t, "")
	id := s.sandbox(t, map[string]any{"tools_config": []string{"multi_code_executor"}})
	cases := []struct {
		params    map[string]any
		status, o string
		err       string
	}{
		{map[string]any{"language": "python", "code": "print(1)"}, "success", "1\n", "<nil>"},
		{map[string]any{"language": "cobol", "code": "x"}, "error", "", "Unsupported language: cobol"},
		{map[string]any{"language": "", "code": "x"}, "error", "", "Invalid input"},
		{map[string]any{"language": "python", "code": "  "}, "error", "", "Invalid input"},
		{map[string]any{"language": "go", "code": "package main"}, "error", "", "Unsupported language: go (go not found in the sandbox image)"},
		{map[string]any{"language": "scala", "code": "println(1)"}, "error", "", "Unsupported language: scala (scalac not found in the sandbox image)"},
		{map[string]any{"language": "python", "code": "import sys; sys.exit(4)"}, "error", "", "Command failed with exit code 4"},
	}
	for _, c := range cases {
		r := s.exec(t, id, "multi_code_executor", c.params)
		if r.Status != c.status || r.Output != c.o || errText(r) != c.err {
			t.Errorf("%v: %s %q %q, want %s %q %q", c.params, r.Status, r.Output, errText(r), c.status, c.o, c.err)
		}
	}
}

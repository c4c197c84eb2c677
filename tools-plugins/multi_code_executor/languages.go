package main

import "github.com/enclave-sandbox/enclave/sdk"

// language describes how to build and run one language. Commands run under
// `sh -lc` in the call's work directory; main is the fixed main file name.
type language struct {
	main  string
	build string
	run   string
	// needs are the programs that must exist in the image (command -v).
	needs []string
}

// pythonBin picks the interpreter the way python_executor does.
const pythonBin = sdk.PythonPath

// goEnv gives the Go toolchain writable caches in any image.
const goEnv = `export HOME="${HOME:-/tmp}" GOCACHE="${GOCACHE:-/tmp/.enclave-go-cache}" GOFLAGS="${GOFLAGS:--mod=mod}" GOTOOLCHAIN=local; `

var languages = map[string]language{
	"python":        {main: "main.py", run: pythonBin + " main.py", needs: []string{"python3|python"}},
	"pytest":        {main: "test_main.py", run: pythonBin + " -m pytest test_main.py", needs: []string{"python3|python", "pytest-module"}},
	"bash":          {main: "main.sh", run: "bash main.sh", needs: []string{"bash"}},
	"cpp":           {main: "main.cpp", build: `libs=""; for l in crypto ssl pthread; do for d in /usr/lib /usr/lib64 /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu; do if ls "$d"/lib$l.so >/dev/null 2>&1; then libs="$libs -l$l"; break; fi; done; done; g++ -std=c++17 main.cpp -o app $libs`, run: "./app", needs: []string{"g++"}},
	"go":            {main: "main.go", build: goEnv + "go build -o app main.go", run: "./app", needs: []string{"go"}},
	"go_test":       {main: "main_test.go", run: goEnv + "[ -f go.mod ] || go mod init mce >/dev/null 2>&1; go test -v", needs: []string{"go"}},
	"java":          {main: "Main.java", build: `javac -cp "/root/sandbox/runtime/java/*:." Main.java`, run: `java -ea -cp "/root/sandbox/runtime/java/*:." Main`, needs: []string{"javac", "java"}},
	"csharp":        {main: "Program.cs", build: "dotnet new console -o . --force >/dev/null && cp -f Program.cs.src Program.cs", run: "dotnet run --project .", needs: []string{"dotnet"}},
	"nodejs":        {main: "main.js", run: "node main.js", needs: []string{"node"}},
	"ts":            {main: "main.ts", run: "if command -v tsx >/dev/null; then tsx main.ts; else ts-node main.ts; fi", needs: []string{"tsx|ts-node"}},
	"jest":          {main: "main.test.ts", run: "npx --no-install jest main.test.ts", needs: []string{"npx"}},
	"rust":          {main: "main.rs", build: "rustc main.rs -o app", run: "./app", needs: []string{"rustc"}},
	"php":           {main: "main.php", run: "php main.php", needs: []string{"php"}},
	"lua":           {main: "main.lua", run: "lua main.lua", needs: []string{"lua"}},
	"perl":          {main: "main.pl", run: "perl main.pl", needs: []string{"perl"}},
	"ruby":          {main: "main.rb", run: "ruby main.rb", needs: []string{"ruby"}},
	"r":             {main: "main.R", run: "Rscript main.R", needs: []string{"Rscript"}},
	"julia":         {main: "main.jl", run: "julia main.jl", needs: []string{"julia"}},
	"scala":         {main: "Main.scala", build: "scalac Main.scala", run: `scala "$ENCLAVE_SCALA_OBJECT"`, needs: []string{"scalac", "scala"}},
	"kotlin_script": {main: "main.kts", run: "kotlinc -script main.kts", needs: []string{"kotlinc"}},
	"d_ut":          {main: "main.d", build: "dmd -unittest -main main.d -of=app", run: "./app", needs: []string{"dmd"}},
	"verilog":       {main: "main.sv", build: "iverilog -g2012 -o app main.sv", run: "vvp app", needs: []string{"iverilog", "vvp"}},
	"lean":          {main: "Main.lean", run: "lean Main.lean", needs: []string{"lean"}},
	"swift":         {main: "main.swift", build: "swiftc main.swift -o app", run: "./app", needs: []string{"swiftc"}},
	"racket":        {main: "main.rkt", run: "racket main.rkt", needs: []string{"racket"}},
}

var aliases = map[string]string{"junit": "java", "js": "nodejs", "typescript": "ts"}

// probeScript prints each available program of the list given as arguments
// ("a|b" means either), plus pytest-module when Python can import pytest.
const probeScript = `for t in "$@"; do
  case "$t" in
    pytest-module) p=$(command -v python || command -v python3) && "$p" -c 'import pytest' >/dev/null 2>&1 && echo pytest-module ;;
    *) for alt in $(echo "$t" | tr '|' ' '); do if command -v "$alt" >/dev/null 2>&1; then echo "$t"; break; fi; done ;;
  esac
done`

// Command go-stream shows enclave's Go client for long-running work: a
// streamed call, a background process fed through stdin and followed live,
// and a terminal.
//
//	go run ./examples/go-stream -url http://127.0.0.1:8000
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strings"

	"github.com/enclave-sandbox/enclave/client"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8000", "enclave server")
	key := flag.String("api-key", os.Getenv("ENCLAVE_API_KEY"), "API key, if the server requires one")
	flag.Parse()
	ctx := context.Background()
	c := client.New(*url, *key)
	id, err := c.CreateSandbox(ctx, "docker", map[string]any{"tools_config": []string{"python_executor"}})
	if err != nil {
		log.Fatalf("create: %v", err)
	}
	defer c.DeleteSandbox(ctx, id)

	// Output as it is printed, then the result.
	res, err := c.ExecuteToolStream(ctx, id, "python_executor", map[string]any{"code": "import time\nfor i in range(3):\n    print('step', i, flush=True)\n    time.sleep(0.2)"},
		func(o client.Output) { fmt.Printf("%s: %q\n", o.Stream, o.Data) })
	if err != nil {
		log.Fatalf("stream: %v", err)
	}
	fmt.Printf("result: status=%s output=%q\n", res.Status, res.Output)

	// A background process reading stdin, followed until it ends.
	p, err := c.StartProcess(ctx, id, client.ProcessRequest{Command: []string{"python3", "-c", "import sys\nfor line in sys.stdin: print(line.strip()[::-1], flush=True)"}})
	if err != nil {
		log.Fatalf("process: %v", err)
	}
	if err := c.WriteStdin(ctx, id, p.ProcessID, "hello\nworld\n", true); err != nil {
		log.Fatalf("stdin: %v", err)
	}
	end, err := c.FollowOutput(ctx, id, p.ProcessID, 0, func(o client.Output) { fmt.Printf("process %s: %q\n", o.Stream, o.Data) })
	if err != nil {
		log.Fatalf("follow: %v", err)
	}
	fmt.Printf("process exited: %d\n", *end.ExitCode)

	// A terminal: type a command, read until it exits.
	t, err := c.OpenTerminal(ctx, id, client.TerminalOptions{Rows: 30, Cols: 100})
	if err != nil {
		log.Fatalf("terminal: %v", err)
	}
	t.Write([]byte("stty size; exit 0\n"))
	out, _ := io.ReadAll(t)
	code, _ := t.ExitCode()
	fmt.Printf("terminal: size %q, exit %d\n", fmt.Sprint(strings.Contains(string(out), "30 100")), code)
}

// Command go-client shows enclave's Go client: create a sandbox, run Python
// and a shell command, upload a file, delete the sandbox.
//
//	go run ./examples/go-client -url http://127.0.0.1:8000
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"os"

	"github.com/enclave-sandbox/enclave/client"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8000", "enclave server")
	key := flag.String("api-key", os.Getenv("ENCLAVE_API_KEY"), "API key, if the server requires one")
	flag.Parse()
	ctx := context.Background()
	c := client.New(*url, *key)

	id, err := c.CreateSandbox(ctx, "docker", map[string]any{
		"image":        "python:3.11-slim",
		"tools_config": []string{"python_executor", "shell_executor"},
		"env_vars":     map[string]string{"GREETING": "hello from Go"},
	})
	if err != nil {
		log.Fatalf("create: %v", err)
	}
	defer c.DeleteSandbox(ctx, id)
	fmt.Println("sandbox", id)

	r, err := c.ExecuteTool(ctx, id, "python_executor", map[string]any{"code": "import os; print(os.environ['GREETING'], 40 + 2)"})
	if err != nil {
		log.Fatalf("python: %v", err)
	}
	fmt.Printf("python: status=%s output=%q\n", r.Status, r.Output)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "data.csv", Mode: 0o644, Size: 8, Typeflag: tar.TypeReg})
	tw.Write([]byte("a,b\n1,2\n"))
	tw.Close()
	if err := c.PutArchive(ctx, id, "/data", &buf); err != nil {
		log.Fatalf("upload: %v", err)
	}
	r, err = c.ExecuteTool(ctx, id, "shell_executor", map[string]any{"command": "wc -l < /data/data.csv"})
	if err != nil {
		log.Fatalf("shell: %v", err)
	}
	fmt.Printf("shell: status=%s output=%q\n", r.Status, r.Output)
}

// Command enclave-tool-shell_executor runs shell commands in a sandbox: a
// string under `sh -c`, an array as argv.
package main

import "github.com/enclave-sandbox/enclave/sdk/tool"

func main() { tool.Serve(New()) }

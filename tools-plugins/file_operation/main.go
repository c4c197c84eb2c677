// Command enclave-tool-file_operation reads, writes, lists and deletes files
// in a sandbox. Paths are always argv elements, never shell text.
package main

import "github.com/enclave-sandbox/enclave/sdk/tool"

func main() { tool.Serve(New()) }

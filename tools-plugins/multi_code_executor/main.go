// Command enclave-tool-multi_code_executor compiles and runs code in many
// languages in a fresh directory per call.
package main

import "github.com/enclave-sandbox/enclave/sdk/tool"

func main() { tool.Serve(New()) }

// Command enclave-tool-python_executor runs Python code in a sandbox exactly
// as `python script.py` would.
package main

import (
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

func main() { tool.Serve(New()) }

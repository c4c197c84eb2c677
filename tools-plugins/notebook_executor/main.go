// Command enclave-tool-notebook_executor runs stateful Python cells in a
// persistent interpreter per sandbox. No Jupyter is needed in
// the image: the kernel is a small stdlib-only Python program.
package main

import "github.com/enclave-sandbox/enclave/sdk/tool"

func main() { tool.Serve(New()) }

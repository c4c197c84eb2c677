// Package jsonenc encodes JSON the way the API renders it: compact, UTF-8
// as-is, no HTML escaping of <, > and &, no trailing newline.
package jsonenc

import (
	"bytes"
	"encoding/json"
)

// Marshal encodes v.
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

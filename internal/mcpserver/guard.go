package mcpserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// MaxMessageBytes bounds one POSTed JSON-RPC message (the SDK's default).
const MaxMessageBytes = 4 << 20

// guard answers a POST whose body is not one JSON-RPC message with a
// JSON-RPC error (the SDK would answer a plain-text 400), so every MCP
// client gets an answer it can parse.
func guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxMessageBytes))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				rpcError(w, http.StatusRequestEntityTooLarge, nil, codeInvalidRequest, "message larger than 4 MiB")
				return
			}
			rpcError(w, http.StatusBadRequest, nil, codeInvalidRequest, "cannot read the request body")
			return
		}
		if code, id, msg := checkMessage(b); code != 0 {
			rpcError(w, http.StatusBadRequest, id, code, msg)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.ContentLength = int64(len(b))
		next.ServeHTTP(w, r)
	})
}

// JSON-RPC 2.0's error codes.
const (
	codeParse          = -32700
	codeInvalidRequest = -32600
)

// checkMessage reports what is wrong with a JSON-RPC message (code 0:
// nothing), and its id when it has a usable one.
func checkMessage(b []byte) (code int, id json.RawMessage, msg string) {
	if !json.Valid(b) {
		return codeParse, nil, "Parse error: the body is not JSON"
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		if len(b) > 0 && b[0] == '[' {
			return codeInvalidRequest, nil, "Invalid Request: JSON-RPC batches are not part of MCP since 2025-06-18"
		}
		return codeInvalidRequest, nil, "Invalid Request: a JSON-RPC message is an object"
	}
	// Exact member names: encoding/json would match "jsonrpC" to a
	// struct field (found by FuzzCheckMessage).
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return codeInvalidRequest, nil, "Invalid Request: " + err.Error()
	}
	var m struct {
		JSONRPC                   *string
		ID, Method, Result, Error json.RawMessage
	}
	if v, ok := obj["jsonrpc"]; ok {
		var version string
		if json.Unmarshal(v, &version) == nil {
			m.JSONRPC = &version
		}
	}
	m.ID, m.Method, m.Result, m.Error = obj["id"], obj["method"], obj["result"], obj["error"]
	if len(m.ID) > 0 && !validID(m.ID) {
		return codeInvalidRequest, nil, "Invalid Request: id must be a string or a number"
	}
	id = m.ID
	if !validID(id) {
		id = nil
	}
	if m.JSONRPC == nil || *m.JSONRPC != "2.0" {
		return codeInvalidRequest, id, `Invalid Request: "jsonrpc" must be "2.0"`
	}
	var method string
	switch {
	case len(m.Method) > 0:
		if json.Unmarshal(m.Method, &method) != nil || method == "" {
			return codeInvalidRequest, id, "Invalid Request: method must be a non-empty string"
		}
	case len(m.Result) > 0 || len(m.Error) > 0:
		if len(m.ID) == 0 {
			return codeInvalidRequest, nil, "Invalid Request: a response needs its id"
		}
	default:
		return codeInvalidRequest, id, "Invalid Request: neither a request, a notification nor a response"
	}
	return 0, nil, ""
}

func validID(id json.RawMessage) bool {
	if len(id) == 0 {
		return false
	}
	var v any
	if json.Unmarshal(id, &v) != nil {
		return false
	}
	switch v.(type) {
	case string, float64:
		return true
	}
	return false
}

func rpcError(w http.ResponseWriter, status int, id json.RawMessage, code int, msg string) {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "error": map[string]any{"code": code, "message": msg}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

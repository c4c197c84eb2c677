package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// validationError is one entry of a 422 list, in pydantic v2's shape.
type validationError struct {
	Type  string `json:"type"`
	Loc   []any  `json:"loc"`
	Msg   string `json:"msg"`
	Input any    `json:"input"`
}

func invalid(errs ...validationError) *httpError {
	return &httpError{status: http.StatusUnprocessableEntity, detail: errs}
}

func missing(loc ...any) validationError {
	return validationError{Type: "missing", Loc: loc, Msg: "Field required"}
}

func dictType(input any, loc ...any) validationError {
	return validationError{Type: "dict_type", Loc: loc, Msg: "Input should be a valid dictionary", Input: input}
}

// requiredQuery returns a required query parameter.
func requiredQuery(r *http.Request, name string) (string, *httpError) {
	q := r.URL.Query()
	if !q.Has(name) {
		return "", invalid(missing("query", name))
	}
	return q.Get(name), nil
}

// enumQuery checks a query value against the accepted values.
func enumQuery(name, value string, allowed []string) *httpError {
	for _, a := range allowed {
		if a == value {
			return nil
		}
	}
	quoted := make([]string, len(allowed))
	for i, a := range allowed {
		quoted[i] = "'" + a + "'"
	}
	msg := "Input should be " + quoted[0]
	if n := len(quoted); n > 1 {
		msg = "Input should be " + strings.Join(quoted[:n-1], ", ") + " or " + quoted[n-1]
	}
	return invalid(validationError{Type: "enum", Loc: []any{"query", name}, Msg: msg, Input: value})
}

func intQuery(r *http.Request, name string) (int, bool, *httpError) {
	q := r.URL.Query()
	if !q.Has(name) {
		return 0, false, nil
	}
	v := strings.TrimSpace(q.Get(name))
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, false, invalid(validationError{Type: "int_parsing", Loc: []any{"query", name},
			Msg: "Input should be a valid integer, unable to parse string as an integer", Input: q.Get(name)})
	}
	return n, true, nil
}

func floatQuery(r *http.Request, name string) (float64, bool, *httpError) {
	q := r.URL.Query()
	if !q.Has(name) {
		return 0, false, nil
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(q.Get(name)), 64)
	if err != nil {
		return 0, false, invalid(validationError{Type: "float_parsing", Loc: []any{"query", name},
			Msg: "Input should be a valid number, unable to parse string as a number", Input: q.Get(name)})
	}
	return f, true, nil
}

// jsonContentType reports whether a body should be parsed as JSON.
func jsonContentType(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// readJSON reads a JSON body. It returns nil for an absent body or null,
// and a 422 for malformed JSON or a non-JSON content type, and 413 over
// the limit.
func readJSON(r *http.Request) (json.RawMessage, error) {
	body, err := readBody(r)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errStatus(http.StatusRequestEntityTooLarge, "Request body too large")
		}
		return nil, errStatus(http.StatusBadRequest, "Failed to read request body: "+err.Error())
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, nil
	}
	if !jsonContentType(r) {
		return nil, invalid(dictType(string(body), "body"))
	}
	if err := checkJSON(trimmed); err != nil {
		return nil, err
	}
	if string(trimmed) == "null" {
		return nil, nil
	}
	return trimmed, nil
}

// readBody reads the whole body into one buffer of the announced size:
// growing a buffer by doubling would hold up to twice the body.
func readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength <= 0 {
		return io.ReadAll(r.Body)
	}
	buf := bytes.NewBuffer(make([]byte, 0, r.ContentLength+1))
	_, err := buf.ReadFrom(r.Body)
	return buf.Bytes(), err
}

func checkJSON(b []byte) error {
	if json.Valid(b) { // no copy of the document, unlike decoding it
		return nil
	}
	var v any
	err := json.Unmarshal(b, &v)
	if err == nil {
		return nil
	}
	offset := int64(len(b))
	var se *json.SyntaxError
	if errors.As(err, &se) {
		offset = se.Offset
	}
	return invalid(validationError{Type: "json_invalid", Loc: []any{"body", offset}, Msg: "JSON decode error",
		Input: map[string]any{}})
}

// objectBody requires a JSON object body (or, when optional, none).
func objectBody(raw json.RawMessage, optional bool) (json.RawMessage, error) {
	if raw == nil {
		if optional {
			return nil, nil
		}
		return nil, invalid(missing("body"))
	}
	if raw[0] != '{' {
		var v any
		json.Unmarshal(raw, &v)
		return nil, invalid(dictType(v, "body"))
	}
	return raw, nil
}

// jsonObject reads the request body as a JSON object (docs/api.md §1.2): 422 for
// malformed JSON or a non-object; absent or null is nil when optional, a
// 422 "missing" otherwise.
func jsonObject(r *http.Request, optional bool) (json.RawMessage, error) {
	raw, err := readJSON(r)
	if err != nil {
		return nil, err
	}
	return objectBody(raw, optional)
}

// toolRequest is ToolExecutionRequest.
type toolRequest struct {
	SandboxID  string
	ToolName   string
	Parameters json.RawMessage
}

func parseToolRequest(raw json.RawMessage) (toolRequest, error) {
	body, err := objectBody(raw, false)
	if err != nil {
		return toolRequest{}, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return toolRequest{}, invalid(dictType(nil, "body"))
	}
	var req toolRequest
	var errs []validationError
	str := func(name string, dst *string) {
		v, ok := m[name]
		if !ok {
			errs = append(errs, missing("body", name))
			return
		}
		if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, dst) != nil {
			var in any
			json.Unmarshal(v, &in)
			errs = append(errs, validationError{Type: "string_type", Loc: []any{"body", name}, Msg: "Input should be a valid string", Input: in})
		}
	}
	str("sandbox_id", &req.SandboxID)
	str("tool_name", &req.ToolName)
	if v, ok := m["parameters"]; ok {
		if len(v) == 0 || v[0] != '{' {
			var in any
			json.Unmarshal(v, &in)
			errs = append(errs, dictType(in, "body", "parameters"))
		} else {
			req.Parameters = v
		}
	}
	if v, ok := m["timeout"]; ok && string(v) != "null" {
		var f float64
		var in any
		json.Unmarshal(v, &in)
		switch {
		case v[0] == '"' || v[0] == 't' || v[0] == 'f' || json.Unmarshal(v, &f) != nil:
			errs = append(errs, validationError{Type: "int_type", Loc: []any{"body", "timeout"}, Msg: "Input should be a valid integer", Input: in})
		case f != float64(int64(f)):
			errs = append(errs, validationError{Type: "int_from_float", Loc: []any{"body", "timeout"},
				Msg: "Input should be a valid integer, got a number with a fractional part", Input: in})
		}
	}
	if len(errs) > 0 {
		return toolRequest{}, invalid(errs...)
	}
	if req.Parameters == nil {
		req.Parameters = json.RawMessage("{}")
	}
	return req, nil
}

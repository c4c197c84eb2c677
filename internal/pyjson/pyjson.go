// Package pyjson renders and reads JSON the way ms-enclave's Python service
// does, so enclave's answers match it byte for byte: compact, UTF-8 as-is,
// no HTML escaping, objects in insertion order (Ordered), floats with a
// decimal point (Float) and naive UTC timestamps (FormatTime). docs/api.md
// §1.1 is the contract these follow.
package pyjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// Marshal encodes v: compact, no HTML escaping, no trailing newline.
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// MustMarshal encodes a value that cannot fail to encode (strings, numbers,
// bools and structs of them).
func MustMarshal(v any) json.RawMessage {
	b, err := Marshal(v)
	if err != nil {
		panic("pyjson: " + err.Error())
	}
	return b
}

// Float renders with a decimal point (2.0, not 2), as Python floats do.
type Float float64

// MarshalJSON implements json.Marshaler.
func (f Float) MarshalJSON() ([]byte, error) { return []byte(FloatText(float64(f))), nil }

// FloatText renders f like Python's repr(float): the shortest form that
// reads back, with a decimal point (2.0, 0.5) and in exponent form below
// 1e-4 and from 1e16 on (1e-05, 1e+16).
func FloatText(f float64) string {
	if f != 0 && !math.IsInf(f, 0) && !math.IsNaN(f) {
		// The decimal exponent of the shortest form decides, as in Python
		// (a logarithm puts the double just below 1e-4 at exponent -4).
		e := strconv.FormatFloat(f, 'e', -1, 64)
		if exp, err := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:]); err == nil && (exp < -4 || exp >= 16) {
			return e
		}
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".eEIN") {
		s += ".0"
	}
	return s
}

// TimeLayout is Python's datetime.isoformat() of a naive UTC time with
// microseconds.
const TimeLayout = "2006-01-02T15:04:05.000000"

// FormatTime renders t as naive UTC with 6 fractional digits.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// ParseTime reads a FormatTime string.
func ParseTime(s string) (time.Time, error) { return time.Parse(TimeLayout, s) }

// KV is one entry of an Ordered object.
type KV struct {
	Key   string
	Value json.RawMessage
}

// Ordered is a JSON object that keeps its key order (Python dicts do, and
// clients see the order they sent).
type Ordered []KV

// MarshalJSON implements json.Marshaler.
func (o Ordered) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, kv := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(MustMarshal(kv.Key))
		b.WriteByte(':')
		b.Write(kv.Value)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Get returns the value of key.
func (o Ordered) Get(key string) (json.RawMessage, bool) {
	for _, kv := range o {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

// ErrNotObject is returned by ParseOrdered for JSON that is not an object.
var ErrNotObject = errors.New("not an object")

// ParseOrdered reads a JSON object keeping key order; later duplicates win
// (as json.loads does).
func ParseOrdered(raw json.RawMessage) (Ordered, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, ErrNotObject
	}
	var out Ordered
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		key := kt.(string)
		replaced := false
		for i := range out {
			if out[i].Key == key {
				out[i].Value, replaced = Compact(v), true
			}
		}
		if !replaced {
			out = append(out, KV{key, Compact(v)})
		}
	}
	return out, nil
}

// Compact returns v without insignificant white space (v itself when it is
// not valid JSON).
func Compact(v json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return v
	}
	return b.Bytes()
}

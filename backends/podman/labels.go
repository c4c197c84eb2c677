package main

import (
	"encoding/base64"
	"strings"
)

// Image labels and tags of snapshots (snapshots.go): what Podman accepts
// in a commit's LABEL change and in a tag, and how other values travel.

var b64 = base64.RawURLEncoding

// validTag: what an image tag may be.
func validTag(s string) bool {
	if s == "" || len(s) > 128 || s[0] == '.' || s[0] == '-' {
		return false
	}
	return safeLabel.matches(s)
}

// charset is a set of ASCII bytes.
type charset string

func (c charset) matches(s string) bool {
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(string(c), rune(s[i])) {
			return false
		}
	}
	return s != ""
}

// safeLabel is what a label key, or a value that needs no encoding, may
// hold: Podman reads a commit's LABEL change as shell-like words.
const safeLabel charset = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"

// A label value with anything else (JSON, spaces) travels as base64.
const b64Prefix = "b64-"

func encodeLabel(v string) string {
	if safeLabel.matches(v) && !strings.HasPrefix(v, b64Prefix) {
		return v
	}
	return b64Prefix + b64.EncodeToString([]byte(v))
}

func decodeLabel(v string) string {
	if s, ok := strings.CutPrefix(v, b64Prefix); ok {
		if b, err := b64.DecodeString(s); err == nil {
			return string(b)
		}
	}
	return v
}

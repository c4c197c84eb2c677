package main

import (
	"fmt"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/encoding/unicode/utf32"
)

// codec resolves a Python codec name (utf-8, latin-1, utf-16, cp1252, ...).
func codec(name string) (encoding.Encoding, error) {
	n := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), "_", "-")
	switch n {
	case "utf-8", "utf8", "u8", "utf", "cp65001":
		return unicode.UTF8, nil
	case "utf-8-sig":
		return unicode.UTF8BOM, nil
	case "utf-16", "utf16", "u16":
		return unicode.UTF16(unicode.LittleEndian, unicode.UseBOM), nil
	case "utf-16-le", "utf-16le":
		return unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), nil
	case "utf-16-be", "utf-16be":
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), nil
	case "utf-32", "utf32", "u32":
		return utf32.UTF32(utf32.LittleEndian, utf32.UseBOM), nil
	case "utf-32-le", "utf-32le":
		return utf32.UTF32(utf32.LittleEndian, utf32.IgnoreBOM), nil
	case "utf-32-be", "utf-32be":
		return utf32.UTF32(utf32.BigEndian, utf32.IgnoreBOM), nil
	case "latin-1", "latin1", "l1", "iso-8859-1", "iso8859-1", "8859", "cp819":
		n = "iso-8859-1"
	case "ascii", "us-ascii", "646":
		n = "us-ascii"
	}
	if e, err := ianaindex.IANA.Encoding(n); err == nil && e != nil {
		return e, nil
	}
	if strings.HasPrefix(n, "cp") {
		if e, err := ianaindex.IANA.Encoding("windows-" + n[2:]); err == nil && e != nil {
			return e, nil
		}
	}
	return nil, fmt.Errorf("unknown encoding: %s", name)
}

// encode encodes text strictly: a character the codec cannot represent is an
// error, as in Python's default errors="strict".
func encode(text, name string) ([]byte, error) {
	e, err := codec(name)
	if err != nil {
		return nil, err
	}
	if name := strings.ToLower(name); name == "ascii" || name == "us-ascii" || name == "646" {
		for i, r := range text {
			if r > 127 {
				return nil, fmt.Errorf("'ascii' codec can't encode character %q in position %d: ordinal not in range(128)", r, i)
			}
		}
		return []byte(text), nil
	}
	b, err := e.NewEncoder().Bytes([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("'%s' codec can't encode the text: %w", name, err)
	}
	return b, nil
}

package main

import "testing"

func TestLabelEncoding(t *testing.T) {
	tests := []struct {
		in    string
		plain bool
	}{
		{"default", true},
		{"snap-1.a_b", true},
		{"", false},
		{`{"image":"python:3.11-slim","env_vars":{"A":"b c"}}`, false},
		{"b64-looks-encoded", false},
		{"with space", false},
		{"ünïcode", false},
	}
	for _, tt := range tests {
		enc := encodeLabel(tt.in)
		if (enc == tt.in) != tt.plain {
			t.Errorf("encodeLabel(%q) = %q, plain = %v, want %v", tt.in, enc, enc == tt.in, tt.plain)
		}
		if !safeLabel.matches(enc) {
			t.Errorf("encodeLabel(%q) = %q has characters a LABEL change cannot carry", tt.in, enc)
		}
		if got := decodeLabel(enc); got != tt.in {
			t.Errorf("decodeLabel(encodeLabel(%q)) = %q", tt.in, got)
		}
	}
}

func TestValidTag(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"default.snap-1", true},
		{"A_b.9", true},
		{"", false},
		{".hidden", false},
		{"-dash", false},
		{"a/b", false},
		{"a:b", false},
		{string(make([]byte, 129)), false},
	}
	for _, tt := range tests {
		if got := validTag(tt.in); got != tt.want {
			t.Errorf("validTag(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// FuzzLabelRoundTrip: every value survives the trip through an image
// label, and what travels is always a value a LABEL change can carry.
func FuzzLabelRoundTrip(f *testing.F) {
	for _, s := range []string{"", "plain", "b64-x", `{"a": [1, "two"]}`, "a=b c\n\"d\""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		enc := encodeLabel(v)
		if !safeLabel.matches(enc) {
			t.Fatalf("encodeLabel(%q) = %q", v, enc)
		}
		if got := decodeLabel(enc); got != v {
			t.Fatalf("round trip of %q gave %q", v, got)
		}
	})
}

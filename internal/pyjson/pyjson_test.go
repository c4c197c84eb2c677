package pyjson

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestFloatText(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{2, "2.0"}, {0, "0.0"}, {0.5, "0.5"}, {-3, "-3.0"}, {1.25, "1.25"},
		{1e-05, "1e-05"}, {0.0001, "0.0001"}, {1e16, "1e+16"}, {1.5e16, "1.5e+16"}, {123456789012345.0, "123456789012345.0"},
		{0.00009999, "9.999e-05"},
		{math.Nextafter(1e-4, 0), "9.999999999999999e-05"}, // a logarithm says -4 here
	} {
		if got := FloatText(tc.in); got != tc.want {
			t.Errorf("FloatText(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestOrderedRoundTrip(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"b": 1, "a": [1, 2]}`, `{"b":1,"a":[1,2]}`},
		{`{"a": 1, "a": 2}`, `{"a":2}`},
		{`{}`, `{}`},
		{`{"k<>&": "ü"}`, `{"k<>&":"ü"}`},
	} {
		o, err := ParseOrdered(json.RawMessage(tc.in))
		if err != nil {
			t.Fatalf("ParseOrdered(%s): %v", tc.in, err)
		}
		got, _ := o.MarshalJSON()
		if string(got) != tc.want {
			t.Errorf("round trip of %s = %s, want %s", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{`[1]`, `"x"`, `{"a":`, ``} {
		if _, err := ParseOrdered(json.RawMessage(bad)); err == nil {
			t.Errorf("ParseOrdered(%q) accepted", bad)
		}
	}
}

func TestMarshalKeepsHTMLAndNoNewline(t *testing.T) {
	got, err := Marshal(map[string]any{"x": "<a&b>", "f": Float(3)})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"f":3.0,"x":"<a&b>"}`; string(got) != want {
		t.Errorf("Marshal = %s, want %s", got, want)
	}
}

func TestTimeRoundTrip(t *testing.T) {
	in := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	s := FormatTime(in)
	if s != "2026-01-02T03:04:05.123456" {
		t.Fatalf("FormatTime = %q", s)
	}
	back, err := ParseTime(s)
	if err != nil || !back.Equal(in) {
		t.Errorf("ParseTime(%q) = %v, %v", s, back, err)
	}
}

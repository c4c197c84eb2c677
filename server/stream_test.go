package server

import (
	"bufio"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/enclave-sandbox/enclave/internal/manager"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

func TestWantsStream(t *testing.T) {
	tests := []struct {
		accept, query string
		want          bool
	}{
		{"", "", false},
		{"application/json", "", false},
		{"*/*", "", false},
		{"text/event-stream", "", true},
		{"application/json, text/event-stream;q=0.9", "", true},
		{"", "stream=true", true},
		{"", "stream=1", true},
		{"", "stream=false", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/pool/execute?"+tt.query, nil)
		if tt.accept != "" {
			r.Header.Set("Accept", tt.accept)
		}
		if got := wantsStream(r); got != tt.want {
			t.Errorf("Accept %q query %q: %v, want %v", tt.accept, tt.query, got, tt.want)
		}
	}
}

// events parses an SSE body into (name, data) pairs.
func events(t *testing.T, body string) [][2]string {
	t.Helper()
	var out [][2]string
	var name, data string
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		l := sc.Text()
		switch {
		case l == "":
			if name != "" {
				out = append(out, [2]string{name, data})
			}
			name, data = "", ""
		case strings.HasPrefix(l, "event: "):
			name = l[7:]
		case strings.HasPrefix(l, "data: "):
			data = l[6:]
		}
	}
	return out
}

// FuzzEventOutput: whatever the chunking, the output events of a stream
// are valid JSON whose texts join to the whole output read as UTF-8 (a
// sequence split between chunks is not broken).
func FuzzEventOutput(f *testing.F) {
	f.Add([]byte("héllo wörld ✓ 🎉"), uint8(3))
	f.Add([]byte{0xff, 'a', 0xe2, 0x82}, uint8(1))
	f.Add([]byte("plain"), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		rec := httptest.NewRecorder()
		es := newEventStream(rec)
		n := int(step%7) + 1
		for i := 0; i < len(data); i += n {
			es.output("stdout", data[i:min(i+n, len(data))])
		}
		es.flushPending()
		var joined strings.Builder
		for _, ev := range events(t, rec.Body.String()) {
			var o outputEvent
			if err := json.Unmarshal([]byte(ev[1]), &o); err != nil || ev[0] != "output" || o.Stream != "stdout" {
				t.Fatalf("event %q %q: %v", ev[0], ev[1], err)
			}
			if !utf8.ValidString(o.Data) {
				t.Fatalf("invalid UTF-8 in an event: %q", o.Data)
			}
			joined.WriteString(o.Data)
		}
		// The same text as the whole output decoded at once (the result's).
		if joined.String() != tool.Text(data) {
			t.Fatalf("joined %q, want %q", joined.String(), tool.Text(data))
		}
		if len(data) > 0 && rec.Header().Get("Content-Type") != "text/event-stream" {
			t.Fatalf("content type %q", rec.Header().Get("Content-Type"))
		}
	})
}

// FuzzProcessRequest: a process request is accepted only with a usable
// command, and never panics.
func FuzzProcessRequest(f *testing.F) {
	for _, s := range []string{`{"command":"echo hi"}`, `{"command":["python3","-c","print(1)"],"env":{"A":"1"},"cwd":"/tmp","stdin":"x","timeout":5}`,
		`{"command":[]}`, `{"command":[""]}`, `{"command":"a\u0000b"}`, `{"command":"x","env":{"":"y"}}`, `{"command":"x","timeout":-1}`, `[]`, `null`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		if !json.Valid([]byte(body)) {
			return
		}
		req, err := parseProcessRequest(json.RawMessage(strings.TrimSpace(body)))
		if err != nil {
			if _, ok := err.(*httpError); !ok {
				t.Fatalf("%q: error %T %v is not an API error", body, err, err)
			}
			return
		}
		if len(req.Argv) == 0 || req.Argv[0] == "" || req.Timeout < 0 {
			t.Fatalf("%q accepted as %+v", body, req)
		}
		for _, a := range req.Argv {
			if strings.ContainsRune(a, 0) {
				t.Fatalf("%q: NUL in argv", body)
			}
		}
		for k := range req.Env {
			if k == "" || strings.ContainsAny(k, "=\x00") {
				t.Fatalf("%q: env name %q", body, k)
			}
		}
	})
}

func FuzzSignalName(f *testing.F) {
	for _, s := range []string{`"SIGTERM"`, `"TERM"`, `15`, `11`, `"SIGSEGV"`, `null`, `{}`, `"sigterm"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		name, ok := signalName(json.RawMessage(raw))
		if ok {
			if _, allowed := manager.Signals[name]; !allowed {
				t.Fatalf("%q gave %q, not in the allow-list", raw, name)
			}
		}
	})
}

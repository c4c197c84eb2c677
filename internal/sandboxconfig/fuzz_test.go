package sandboxconfig_test

import (
	"reflect"
	"testing"

	"github.com/enclave-sandbox/enclave/internal/sandboxconfig"
)

// FuzzParseConfig: any body either fails with a config error or yields a
// config whose dump parses back to the same config (what the labels keep
// across a restart), with parseable limits.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		`{}`, `null`, `{"memory_limit":"0"}`, `{"memory_limit":"99999999999999g","disk_limit":"1k"}`,
		`{"cpu_limit":1e308,"command":["a"],"entrypoint":[]}`, `{"entrypoint":"x","env_vars":{"A":"b"}}`,
		`{"tools_config":{"python_executor":{"enabled":false}},"ports":{"80/tcp":["127.0.0.1",8080]}}`,
		`{"volumes":{"/h":{"bind":"/c","mode":"ro"}},"timeout":"x"}`, `[1,2]`, `{"working_dir":""}`,
	} {
		f.Add("docker", []byte(s))
		f.Add("docker_notebook", []byte(s))
	}
	f.Fuzz(func(t *testing.T, typ string, body []byte) {
		cfg, err := sandboxconfig.Parse(typ, body)
		if err != nil {
			return
		}
		for _, lim := range []string{cfg.MemoryLimit, cfg.DiskLimit} {
			if lim == "" {
				continue
			}
			if n, err := sandboxconfig.ParseSize(lim); err != nil || n < 0 {
				t.Fatalf("accepted limit %q parses to %d, %v", lim, n, err)
			}
		}
		dump := cfg.Dump() // what the container label keeps
		again, err := sandboxconfig.Parse(typ, dump)
		if err != nil {
			t.Fatalf("the dump %s does not parse: %v", dump, err)
		}
		if redump := again.Dump(); string(redump) != string(dump) {
			t.Fatalf("dump changed across a parse:\n%s\n%s", dump, redump)
		}
		// The typed values come back from the dump too: a re-adopted
		// sandbox gets the container it was created with.
		if !reflect.DeepEqual(typed(cfg), typed(again)) {
			t.Fatalf("typed values changed across a parse of %s:\n%+v\n%+v", dump, typed(cfg), typed(again))
		}
	})
}

func typed(c *sandboxconfig.Config) []any {
	ep, set := c.EntrypointArgv()
	return []any{c.Argv(), ep, set, c.Env(), c.Hosts(), c.Mounts(), c.PortBindings(), c.MemoryBytes(), c.DiskBytes(), c.Tools()}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "1", "512m", "8g", "99999999999999g", "1K", "", "-1", "1.5g", "9223372036854775807", "9223372036854775808k"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := sandboxconfig.ParseSize(s)
		if err == nil && n < 0 {
			t.Fatalf("ParseSize(%q) = %d", s, n)
		}
	})
}

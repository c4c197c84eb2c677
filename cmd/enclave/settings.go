package main

// Reading the operator's limits, API keys and tool defaults.

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/enclave-sandbox/enclave/internal/manager"
	"github.com/enclave-sandbox/enclave/internal/pluginhost"
	"github.com/enclave-sandbox/enclave/internal/runner"
	"github.com/enclave-sandbox/enclave/internal/sandboxconfig"
	"github.com/enclave-sandbox/enclave/sdk"
)

// limits reads the resource caps; every sandbox gets a memory, CPU, pids
// and disk limit, so none of them may be turned off.
func limits(c *config, opts *manager.Options) error {
	mem, err := sandboxconfig.ParseSize(c.maxMemory)
	if err != nil || mem <= 0 {
		return fmt.Errorf("--max-memory %q: want a positive size such as 8g", c.maxMemory)
	}
	opts.MaxMemory, opts.MaxMemoryText = mem, c.maxMemory
	maxDisk, err := sandboxconfig.ParseSize(c.maxDisk)
	if err != nil || maxDisk <= 0 {
		return fmt.Errorf("--max-disk %q: want a positive size such as 10g", c.maxDisk)
	}
	disk, err := sandboxconfig.ParseSize(c.diskLimit)
	if err != nil || disk <= 0 {
		return fmt.Errorf("--disk-limit %q: want a positive size such as 2g", c.diskLimit)
	}
	opts.MaxDisk, opts.MaxDiskText, opts.DefaultDisk = maxDisk, c.maxDisk, disk
	if c.maxCPUs <= 0 {
		return fmt.Errorf("--max-cpus %g: want a positive number", c.maxCPUs)
	}
	if c.pidsLimit <= 0 {
		return fmt.Errorf("--pids-limit %d: want a positive number", c.pidsLimit)
	}
	// Whatever the API accepts must fit the plugin messages it becomes (a
	// body's code or file content, both output streams of a call).
	const most = sdk.MaxMessageBytes / 4
	if c.maxBody <= 0 || c.maxBody > most {
		return fmt.Errorf("--max-body-bytes %d: want 1 to %d", c.maxBody, most)
	}
	if c.maxOutput <= 0 || c.maxOutput > most {
		return fmt.Errorf("--max-output-bytes %d: want 1 to %d", c.maxOutput, most)
	}
	if c.stopGrace < 0 {
		return fmt.Errorf("--stop-grace %g: want >= 0", c.stopGrace)
	}
	opts.StopGrace = time.Duration(c.stopGrace * float64(time.Second))
	return snapshotLimits(c, opts)
}

// snapshotLimits reads the snapshot quota and lifetime.
func snapshotLimits(c *config, opts *manager.Options) error {
	if c.maxSnapshots < 0 {
		return fmt.Errorf("--max-snapshots %d: want >= 0", c.maxSnapshots)
	}
	size, err := sandboxconfig.ParseSize(c.maxSnapshotBytes)
	if c.maxSnapshotBytes == "0" {
		size, err = 0, nil
	}
	if err != nil || size < 0 {
		return fmt.Errorf("--max-snapshot-bytes %q: want a size such as 50g, or 0", c.maxSnapshotBytes)
	}
	if c.snapshotTTL < 0 {
		return fmt.Errorf("--snapshot-ttl %g: want >= 0", c.snapshotTTL)
	}
	opts.MaxSnapshots, opts.MaxSnapshotBytes = c.maxSnapshots, size
	opts.SnapshotTTL = time.Duration(c.snapshotTTL * float64(time.Second))
	opts.ReapPaused = c.reapPaused
	if c.runnerStandbys < 0 || c.runnerStandbys > runner.MaxStandbys {
		return fmt.Errorf("--runner-standbys %d: want 0 to %d", c.runnerStandbys, runner.MaxStandbys)
	}
	return spareLimits(c, opts)
}

// spareLimits reads the warm spares' budget.
func spareLimits(c *config, opts *manager.Options) error {
	if c.spares < 0 {
		return fmt.Errorf("--spares %d: want >= 0", c.spares)
	}
	if c.sparesPerConfig < 1 {
		return fmt.Errorf("--spares-per-config %d: want >= 1 (turn spares off with --spares 0)", c.sparesPerConfig)
	}
	if c.spareTTL <= 0 || math.IsNaN(c.spareTTL) {
		return fmt.Errorf("--spare-ttl %g: want > 0 seconds", c.spareTTL)
	}
	opts.Spares, opts.SparesPerConfig = c.spares, c.sparesPerConfig
	opts.SpareTTL = time.Duration(c.spareTTL * float64(time.Second))
	return nil
}

// apiKeys gathers the accepted keys: --api-key and the lines of
// --api-key-file.
func apiKeys(flagKey, file string) ([]string, error) {
	var keys []string
	if flagKey != "" {
		keys = append(keys, flagKey)
	}
	if file == "" {
		return keys, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--api-key-file: %w", err)
	}
	n := len(keys)
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			keys = append(keys, line)
		}
	}
	if len(keys) == n {
		return nil, fmt.Errorf("--api-key-file %s holds no key", file)
	}
	return keys, nil
}

// toolDefaults parses --tool-default values and checks each names a loaded
// tool and one of its parameters, so a typo fails at start, not per call.
func toolDefaults(flags []string, host *pluginhost.Host) (map[string]map[string]json.RawMessage, error) {
	out := map[string]map[string]json.RawMessage{}
	for _, f := range flags {
		key, val, ok := strings.Cut(f, "=")
		toolName, param, ok2 := strings.Cut(key, ".")
		if !ok || !ok2 || toolName == "" || param == "" {
			return nil, fmt.Errorf("--tool-default %q: want TOOL.PARAM=VALUE", f)
		}
		t, found := host.Tool(toolName)
		if !found {
			return nil, fmt.Errorf("--tool-default %q: no tool %s is loaded", f, toolName)
		}
		raw := json.RawMessage(val)
		if !json.Valid(raw) {
			raw, _ = json.Marshal(val)
		}
		if param != "max_output_bytes" {
			var sch struct {
				Function struct {
					Parameters struct {
						Properties map[string]json.RawMessage `json:"properties"`
					} `json:"parameters"`
				} `json:"function"`
			}
			json.Unmarshal(t.Info().Schema, &sch)
			if _, ok := sch.Function.Parameters.Properties[param]; !ok {
				return nil, fmt.Errorf("--tool-default %q: tool %s has no parameter %s", f, toolName, param)
			}
		}
		if out[toolName] == nil {
			out[toolName] = map[string]json.RawMessage{}
		}
		out[toolName][param] = raw
	}
	return out, nil
}

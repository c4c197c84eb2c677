// Command rl-reward is reward.py in Go with enclave's client: score
// generated solutions against unit tests through the batch API.
//
//	go run ./examples/rl-reward -url http://localhost:8000 -n 1000
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/enclave-sandbox/enclave/client"
)

const tests = `
assert add(2, 3) == 5
assert add(-1, 1) == 0
assert add(10**12, 1) == 10**12 + 1
print("PASS")
`

var variants = map[string]string{
	"correct":    "def add(a, b):\n    return a + b\n",
	"off_by_one": "def add(a, b):\n    return a + b + 1\n",
	"crash":      "def add(a, b):\n    raise ValueError('no')\n",
	"endless":    "def add(a, b):\n    while True:\n        pass\n",
}

// solution is the i-th candidate: mostly correct, some wrong, a few endless.
func solution(i int) (string, string) {
	kind := "correct"
	switch i % 10 {
	case 9:
		kind = "endless"
	case 3, 7:
		kind = "off_by_one"
	case 5:
		kind = "crash"
	}
	return kind, variants[kind] + fmt.Sprintf("# candidate %d\n", i) + tests
}

func main() {
	url := flag.String("url", envOr("ENCLAVE_URL", "http://localhost:8000"), "the enclave server")
	key := flag.String("api-key", os.Getenv("ENCLAVE_API_KEY"), "API key")
	n := flag.Int("n", 1000, "solutions to score")
	pool := flag.Int("pool", 8, "pool size to initialize (0: use the pool as it is)")
	timeout := flag.Float64("timeout", 2, "seconds each solution may run")
	flag.Parse()
	ctx := context.Background()
	c := client.New(*url, *key)
	if *pool > 0 {
		if _, err := c.InitializePool(ctx, *pool, "docker", map[string]any{"tools_config": map[string]any{"python_executor": map[string]any{}}}); err != nil {
			log.Fatal(err)
		}
	}
	kinds := make([]string, *n)
	calls := make([]client.BatchCall, *n)
	for i := range calls {
		kind, code := solution(i)
		kinds[i] = kind
		calls[i] = client.BatchCall{ToolName: "python_executor", Parameters: map[string]any{"code": code}, Timeout: *timeout}
	}
	start := time.Now()
	var results []client.ToolResult
	for lo := 0; lo < len(calls); lo += 1000 {
		res, err := c.ExecuteInPoolBatch(ctx, calls[lo:min(lo+1000, len(calls))], client.BatchOptions{})
		if err != nil {
			log.Fatal(err)
		}
		results = append(results, res...)
	}
	elapsed := time.Since(start)
	type tally struct {
		n, reward int
		statuses  map[string]int
	}
	byKind := map[string]*tally{}
	total := 0
	for i, r := range results {
		t := byKind[kinds[i]]
		if t == nil {
			t = &tally{statuses: map[string]int{}}
			byKind[kinds[i]] = t
		}
		t.n++
		t.statuses[r.Status]++
		if r.Status == "success" && strings.HasSuffix(strings.TrimSpace(r.Output), "PASS") {
			t.reward++
			total++
		}
	}
	names := make([]string, 0, len(byKind))
	for k := range byKind {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		t := byKind[k]
		var st []string
		for s, c := range t.statuses {
			st = append(st, fmt.Sprintf("%s=%d", s, c))
		}
		sort.Strings(st)
		fmt.Printf("%-10s %5d solutions, reward %5d  (%s)\n", k, t.n, t.reward, strings.Join(st, " "))
	}
	fmt.Printf("scored %d solutions in %.2f s: %.1f solutions/s, mean reward %.3f\n", len(results), elapsed.Seconds(),
		float64(len(results))/elapsed.Seconds(), float64(total)/float64(len(results)))
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

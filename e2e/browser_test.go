package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// browser starts a headless Chromium (Debian's chromium; make test-e2e
// requires it) and returns a tab's context, closed with the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("ENCLAVE_REQUIRE_BROWSER") == "1" {
			t.Fatal("the browser tests need chromium (scripts/deps.sh --test installs it)")
		}
		t.Skip("no chromium")
	}
	// The flags these machines need (no network beyond loopback, root).
	// The profile is removed after the browser: its helpers may still be
	// writing their cache when t.TempDir's cleanup would run.
	profile, err := os.MkdirTemp("", "enclave-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(profile), chromedp.WindowSize(1400, 1000))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	// Every step of a test is bounded by this.
	ctx, cancelTime := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		cancelTime()
		cancelTab()
		cancelAlloc()
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// enterKey waits for the pages' key form and submits key.
func enterKey(ctx context.Context, key string) chromedp.Action {
	return chromedp.Tasks{
		chromedp.WaitVisible("#keyinput", chromedp.ByID),
		chromedp.SendKeys("#keyinput", key, chromedp.ByID),
		chromedp.Click("#keysubmit", chromedp.ByID),
		chromedp.WaitNotVisible("#keybox", chromedp.ByID),
	}
}

// screenshot saves the viewport as a PNG into ENCLAVE_SCREENSHOT_DIR (the
// README's pictures come from there), else the test's temp dir.
func screenshot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("ENCLAVE_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	var png []byte
	if err := chromedp.Run(ctx, chromedp.CaptureScreenshot(&png)); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if len(png) < 1000 {
		t.Fatalf("screenshot %s: %d bytes", name, len(png))
	}
	os.WriteFile(filepath.Join(dir, name), png, 0o644)
}

// documentedOps are the "METHOD path" of every operation in the server's
// own document.
func documentedOps(t *testing.T, s *server, key string) []string {
	_, _, body := s.raw(t, "GET", "/openapi.json", "", "X-API-Key", key)
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	var ops []string
	for p, item := range doc.Paths {
		for m := range item {
			ops = append(ops, strings.ToUpper(m)+" "+p)
		}
	}
	return ops
}

// setReactValue sets a form field the way typing would, so the page's
// framework sees the change.
func setReactValue(sel, value string) chromedp.Action {
	js := fmt.Sprintf(`(() => {
  const el = document.querySelector(%q);
  const proto = Object.getPrototypeOf(el);
  Object.getOwnPropertyDescriptor(proto, "value").set.call(el, %q);
  el.dispatchEvent(new Event(el.tagName === "SELECT" ? "change" : "input", { bubbles: true }));
  return true;
})()`, sel, value)
	var ok bool
	return chromedp.Evaluate(js, &ok)
}

// tryIt runs one operation from Swagger UI: expand it, "Try it out", fill
// the fields, Execute, and return the live answer's status and body.
func tryIt(ctx context.Context, opID string, fields map[string]string, body string) (string, string, error) {
	op := "#" + opID
	var status, answer string
	steps := chromedp.Tasks{
		chromedp.ScrollIntoView(op+" .opblock-summary", chromedp.ByQuery),
		chromedp.Click(op+" .opblock-summary-control", chromedp.ByQuery),
		chromedp.WaitVisible(op+" .try-out__btn", chromedp.ByQuery),
		// The page opens operations ready to try (tryItOutEnabled); the
		// button then reads Cancel.
		chromedp.Evaluate(`(() => { const b = document.querySelector("`+op+` .try-out__btn");
			if (b.textContent.trim() === "Try it out") b.click(); return true; })()`, nil),
	}
	for sel, v := range fields {
		steps = append(steps, chromedp.WaitVisible(op+" "+sel, chromedp.ByQuery), setReactValue(op+" "+sel, v))
	}
	if body != "" {
		steps = append(steps, chromedp.WaitVisible(op+" textarea.body-param__text", chromedp.ByQuery),
			setReactValue(op+" textarea.body-param__text", body))
	}
	steps = append(steps,
		chromedp.Click(op+" button.execute", chromedp.ByQuery),
		chromedp.WaitVisible(op+" .live-responses-table tr.response .response-col_status", chromedp.ByQuery),
		chromedp.Text(op+" .live-responses-table tr.response .response-col_status", &status, chromedp.ByQuery),
		chromedp.Text(op+" .live-responses-table .response-col_description pre", &answer, chromedp.ByQuery),
	)
	err := chromedp.Run(ctx, steps)
	return strings.TrimSpace(status), answer, err
}

// TestDocsPage: /docs asks for the key, lists every documented operation,
// and a create and a tool call sent from the page's "Try it out" succeed.
func TestDocsPage(t *testing.T) {
	const key = "docs-key"
	s := startServer(t, key)
	ctx := browser(t)
	ops := documentedOps(t, s, key)
	var listed []string
	err := chromedp.Run(ctx,
		chromedp.Navigate(s.URL+"/docs"),
		enterKey(ctx, key),
		chromedp.WaitVisible(".opblock", chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll(".opblock")].map(o =>
			o.querySelector(".opblock-summary-method").textContent + " " + o.querySelector(".opblock-summary-path").dataset.path)`, &listed),
	)
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "docs.png")
	if strings.Join(sorted(listed), "\n") != strings.Join(sorted(ops), "\n") {
		t.Errorf("the page lists %d operations:\n%s\nthe document has %d:\n%s", len(listed), strings.Join(sorted(listed), "\n"), len(ops), strings.Join(sorted(ops), "\n"))
	}
	cfg := `{"tools_config": {"python_executor": {}}}`
	status, answer, err := tryIt(ctx, "operations-ms-enclave-post_sandbox_create", map[string]string{`tr[data-param-name="sandbox_type"] select`: "docker"}, cfg)
	if err != nil || status != "200" {
		t.Fatalf("create from the page: %q %s %v", status, answer, err)
	}
	var created struct {
		SandboxID string `json:"sandbox_id"`
	}
	if err := json.Unmarshal([]byte(answer), &created); err != nil || created.SandboxID == "" {
		t.Fatalf("create answer %q: %v", answer, err)
	}
	t.Cleanup(func() { s.C.DeleteSandbox(context.Background(), created.SandboxID) })
	call := fmt.Sprintf(`{"sandbox_id": %q, "tool_name": "python_executor", "parameters": {"code": "print(40 + 2)"}}`, created.SandboxID)
	status, answer, err = tryIt(ctx, "operations-ms-enclave-post_sandbox_tool_execute", nil, call)
	if err != nil || status != "200" {
		t.Fatalf("execute from the page: %q %s %v", status, answer, err)
	}
	var res struct{ Status, Output string }
	if err := json.Unmarshal([]byte(answer), &res); err != nil || res.Status != "success" || res.Output != "42\n" {
		t.Fatalf("execute answer %q: %v", answer, err)
	}
	screenshot(t, ctx, "docs-try-it.png")
}

// TestRedocPage: /redoc asks for the key and renders every operation.
func TestRedocPage(t *testing.T) {
	const key = "redoc-key"
	s := startServer(t, key)
	ctx := browser(t)
	ops := documentedOps(t, s, key)
	var n int
	err := chromedp.Run(ctx,
		chromedp.Navigate(s.URL+"/redoc"),
		enterKey(ctx, key),
		chromedp.WaitVisible(`[data-section-id*="/operation/"]`, chromedp.ByQuery),
		chromedp.Evaluate(`new Set([...document.querySelectorAll('[data-section-id*="/operation/"]')].map(e => e.dataset.sectionId)).size`, &n),
	)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(ops) {
		t.Errorf("redoc renders %d operations, the document has %d", n, len(ops))
	}
}

// TestPagesWithoutKey: with a key set, the pages hold no data until it is
// given; the document and the API answer 401 without it.
func TestPagesWithoutKey(t *testing.T) {
	s := startServer(t, "k")
	for _, p := range []string{"/docs", "/redoc", "/ui", "/assets/console.js"} {
		if code, hdr, _ := s.raw(t, "GET", p, ""); code != 200 || !strings.Contains(hdr.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("%s: %d, CSP %q", p, code, hdr.Get("Content-Security-Policy"))
		}
	}
	for _, p := range []string{"/openapi.json", "/stats/calls", "/sandboxes"} {
		if code, _, body := s.raw(t, "GET", p, ""); code != 401 || body != `{"detail":"Unauthorized"}` {
			t.Errorf("%s without the key: %d %s", p, code, body)
		}
	}
	if code, _, body := s.raw(t, "GET", "/assets/../openapi.json", ""); code == 200 || !strings.Contains(body, "detail") {
		t.Errorf("/assets/.. : %d %s", code, body)
	}
	if code, _, body := s.raw(t, "GET", "/assets/vendor/.stamp", ""); code != 404 || !strings.Contains(body, "detail") {
		t.Errorf("hidden asset: %d %s", code, body)
	}
	open := startServer(t, "k", "--public-openapi")
	if code, _, _ := open.raw(t, "GET", "/openapi.json", ""); code != 200 {
		t.Errorf("--public-openapi: %d", code)
	}
	if code, _, _ := open.raw(t, "GET", "/sandboxes", ""); code != 401 {
		t.Errorf("--public-openapi opened /sandboxes: %d", code)
	}
}

// TestConsole: /ui lists a sandbox and the pool with status, image, age and
// tools, runs a tool call and shows its output, updates the metrics, opens
// a terminal, and deletes the sandbox.
func TestConsole(t *testing.T) {
	const key = "console-key"
	s := startServer(t, key)
	ctx := context.Background()
	if _, err := s.C.InitializePool(ctx, 1, "docker", poolTools); err != nil {
		t.Fatal(err)
	}
	id := s.sandbox(t, nil)
	tab := browser(t)
	row := fmt.Sprintf(`#sandboxes tr[data-id=%q]`, id)
	var status, tools, image, calls0 string
	err := chromedp.Run(tab,
		chromedp.Navigate(s.URL+"/ui"),
		enterKey(tab, key),
		chromedp.WaitVisible(row, chromedp.ByQuery),
		chromedp.Text(row+" td.status", &status, chromedp.ByQuery),
		chromedp.Text(row+" td.tools", &tools, chromedp.ByQuery),
		chromedp.Text(row+" td:nth-child(3)", &image, chromedp.ByQuery),
		chromedp.WaitVisible(`#sandboxes td.pool`, chromedp.ByQuery),
		chromedp.Text("#m-calls", &calls0, chromedp.ByID),
	)
	if err != nil {
		t.Fatal(err)
	}
	if status != "running" || !strings.Contains(tools, "python_executor") || image == "" {
		t.Errorf("row: status %q tools %q image %q", status, tools, image)
	}
	var pool string
	chromedp.Run(tab, chromedp.Evaluate(`[...document.querySelectorAll("#sandboxes tbody tr")].filter(r => r.querySelector("td.pool").textContent === "yes").length + ""`, &pool))
	if pool != "1" {
		t.Errorf("pool rows: %q, want 1", pool)
	}
	screenshot(t, tab, "console-before.png")

	// A call from the page.
	var out, state string
	err = chromedp.Run(tab,
		chromedp.Click(row, chromedp.ByQuery),
		setReactValue("#run-tool", "python_executor"),
		setReactValue("#run-params", `{"code": "print(6 * 7)"}`),
		chromedp.Click("#run-go", chromedp.ByID),
		chromedp.WaitVisible(`#run-status[data-status]`, chromedp.ByQuery),
		chromedp.Text("#run-status", &state, chromedp.ByID),
		chromedp.Text("#run-output", &out, chromedp.ByID),
	)
	if err != nil || !strings.HasPrefix(state, "success") || strings.TrimSpace(out) != "42" {
		t.Fatalf("run from the console: %q %q %v", state, out, err)
	}
	// From the pool too.
	err = chromedp.Run(tab,
		setReactValue("#run-target", "pool"),
		setReactValue("#run-tool", "python_executor"),
		setReactValue("#run-params", `{"code": "print('pooled')"}`),
		chromedp.Evaluate(`delete document.getElementById("run-status").dataset.status`, nil),
		chromedp.Click("#run-go", chromedp.ByID),
		chromedp.WaitVisible(`#run-status[data-status]`, chromedp.ByQuery),
		chromedp.Text("#run-output", &out, chromedp.ByID),
	)
	if err != nil || strings.TrimSpace(out) != "pooled" {
		t.Fatalf("pool run from the console: %q %v", out, err)
	}
	// The metrics follow: the totals count both calls, and a p50 appears.
	var calls, p50 string
	err = chromedp.Run(tab, chromedp.Poll(`document.getElementById("m-p50").textContent.endsWith(" ms") &&
		Number(document.getElementById("m-calls").textContent) >= 2`, nil, chromedp.WithPollingInterval(200*time.Millisecond)),
		chromedp.Text("#m-calls", &calls, chromedp.ByID), chromedp.Text("#m-p50", &p50, chromedp.ByID))
	if err != nil {
		t.Fatalf("metrics did not update (calls %q before): %v", calls0, err)
	}
	if calls == calls0 {
		t.Errorf("calls total stayed %q", calls)
	}
	screenshot(t, tab, "console.png")

	// A terminal in the page: keystrokes go in, the shell's answer comes out.
	err = chromedp.Run(tab,
		setReactValue("#run-target", id),
		chromedp.Click("#term-open", chromedp.ByID),
		chromedp.Poll(`document.getElementById("term-state").textContent === "connected"`, nil, chromedp.WithPollingTimeout(30*time.Second)),
		chromedp.Click("#term .xterm", chromedp.ByQuery),
		typeLine("echo term-$((6*7))"),
		chromedp.Poll(`window.termLines().some(l => l.trim() === "term-42")`, nil,
			chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)),
		typeLine("exit 3"),
		chromedp.Poll(`document.getElementById("term-state").textContent === "exited with 3"`, nil, chromedp.WithPollingTimeout(30*time.Second)),
	)
	if err != nil {
		var state string
		var lines []string
		chromedp.Run(tab, chromedp.Text("#term-state", &state, chromedp.ByID), chromedp.Evaluate(`window.termLines ? window.termLines() : []`, &lines))
		screenshot(t, tab, "console-terminal-failed.png")
		t.Fatalf("terminal in the console: %v (state %q, screen %q)", err, state, strings.Join(lines, "|"))
	}

	// Delete from the page.
	err = chromedp.Run(tab,
		chromedp.Click(row+" button.delete", chromedp.ByQuery),
		chromedp.WaitNotPresent(row, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.C.GetSandbox(ctx, id); err == nil {
		t.Error("the sandbox deleted from the console still exists")
	}
}

// typeLine types a line into the focused terminal: the text as one input
// (as a paste or an IME would; chromedp's key events reach xterm.js twice),
// then a real Enter key.
func typeLine(line string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		if err := input.InsertText(line).Do(ctx); err != nil {
			return err
		}
		enter := func(t input.KeyType) error {
			return input.DispatchKeyEvent(t).WithKey("Enter").WithCode("Enter").WithWindowsVirtualKeyCode(13).Do(ctx)
		}
		if err := enter(input.KeyRawDown); err != nil {
			return err
		}
		return enter(input.KeyUp)
	})
}

func sorted(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return out
}

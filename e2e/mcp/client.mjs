// The official MCP TypeScript SDK client against a real enclave server
// (e2e/mcp_test.go runs it):
//   node client.mjs http  BASE_URL API_KEY   streamable HTTP at BASE_URL/mcp
//   node client.mjs stdio ENCLAVE_BIN BASE_URL API_KEY   `enclave mcp --stdio`
// It exits non-zero on the first failed check and prints one JSON line of
// what the Go test checks afterwards (the sandboxes it made).
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [mode, ...args] = process.argv.slice(2);

function httpTransport(base, key) {
  return new StreamableHTTPClientTransport(new URL(base + "/mcp"), {
    requestInit: { headers: { "X-API-Key": key } },
  });
}

async function connect(transport) {
  const c = new Client({ name: "enclave-e2e", version: "1.0.0" });
  await c.connect(transport);
  return c;
}

function text(res) {
  return res.content.filter((c) => c.type === "text").map((c) => c.text).join("");
}

async function httpRun(base, key) {
  const c = await connect(httpTransport(base, key));
  const out = {};

  // Tools: the sandbox tools, and each enclave tool in a sandbox and from the pool, with its own schema.
  const { tools } = await c.listTools();
  const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
  for (const n of ["create_sandbox", "list_sandboxes", "delete_sandbox", "read_file", "write_file",
    "python_executor", "pool_python_executor", "shell_executor", "pool_shell_executor"]) {
    assert.ok(byName[n], `tool ${n} listed`);
  }
  assert.deepEqual(byName.python_executor.inputSchema.required.sort(), ["code", "sandbox_id"]);
  assert.equal(byName.python_executor.inputSchema.properties.code.type, "string");
  assert.ok(!("sandbox_id" in byName.pool_python_executor.inputSchema.properties));

  // Create, call, files, list.
  const created = await c.callTool({ name: "create_sandbox", arguments: {} });
  assert.ok(!created.isError, JSON.stringify(created));
  const id = created.structuredContent.sandbox_id;
  assert.match(id, /^[a-z0-9]{8}$/);
  out.sandbox = id;

  const r = await c.callTool({ name: "python_executor", arguments: { sandbox_id: id, code: "print(40 + 2)" } });
  assert.ok(!r.isError, JSON.stringify(r));
  assert.equal(text(r), "42\n");
  assert.equal(r.structuredContent.status, "success");

  // A long call reports progress: each line it prints as it prints it.
  const seen = [];
  const long = await c.callTool(
    { name: "python_executor", arguments: { sandbox_id: id, code: "import time\nfor i in range(3):\n    print('step', i, flush=True)\n    time.sleep(0.3)" } },
    undefined,
    { onprogress: (p) => seen.push(p), timeout: 60000 },
  );
  assert.equal(text(long), "step 0\nstep 1\nstep 2\n");
  const lines = seen.map((p) => p.message || "").join("");
  for (const s of ["step 0", "step 1", "step 2"]) assert.ok(lines.includes(s), `progress carried ${s}: ${lines}`);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i].progress > seen[i - 1].progress, "progress grows");
  out.progress = seen.length;

  const bad = await c.callTool({ name: "python_executor", arguments: { sandbox_id: id, code: "raise SystemExit(3)" } });
  assert.equal(bad.isError, true);
  assert.equal(bad.structuredContent.exit_code, 3);

  const w = await c.callTool({ name: "write_file", arguments: { sandbox_id: id, path: "notes/hello.txt", content: "héllo\n" } });
  assert.ok(!w.isError, JSON.stringify(w));
  const cat = await c.callTool({ name: "shell_executor", arguments: { sandbox_id: id, command: "cat notes/hello.txt" } });
  assert.equal(text(cat), "héllo\n");
  const rd = await c.callTool({ name: "read_file", arguments: { sandbox_id: id, path: "notes/hello.txt" } });
  assert.ok(!rd.isError, JSON.stringify(rd));
  assert.equal(rd.structuredContent.content, "héllo\n");
  assert.equal(rd.structuredContent.encoding, "utf-8");
  const bin = await c.callTool({ name: "write_file", arguments: { sandbox_id: id, path: "/tmp/b.bin", content: "AAH/", encoding: "base64" } });
  assert.ok(!bin.isError);
  const rb = await c.callTool({ name: "read_file", arguments: { sandbox_id: id, path: "/tmp/b.bin" } });
  assert.deepEqual([rb.structuredContent.encoding, rb.structuredContent.content], ["base64", "AAH/"]);
  const missing = await c.callTool({ name: "read_file", arguments: { sandbox_id: id, path: "/nope" } });
  assert.equal(missing.isError, true);

  const list = await c.callTool({ name: "list_sandboxes", arguments: {} });
  assert.deepEqual(list.structuredContent.sandboxes.map((s) => s.sandbox_id), [id]);
  assert.ok(list.structuredContent.sandboxes[0].tools.includes("python_executor"));

  // Bad input is a tool error or a JSON-RPC error, never a crash.
  const noID = await c.callTool({ name: "python_executor", arguments: { code: "print(1)" } });
  assert.equal(noID.isError, true);
  await assert.rejects(c.callTool({ name: "no_such_tool", arguments: {} }), /unknown tool|not found/i);

  // The pool: one call in a pooled sandbox.
  const pooled = await c.callTool({ name: "pool_python_executor", arguments: { code: "print('pooled')" } });
  assert.equal(text(pooled), "pooled\n", JSON.stringify(pooled));

  // Another session cannot reach this one's sandbox, nor list it.
  const other = await connect(httpTransport(base, key));
  const foreign = await other.callTool({ name: "python_executor", arguments: { sandbox_id: id, code: "print('stolen')" } });
  assert.equal(foreign.isError, true);
  assert.match(text(foreign), /not found in this session/);
  const del = await other.callTool({ name: "delete_sandbox", arguments: { sandbox_id: id } });
  assert.equal(del.isError, true);
  assert.deepEqual((await other.callTool({ name: "list_sandboxes", arguments: {} })).structuredContent.sandboxes, []);
  const second = (await other.callTool({ name: "create_sandbox", arguments: { tools: ["shell_executor"] } })).structuredContent.sandbox_id;
  out.second = second;
  await other.transport.terminateSession(); // its sandbox goes with it
  await other.close();

  // Raw JSON-RPC garbage gets JSON-RPC errors.
  const raw = await fetch(base + "/mcp", { method: "POST", body: "{not json",
    headers: { "X-API-Key": key, "Content-Type": "application/json", Accept: "application/json, text/event-stream" } });
  const rawBody = await raw.text();
  assert.match(rawBody, /-32700|parse/i, `garbage: ${raw.status} ${rawBody}`);
  const noKey = await fetch(base + "/mcp", { method: "POST", body: "{}", headers: { "Content-Type": "application/json" } });
  assert.equal(noKey.status, 401);

  // delete_sandbox of its own.
  const kept = (await c.callTool({ name: "create_sandbox", arguments: {} })).structuredContent.sandbox_id;
  const gone = await c.callTool({ name: "delete_sandbox", arguments: { sandbox_id: kept } });
  assert.ok(!gone.isError);
  out.deleted = kept;
  await c.close(); // the session stays (a client may come back) until it times out or is deleted
  console.log(JSON.stringify(out));
}

async function stdioRun(bin, base, key) {
  const transport = new StdioClientTransport({ command: bin, args: ["mcp", "--stdio", "--url", base, "--api-key", key], stderr: "inherit" });
  const c = await connect(transport);
  const { tools } = await c.listTools();
  assert.ok(tools.some((t) => t.name === "python_executor"));
  const id = (await c.callTool({ name: "create_sandbox", arguments: {} })).structuredContent.sandbox_id;
  const r = await c.callTool({ name: "python_executor", arguments: { sandbox_id: id, code: "print(6 * 7)" } });
  assert.equal(text(r), "42\n");
  await c.close(); // ends stdin: the relay ends the session
  console.log(JSON.stringify({ sandbox: id }));
}

try {
  if (mode === "http") await httpRun(...args);
  else if (mode === "stdio") await stdioRun(...args);
  else throw new Error("usage: client.mjs http|stdio ...");
} catch (e) {
  console.error("FAILED:", e && e.stack ? e.stack : e);
  process.exit(1);
}
process.exit(0);

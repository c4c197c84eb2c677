// The operator console (/ui): sandboxes and the pool, live call metrics, a
// tool call, a terminal. Plain script over the public API; no build step.
"use strict";

const POLL_MS = 2000;
const WINDOW_MS = 30000; // calls/s and p50 are over the last 30 s
const $ = (id) => document.getElementById(id);
const TEMPLATES = {
  python_executor: { code: "print(40 + 2)" },
  shell_executor: { command: "uname -a" },
  file_operation: { operation: "list", file_path: "." },
  notebook_executor: { code: "40 + 2" },
};

let sandboxes = [];
let selected = ""; // a sandbox id, or "pool"
let snapshots = []; // [{t, calls, errors, buckets}]

async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (body !== undefined) {
    opts.body = JSON.stringify(body);
    opts.headers["Content-Type"] = "application/json";
  }
  const r = await enclaveFetch(path, opts);
  let data = null;
  try { data = await r.json(); } catch (e) { /* not JSON */ }
  if (!r.ok) {
    const d = data && data.detail;
    throw new Error(typeof d === "string" ? d : JSON.stringify(d || r.status));
  }
  return data;
}

function age(created) {
  // created_at is UTC without a zone (docs/api.md §1.6).
  const s = Math.max(0, (Date.now() - Date.parse(created + "Z")) / 1000);
  if (s < 90) return Math.round(s) + " s";
  if (s < 5400) return Math.round(s / 60) + " min";
  return (s / 3600).toFixed(1) + " h";
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function renderSandboxes() {
  const tbody = $("sandboxes").querySelector("tbody");
  tbody.replaceChildren();
  for (const sb of sandboxes) {
    const tr = document.createElement("tr");
    tr.dataset.id = sb.id;
    if (sb.id === selected) tr.classList.add("selected");
    cell(tr, sb.id, "id");
    cell(tr, sb.status, "status status-" + sb.status);
    cell(tr, (sb.config && sb.config.image) || sb.metadata.image || "");
    cell(tr, age(sb.created_at), "age");
    cell(tr, Object.keys(sb.available_tools || {}).join(", "), "tools");
    cell(tr, sb.metadata.pool ? "yes" : "", "pool");
    const td = cell(tr, "");
    if (!sb.metadata.pool) {
      const del = document.createElement("button");
      del.textContent = "Delete";
      del.className = "delete";
      del.onclick = async (ev) => {
        ev.stopPropagation();
        del.disabled = true;
        try {
          await api("DELETE", "/sandbox/" + encodeURIComponent(sb.id));
        } catch (e) {
          $("create-msg").textContent = "delete: " + e.message;
        }
        refresh();
      };
      td.appendChild(del);
      tr.onclick = () => select(sb.id);
    }
    tbody.appendChild(tr);
  }
  $("empty").hidden = sandboxes.length > 0;
  renderTargets();
}

function renderTargets() {
  const target = $("run-target");
  const keep = selected;
  target.replaceChildren();
  const own = sandboxes.filter((s) => !s.metadata.pool);
  for (const sb of own) target.add(new Option(sb.id, sb.id));
  if (sandboxes.some((s) => s.metadata.pool)) target.add(new Option("the pool", "pool"));
  if (keep && [...target.options].some((o) => o.value === keep)) target.value = keep;
  else if (target.options.length) target.value = target.options[0].value;
  if (target.value !== selected) select(target.value, true);
}

function toolsOf(target) {
  const sb = target === "pool" ? sandboxes.find((s) => s.metadata.pool) : sandboxes.find((s) => s.id === target);
  return sb ? Object.keys(sb.available_tools || {}) : [];
}

function select(id, quiet) {
  selected = id || "";
  const tool = $("run-tool");
  const was = tool.value;
  tool.replaceChildren();
  for (const name of toolsOf(selected)) tool.add(new Option(name, name));
  if ([...tool.options].some((o) => o.value === was)) tool.value = was;
  $("run-target").value = selected;
  $("term-open").disabled = !selected || selected === "pool";
  for (const tr of $("sandboxes").querySelectorAll("tbody tr")) tr.classList.toggle("selected", tr.dataset.id === selected);
  if (!quiet || tool.value !== was) template();
}

function template() {
  const t = TEMPLATES[$("run-tool").value];
  if (t) $("run-params").value = JSON.stringify(t);
}

async function run() {
  const tool = $("run-tool").value;
  let params;
  try {
    params = JSON.parse($("run-params").value || "{}");
  } catch (e) {
    $("run-status").textContent = "parameters are not JSON: " + e.message;
    return;
  }
  $("run-status").textContent = "running…";
  $("run-output").textContent = "";
  const start = performance.now();
  try {
    const res = selected === "pool"
      ? await api("POST", "/pool/execute?tool_name=" + encodeURIComponent(tool), params)
      : await api("POST", "/sandbox/tool/execute", { sandbox_id: selected, tool_name: tool, parameters: params });
    const ms = (performance.now() - start).toFixed(1);
    $("run-status").textContent = `${res.status} · exit ${res.metadata.exit_code} · ${ms} ms`;
    $("run-status").dataset.status = res.status;
    $("run-output").textContent = res.output + (res.error ? "\n" + res.error : "");
  } catch (e) {
    $("run-status").textContent = "failed: " + e.message;
    $("run-status").dataset.status = "failed";
  }
}

// p50 of the calls between two histogram reads (linear within a bucket,
// as Prometheus's histogram_quantile).
function p50(a, b) {
  const total = b.calls - a.calls;
  if (total <= 0) return null;
  const before = new Map(a.buckets.map((x) => [x.le, x.count]));
  let prevLE = 0, prevN = 0;
  for (const x of b.buckets) {
    const n = x.count - (before.get(x.le) || 0);
    if (n >= total / 2) {
      const inBucket = n - prevN;
      const frac = inBucket > 0 ? (total / 2 - prevN) / inBucket : 1;
      return prevLE + (x.le - prevLE) * frac;
    }
    prevLE = x.le;
    prevN = n;
  }
  return prevLE; // above the last bound
}

function renderMetrics(now) {
  snapshots.push(now);
  while (snapshots.length > 2 && now.t - snapshots[1].t >= WINDOW_MS) snapshots.shift();
  const first = snapshots[0];
  $("m-calls").textContent = now.calls;
  $("m-errors").textContent = now.errors;
  if (snapshots.length < 2) return;
  const secs = (now.t - first.t) / 1000;
  $("m-rate").textContent = ((now.calls - first.calls) / secs).toFixed(2);
  const q = p50(first, now);
  $("m-p50").textContent = q === null ? "–" : (q * 1000).toFixed(1) + " ms";
}

async function refresh() {
  try {
    const [list, stats, calls] = await Promise.all([api("GET", "/sandboxes"), api("GET", "/stats"), api("GET", "/stats/calls")]);
    sandboxes = list.sort((a, b) => a.created_at.localeCompare(b.created_at));
    renderSandboxes();
    $("m-sandboxes").textContent = stats.total_sandboxes;
    const pooled = list.filter((s) => s.metadata.pool);
    $("m-pool").textContent = stats.pool_enabled || pooled.length
      ? `${pooled.filter((s) => s.status === "idle" || s.status === "running").length} free / ${pooled.length}`
      : "off";
    renderMetrics({ t: Date.now(), calls: calls.calls, errors: calls.errors, buckets: calls.duration_buckets });
    document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
  } catch (e) {
    $("health").textContent = "unreachable";
    $("health").className = "pill bad";
  }
}

async function health() {
  try {
    const h = await api("GET", "/health");
    $("health").textContent = h.healthy ? "healthy" : "unhealthy";
    $("health").className = "pill " + (h.healthy ? "ok" : "bad");
    $("health").title = (h.warnings || []).concat(h.errors || []).join("\n");
    $("version").textContent = h.version;
  } catch (e) {
    $("health").textContent = "unreachable";
    $("health").className = "pill bad";
  }
}

async function create() {
  $("create-msg").textContent = "creating…";
  const cfg = { tools_config: { python_executor: {}, shell_executor: {}, file_operation: {} } };
  if ($("create-image").value) cfg.image = $("create-image").value;
  try {
    const r = await api("POST", "/sandbox/create?sandbox_type=docker", cfg);
    $("create-msg").textContent = "created " + r.sandbox_id;
    selected = r.sandbox_id;
  } catch (e) {
    $("create-msg").textContent = "create: " + e.message;
  }
  refresh();
}

// The terminal: binary WebSocket frames are the pty's bytes, text frames
// JSON control (docs/api.md §12.3). Browsers cannot set headers on a
// WebSocket, so the key goes in the query.
let term = null, sock = null, fit = null;

function openTerminal() {
  closeTerminal();
  const id = selected;
  $("term-box").hidden = false;
  $("term-title").textContent = id;
  $("term-state").textContent = "connecting…";
  term = new Terminal({ fontSize: 13, convertEol: false, cursorBlink: true });
  fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open($("term"));
  fit.fit();
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const q = new URLSearchParams({ rows: term.rows, cols: term.cols });
  if (apiKey()) q.set("api_key", apiKey());
  sock = new WebSocket(`${proto}//${location.host}/sandbox/${encodeURIComponent(id)}/terminal?${q}`);
  sock.binaryType = "arraybuffer";
  const enc = new TextEncoder();
  sock.onopen = () => { $("term-state").textContent = "connected"; term.focus(); };
  sock.onmessage = (ev) => {
    if (typeof ev.data !== "string") {
      term.write(new Uint8Array(ev.data));
      return;
    }
    const msg = JSON.parse(ev.data);
    if (msg.type === "exit") $("term-state").textContent = "exited with " + msg.code;
    if (msg.type === "error") $("term-state").textContent = "error: " + msg.message;
  };
  sock.onclose = () => { if ($("term-state").textContent === "connected") $("term-state").textContent = "closed"; };
  term.onData((d) => { if (sock.readyState === WebSocket.OPEN) sock.send(enc.encode(d)); });
  term.onResize(({ rows, cols }) => {
    if (sock.readyState === WebSocket.OPEN) sock.send(JSON.stringify({ type: "resize", rows, cols }));
  });
}

// termLines is the terminal's screen and scrollback as text (for tests and
// copy-paste).
window.termLines = () => {
  if (!term) return [];
  const b = term.buffer.active, out = [];
  for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true));
  return out;
};

function closeTerminal() {
  if (sock) sock.close();
  if (term) term.dispose();
  sock = term = null;
  $("term-box").hidden = true;
}

window.addEventListener("resize", () => { if (fit) fit.fit(); });
$("run-go").onclick = run;
$("run-target").onchange = () => select($("run-target").value);
$("run-tool").onchange = template;
$("create").onclick = create;
$("term-open").onclick = openTerminal;
$("term-close").onclick = closeTerminal;
(async () => {
  await health();
  await refresh();
  setInterval(refresh, POLL_MS);
  setInterval(health, 5 * POLL_MS);
})();

// The API key, asked for once per tab and kept in sessionStorage; shared by
// /docs, /redoc and /ui. Every page call goes through enclaveFetch.
"use strict";
const KEY = "enclave.api_key";

function apiKey() { return sessionStorage.getItem(KEY) || ""; }

function keyHeaders(extra) {
  const h = Object.assign({}, extra || {});
  const k = apiKey();
  if (k) h["X-API-Key"] = k;
  return h;
}

// askKey shows the key form and resolves once a key that the server
// accepts was entered.
function askKey(why) {
  return new Promise((resolve) => {
    let box = document.getElementById("keybox");
    if (!box) {
      box = document.createElement("form");
      box.id = "keybox";
      box.innerHTML = '<label>API key <input id="keyinput" type="password" autocomplete="off"></label>' +
        '<button id="keysubmit" type="submit">Use key</button><span id="keymsg"></span>';
      document.body.prepend(box);
    }
    box.style.display = "";
    document.getElementById("keymsg").textContent = why || "";
    box.onsubmit = async (ev) => {
      ev.preventDefault();
      sessionStorage.setItem(KEY, document.getElementById("keyinput").value);
      const r = await fetch("/openapi.json", { headers: keyHeaders() });
      if (r.status === 401) {
        document.getElementById("keymsg").textContent = "that key is not accepted";
        return;
      }
      box.style.display = "none";
      resolve();
    };
  });
}

// enclaveFetch is fetch with the key; a 401 asks for the key and retries.
async function enclaveFetch(url, opts) {
  opts = opts || {};
  for (;;) {
    const r = await fetch(url, Object.assign({}, opts, { headers: keyHeaders(opts.headers) }));
    if (r.status !== 401) return r;
    await askKey(apiKey() ? "the key was refused" : "this server needs an API key");
  }
}

async function loadSpec() {
  const r = await enclaveFetch("/openapi.json");
  return r.json();
}

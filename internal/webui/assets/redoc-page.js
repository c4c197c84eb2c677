// /redoc: Redoc over this server's /openapi.json.
"use strict";
(async () => {
  if (typeof Redoc === "undefined") {
    document.getElementById("missing").hidden = false;
    return;
  }
  const spec = await loadSpec();
  Redoc.init(spec, { hideDownloadButton: false }, document.getElementById("redoc"));
})();

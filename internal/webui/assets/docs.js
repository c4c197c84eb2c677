// /docs: Swagger UI over this server's /openapi.json; "Try it out" sends the
// key the page was given.
"use strict";
(async () => {
  if (typeof SwaggerUIBundle === "undefined") {
    document.getElementById("missing").hidden = false;
    return;
  }
  const spec = await loadSpec();
  const ui = SwaggerUIBundle({
    spec,
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: true,
    displayRequestDuration: true,
    requestInterceptor: (req) => {
      if (apiKey()) req.headers["X-API-Key"] = apiKey();
      return req;
    },
  });
  if (apiKey() && spec.components && spec.components.securitySchemes && spec.components.securitySchemes.apiKeyHeader) {
    ui.preauthorizeApiKey("apiKeyHeader", apiKey());
  }
  window.enclaveDocs = ui;
})();

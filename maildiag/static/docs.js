// Starts Swagger UI (from the fastapi-offline package's files) on the app's OpenAPI document.
// A file of its own, not an inline script, because the app's CSP allows scripts from 'self' only.
(function () {
  "use strict";
  var box = document.getElementById("swagger-ui");
  if (!box || !window.SwaggerUIBundle) { return; }
  window.SwaggerUIBundle({
    url: box.getAttribute("data-openapi"),
    domNode: box,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: false,  // its links inside each operation's toggle button trip screen readers
    tryItOutEnabled: false
  });
})();

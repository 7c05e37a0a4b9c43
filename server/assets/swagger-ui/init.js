// Starts Swagger UI on /docs. A separate file, not an inline script: the page's CSP
// allows scripts from this origin only.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/v1/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: false,
    persistAuthorization: false,
  });
  document.body.setAttribute("data-docs-ready", "true");
});

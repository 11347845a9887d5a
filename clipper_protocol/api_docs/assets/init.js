// Clipper's API page: Swagger UI on the OpenAPI document named by the page
// (data-spec-url), started from this file rather than an inline script so the
// page's Content-Security-Policy can forbid inline scripts. Nothing outside
// the frontend is reached: no validator badge, no remote configuration.
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    deepLinking: true,
    validatorUrl: null,
    queryConfigEnabled: false,
    displayRequestDuration: true,
  });
});

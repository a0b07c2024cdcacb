// Swagger UI (vendored, see swagger-ui/VENDORED.txt) over the gateway's /openapi.json.
window.ui = SwaggerUIBundle({url: document.currentScript.dataset.spec, dom_id: "#swagger-ui", deepLinking: true});

// Reload the service page when its members change (polls the version the
// server renders into <body data-version>). Without scripts, a <noscript>
// meta refresh does the same every 30 s. While a form has typed input the
// page is not reloaded under the user; a notice offers the reload instead.
(function () {
  var body = document.body, url = body.dataset.versionUrl, seen = body.dataset.version;
  if (!url || !window.fetch) return;
  function typing() {
    var fields = document.querySelectorAll("form input:not([type=hidden]):not([type=checkbox])");
    for (var i = 0; i < fields.length; i++) if (fields[i].value !== fields[i].defaultValue) return true;
    return false;
  }
  function poll() {
    fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (doc) {
        if (doc && String(doc.version) !== seen) {
          if (typing()) { document.getElementById("changed").hidden = false; return; }
          location.reload();
          return;
        }
        setTimeout(poll, 2000);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 2000);
})();

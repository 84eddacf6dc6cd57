// Registers the approvals app's service worker (the installable shell).
(function () {
  "use strict";
  var script = document.currentScript;
  if (!("serviceWorker" in navigator) || !script) return;
  var worker = script.dataset.worker, scope = script.dataset.scope;
  window.addEventListener("load", function () {
    navigator.serviceWorker.register(worker, { scope: scope.replace(/app\/$/, "") })
      .catch(function () { /* the pages work without it */ });
  });
})();

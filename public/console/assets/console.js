"use strict";
(function () {
  var region = document.querySelector("[data-refresh]");
  if (!region) return;
  var every = Number(region.getAttribute("data-refresh-ms")) || 5000;
  setInterval(function () {
    fetch(region.getAttribute("data-refresh"), { headers: { Accept: "text/html" }, credentials: "same-origin" })
      .then(function (response) {
        if (response.status === 401) { window.location.reload(); return null; }
        return response.ok ? response.text() : null;
      })
      .then(function (text) { if (text !== null && text !== region.innerHTML) region.innerHTML = text; })
      .catch(function () { /* offline for a moment: try again at the next tick */ });
  }, every);
})();

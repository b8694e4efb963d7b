// Live progress of a bulk scan: while the scan is not done, poll its JSON and move the bar;
// once it is done, load the page again for the summary and the results. Without this script
// the page shows the state it was loaded in (reload by hand).
(function () {
  "use strict";
  var box = document.getElementById("scan-progress");
  if (!box || !window.fetch || box.getAttribute("data-state") === "done") { return; }
  var bar = document.getElementById("scan-bar");
  var count = document.getElementById("scan-count");
  var api = box.getAttribute("data-api");
  function poll() {
    fetch(api, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (scan) {
        if (scan === null) { return; }
        bar.value = scan.done;
        count.textContent = scan.done + " / " + scan.total;
        if (scan.state === "done") { window.location.reload(); return; }
        window.setTimeout(poll, 2000);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 2000);
})();

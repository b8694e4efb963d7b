// Live refresh of the sink's message list: on each server-sent event, fetch the current page
// and swap in its #sink-list. The page works the same without this script (reload by hand).
(function () {
  "use strict";
  var list = document.getElementById("sink-list");
  if (!list || !window.EventSource || !window.fetch) { return; }
  var pending = null;
  function refresh() {
    pending = null;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("sink-list");
        if (fresh) { list.replaceChildren.apply(list, Array.from(fresh.childNodes)); }
        var boxes = doc.querySelector("nav.mailboxes");
        var current = document.querySelector("nav.mailboxes");
        if (boxes && current) { current.replaceChildren.apply(current, Array.from(boxes.childNodes)); }
        list.dispatchEvent(new CustomEvent("sink:refreshed", { bubbles: true }));
      })
      .catch(function () { /* the next event tries again */ });
  }
  function schedule() {
    if (pending === null) { pending = window.setTimeout(refresh, 200); }
  }
  var source = new EventSource(list.getAttribute("data-events") || "/sink/events");
  source.addEventListener("stored", schedule);
  source.addEventListener("deleted", schedule);
  window.addEventListener("pagehide", function () { source.close(); });
})();

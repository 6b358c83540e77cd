// The tenant app's product analytics snippet (a stand-in for a vendor's): it queues a page view.
// It is never rendered in a ghost session (DESIGN I7).
(function () {
  "use strict";
  var script = document.currentScript;
  window.analyticsQueue = window.analyticsQueue || [];
  window.analyticsQueue.push({
    event: "page_view",
    user: script ? script.getAttribute("data-analytics-user") : null,
    path: window.location.pathname
  });
})();

// A request's page while it waits (console/approvals.py): ask for its state every few seconds and
// reload the page when it changes, so the requester sees the decision without reloading by hand.
// A static file, not inline script: the console's CSP forbids inline script.
(function () {
  "use strict";
  var status = document.getElementById("approval-state");
  if (!status || !status.dataset.poll) { return; }
  var seen = status.dataset.state + "|" + status.dataset.waiting;
  var timer = window.setInterval(function () {
    fetch(status.dataset.poll, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (now) {
        if (!now) { window.clearInterval(timer); return; }
        if (now.state + "|" + now.waiting_for.join(" ") !== seen) { window.location.reload(); }
      })
      .catch(function () { window.clearInterval(timer); });
  }, 5000);
}());

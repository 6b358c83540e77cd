// Counts down the ghost banner's minutes. The server shows the end time without JavaScript and
// checks the session on every request; this only keeps the number fresh.
(function () {
  "use strict";
  var label = document.getElementById("ghost-minutes");
  if (!label) { return; }
  var endsAt = Date.parse(label.getAttribute("data-expires-at"));
  function tick() {
    var minutes = Math.max(0, Math.ceil((endsAt - Date.now()) / 60000));
    label.textContent = minutes + " min left";
  }
  tick();
  window.setInterval(tick, 15000);
})();

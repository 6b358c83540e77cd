// Counts down the ghost banner's minutes. The server shows the end time without JavaScript and
// checks the session on every request; this only keeps the number fresh.
// The number is not a live region (a screen reader would read it out every time it changes): only
// crossing 5 and 1 minutes left is announced, once each, in the banner's visually hidden status.
(function () {
  "use strict";
  var label = document.getElementById("ghost-minutes");
  if (!label) { return; }
  var announcer = document.getElementById("ghost-announce");
  var endsAt = Date.parse(label.getAttribute("data-expires-at"));
  var THRESHOLDS = [5, 1];
  function minutesLeft() {
    return Math.max(0, Math.ceil((endsAt - Date.now()) / 60000));
  }
  var shown = minutesLeft();
  function tick() {
    var minutes = minutesLeft();
    label.textContent = minutes + " min left";
    if (announcer) {
      THRESHOLDS.forEach(function (threshold) {
        if (shown > threshold && minutes <= threshold) {
          announcer.textContent = "Impersonation: " + threshold + (threshold === 1 ? " minute" : " minutes") + " left.";
        }
      });
    }
    shown = minutes;
  }
  tick();
  window.setInterval(tick, 15000);
})();

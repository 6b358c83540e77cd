// Console times in the viewer's own time zone (issue 13). The server writes every time in UTC as
// <time datetime="…Z" title="… UTC">YYYY-MM-DD HH:MM:SS</time>; this rewrites the text to the
// browser's zone in the same style, keeps the UTC value in the title (shown on hover), and rewrites
// the page's one note about the zone. Without JavaScript the page stays in UTC and says so.
(function () {
  "use strict";
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  if (!zone || zone === "UTC" || zone === "Etc/UTC") { return; }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function local(date) {
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + " " +
      pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds());
  }
  var times = document.querySelectorAll("time[datetime][title$=' UTC']");
  Array.prototype.forEach.call(times, function (element) {
    var date = new Date(element.getAttribute("datetime"));
    if (isNaN(date.getTime())) { return; }
    element.textContent = local(date);
  });
  var notes = document.querySelectorAll("[data-zone-note]");
  Array.prototype.forEach.call(notes, function (note) {
    note.textContent = "Times are in your time zone (" + zone + ").";
  });
})();

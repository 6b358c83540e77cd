// The enrolment link's code travels in its fragment (/enrol#code), which browsers never send to a
// server. Move it into the page's form, take it off the address bar (and so out of the history),
// and post it. Without JavaScript the invitee pastes it into the same form.
(function () {
  "use strict";
  var code = window.location.hash.replace(/^#/, "");
  var form = document.getElementById("enrol-open");
  if (!code || !form) { return; }
  window.history.replaceState(null, "", window.location.pathname);
  form.elements.token.value = code;
  form.submit();
})();

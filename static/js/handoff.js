// The console's handoff page: submit the one-time token to the tenant domain at once. The form
// also has a visible button for browsers without JavaScript.
(function () {
  "use strict";
  var form = document.querySelector("form[data-autosubmit]");
  if (form) { form.submit(); }
})();

// A sign-in link /ui/login#token=TOKEN signs in: the fragment never reaches
// the server; this fills the form, clears the fragment and submits.
(function () {
  "use strict";
  var m = /^#token=([^&]+)/.exec(window.location.hash);
  if (!m) {
    return;
  }
  var token;
  try {
    token = decodeURIComponent(m[1]);
  } catch (e) {
    return;
  }
  window.history.replaceState(null, "", window.location.pathname + window.location.search);
  var form = document.getElementById("login");
  var input = document.getElementById("token");
  if (!form || !input || document.getElementById("login-error")) {
    return;
  }
  input.value = token;
  form.submit();
})();

// Live updates: every element with data-live="URL" has its content replaced
// by the HTML fragment at URL every data-live-every milliseconds (2000 by
// default) while the tab is visible. A response header X-Count, when the
// element names data-live-count="ID", updates that element's text. A 401
// (the session ended) stops polling and says so.
(function () {
  "use strict";

  function poll(el) {
    var url = el.getAttribute("data-live");
    var every = parseInt(el.getAttribute("data-live-every") || "2000", 10);
    var countEl = el.getAttribute("data-live-count") ? document.getElementById(el.getAttribute("data-live-count")) : null;
    var note = el.getAttribute("data-live-note") ? document.getElementById(el.getAttribute("data-live-note")) : null;
    var busy = false;
    var timer = null;

    function tick() {
      if (busy || document.hidden) {
        return;
      }
      busy = true;
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html", "X-Requested-With": "live" } })
        .then(function (resp) {
          if (resp.status === 401) {
            window.clearInterval(timer);
            if (note) {
              note.textContent = "Signed out: live updates stopped. Reload to sign in again.";
              note.classList.add("paused");
            }
            return null;
          }
          if (!resp.ok) {
            return null;
          }
          if (note && note.classList.contains("paused")) {
            note.textContent = "Live: refreshed every " + Math.round(every / 1000) + " s";
            note.classList.remove("paused");
          }
          if (countEl && resp.headers.get("X-Count") !== null) {
            countEl.textContent = resp.headers.get("X-Count");
          }
          return resp.text();
        })
        .then(function (html) {
          if (html !== null && html !== undefined && el.innerHTML !== html) {
            el.innerHTML = html;
            el.dispatchEvent(new CustomEvent("live:updated", { bubbles: true }));
          }
        })
        .catch(function () {
          if (note) {
            note.textContent = "Control plane unreachable; retrying.";
            note.classList.add("paused");
          }
        })
        .finally(function () {
          busy = false;
        });
    }
    timer = window.setInterval(tick, every > 250 ? every : 2000);
  }

  var els = document.querySelectorAll("[data-live]");
  for (var i = 0; i < els.length; i++) {
    poll(els[i]);
  }
})();

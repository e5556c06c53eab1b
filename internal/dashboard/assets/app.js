// cxops dashboard: live updates without reloading. The server sends an event
// "change" with the topics that changed; when one is a topic of this page, the
// page's content is fetched again (server-rendered HTML) and swapped in, keeping
// the focus and the scroll position. Acknowledge buttons post with the page's
// token. No dependencies.
(function () {
  "use strict";
  var main = document.getElementById("content");
  var live = document.getElementById("live");
  var token = (document.querySelector('meta[name="cx-csrf"]') || {}).content || "";
  if (!main) { return; }
  var topics = (main.getAttribute("data-topics") || "").split(/\s+/).filter(Boolean);

  function say(text) { if (live) { live.textContent = text; } }
  function clock() { return new Date().toLocaleTimeString(); }

  var fetching = false, again = false;
  function refresh() {
    if (fetching) { again = true; return; }
    fetching = true;
    var focusedId = document.activeElement && document.activeElement.id;
    fetch(location.pathname + location.search, { headers: { "X-CX-Fragment": "1" }, credentials: "same-origin" })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var x = window.scrollX, y = window.scrollY;
        main.innerHTML = html;
        window.scrollTo(x, y);
        if (focusedId) {
          var el = document.getElementById(focusedId);
          if (el) { el.focus(); }
        }
        say("Live: updated at " + clock());
      })
      .catch(function () { say("Live updates: the dashboard did not answer; retrying"); })
      .then(function () {
        fetching = false;
        if (again) { again = false; refresh(); }
      });
  }

  if (window.EventSource) {
    var es = new EventSource("/events");
    var opened = false;
    es.addEventListener("open", function () {
      // After a reconnect, changes may have been missed.
      if (opened) { refresh(); }
      opened = true;
      document.body.setAttribute("data-live", "connected");
      say("Live: connected at " + clock());
    });
    es.addEventListener("error", function () {
      document.body.setAttribute("data-live", "disconnected");
      say("Live updates: disconnected, reconnecting…");
    });
    es.addEventListener("change", function (ev) {
      var changed = String(ev.data || "").split(/\s+/);
      for (var i = 0; i < changed.length; i++) {
        if (topics.indexOf(changed[i]) >= 0) { refresh(); return; }
      }
    });
  } else {
    say("Live updates are not supported by this browser; reload to update.");
  }

  // Acknowledge without leaving the page.
  main.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form || !form.hasAttribute("data-ack")) { return; }
    ev.preventDefault();
    var button = form.querySelector("button");
    if (button) { button.disabled = true; }
    fetch(form.action, { method: "POST", headers: { "X-CX-CSRF": token }, credentials: "same-origin" })
      .then(function (r) {
        if (r.ok) { say("Acknowledged at " + clock()); refresh(); return; }
        return r.text().then(function (t) {
          say("Acknowledge failed: " + t.trim());
          if (button) { button.disabled = false; }
        });
      })
      .catch(function () { say("Acknowledge failed: the dashboard did not answer"); if (button) { button.disabled = false; } });
  });
})();

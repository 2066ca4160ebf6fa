// The helpdesk's only script (CSP: script-src 'self'): the live bell and notification list
// over the agent's event stream (session cookie, same origin), state changes as POSTs with
// the form's CSRF token, swipe actions on touch screens, and the @mention picker.
"use strict";
(function () {
  var body = document.body;
  var list = document.getElementById("list");
  var pendingDeletes = {};

  function bellLabel() {
    var bell = document.getElementById("bell");
    var badge = document.getElementById("unread-count");
    if (!bell || !badge) return;
    bell.setAttribute("aria-label", "Notifications, " + (badge.hidden ? "0" : badge.textContent) +
      " unread" + (bell.classList.contains("new") ? ", new since you last looked" : ""));
  }
  function setUnread(count) {
    var badge = document.getElementById("unread-count");
    if (!badge) return;
    badge.textContent = String(count);
    badge.hidden = count === 0;
    bellLabel();
  }
  function setNew(isNew) {
    var bell = document.getElementById("bell");
    if (bell) bell.classList.toggle("new", isNew);
    bellLabel();
  }

  function post(action, fields) {
    var data = new URLSearchParams(fields);
    return fetch(action, {
      method: "POST", body: data, credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (answer) {
      if (typeof answer.unread_count === "number") setUnread(answer.unread_count);
      return answer;
    });
  }

  var refreshing = null, again = false;
  function refreshList() {
    if (!list) return;
    if (refreshing) { again = true; return; }
    refreshing = fetch(list.getAttribute("data-fragment"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        list.innerHTML = html;
        Object.keys(pendingDeletes).forEach(function (id) {
          var item = document.getElementById("n-" + id);
          if (item) item.hidden = true;
        });
      })
      .catch(function () {})
      .then(function () {
        refreshing = null;
        if (again) { again = false; refreshList(); }
      });
  }

  // ------------------------------------------------------------------ live stream
  var lastSeq = Number(body.getAttribute("data-seq") || 0);
  var delay = 1000;
  function connect() {
    var url = location.origin.replace(/^http/, "ws") + "/api/v1/stream";
    var socket = new WebSocket(url);
    socket.onmessage = function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      if (event.type === "hello") {
        if (event.last_seq < lastSeq) lastSeq = 0;
        socket.send(JSON.stringify({ type: "resume", after_seq: lastSeq }));
        return;
      }
      if (typeof event.seq === "number" && event.seq > lastSeq) lastSeq = event.seq;
      if (event.type === "synced") { delay = 1000; return; }
      if (event.type === "unread_count") { setUnread(event.count); return; }
      if (event.type === "notification") {
        if (list && document.visibilityState === "visible") lookedSoon();
        else setNew(true);
      }
      if (["notification", "read_state", "deleted"].indexOf(event.type) >= 0) {
        var upTo = document.querySelector("input[name=up_to_seq]");
        if (upTo) upTo.value = String(lastSeq);
        refreshList();
      }
    };
    socket.onclose = function (close) {
      if (close.code === 4002) { sessionEnded(); return; }
      if (close.code === 1008) return;  // refused: reconnecting would be refused again
      if (close.code === 4001) {
        // Too many tabs on this session: this one yields until it is looked at again, so
        // tabs never take turns closing each other.
        var resume = function () {
          if (document.visibilityState !== "visible") return;
          document.removeEventListener("visibilitychange", resume);
          connect();
        };
        document.addEventListener("visibilitychange", resume);
        return;
      }
      if (close.code === 4000) lastSeq = 0;  // the server's log was reset: replay it all
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  if (body.getAttribute("data-stream")) connect();
  // Signed out elsewhere, by an admin, or the session expired: the page stops updating, so
  // say so (it would otherwise look live) and offer the way back to this very page.
  function sessionEnded() {
    var bar = document.getElementById("toast");
    bar.innerHTML = "";
    var text = document.createElement("span");
    text.textContent = "You were signed out, so this page no longer updates.";
    var again = document.createElement("a");
    again.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
    again.textContent = "Sign in again";
    bar.appendChild(text);
    bar.appendChild(again);
    bar.hidden = false;
  }

  // ------------------------------------------------------------------ the "new" mark
  // Kept per agent on the server, so all of the agent's browsers agree: the center, while
  // it is looked at, says what it showed; any other page asks again when it is looked at.
  var lookTimer = null;
  function looked() {
    lookTimer = null;
    if (document.visibilityState !== "visible" || !body.getAttribute("data-stream")) return;
    var asked = list
      ? post("/notifications/seen", { csrf: csrf(), up_to_seq: String(lastSeq) })
      : fetch("/notifications/bell", { credentials: "same-origin" }).then(function (r) {
          return r.ok ? r.json() : Promise.reject(r.status);
        });
    asked.then(function (bell) {
      setUnread(bell.unread_count);
      setNew(bell.newest > bell.seen);
    }, function () {});
  }
  function lookedSoon() {  // once for a burst of events
    if (!lookTimer) lookTimer = setTimeout(looked, 300);
  }
  document.addEventListener("visibilitychange", lookedSoon);

  // ------------------------------------------------------------------ relative times
  // The server writes "5 minutes ago" (notifier.core.text.relative_time); keep it true.
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function ago(then) {
    var minutes = Math.floor((Date.now() - then.getTime()) / 60000);
    var plural = function (n, word) { return n + " " + word + (n === 1 ? "" : "s") + " ago"; };
    if (minutes < 1) return "just now";
    if (minutes < 60) return plural(minutes, "minute");
    if (minutes < 1440) return plural(Math.floor(minutes / 60), "hour");
    if (minutes < 2880) return "yesterday";
    if (minutes < 10080) return Math.floor(minutes / 1440) + " days ago";
    return then.getDate() + " " + MONTHS[then.getMonth()] + " " + then.getFullYear();
  }
  setInterval(function () {
    Array.prototype.forEach.call(document.querySelectorAll("time[datetime]"), function (t) {
      var then = new Date(t.getAttribute("datetime"));
      if (!isNaN(then.getTime())) t.textContent = ago(then);
    });
  }, 30000);

  // ------------------------------------------------------------------ forms without reload
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.hasAttribute || !form.hasAttribute("data-live")) return;
    e.preventDefault();
    var fields = new FormData(form);
    var submitter = e.submitter;
    if (submitter && submitter.name) fields.append(submitter.name, submitter.value);
    post(form.getAttribute("action"), fields).then(refreshList, function () { form.submit(); });
  });

  // ------------------------------------------------------------------ details
  document.addEventListener("click", function (e) {
    var opener = e.target.closest && e.target.closest(".note-open");
    if (opener) {
      var detail = document.getElementById(opener.getAttribute("aria-controls"));
      if (detail) {
        detail.hidden = !detail.hidden;
        opener.setAttribute("aria-expanded", String(!detail.hidden));
        if (!detail.hidden) detail.querySelector(".back").focus();
      }
      return;
    }
    var back = e.target.closest && e.target.closest(".detail .back");
    if (back) {
      var section = back.closest(".detail");
      section.hidden = true;
      var button = document.querySelector('[aria-controls="' + section.id + '"]');
      if (button) { button.setAttribute("aria-expanded", "false"); button.focus(); }
    }
  });
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") return;
    var open = document.querySelector(".detail:not([hidden]) .back");
    if (open) open.click();
  });

  // ------------------------------------------------------------------ swipe (touch)
  var toast = document.getElementById("toast");
  function csrf() {
    var center = document.getElementById("center");
    return center ? center.getAttribute("data-csrf") : "";
  }
  function deleteWithUndo(item) {
    var id = item.getAttribute("data-id");
    item.hidden = true;
    var timer = setTimeout(function () {
      delete pendingDeletes[id];
      toast.hidden = true;
      post("/notifications/" + id + "/delete", { csrf: csrf() }).then(refreshList, refreshList);
    }, 5000);
    pendingDeletes[id] = timer;
    toast.innerHTML = "";
    var text = document.createElement("span");
    text.textContent = "Notification deleted.";
    var undo = document.createElement("button");
    undo.type = "button";
    undo.id = "undo";
    undo.textContent = "Undo";
    undo.onclick = function () {
      clearTimeout(pendingDeletes[id]);
      delete pendingDeletes[id];
      var again = document.getElementById("n-" + id);
      if (again) again.hidden = false;
      toast.hidden = true;
    };
    toast.appendChild(text);
    toast.appendChild(undo);
    toast.hidden = false;
  }
  window.addEventListener("pagehide", function () {
    Object.keys(pendingDeletes).forEach(function (id) {
      navigator.sendBeacon("/notifications/" + id + "/delete", new URLSearchParams({ csrf: csrf() }));
    });
  });
  var start = null;
  document.addEventListener("touchstart", function (e) {
    var row = e.target.closest && e.target.closest(".note-body");
    if (!row || e.touches.length !== 1) return;
    start = { row: row, x: e.touches[0].clientX, y: e.touches[0].clientY, dx: 0 };
  }, { passive: true });
  document.addEventListener("touchmove", function (e) {
    if (!start) return;
    start.dx = e.touches[0].clientX - start.x;
    if (Math.abs(e.touches[0].clientY - start.y) > Math.abs(start.dx)) return;
    start.row.style.transform = "translateX(" + start.dx + "px)";
  }, { passive: true });
  document.addEventListener("touchend", function () {
    if (!start) return;
    var row = start.row, dx = start.dx, item = row.closest(".note");
    start = null;
    row.style.transform = "";
    if (dx < -80) {
      post("/notifications/" + item.getAttribute("data-id") + "/read", { csrf: csrf() })
        .then(refreshList, refreshList);
    } else if (dx > 80) {
      deleteWithUndo(item);
    }
  });

  // ------------------------------------------------------------------ @mention picker
  var area = document.querySelector("textarea[data-mentions]");
  var picker = area && document.getElementById(area.getAttribute("data-mentions"));
  if (area && picker) {
    var options = Array.prototype.slice.call(picker.querySelectorAll("li"));
    var chosen = -1;
    var visible = function () { return options.filter(function (o) { return !o.hidden; }); };
    var query = function () {
      var before = area.value.slice(0, area.selectionStart);
      var found = /(^|[^A-Za-z0-9_.@-])@([A-Za-z0-9_.-]*)$/.exec(before);
      return found ? found[2].toLowerCase() : null;
    };
    var highlight = function (index) {
      var shown = visible();
      chosen = shown.length ? (index + shown.length) % shown.length : -1;
      shown.forEach(function (o, i) { o.setAttribute("aria-selected", String(i === chosen)); });
    };
    var close = function () { picker.hidden = true; chosen = -1; };
    var pick = function (option) {
      var before = area.value.slice(0, area.selectionStart);
      var after = area.value.slice(area.selectionStart);
      var name = option.getAttribute("data-username");
      before = before.replace(/@([A-Za-z0-9_.-]*)$/, "@" + name + " ");
      area.value = before + after;
      area.selectionStart = area.selectionEnd = before.length;
      close();
      area.focus();
    };
    area.addEventListener("input", function () {
      var q = query();
      if (q === null) { close(); return; }
      options.forEach(function (o) {
        var text = (o.getAttribute("data-username") + " " + o.textContent).toLowerCase();
        o.hidden = text.indexOf(q) < 0;
      });
      picker.hidden = visible().length === 0;
      highlight(0);
    });
    area.addEventListener("keydown", function (e) {
      if (picker.hidden) return;
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        highlight(chosen + (e.key === "ArrowDown" ? 1 : -1));
      } else if (e.key === "Enter" || e.key === "Tab") {
        var shown = visible();
        if (chosen >= 0 && shown[chosen]) { e.preventDefault(); pick(shown[chosen]); }
      } else if (e.key === "Escape") {
        close();
      }
    });
    picker.addEventListener("mousedown", function (e) {
      var option = e.target.closest("li");
      if (option) { e.preventDefault(); pick(option); }
    });
    area.addEventListener("blur", function () { setTimeout(close, 150); });
  }
})();

"use strict";
(function () {
  var region = document.querySelector("[data-refresh]");
  var current = null;
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#inbox tr[data-request-id]")); }
  function mark(id, focus) {
    rows().forEach(function (row) {
      var on = row.getAttribute("data-request-id") === id;
      row.classList.toggle("current", on);
      if (on) {
        row.setAttribute("aria-current", "true");
        var link = row.querySelector("a");
        if (focus && link) link.focus();
      } else row.removeAttribute("aria-current");
    });
    current = id;
  }
  function move(step) {
    var list = rows();
    if (!list.length) return;
    var at = -1;
    list.forEach(function (row, index) { if (row.getAttribute("data-request-id") === current) at = index; });
    var next = at < 0 ? (step > 0 ? 0 : list.length - 1) : Math.max(0, Math.min(list.length - 1, at + step));
    mark(list[next].getAttribute("data-request-id"), true);
  }
  function decideInbox(id, decision) {
    var form = document.getElementById("bulk");
    if (!form) return;
    var notes = form.querySelector("[name=notes]");
    var reason = notes.value.trim();
    if (decision === "reject" && !reason) {
      reason = (window.prompt("Reason to reject " + id) || "").trim();
      if (!reason) return;
    }
    if (!window.confirm((decision === "approve" ? "Approve " : "Reject ") + id + "?")) return;
    notes.value = reason;
    rows().forEach(function (row) { var box = row.querySelector("input[type=checkbox]"); if (box) box.checked = false; });
    var only = document.createElement("input");
    only.type = "hidden"; only.name = "ids[]"; only.value = id;
    form.appendChild(only);
    form.requestSubmit(form.querySelector('button[value="' + decision + '"]'));
  }
  function decidePage(decision) {
    var form = document.getElementById("decide");
    if (!form) return;
    var notes = form.querySelector("[name=notes]");
    if (decision === "reject" && !notes.value.trim()) {
      var reason = (window.prompt("Reason to reject") || "").trim();
      if (!reason) return;
      notes.value = reason;
    }
    if (!window.confirm(decision === "approve" ? "Approve this request?" : "Reject this request?")) return;
    form.requestSubmit(form.querySelector('button[value="' + decision + '"]'));
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    var target = event.target;
    var typing = target && (target.tagName === "TEXTAREA" || target.tagName === "SELECT" || target.isContentEditable ||
      (target.tagName === "INPUT" && target.type !== "checkbox"));
    if (typing) return;
    var key = event.key;
    if (key === "?") {
      var help = document.getElementById("shortcuts");
      if (help) { help.open = !help.open; event.preventDefault(); }
      return;
    }
    if (region) {
      if (key === "j" || key === "ArrowDown") { move(1); event.preventDefault(); }
      else if (key === "k" || key === "ArrowUp") { move(-1); event.preventDefault(); }
      else if (current && (key === "o" || (key === "Enter" && target.tagName !== "A" && target.tagName !== "BUTTON"))) {
        window.location.href = "/console/requests/" + current; event.preventDefault();
      } else if (current && key === "x") {
        var row = document.querySelector('#inbox tr[data-request-id="' + current + '"] input[type=checkbox]');
        if (row) row.checked = !row.checked;
        event.preventDefault();
      } else if (current && (key === "a" || key === "r")) {
        event.preventDefault(); decideInbox(current, key === "a" ? "approve" : "reject");
      }
      return;
    }
    if (key === "a" || key === "r") { event.preventDefault(); decidePage(key === "a" ? "approve" : "reject"); }
    else if (key === "u") { window.location.href = "/console"; }
  });
  if (!region) return;
  var every = Number(region.getAttribute("data-refresh-ms")) || 5000;
  setInterval(function () {
    if (region.querySelector("input:checked")) return;
    fetch(region.getAttribute("data-refresh"), { headers: { Accept: "text/html" }, credentials: "same-origin" })
      .then(function (response) {
        if (response.status === 401) { window.location.reload(); return null; }
        return response.ok ? response.text() : null;
      })
      .then(function (text) {
        if (text === null || text === region.innerHTML || region.querySelector("input:checked")) return;
        var focused = region.contains(document.activeElement);
        region.innerHTML = text;
        if (current) mark(current, focused);
      })
      .catch(function () { /* offline for a moment: try again at the next tick */ });
  }, every);
})();

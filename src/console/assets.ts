// The console's only two assets, served by the worker itself (no CDN, works offline in npm run dev).

export const CONSOLE_CSS = `
:root { color-scheme: light dark; --fg: #1b1f23; --bg: #ffffff; --muted: #57606a; --line: #d0d7de;
  --accent: #0a58ca; --danger: #b42318; --ok: #1a7f37; --warn: #9a6700; font-family: system-ui, sans-serif; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0d1117; --muted: #9da7b3; --line: #30363d;
  --accent: #58a6ff; --danger: #ff7b72; --ok: #3fb950; --warn: #d29922; } }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: var(--bg); line-height: 1.5; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem; }
a { color: var(--accent); }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: 1rem; background: var(--bg); padding: .5rem; z-index: 1; }
.bar { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; padding: .5rem 1rem;
  border-bottom: 1px solid var(--line); }
.brand { font-weight: 600; text-decoration: none; }
.bar nav { display: flex; gap: 1rem; }
.signout { margin-left: auto; display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
.who { color: var(--muted); }
button { font: inherit; padding: .4rem .9rem; border-radius: 6px; border: 1px solid var(--line);
  background: var(--accent); color: #fff; cursor: pointer; }
button.danger { background: var(--danger); }
button:focus-visible, a:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible {
  outline: 3px solid var(--accent); outline-offset: 2px; }
input, select, textarea { font: inherit; padding: .35rem; border: 1px solid var(--muted); border-radius: 4px;
  color: var(--fg); background: var(--bg); max-width: 100%; }
.stack { display: grid; gap: .4rem; max-width: 32rem; }
.filters { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: end; margin-bottom: 1rem; }
.filters label { display: grid; }
.inline { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; margin-bottom: 1rem; }
.actions { display: flex; gap: .5rem; }
.scroll { overflow-x: auto; }
.scroll:focus-visible { outline: 3px solid var(--accent); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
pre { background: color-mix(in srgb, var(--fg) 6%, transparent); padding: .75rem; overflow-x: auto;
  border-radius: 6px; white-space: pre-wrap; word-break: break-word; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; }
.status { font-weight: 600; }
.status-approved, .status-auto_approved { color: var(--ok); }
.status-rejected, .status-expired, .status-cancelled { color: var(--danger); }
.status-escalated { color: var(--warn); }
.error { color: var(--danger); font-weight: 600; }
.diff-removed { color: var(--danger); }
.diff-added { color: var(--ok); }
.notice { color: var(--ok); font-weight: 600; }
.hint, .counts, .empty { color: var(--muted); }
.secret { border: 2px solid var(--warn); padding: .5rem 1rem; border-radius: 6px; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
.searchline { display: flex; flex-wrap: wrap; gap: .4rem; align-items: center; flex-basis: 100%; }
.searchline input { flex: 1 1 12rem; }
.more-filters { flex-basis: 100%; }
.more-filters summary { cursor: pointer; color: var(--accent); padding: .25rem 0; }
.filter-fields { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: end; margin-top: .4rem; }
.filter-fields label { display: grid; }
.pager { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; margin: .75rem 0; }
.pager a { padding: .5rem 0; }
.bulk { display: flex; flex-wrap: wrap; gap: .4rem 1rem; align-items: end; margin-bottom: .75rem; }
.bulk label { flex-basis: 100%; }
.bulk input { flex: 1 1 16rem; }
.req-id { display: block; color: var(--muted); font-size: .85em; font-family: ui-monospace, monospace; }
table.inbox tr.current { outline: 3px solid var(--accent); outline-offset: -3px; }
.pick input { width: 1.4rem; height: 1.4rem; }
.shortcuts { margin-top: 1.5rem; color: var(--muted); }
.shortcuts dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
.shortcuts dd { margin: 0; }
kbd { border: 1px solid var(--line); border-radius: 4px; padding: 0 .3rem; font-family: ui-monospace, monospace; }
.bulk-results li { margin: .3rem 0; overflow-wrap: anywhere; }
/* Phones: a compact header, the inbox as cards, the decision in a bar at the bottom within thumb reach. */
@media (max-width: 40rem) {
  main { padding: .75rem; }
  h1 { font-size: 1.35rem; margin: .25rem 0 .5rem; }
  .facts { grid-template-columns: 1fr; }
  .bar { padding: .35rem .75rem; gap: .25rem .75rem; }
  .bar nav { order: 3; flex-basis: 100%; overflow-x: auto; white-space: nowrap; gap: .9rem; font-size: .95em; }
  .signout { margin-left: auto; }
  .signout button { padding: .25rem .6rem; }
  .who-detail { display: none; }
  .filter-fields label { flex: 1 1 9rem; }
  .searchline label { flex-basis: 100%; }
  .brand { font-size: .95em; }
  .who { font-size: .9em; }
  /* The bulk bar appears, fixed at the bottom, once a request is selected. */
  .bulk { display: none; }
  body:has(#inbox input:checked) .bulk { display: flex; position: fixed; left: 0; right: 0; bottom: 0; z-index: 2;
    margin: 0; padding: .5rem .75rem calc(.5rem + env(safe-area-inset-bottom)); background: var(--bg);
    border-top: 1px solid var(--line); }
  body:has(#inbox input:checked) main { padding-bottom: 9rem; }
  .bulk .actions { flex-basis: 100%; }
  .bulk .actions button { flex: 1; padding: .6rem; }
  .scroll { overflow-x: visible; }
  table.inbox, table.inbox tbody { display: block; }
  table.inbox thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); }
  table.inbox tr.card { display: grid; grid-template-columns: 2.2rem 1fr auto; gap: .1rem .5rem;
    border: 1px solid var(--line); border-radius: 8px; padding: .6rem; margin-bottom: .6rem; }
  table.inbox td { display: block; border: 0; padding: 0; overflow-wrap: anywhere; min-width: 0; }
  table.inbox td.pick { grid-row: 1 / span 3; align-self: center; }
  table.inbox td.what { grid-column: 2; font-weight: 600; }
  table.inbox td.left { grid-column: 3; grid-row: 1; text-align: right; font-weight: 600; }
  table.inbox td[data-label] { grid-column: 2 / span 2; font-size: .92em; }
  table.inbox td[data-label]::before { content: attr(data-label) ": "; color: var(--muted); }
  table.inbox td.left::before { content: none; }
  table.inbox td.left { grid-column: 3; }
  .decide-bar { position: sticky; bottom: 0; z-index: 2; max-width: none; background: var(--bg);
    border-top: 1px solid var(--line); margin: 0 -.75rem; padding: .5rem .75rem calc(.5rem + env(safe-area-inset-bottom)); }
  .decide-bar textarea { min-height: 2.6rem; }
  .decide-bar .actions button { flex: 1; padding: .7rem; }
}
`;

/**
 * Refreshes the inbox every few seconds, so a request decided elsewhere disappears (not while rows are
 * selected or focused: that would undo what the approver is doing). Keyboard shortcuts (listed on the
 * page): j/k or arrows move through the inbox, Enter/o opens, x selects, a/r approve/reject with a
 * confirmation; on a request page a/r decide, u goes back; ? shows the list. The pages work without it.
 */
export const CONSOLE_JS = `
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
`;

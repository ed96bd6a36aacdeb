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
@media (max-width: 40rem) { .facts { grid-template-columns: 1fr; } .signout { margin-left: 0; } }
`;

/**
 * Refreshes the inbox every few seconds, so a request decided elsewhere disappears. The page works
 * without it (the Filter button reloads); a session that ended sends the browser to sign in.
 */
export const CONSOLE_JS = `
"use strict";
(function () {
  var region = document.querySelector("[data-refresh]");
  if (!region) return;
  var every = Number(region.getAttribute("data-refresh-ms")) || 5000;
  setInterval(function () {
    fetch(region.getAttribute("data-refresh"), { headers: { Accept: "text/html" }, credentials: "same-origin" })
      .then(function (response) {
        if (response.status === 401) { window.location.reload(); return null; }
        return response.ok ? response.text() : null;
      })
      .then(function (text) { if (text !== null && text !== region.innerHTML) region.innerHTML = text; })
      .catch(function () { /* offline for a moment: try again at the next tick */ });
  }, every);
})();
`;

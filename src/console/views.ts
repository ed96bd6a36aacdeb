// The approver console's pages, rendered on the server with Hono's `html` template: every
// interpolated value is HTML-escaped (a payload holding <script> is shown as text), and only the
// fragments built here with `html` are inserted as markup. No page loads anything from elsewhere:
// the stylesheet, scripts, icons and manifest are this origin's static assets (public/).
import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import type { KeySummary } from "../db/api-keys.ts";
import type { AuditEventRow } from "../db/audit.ts";
import type { DelegationSummary } from "../db/delegations.ts";
import type { ApprovalRequestRow } from "../db/schema.ts";
import type { Principal } from "../domain/access.ts";
import { candidateHash, countingApprovals, isOpen } from "../domain/approvals.ts";
import { lineDiff } from "../domain/line-diff.ts";
import { levelName } from "../domain/vocabulary.ts";
import type { Delivery } from "../schemas/webhooks.ts";

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

export interface PageContext {
  principal?: Principal | undefined;
  /** The session's CSRF token, carried by every state-changing form. */
  csrf?: string | undefined;
}

/** A level as shown: its number and name. */
export const level = (value: number) => `${value} ${levelName(value) ?? ""}`.trim();

export function layout(title: string, page: PageContext, body: Html): Html {
  const who = page.principal;
  return html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>${title} · Policy API console</title>
    <link rel="stylesheet" href="/console/assets/console.css" />
    <script src="/console/assets/console.js" defer></script>
    <script src="/console/assets/push.js" defer></script>
    <link rel="manifest" href="/manifest.webmanifest" />
    <link rel="icon" href="/icons/icon.svg" type="image/svg+xml" />
    <meta name="theme-color" content="#0a58ca" />
  </head>
  <body>
    <a class="skip" href="#main">Skip to content</a>
    <header class="bar">
      <a class="brand" href="/console">Policy API console</a>
      ${
        who
          ? html`<nav aria-label="Console">
              <a href="/console">Inbox</a>
              <a href="/console/delegations">Delegations</a>
              ${who.role === "agent" ? "" : html`<a href="/console/slack">Slack</a> <a href="/console/push">Push</a>`}
              ${who.role === "admin" ? html`<a href="/console/admin">Admin</a> <a href="/console/admin/contacts">Directory</a> <a href="/console/admin/slack">Slack workspaces</a> <a href="/console/admin/policy">Policy</a>` : ""}
            </nav>
            <form method="post" action="/console/logout" class="signout">
              <input type="hidden" name="_csrf" value="${page.csrf ?? ""}" />
              <span class="who">${who.principalId}<span class="who-detail"> (${who.role}, level ${level(who.maxLevel)}${
                who.tenantId ? html`, tenant ${who.tenantId}` : ""
              })</span></span>
              <button type="submit">Sign out</button>
            </form>`
          : ""
      }
    </header>
    <main id="main">${body}</main>
  </body>
</html>`;
}

/** The shortcuts console.js adds, listed on every page that has them (`?` opens the list). */
export function shortcutsHelp(where: "inbox" | "request"): Html {
  return html`<details class="shortcuts" id="shortcuts">
    <summary>Keyboard shortcuts</summary>
    <dl>
      ${
        where === "inbox"
          ? html`<dt><kbd>j</kbd> / <kbd>↓</kbd>, <kbd>k</kbd> / <kbd>↑</kbd></dt><dd>Next / previous request</dd>
            <dt><kbd>Enter</kbd> or <kbd>o</kbd></dt><dd>Open the request</dd>
            <dt><kbd>x</kbd></dt><dd>Select it for a bulk decision</dd>
            <dt><kbd>a</kbd> / <kbd>r</kbd></dt><dd>Approve / reject it (asks to confirm; a rejection asks for a reason)</dd>`
          : html`<dt><kbd>a</kbd> / <kbd>r</kbd></dt><dd>Approve / reject (asks to confirm; a rejection needs a reason)</dd>
            <dt><kbd>u</kbd></dt><dd>Back to the inbox</dd>`
      }
      <dt><kbd>?</kbd></dt><dd>Show or hide this list</dd>
    </dl>
  </details>`;
}

/**
 * The sign-in page; `next` (a request page, checked by the route) is where a successful sign-in goes,
 * so a notification link's reader comes back to the request to decide it.
 */
export function loginPage(error?: string, status?: string, next?: string): Html {
  return layout(
    "Sign in",
    {},
    html`<h1>Sign in</h1>
      ${status ? html`<p class="notice" role="status">${status}</p>` : ""}
      ${error ? html`<p class="error" role="alert">${error}</p>` : ""}
      <form method="post" action="/console/login" class="stack">
        ${next ? html`<input type="hidden" name="next" value="${next}" />` : ""}
        <label for="api_key">API key (approver or admin)</label>
        <input id="api_key" name="api_key" type="password" autocomplete="off" required spellcheck="false" />
        <p class="hint">The key is checked once and never stored in the browser: you get a session cookie instead.</p>
        <button type="submit">Sign in</button>
      </form>`,
  );
}

export function messagePage(title: string, text: string, page: PageContext = {}): Html {
  return layout(
    title,
    page,
    html`<h1>${title}</h1>
      <p role="alert">${text}</p>
      <p><a href="/console">Back to the inbox</a></p>`,
  );
}

/**
 * A notification link's click-through page (GET `?view=<token>`): the request's id and one button that
 * posts the token to open it. Nothing else of the request, so a mail scanner fetching the link learns
 * nothing and spends nothing; the person's click opens the request.
 */
export function viewLinkPage(requestId: string, token: string, page: PageContext = {}): Html {
  return layout(
    `Open request ${requestId}`,
    page,
    html`<h1>Open request <code>${requestId}</code></h1>
      <p>This link from a notification opens the request once.</p>
      <form method="post" action="/console/requests/${requestId}/view" class="stack" id="view-link">
        <input type="hidden" name="view" value="${token}" />
        <button type="submit">Open request</button>
      </form>`,
  );
}

const pretty = (value: unknown) => JSON.stringify(value, null, 2);

/** The policy's own explanation (the reasons eval gave), when the snapshot carries it. */
function reasonsOf(snapshot: Record<string, unknown>): string[] {
  const reasons = snapshot.reasons;
  return Array.isArray(reasons)
    ? reasons.filter((reason): reason is string => typeof reason === "string")
    : [];
}

function deliveriesSection(deliveries: Delivery[]): Html {
  if (deliveries.length === 0) return html`<p>No webhook deliveries.</p>`;
  return html`<ul class="deliveries">
    ${deliveries.map(
      (delivery) => html`<li>
        <strong>${delivery.event}</strong>: ${delivery.status}, ${delivery.attempts} attempt(s)
        ${delivery.last_error ? html`(${delivery.last_error})` : ""}
        ${
          delivery.attempt_log.length
            ? html`<ol>
              ${delivery.attempt_log.map(
                (attempt) =>
                  html`<li>${attempt.at}: ${attempt.outcome}${
                    attempt.status_code !== null ? html` (HTTP ${attempt.status_code})` : ""
                  }${attempt.error ? html`, ${attempt.error}` : ""}, ${attempt.duration_ms} ms</li>`,
              )}
            </ol>`
            : ""
        }
      </li>`,
    )}
  </ul>`;
}

/**
 * A request's page. Signed in, with the decide form while it is open; opened by a notification link
 * without a session (`viewOnly`), read-only: no form, no deliveries, a sign-in that returns here.
 */
export function requestPage(
  page: PageContext,
  row: ApprovalRequestRow,
  deliveries: Delivery[],
  notice?: { kind: "error" | "notice"; text: string },
  viewOnly?: { principalId: string },
): Html {
  const open = isOpen(row.status);
  const approvals = row.approvalsJson;
  // Only approvals of the payload that stands count (issue 27): one of a since-changed payload does not.
  const decisive = countingApprovals(row, approvals).length;
  return layout(
    row.id,
    page,
    html`<p><a href="/console">← Inbox</a></p>
      <h1>Request <code>${row.id}</code></h1>
      ${
        notice
          ? html`<p class="${notice.kind}" role="${notice.kind === "error" ? "alert" : "status"}">${notice.text}</p>`
          : ""
      }
      <p class="outcome">Status: <span class="status status-${row.status}" id="request-status">${row.status}</span>
        ${row.resolvedAt ? html` since <time datetime="${row.resolvedAt.toISOString()}">${row.resolvedAt.toISOString()}</time>` : ""}
      </p>
      <dl class="facts">
        <dt>Asked by</dt><dd>${row.requestedBy}${row.agentId ? html` for agent ${row.agentId}` : ""}</dd>
        <dt>Tenant</dt><dd>${row.tenantId}</dd>
        <dt>Skill</dt><dd>${row.skillId} (${row.policyType})</dd>
        <dt>Justification</dt><dd>${row.justification ?? "none given"}</dd>
        <dt>Required level</dt><dd>${level(row.requiredLevel)}</dd>
        <dt>Approvals</dt><dd>${decisive} of ${row.requiredApprovals} needed</dd>
        <dt>Deadline</dt><dd><time datetime="${row.expiresAt.toISOString()}">${row.expiresAt.toISOString()}</time></dd>
      </dl>
      <h2>What it wants to do</h2>
      <pre class="payload" id="payload">${pretty(row.payload)}</pre>
      ${row.approvedPayloadHash !== null ? changedPayload(row) : ""}
      <h2>Why it needs approval</h2>
      ${reasonsOf(row.policySnapshot).length ? html`<ul class="reasons">${reasonsOf(row.policySnapshot).map((reason) => html`<li>${reason}</li>`)}</ul>` : ""}
      <details>
        <summary>Every policy check, as recorded when it was filed</summary>
        <pre class="policy">${pretty(row.policySnapshot)}</pre>
      </details>
      <h2>Approvers so far</h2>
      ${
        approvals.length
          ? html`<ul>
            ${approvals.map(
              (entry) =>
                html`<li>${entry.approver_id}${
                  entry.on_behalf_of ? html` on behalf of ${entry.on_behalf_of}` : ""
                } (level ${level(entry.level)}${entry.via ? html`, via ${entry.via}` : ""}): ${entry.action}${
                  entry.notes ? html`: “${entry.notes}”` : ""
                } at ${entry.timestamp}</li>`,
            )}
          </ul>`
          : html`<p>Nobody yet.</p>`
      }
      ${
        viewOnly
          ? html`<h2>Decide</h2>
            <p class="notice" id="view-only">Opened from a notification for ${viewOnly.principalId}: read-only. This link does not open again.
              ${open ? html`To decide, <a href="/console/login?next=/console/requests/${row.id}">sign in</a> with your own key; you come back here.` : html`This request is ${row.status}: nothing is left to decide.`}</p>`
          : open
            ? html`<h2>Decide</h2>
            <form method="post" action="/console/requests/${row.id}/decide" class="stack decide decide-bar" id="decide">
              <input type="hidden" name="_csrf" value="${page.csrf ?? ""}" />
              <label for="notes">Notes (a reason is required to reject)</label>
              <textarea id="notes" name="notes" rows="2" maxlength="2000"></textarea>
              <div class="actions">
                <button type="submit" name="decision" value="approve">Approve</button>
                <button type="submit" name="decision" value="reject" class="danger">Reject</button>
              </div>
              <input type="hidden" name="expected_payload_sha256" value="${candidateHash(row)}" />
            </form>
            <details class="approve-edit">
              <summary>Approve with changes</summary>
              <form method="post" action="/console/requests/${row.id}/decide" class="stack decide" id="approve-edit">
                <input type="hidden" name="_csrf" value="${page.csrf ?? ""}" />
                <input type="hidden" name="expected_payload_sha256" value="${candidateHash(row)}" />
                <label for="edit-payload">The payload as you approve it (JSON object); policy judges it again, and earlier approvals of another payload no longer count</label>
                <textarea id="edit-payload" name="payload" rows="12" spellcheck="false">${pretty(candidatePayload(row))}</textarea>
                <label for="edit-notes">Notes</label>
                <textarea id="edit-notes" name="notes" rows="2" maxlength="2000"></textarea>
                <div class="actions">
                  <button type="submit" name="decision" value="approve">Approve with changes</button>
                </div>
              </form>
            </details>`
            : html`<p class="outcome-final">This request is ${row.status}: nothing is left to decide.</p>`
      }
      <h2>History</h2>
      <ol class="timeline">
        ${row.statusHistoryJson.map(
          (entry) =>
            html`<li><time datetime="${entry.timestamp}">${entry.timestamp}</time>: ${entry.from_status ?? "new"} → ${entry.to_status} by ${entry.actor}${
              entry.reason ? html` (${entry.reason})` : ""
            }</li>`,
        )}
      </ol>
      ${
        viewOnly
          ? ""
          : html`<h2>Webhook deliveries</h2>
      ${deliveriesSection(deliveries)}
      ${open ? shortcutsHelp("request") : ""}`
      }`,
  );
}

/** The payload approvals now count toward: an approver's edit when one stands, else the filed one. */
function candidatePayload(row: ApprovalRequestRow): unknown {
  return row.approvedPayloadHash !== null ? row.approvedPayload : row.payload;
}

/**
 * An approver's change to the payload (issue 27): the approved payload, and line by line what changed
 * from the filed one. Every line is escaped text, marked by a sign and a class, never markup.
 */
function changedPayload(row: ApprovalRequestRow): Html {
  const lines = lineDiff(pretty(row.payload), pretty(row.approvedPayload));
  const sign = { same: " ", removed: "-", added: "+" } as const;
  return html`<h2>Approved with changes</h2>
      <p class="notice">An approver changed the payload: approvals count toward this one (SHA-256 <code>${row.approvedPayloadHash}</code>), and the agent is told to act with it.</p>
      <pre class="payload" id="approved-payload">${pretty(row.approvedPayload)}</pre>
      <h3>What changed (filed → approved)</h3>
      <pre class="diff" id="payload-diff">${lines.map(
        (line) => html`<span class="diff-${line.kind}">${sign[line.kind]} ${line.text}</span>
`,
      )}</pre>`;
}

export interface AdminView {
  escalationPaused: boolean;
  deliveriesPaused: boolean;
  keys: KeySummary[];
  audit: AuditEventRow[];
  auditFilter: { actor?: string | undefined; action?: string | undefined; target?: string | undefined };
  /** A key just created: its secret, shown this once. */
  createdKey?: { keyId: string; secret: string } | undefined;
  notice?: { kind: "error" | "notice"; text: string } | undefined;
}

export function adminPage(page: PageContext, view: AdminView): Html {
  const csrf = html`<input type="hidden" name="_csrf" value="${page.csrf ?? ""}" />`;
  const switchForm = (job: "escalation" | "deliveries", paused: boolean, label: string) =>
    html`<form method="post" action="/console/admin/switches" class="inline">
      ${csrf}<input type="hidden" name="job" value="${job}" />
      <input type="hidden" name="paused" value="${paused ? "false" : "true"}" />
      <label>Reason <input name="reason" required maxlength="500" /></label>
      <button type="submit">${paused ? `Resume ${label}` : `Pause ${label}`}</button>
    </form>`;
  return layout(
    "Admin",
    page,
    html`<h1>Admin</h1>
      ${
        view.notice
          ? html`<p class="${view.notice.kind}" role="${view.notice.kind === "error" ? "alert" : "status"}">${view.notice.text}</p>`
          : ""
      }
      <h2>Switches</h2>
      <p>Escalation job: <strong id="escalation-state">${view.escalationPaused ? "paused" : "running"}</strong></p>
      ${switchForm("escalation", view.escalationPaused, "escalation")}
      <p>Webhook deliveries: <strong id="deliveries-state">${view.deliveriesPaused ? "paused" : "running"}</strong></p>
      ${switchForm("deliveries", view.deliveriesPaused, "deliveries")}
      <h2>API keys</h2>
      ${
        view.createdKey
          ? html`<div class="secret" role="status">
            <p>Key <code>${view.createdKey.keyId}</code> created. Copy it now: it is shown this once.</p>
            <pre id="new-key">${view.createdKey.secret}</pre>
          </div>`
          : ""
      }
      <form method="post" action="/console/admin/keys" class="stack">
        ${csrf}
        <label for="principal_id">Principal</label><input id="principal_id" name="principal_id" required />
        <label for="role">Role</label>
        <select id="role" name="role"><option>approver</option><option>agent</option><option>admin</option></select>
        <label for="max_level">Level (1 to 5 or a level name; blank for the role's default)</label><input id="max_level" name="max_level" />
        <label for="tenant_id">Tenant (blank for every tenant)</label><input id="tenant_id" name="tenant_id" />
        <label for="agent_ids">Agents it may act for (agent keys: ids or prefixes ending in *, comma-separated; blank for its own principal)</label><input id="agent_ids" name="agent_ids" />
        <label for="key_name">Name</label><input id="key_name" name="name" />
        <button type="submit">Create key</button>
      </form>
      <div class="scroll" tabindex="0" role="region" aria-label="API keys"><table>
        <caption class="visually-hidden">API keys</caption>
        <thead><tr><th scope="col">Key</th><th scope="col">Principal</th><th scope="col">Role</th><th scope="col">Level</th><th scope="col">Tenant</th><th scope="col">State</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
        <tbody>
          ${view.keys.map(
            (key) => html`<tr>
              <td><code>${key.key_id}</code></td><td>${key.principal_id}</td><td>${key.role}</td>
              <td>${key.max_level}</td><td>${key.tenant_id ?? "all"}</td>
              <td>${key.revoked_at ? `revoked ${key.revoked_at}` : "active"}</td>
              <td>${
                key.revoked_at
                  ? ""
                  : html`<form method="post" action="/console/admin/keys/${key.key_id}/revoke">${csrf}<button type="submit" class="danger" aria-label="Revoke key ${key.key_id}">Revoke</button></form>`
              }</td>
            </tr>`,
          )}
        </tbody>
      </table></div>
      <h2>Audit trail</h2>
      <form method="get" action="/console/admin" class="filters" aria-label="Search the audit trail">
        <label>Actor <input name="actor" value="${view.auditFilter.actor ?? ""}" /></label>
        <label>Action starts with <input name="action" value="${view.auditFilter.action ?? ""}" /></label>
        <label>Target id <input name="target" value="${view.auditFilter.target ?? ""}" /></label>
        <button type="submit">Search</button>
      </form>
      <div class="scroll" tabindex="0" role="region" aria-label="Audit events"><table>
        <caption class="visually-hidden">Audit events, newest first</caption>
        <thead><tr><th scope="col">When</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Target</th></tr></thead>
        <tbody>
          ${view.audit.map(
            (event) => html`<tr>
              <td><time datetime="${event.createdAt.toISOString()}">${event.createdAt.toISOString()}</time></td>
              <td>${event.actor}</td><td>${event.action}</td><td>${event.targetType} ${event.targetId}</td>
            </tr>`,
          )}
        </tbody>
      </table></div>`,
  );
}

export interface DelegationsView {
  delegations: DelegationSummary[];
  notice?: { kind: "error" | "notice"; text: string } | undefined;
}

/**
 * The signed-in principal's delegations: who stands in for it while away, and for whom it stands in.
 * A reason is text people wrote: escaped like everything here, and shown in quotes as data.
 */
export function delegationsPage(page: PageContext, view: DelegationsView): Html {
  const csrf = html`<input type="hidden" name="_csrf" value="${page.csrf ?? ""}" />`;
  const me = page.principal?.principalId;
  const isAdmin = page.principal?.role === "admin";
  return layout(
    "Delegations",
    page,
    html`<h1>Delegations</h1>
      ${view.notice ? html`<p class="${view.notice.kind}" role="${view.notice.kind === "error" ? "alert" : "status"}">${view.notice.text}</p>` : ""}
      <p class="hint">While you are away a delegate is told of what would come to you and decides at its own level, recorded as on your behalf.</p>
      <form method="post" action="/console/delegations" class="stack">
        ${csrf}
        <label for="delegate_id">Delegate (a principal)</label><input id="delegate_id" name="delegate_id" required />
        <label for="starts_at">From (UTC, blank for now)</label><input id="starts_at" name="starts_at" type="datetime-local" />
        <label for="ends_at">Until (UTC)</label><input id="ends_at" name="ends_at" type="datetime-local" required />
        <label for="reason">Reason (optional, one line)</label><input id="reason" name="reason" maxlength="500" />
        <button type="submit">Name delegate</button>
      </form>
      ${
        view.delegations.length === 0
          ? html`<p class="empty">No delegations.</p>`
          : html`<div class="scroll" tabindex="0" role="region" aria-label="Delegations"><table>
        <caption class="visually-hidden">Delegations naming you, newest first</caption>
        <thead><tr><th scope="col">Principal</th><th scope="col">Delegate</th><th scope="col">Tenant</th><th scope="col">From</th><th scope="col">Until</th><th scope="col">Reason</th><th scope="col">State</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
        <tbody>
          ${view.delegations.map(
            (row) => html`<tr data-delegation-id="${row.id}">
              <td>${row.principal_id}</td><td>${row.delegate_id}</td><td>${row.tenant_id ?? "all"}</td>
              <td><time datetime="${row.starts_at}">${row.starts_at}</time></td>
              <td><time datetime="${row.ends_at}">${row.ends_at}</time></td>
              <td>${row.reason === null ? "" : html`<q class="human-text">${row.reason}</q>`}</td>
              <td>${row.revoked_at ? `revoked ${row.revoked_at} by ${row.revoked_by ?? ""}` : "not revoked"}</td>
              <td>${
                row.revoked_at === null && (isAdmin || row.principal_id === me)
                  ? html`<form method="post" action="/console/delegations/${row.id}/revoke">${csrf}<button type="submit" class="danger" aria-label="Revoke delegation ${row.id}">Revoke</button></form>`
                  : ""
              }</td>
            </tr>`,
          )}
        </tbody>
      </table></div>`
      }`,
  );
}

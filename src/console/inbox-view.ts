// The console's inbox: one server-rendered table that the stylesheet shows as a desk table on wide
// screens and as a list of cards on phones (assets.ts), paged by opaque keyset cursors, searched and
// sorted by a GET form, with a bulk decision form the rows' checkboxes belong to (form="bulk"). Every
// value is escaped by `html`; console.js adds keyboard shortcuts, and everything works without it.
import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import type { InboxSort } from "../db/approval-requests.ts";
import type { ApprovalRequestRow } from "../db/schema.ts";
import { countingApprovals } from "../domain/approvals.ts";
import type { InboxPage } from "../services/approver-inbox.ts";
import { layout, level, type PageContext, shortcutsHelp } from "./views.ts";

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

export interface InboxFilters {
  tenant?: string | undefined;
  skill?: string | undefined;
  status?: string | undefined;
  sort?: InboxSort | undefined;
  q?: string | undefined;
}

const SORT_LABELS: Record<InboxSort, string> = {
  deadline: "soonest deadline first",
  oldest: "oldest first",
  newest: "newest first",
};

function timeLeft(expiresAt: Date, now: Date): string {
  const seconds = Math.round((expiresAt.getTime() - now.getTime()) / 1000);
  if (seconds <= 0) return "overdue";
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

/** The inbox URL for these filters, at a cursor (`after` / `before`) or the first page. */
export function inboxHref(
  base: "/console" | "/console/inbox",
  filters: InboxFilters,
  cursor?: { after: string } | { before: string },
): string {
  const params = new URLSearchParams();
  for (const name of ["tenant", "skill", "status", "sort", "q"] as const) {
    const value = filters[name];
    if (value) params.set(name, value);
  }
  if (cursor && "after" in cursor) params.set("after", cursor.after);
  if (cursor && "before" in cursor) params.set("before", cursor.before);
  const query = params.toString();
  return query ? `${base}?${query}` : base;
}

/** Marks a request the approver may decide standing in for someone (it still decides at its own level). */
function behalfMark(delegator: string | undefined): Html | string {
  return delegator === undefined
    ? ""
    : html` <span class="on-behalf" data-on-behalf-of="${delegator}">on behalf of ${delegator}</span>`;
}

function requestRow(row: ApprovalRequestRow, now: Date, delegator: string | undefined): Html {
  const approvals = countingApprovals(row, row.approvalsJson).length;
  return html`<tr data-request-id="${row.id}" class="card">
    <td class="pick"><input type="checkbox" name="ids[]" value="${row.id}" form="bulk" aria-label="Select ${row.id}" /></td>
    <td class="what"><a href="/console/requests/${row.id}">${row.skillId} <span class="req-id">${row.id}</span></a>${behalfMark(delegator)}</td>
    <td class="agent" data-label="Agent">${row.agentId ?? row.requestedBy}</td>
    <td data-label="Status"><span class="status status-${row.status}">${row.status}</span></td>
    <td data-label="Tenant">${row.tenantId}</td>
    <td data-label="Level">${level(row.requiredLevel)}</td>
    <td data-label="Approvals" class="quorum">${approvals} of ${row.requiredApprovals}</td>
    <td data-label="Time left" class="left"><time datetime="${row.expiresAt.toISOString()}">${timeLeft(row.expiresAt, now)}</time></td>
  </tr>`;
}

/** Previous / next / first page links; none where there is nothing to go to. */
function pager(page: InboxPage, filters: InboxFilters): Html {
  const link = (cursor: { after: string } | { before: string }) => inboxHref("/console", filters, cursor);
  return html`<nav class="pager" aria-label="Inbox pages">
    ${page.paged ? html`<a href="${inboxHref("/console", filters)}" rel="first">First page</a>` : ""}
    ${page.previous ? html`<a href="${link({ before: page.previous })}" rel="prev" id="page-previous">← Previous</a>` : ""}
    ${page.next ? html`<a href="${link({ after: page.next })}" rel="next" id="page-next">Next →</a>` : ""}
  </nav>`;
}

/** The part of the inbox the page refreshes by itself: counts, the page's requests, its pager. */
export function inboxRegion(page: InboxPage, filters: InboxFilters, now: Date): Html {
  const total = page.counts.pending + page.counts.escalated;
  return html`<p class="counts" id="inbox-counts">
      <span id="count-pending">${page.counts.pending} pending</span> · <span id="count-escalated">${page.counts.escalated} escalated</span> ·
      <span id="count-total">${total} for you to decide</span>${page.rows.length ? html` · <span>${page.rows.length} on this page</span>` : ""}
    </p>
    ${
      page.rows.length === 0
        ? html`<p class="empty">${page.paged ? "Nothing more on this page." : "Nothing waits for you."}</p>`
        : html`<div class="scroll" tabindex="0" role="region" aria-label="Requests you may decide"><table class="inbox">
          <caption class="visually-hidden">Requests you may decide, ${SORT_LABELS[page.sort]}</caption>
          <thead>
            <tr><th scope="col"><span class="visually-hidden">Select</span></th><th scope="col">Skill and request</th><th scope="col">Agent</th><th scope="col">Status</th><th scope="col">Tenant</th><th scope="col">Level</th><th scope="col">Approvals</th><th scope="col">Time left</th></tr>
          </thead>
          <tbody>
            ${page.rows.map((row) => requestRow(row, now, page.onBehalfOf.get(row.id)))}
          </tbody>
        </table></div>`
    }
    ${pager(page, filters)}`;
}

export function inboxPage(page: PageContext, filters: InboxFilters, region: Html, refreshUrl: string): Html {
  const sort = filters.sort ?? "deadline";
  // The filters fold away (on a phone they would fill the screen); the summary says which are in use.
  const inUse = [
    filters.sort && filters.sort !== "deadline" ? SORT_LABELS[filters.sort] : undefined,
    filters.tenant ? `tenant ${filters.tenant}` : undefined,
    filters.skill ? `skill ${filters.skill}` : undefined,
    filters.status,
  ].filter((part) => part !== undefined);
  return layout(
    "Inbox",
    page,
    html`<h1>Inbox</h1>
      <form method="get" action="/console" class="filters" aria-label="Search and filter the inbox">
        <div class="searchline">
          <label class="search" for="inbox-q">Search</label>
          <input id="inbox-q" name="q" type="search" value="${filters.q ?? ""}" maxlength="200"
            placeholder="request id, agent, skill or text" />
          <button type="submit">Search</button>
        </div>
        <details class="more-filters">
          <summary>Sort and filter${inUse.length ? html` <span class="in-use">(${inUse.join(", ")})</span>` : ""}</summary>
          <div class="filter-fields">
            <label>Sort
              <select name="sort">
                ${(Object.keys(SORT_LABELS) as InboxSort[]).map(
                  (key) =>
                    html`<option value="${key}" ${sort === key ? "selected" : ""}>${SORT_LABELS[key]}</option>`,
                )}
              </select></label>
            <label>Tenant <input name="tenant" value="${filters.tenant ?? ""}" /></label>
            <label>Skill <input name="skill" value="${filters.skill ?? ""}" /></label>
            <label
              >Status
              <select name="status">
                <option value="" ${filters.status ? "" : "selected"}>pending and escalated</option>
                <option value="pending" ${filters.status === "pending" ? "selected" : ""}>pending</option>
                <option value="escalated" ${filters.status === "escalated" ? "selected" : ""}>escalated</option>
              </select></label
            >
            <button type="submit">Apply</button>
          </div>
        </details>
      </form>
      <form method="post" action="/console/bulk" id="bulk" class="bulk" aria-label="Decide the selected requests">
        <input type="hidden" name="_csrf" value="${page.csrf ?? ""}" />
        <label for="bulk-notes">Reason for the selected requests (required to reject)</label>
        <input id="bulk-notes" name="notes" maxlength="2000" />
        <div class="actions">
          <button type="submit" name="decision" value="approve">Approve selected</button>
          <button type="submit" name="decision" value="reject" class="danger">Reject selected</button>
        </div>
      </form>
      <section id="inbox" aria-live="polite" data-refresh="${refreshUrl}">${region}</section>
      ${shortcutsHelp("inbox")}`,
  );
}

/** One request's line in a bulk decision's results: what became of it, or why it was refused. */
export interface BulkLine {
  id: string;
  ok: boolean;
  text: string;
}

export function bulkResultPage(page: PageContext, decision: "approve" | "reject", lines: BulkLine[]): Html {
  const done = lines.filter((line) => line.ok).length;
  return layout(
    "Bulk decision",
    page,
    html`<p><a href="/console">← Inbox</a></p>
      <h1>${decision === "approve" ? "Approve" : "Reject"} selected: results</h1>
      <p class="${done === lines.length ? "notice" : "error"}" role="status" id="bulk-summary">
        ${done} of ${lines.length} recorded${done === lines.length ? "." : "; the others were refused, each for the reason shown."}</p>
      <ul class="bulk-results">
        ${lines.map(
          (line) => html`<li data-request-id="${line.id}" data-ok="${line.ok ? "true" : "false"}">
            <a href="/console/requests/${line.id}">${line.id}</a>:
            <span class="${line.ok ? "notice" : "error"}">${line.ok ? "" : "Refused: "}${line.text}</span></li>`,
        )}
      </ul>`,
  );
}

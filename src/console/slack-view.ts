// The console's Slack page (/console/slack): a signed-in principal with a deciding key asks for a link
// code (shown once, with the `/policy link <code>` to type in Slack), and sees and removes its own
// links in a tenant's workspace. Every value is escaped by Hono's `html`.
import { html } from "hono/html";
import type { SlackLinkSummary } from "../services/slack/admin.ts";
import type { IssuedSlackLinkCode } from "../services/slack/link-codes.ts";
import { layout, type PageContext } from "./views.ts";

export interface SlackView {
  /** The tenant shown (the scoped key's own, or the one asked for); blank when none is chosen yet. */
  tenantId: string;
  links: SlackLinkSummary[];
  teamId?: string | undefined;
  /** A code just issued: shown this once. */
  issued?: IssuedSlackLinkCode | undefined;
  notice?: { kind: "error" | "notice"; text: string } | undefined;
}

export function slackPage(page: PageContext, view: SlackView) {
  const csrf = html`<input type="hidden" name="_csrf" value="${page.csrf ?? ""}" />`;
  const tenantField = html`<input type="hidden" name="tenant_id" value="${view.tenantId}" />`;
  return layout(
    "Slack",
    page,
    html`<h1>Slack</h1>
      <p>Link your Slack account to decide requests from Slack. The code below proves it is you: it works once, for 10 minutes, in the tenant's workspace only.</p>
      ${
        view.notice
          ? html`<p class="${view.notice.kind}" role="${view.notice.kind === "error" ? "alert" : "status"}">${view.notice.text}</p>`
          : ""
      }
      ${
        view.issued
          ? html`<div class="secret" role="status">
            <p>In Slack (workspace ${view.issued.team_id}), type this command. The code expires at <time datetime="${view.issued.expires_at}">${view.issued.expires_at}</time> and is shown this once.</p>
            <pre id="slack-link-command">/policy link ${view.issued.code}</pre>
          </div>`
          : ""
      }
      <h2>Get a link code</h2>
      <form method="post" action="/console/slack/code" class="stack">
        ${csrf}
        <label for="slack_tenant">Tenant</label><input id="slack_tenant" name="tenant_id" value="${view.tenantId}" required maxlength="200" ${page.principal?.tenantId ? "readonly" : ""} />
        <button type="submit">Get a link code</button>
      </form>
      ${
        view.tenantId && view.teamId
          ? html`<h2>Your Slack accounts in ${view.tenantId} (workspace ${view.teamId})</h2>
            ${
              view.links.length === 0
                ? html`<p>None linked.</p>`
                : html`<ul>
                    ${view.links.map(
                      (
                        link,
                      ) => html`<li>${link.slack_user_id}, linked ${link.method === "admin" ? "by an admin" : "by you"} on <time datetime="${link.created_at}">${link.created_at}</time>
                        <form method="post" action="/console/slack/unlink" class="inline">${csrf}${tenantField}<input type="hidden" name="slack_user_id" value="${link.slack_user_id}" /><button type="submit" class="danger" aria-label="Unlink Slack user ${link.slack_user_id}">Unlink</button></form></li>`,
                    )}
                  </ul>`
            }`
          : ""
      }`,
  );
}

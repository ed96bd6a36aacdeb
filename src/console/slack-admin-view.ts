// The console's Slack workspaces page (/console/admin/slack, issue 26): the connected workspaces (whether
// a bot token and signing secret are set, never them), a Disconnect button for each, and a form to
// connect or replace one; for one workspace at a time, its Slack user links (a page of them, newest
// first), an Unlink button each and a form to link a Slack user to a principal. The secret inputs are
// password fields never filled in; every value is escaped by Hono's `html`.
import { html } from "hono/html";
import type { SlackRoute } from "../domain/slack-routing.ts";
import type { SlackLinkSummary, SlackWorkspaceSummary } from "../services/slack/admin.ts";
import { layout, type PageContext } from "./views.ts";

/** What the connect form shows again: the fields as typed (or a workspace's, to replace it), never a secret. */
export interface SlackWorkspaceFormValues {
  tenantId: string;
  teamId: string;
  defaultChannel: string;
  maxDecideLevel: string;
  routes: string;
}

/** What the link form shows again: the fields as typed. */
export interface SlackLinkFormValues {
  slackUserId: string;
  principalId: string;
}

/** One workspace's links as shown: a page of them, newest first, `offset` in, `more` after it. */
export interface SlackLinksShown {
  tenantId: string;
  teamId: string;
  links: SlackLinkSummary[];
  offset: number;
  limit: number;
  more: boolean;
}

export interface SlackAdminView {
  workspaces: SlackWorkspaceSummary[];
  values?: SlackWorkspaceFormValues | undefined;
  links?: SlackLinksShown | undefined;
  linkValues?: SlackLinkFormValues | undefined;
  notice?: { kind: "error" | "notice"; text: string } | undefined;
}

/** Routes as the form's lines, `skill_pattern|level|channel` (either of the first two may be blank). */
export function routesAsLines(routes: readonly SlackRoute[]): string {
  return routes
    .map((route) => `${route.skill_pattern ?? ""}|${route.level ?? ""}|${route.channel}`)
    .join("\n");
}

export function slackWorkspaceValues(workspace: SlackWorkspaceSummary): SlackWorkspaceFormValues {
  return {
    tenantId: workspace.tenant_id,
    teamId: workspace.team_id,
    defaultChannel: workspace.default_channel,
    maxDecideLevel: String(workspace.max_decide_level),
    routes: routesAsLines(workspace.routes),
  };
}

const EMPTY: SlackWorkspaceFormValues = {
  tenantId: "",
  teamId: "",
  defaultChannel: "",
  maxDecideLevel: "",
  routes: "",
};

const linksHref = (tenantId: string, offset = 0) =>
  `/console/admin/slack?links=${encodeURIComponent(tenantId)}${offset > 0 ? `&links_offset=${offset}` : ""}#slack-links`;

/** The links section of one workspace: its links with an Unlink button each, and the link form. */
function linksSection(
  csrf: ReturnType<typeof html>,
  shown: SlackLinksShown,
  values: SlackLinkFormValues = { slackUserId: "", principalId: "" },
) {
  const tenantField = html`<input type="hidden" name="tenant_id" value="${shown.tenantId}" />`;
  const first = shown.offset + 1;
  const last = shown.offset + shown.links.length;
  return html`<h2 id="slack-links">Slack user links of tenant ${shown.tenantId} (workspace ${shown.teamId})</h2>
    <p>A linked Slack user decides from Slack as its principal, with that principal's own deciding keys over the tenant. Approvers link themselves with a code from their Slack page; here an admin maps one.</p>
    <h3>Link a Slack user</h3>
    <form method="post" action="/console/admin/slack/links" class="stack">
      ${csrf}${tenantField}
      <label for="slack_link_user">Slack user id (U… or W…)</label><input id="slack_link_user" name="slack_user_id" value="${values.slackUserId}" required maxlength="256" />
      <label for="slack_link_principal">Principal id</label><input id="slack_link_principal" name="principal_id" value="${values.principalId}" required maxlength="200" />
      <button type="submit">Link</button>
    </form>
    ${
      shown.links.length === 0
        ? html`<p>${shown.offset === 0 ? "No Slack users linked." : "No more links."}</p>`
        : html`<div class="scroll" tabindex="0" role="region" aria-label="Slack user links"><table>
        <caption class="visually-hidden">Slack user links of tenant ${shown.tenantId}, newest first (${first}–${last})</caption>
        <thead><tr><th scope="col">Slack user</th><th scope="col">Principal</th><th scope="col">Method</th><th scope="col">Linked</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
        <tbody>
          ${shown.links.map(
            (link) => html`<tr>
              <td>${link.slack_user_id}</td><td>${link.principal_id}</td><td>${link.method}</td>
              <td><time datetime="${link.created_at}">${link.created_at}</time> by ${link.linked_by}</td>
              <td><form method="post" action="/console/admin/slack/unlink" class="inline">${csrf}${tenantField}<input type="hidden" name="slack_user_id" value="${link.slack_user_id}" /><button type="submit" class="danger" aria-label="Unlink Slack user ${link.slack_user_id} from principal ${link.principal_id}">Unlink</button></form></td>
            </tr>`,
          )}
        </tbody>
      </table></div>`
    }
    <p>Links ${shown.links.length === 0 ? "" : `${first}–${last}, `}newest first, ${shown.limit} a page.
      ${shown.offset > 0 ? html`<a href="${linksHref(shown.tenantId, Math.max(0, shown.offset - shown.limit))}">Newer</a>` : ""}
      ${shown.more ? html`<a href="${linksHref(shown.tenantId, shown.offset + shown.limit)}">Older</a>` : ""}</p>`;
}

export function slackAdminPage(page: PageContext, view: SlackAdminView) {
  const csrf = html`<input type="hidden" name="_csrf" value="${page.csrf ?? ""}" />`;
  const values = view.values ?? { ...EMPTY, tenantId: page.principal?.tenantId ?? "" };
  return layout(
    "Slack workspaces",
    page,
    html`<h1>Slack workspaces</h1>
      <p>Each tenant's Slack workspace: where its requests are posted and who may decide them from Slack. The bot token and signing secret are stored sealed and never shown.</p>
      ${
        view.notice
          ? html`<p class="${view.notice.kind}" role="${view.notice.kind === "error" ? "alert" : "status"}">${view.notice.text}</p>`
          : ""
      }
      <h2>Connect or replace a workspace</h2>
      <form method="post" action="/console/admin/slack" class="stack">
        ${csrf}
        <label for="slack_ws_tenant">Tenant</label><input id="slack_ws_tenant" name="tenant_id" value="${values.tenantId}" required maxlength="200" ${page.principal?.tenantId ? "readonly" : ""} />
        <label for="slack_ws_team">Slack team id (T…)</label><input id="slack_ws_team" name="team_id" value="${values.teamId}" required maxlength="256" />
        <label for="slack_ws_token">Bot token (xoxb-…; blank on a replace keeps the stored one)</label><input id="slack_ws_token" name="bot_token" type="password" autocomplete="off" />
        <label for="slack_ws_secret">Signing secret (blank on a replace keeps the stored one)</label><input id="slack_ws_secret" name="signing_secret" type="password" autocomplete="off" />
        <label for="slack_ws_channel">Default channel (C…)</label><input id="slack_ws_channel" name="default_channel" value="${values.defaultChannel}" required maxlength="256" />
        <label for="slack_ws_level">Highest required level Slack may decide (1–5, blank for 4)</label><input id="slack_ws_level" name="max_decide_level" value="${values.maxDecideLevel}" inputmode="numeric" maxlength="2" />
        <label for="slack_ws_routes">Routes, one a line: skill_pattern|level|channel (the first that matches wins; leave the pattern or the level blank to match any)</label>
        <textarea id="slack_ws_routes" name="routes" rows="4">${values.routes}</textarea>
        <button type="submit">Save</button>
      </form>
      <div class="scroll" tabindex="0" role="region" aria-label="Slack workspaces"><table>
        <caption class="visually-hidden">Connected Slack workspaces by tenant</caption>
        <thead><tr><th scope="col">Tenant</th><th scope="col">Team</th><th scope="col">Default channel</th><th scope="col">Routes</th><th scope="col">Decides up to</th><th scope="col">Secrets</th><th scope="col">Updated</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
        <tbody>
          ${view.workspaces.map(
            (workspace) => html`<tr>
              <td>${workspace.tenant_id}</td><td>${workspace.team_id}</td><td>${workspace.default_channel}</td>
              <td>${workspace.routes.length === 0 ? "none" : html`<pre>${routesAsLines(workspace.routes)}</pre>`}</td>
              <td>level ${workspace.max_decide_level}</td>
              <td>token ${workspace.has_bot_token ? "set" : "missing"}, secret ${workspace.has_signing_secret ? "set" : "missing"}</td>
              <td><time datetime="${workspace.updated_at}">${workspace.updated_at}</time> by ${workspace.updated_by}</td>
              <td><a href="/console/admin/slack?edit=${encodeURIComponent(workspace.tenant_id)}">Edit</a>
                <a href="${linksHref(workspace.tenant_id)}">Links</a>
                <form method="post" action="/console/admin/slack/disconnect" class="inline">${csrf}<input type="hidden" name="tenant_id" value="${workspace.tenant_id}" /><button type="submit" class="danger" aria-label="Disconnect the Slack workspace of tenant ${workspace.tenant_id}">Disconnect</button></form></td>
            </tr>`,
          )}
        </tbody>
      </table></div>
      ${view.links ? linksSection(csrf, view.links, view.linkValues) : ""}`,
  );
}

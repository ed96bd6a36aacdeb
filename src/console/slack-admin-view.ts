// The console's Slack workspaces page (/console/admin/slack, issue 26): the connected workspaces (whether
// a bot token and signing secret are set, never them), a Disconnect button for each, and a form to
// connect or replace one. The secret inputs are password fields never filled in; every value is escaped
// by Hono's `html`.
import { html } from "hono/html";
import type { SlackRoute } from "../domain/slack-routing.ts";
import type { SlackWorkspaceSummary } from "../services/slack/admin.ts";
import { layout, type PageContext } from "./views.ts";

/** What the connect form shows again: the fields as typed (or a workspace's, to replace it), never a secret. */
export interface SlackWorkspaceFormValues {
  tenantId: string;
  teamId: string;
  defaultChannel: string;
  maxDecideLevel: string;
  routes: string;
}

export interface SlackAdminView {
  workspaces: SlackWorkspaceSummary[];
  values?: SlackWorkspaceFormValues | undefined;
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
                <form method="post" action="/console/admin/slack/disconnect" class="inline">${csrf}<input type="hidden" name="tenant_id" value="${workspace.tenant_id}" /><button type="submit" class="danger" aria-label="Disconnect the Slack workspace of tenant ${workspace.tenant_id}">Disconnect</button></form></td>
            </tr>`,
          )}
        </tbody>
      </table></div>`,
  );
}

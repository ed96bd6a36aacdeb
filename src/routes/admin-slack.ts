// /api/v1/admin/slack: a tenant's Slack workspace (connect or replace, read, list, disconnect) and the
// links between its Slack users and principals (admin mapping). Admin keys (directory:manage); a
// tenant-scoped key manages its own tenant's only. A token or signing secret is never returned.
import { z } from "@hono/zod-openapi";
import { createRouter, jsonResponse } from "../lib/openapi.ts";
import { protectedRoute } from "../middleware/require-permission.ts";
import {
  ConnectedSlackWorkspaceSchema,
  DisconnectedSlackWorkspaceSchema,
  SlackLinkBody,
  SlackLinkListQuery,
  SlackLinkParam,
  SlackLinkSchema,
  SlackTenantParam,
  SlackWorkspaceBody,
  SlackWorkspaceListQuery,
  SlackWorkspaceSchema,
} from "../schemas/slack.ts";
import {
  connectSlackWorkspace,
  disconnectSlackWorkspace,
  getSlackWorkspace,
  linkSlackUser,
  listSlackLinks,
  listSlackWorkspaces,
  unlinkSlackUser,
} from "../services/slack/admin.ts";

const WORKSPACES = "/api/v1/admin/slack/workspaces";
const TAGS = ["admin: slack"];
const NO_WORKSPACE = "The tenant has no Slack workspace connected";

const putWorkspaceRoute = protectedRoute(
  "directory:manage",
  {
    method: "put",
    path: `${WORKSPACES}/{tenant_id}`,
    tags: TAGS,
    summary: "Connect the tenant's Slack workspace, or replace its settings (omitted secrets are kept)",
    request: {
      params: SlackTenantParam,
      body: { required: true, content: { "application/json": { schema: SlackWorkspaceBody } } },
    },
    responses: {
      200: jsonResponse(ConnectedSlackWorkspaceSchema, "The workspace, replaced"),
      201: jsonResponse(ConnectedSlackWorkspaceSchema, "The workspace, connected"),
    },
  },
  {
    409: "The Slack team is connected to another tenant",
    503: "The database is unavailable (database_unavailable), or Slack could not be reached to check the bot token (upstream_unavailable): nothing was stored; retry after Retry-After seconds",
  },
);

const listWorkspacesRoute = protectedRoute("directory:manage", {
  method: "get",
  path: WORKSPACES,
  tags: TAGS,
  summary: "List connected Slack workspaces by tenant",
  request: { query: SlackWorkspaceListQuery },
  responses: { 200: jsonResponse(z.array(SlackWorkspaceSchema), "Workspaces (never their token or secret)") },
});

const getWorkspaceRoute = protectedRoute(
  "directory:manage",
  {
    method: "get",
    path: `${WORKSPACES}/{tenant_id}`,
    tags: TAGS,
    summary: "Read the tenant's Slack workspace",
    request: { params: SlackTenantParam },
    responses: { 200: jsonResponse(SlackWorkspaceSchema, "The workspace") },
  },
  { 404: NO_WORKSPACE },
);

const deleteWorkspaceRoute = protectedRoute(
  "directory:manage",
  {
    method: "delete",
    path: `${WORKSPACES}/{tenant_id}`,
    tags: TAGS,
    summary: "Disconnect the tenant's Slack workspace (its links are removed with it)",
    request: { params: SlackTenantParam },
    responses: { 200: jsonResponse(DisconnectedSlackWorkspaceSchema, "The workspace as it was") },
  },
  { 404: NO_WORKSPACE },
);

const createLinkRoute = protectedRoute(
  "directory:manage",
  {
    method: "post",
    path: `${WORKSPACES}/{tenant_id}/links`,
    tags: TAGS,
    summary: "Link a Slack user of the workspace to a principal",
    request: {
      params: SlackTenantParam,
      body: { required: true, content: { "application/json": { schema: SlackLinkBody } } },
    },
    responses: {
      200: jsonResponse(SlackLinkSchema, "Already linked to this principal: the link as it is"),
      201: jsonResponse(SlackLinkSchema, "The new link"),
    },
  },
  { 404: NO_WORKSPACE, 409: "The Slack user is linked to another principal: unlink it first" },
);

const listLinksRoute = protectedRoute(
  "directory:manage",
  {
    method: "get",
    path: `${WORKSPACES}/{tenant_id}/links`,
    tags: TAGS,
    summary: "List the workspace's links, newest first",
    request: { params: SlackTenantParam, query: SlackLinkListQuery },
    responses: { 200: jsonResponse(z.array(SlackLinkSchema), "Links") },
  },
  { 404: NO_WORKSPACE },
);

const deleteLinkRoute = protectedRoute(
  "directory:manage",
  {
    method: "delete",
    path: `${WORKSPACES}/{tenant_id}/links/{slack_user_id}`,
    tags: TAGS,
    summary: "Unlink a Slack user",
    request: { params: SlackLinkParam },
    responses: { 200: jsonResponse(SlackLinkSchema, "The removed link") },
  },
  { 404: "No workspace, or the Slack user is not linked" },
);

export const adminSlackRoutes = createRouter()
  .openapi(putWorkspaceRoute, async (c) => {
    const body = c.req.valid("json");
    const { workspace, created, tokenCheck } = await connectSlackWorkspace(
      c.var.services,
      c.var.principal,
      c.req.valid("param").tenant_id,
      {
        teamId: body.team_id,
        botToken: body.bot_token,
        signingSecret: body.signing_secret,
        defaultChannel: body.default_channel,
        routes: body.routes,
        maxDecideLevel: body.max_decide_level,
      },
    );
    // Slack's word on a new token rides along (additive, optional); a replace without one has none.
    const answer = tokenCheck ? { ...workspace, token_check: tokenCheck } : workspace;
    return created ? c.json(answer, 201) : c.json(answer, 200);
  })
  .openapi(listWorkspacesRoute, async (c) =>
    c.json(await listSlackWorkspaces(c.var.services, c.var.principal, c.req.valid("query")), 200),
  )
  .openapi(getWorkspaceRoute, async (c) =>
    c.json(await getSlackWorkspace(c.var.services, c.var.principal, c.req.valid("param").tenant_id), 200),
  )
  .openapi(deleteWorkspaceRoute, async (c) =>
    c.json(
      await disconnectSlackWorkspace(c.var.services, c.var.principal, c.req.valid("param").tenant_id),
      200,
    ),
  )
  .openapi(createLinkRoute, async (c) => {
    const body = c.req.valid("json");
    const { link, created } = await linkSlackUser(
      c.var.services,
      c.var.principal,
      c.req.valid("param").tenant_id,
      {
        slackUserId: body.slack_user_id,
        principalId: body.principal_id,
      },
    );
    return created ? c.json(link, 201) : c.json(link, 200);
  })
  .openapi(listLinksRoute, async (c) => {
    const query = c.req.valid("query");
    return c.json(
      await listSlackLinks(
        c.var.services,
        c.var.principal,
        c.req.valid("param").tenant_id,
        { principalId: query.principal_id },
        query,
      ),
      200,
    );
  })
  .openapi(deleteLinkRoute, async (c) => {
    const param = c.req.valid("param");
    return c.json(
      await unlinkSlackUser(c.var.services, c.var.principal, param.tenant_id, param.slack_user_id),
      200,
    );
  });

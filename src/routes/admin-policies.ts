// /api/v1/admin/policies/...: list, create, read, update and delete each kind of policy rule, plus the
// policy-wide settings. Thin: services/policies.ts runs each change as one audited transaction (the
// trigger of migration 0004 writes the audit event and bumps the policy-set version, for API and
// hand-written SQL changes alike).
import { type RouteConfig, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AuthenticatedEnv } from "../env.ts";
import { createRouter, jsonResponse } from "../lib/openapi.ts";
import { protectedRoute, type RouteErrors } from "../middleware/require-permission.ts";
import {
  changedRowToApi,
  POLICY_RESOURCES,
  type PolicyResource,
  policyResourceSchemas,
  SettingsPatch,
  SettingsSchema,
  settingsToApi,
  toSettingsChange,
} from "../schemas/policies.ts";
import { changePolicy, changeSettings, getPolicy, getSettings, listPolicies } from "../services/policies.ts";

const BASE = "/api/v1/admin/policies";

function registerResource(router: ReturnType<typeof createRouter>, resource: PolicyResource) {
  const {
    row: rowSchema,
    rowWithVersion: withVersion,
    params,
    listQuery,
    createBody,
    patchBody,
  } = policyResourceSchemas(resource);
  const tags = ["admin: policies"];
  const item = `${BASE}/${resource.path}/{id}`;

  const route = (config: RouteConfig, errors: RouteErrors = {}) =>
    protectedRoute("policies:manage", { ...config, tags }, errors);
  const list = route({
    method: "get",
    path: `${BASE}/${resource.path}`,
    summary: `List ${resource.path}`,
    request: { query: listQuery },
    responses: { 200: jsonResponse(z.array(rowSchema), "The rows") },
  });
  const create = route(
    {
      method: "post",
      path: `${BASE}/${resource.path}`,
      summary: `Create one of ${resource.path}`,
      request: {
        body: { required: true, content: { "application/json": { schema: createBody } } },
      },
      responses: { 201: jsonResponse(withVersion, "The new row and the policy-set version after it") },
    },
    { 409: "A rule for the same scope exists" },
  );
  const read = route(
    {
      method: "get",
      path: item,
      summary: `Read one of ${resource.path}`,
      request: { params },
      responses: { 200: jsonResponse(rowSchema, "The row") },
    },
    { 404: "No such row" },
  );
  const update = route(
    {
      method: "patch",
      path: item,
      summary: `Change fields of one of ${resource.path}`,
      request: {
        params,
        body: { required: true, content: { "application/json": { schema: patchBody } } },
      },
      responses: { 200: jsonResponse(withVersion, "The changed row and the policy-set version") },
    },
    { 404: "No such row", 409: "The change collides with a rule of the same scope" },
  );
  const remove = route(
    {
      method: "delete",
      path: item,
      summary: `Delete one of ${resource.path}`,
      request: { params },
      responses: { 200: jsonResponse(withVersion, "The deleted row and the policy-set version") },
    },
    { 404: "No such row" },
  );

  // The handlers below work on any policy kind; the route schemas above validated their input.
  const idOf = (c: Context<AuthenticatedEnv>) =>
    (c.req.valid as (target: "param") => { id: string | number })("param").id;
  const bodyOf = (c: Context<AuthenticatedEnv>) =>
    (c.req.valid as (target: "json") => Record<string, unknown>)("json");

  router.openapi(list, async (c) => {
    const query = (c.req.valid as (target: "query") => Record<string, string | number | undefined>)("query");
    const equalities = Object.fromEntries(
      resource.filters.flatMap((filter) => (query[filter] === undefined ? [] : [[filter, query[filter]]])),
    );
    const rows = await listPolicies(c.var.services, resource.path, equalities, {
      limit: Number(query.limit),
      offset: Number(query.offset),
    });
    return c.json(rows, 200);
  });

  router.openapi(read, async (c) => c.json(await getPolicy(c.var.services, resource.path, idOf(c)), 200));

  router.openapi(create, async (c) => {
    const changed = await changePolicy(c.var.services, c.var.principal, resource.path, {
      kind: "insert",
      values: bodyOf(c),
    });
    return c.json(changedRowToApi(changed), 201);
  });

  router.openapi(update, async (c) => {
    const changed = await changePolicy(c.var.services, c.var.principal, resource.path, {
      kind: "update",
      id: idOf(c),
      values: bodyOf(c),
    });
    return c.json(changedRowToApi(changed), 200);
  });

  router.openapi(remove, async (c) => {
    const changed = await changePolicy(c.var.services, c.var.principal, resource.path, {
      kind: "delete",
      id: idOf(c),
    });
    return c.json(changedRowToApi(changed), 200);
  });
}

const readSettings = protectedRoute("policies:manage", {
  method: "get",
  path: `${BASE}/settings`,
  tags: ["admin: policies"],
  summary: "Policy-wide settings and the current policy-set version",
  responses: { 200: jsonResponse(SettingsSchema, "Settings") },
});

const updateSettings = protectedRoute("policies:manage", {
  method: "patch",
  path: `${BASE}/settings`,
  tags: ["admin: policies"],
  summary: "Change policy-wide settings",
  request: {
    body: { required: true, content: { "application/json": { schema: SettingsPatch } } },
  },
  responses: { 200: jsonResponse(SettingsSchema, "Settings after the change") },
});

const router = createRouter();
for (const resource of POLICY_RESOURCES) registerResource(router, resource);

export const adminPolicyRoutes = router
  .openapi(readSettings, async (c) => c.json(settingsToApi(await getSettings(c.var.services)), 200))
  .openapi(updateSettings, async (c) => {
    const change = toSettingsChange(c.req.valid("json"));
    return c.json(settingsToApi(await changeSettings(c.var.services, c.var.principal, change)), 200);
  });

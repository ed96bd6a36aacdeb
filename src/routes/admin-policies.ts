// /api/v1/admin/policies/...: list, create, read, update and delete each kind of policy rule, plus the
// policy-wide settings. Thin: services/policies.ts runs each change as one audited transaction (the
// trigger of migration 0004 writes the audit event and bumps the policy-set version, for API and
// hand-written SQL changes alike).
import { type RouteConfig, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { PolicyKind } from "../db/policies.ts";
import type { AuthenticatedEnv } from "../env.ts";
import { createRouter, jsonResponse } from "../lib/openapi.ts";
import { protectedRoute, type RouteErrors } from "../middleware/require-permission.ts";
import { changePolicy, changeSettings, getPolicy, getSettings, listPolicies } from "../services/policies.ts";
import {
  ApprovalLevelFields,
  BudgetFields,
  CapabilityRuleFields,
  Identifier,
  patchOf,
  SettingsFields,
  SkillCostFields,
} from "./policy-schemas.ts";

const BASE = "/api/v1/admin/policies";

interface Resource {
  /** URL segment, e.g. "capability-rules". */
  path: PolicyKind;
  /** OpenAPI component name of one row. */
  name: string;
  idParam: z.ZodType<string | number>;
  fields: z.ZodObject;
  /** Columns a list can be filtered on (their API names). */
  filters: string[];
}

function registerResource(router: ReturnType<typeof createRouter>, resource: Resource) {
  const rowSchema = resource.fields
    .extend({ ...(resource.path === "skill-costs" ? {} : { id: z.number().int() }) })
    .extend({ created_at: z.string(), updated_at: z.string() })
    .openapi(resource.name);
  const withVersion = rowSchema.extend({ policy_version: z.number().int() });
  const params = z.object({ id: resource.idParam.openapi({ param: { name: "id", in: "path" } }) });
  const listQuery = z.object(
    Object.fromEntries([
      ...resource.filters.map((filter) => [filter, z.string().max(200).optional()]),
      ["limit", z.coerce.number().int().min(1).max(1000).default(500)],
      ["offset", z.coerce.number().int().min(0).default(0)],
    ]),
  );
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
        body: { required: true, content: { "application/json": { schema: resource.fields.strict() } } },
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
        body: { required: true, content: { "application/json": { schema: patchOf(resource.fields) } } },
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
  const withVersionOf = ({ row, version }: { row: Record<string, unknown>; version: number }) => ({
    ...row,
    policy_version: version,
  });

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
    return c.json(withVersionOf(changed), 201);
  });

  router.openapi(update, async (c) => {
    const changed = await changePolicy(c.var.services, c.var.principal, resource.path, {
      kind: "update",
      id: idOf(c),
      values: bodyOf(c),
    });
    return c.json(withVersionOf(changed), 200);
  });

  router.openapi(remove, async (c) => {
    const changed = await changePolicy(c.var.services, c.var.principal, resource.path, {
      kind: "delete",
      id: idOf(c),
    });
    return c.json(withVersionOf(changed), 200);
  });
}

// Plain decimal ids only: z.coerce.number() would also take "0x1" or "1e0".
const numericId = z
  .string()
  .regex(/^[1-9][0-9]{0,14}$/, "a row id is a positive whole number")
  .transform(Number);

const RESOURCES: Resource[] = [
  {
    path: "approval-levels",
    name: "ApprovalLevelPolicy",
    idParam: numericId,
    fields: ApprovalLevelFields,
    filters: ["policy_type", "tenant_id", "agent_id", "skill_id"],
  },
  {
    path: "capability-rules",
    name: "CapabilityRule",
    idParam: numericId,
    fields: CapabilityRuleFields,
    filters: ["tenant_id", "agent_id", "effect"],
  },
  {
    path: "budgets",
    name: "Budget",
    idParam: numericId,
    fields: BudgetFields,
    filters: ["tenant_id", "agent_id", "period"],
  },
  {
    path: "skill-costs",
    name: "SkillCost",
    idParam: Identifier,
    fields: SkillCostFields,
    filters: [],
  },
];

const SettingsSchema = SettingsFields.extend({
  policy_version: z.number().int(),
  updated_at: z.string(),
}).openapi("PolicySettings");

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
    body: { required: true, content: { "application/json": { schema: SettingsFields.partial().strict() } } },
  },
  responses: { 200: jsonResponse(SettingsSchema, "Settings after the change") },
});

async function settingsResponse(
  c: Context<AuthenticatedEnv>,
  settings?: Awaited<ReturnType<typeof getSettings>>,
) {
  const current = settings ?? (await getSettings(c.var.services));
  return {
    capability_default_effect: current.capabilityDefaultEffect,
    unknown_skill_cost_cents: current.unknownSkillCostCents,
    policy_version: current.version,
    updated_at: current.updatedAt.toISOString(),
  };
}

const router = createRouter();
for (const resource of RESOURCES) registerResource(router, resource);

export const adminPolicyRoutes = router
  .openapi(readSettings, async (c) => c.json(await settingsResponse(c), 200))
  .openapi(updateSettings, async (c) => {
    const body = c.req.valid("json");
    const settings = await changeSettings(c.var.services, c.var.principal, {
      capabilityDefaultEffect: body.capability_default_effect,
      unknownSkillCostCents: body.unknown_skill_cost_cents,
    });
    return c.json(await settingsResponse(c, settings), 200);
  });

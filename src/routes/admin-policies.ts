// /api/v1/admin/policies/...: list, create, read, update and delete each kind of policy rule, plus the
// policy-wide settings. Every change runs in one transaction that names the actor for the audit
// trigger (migration 0004), which writes the audit event and bumps the policy-set version: the same
// trigger records changes made by hand-written SQL, so nothing escapes the trail.
import { type RouteConfig, z } from "@hono/zod-openapi";
import { asc, eq, getTableColumns, type SQL, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { PgColumn, PgTable } from "drizzle-orm/pg-core";
import type { Context } from "hono";
import { createDb, type Database } from "../db/client.ts";
import { sqlState, UNIQUE_VIOLATION } from "../db/errors.ts";
import {
  budgets,
  capabilityRules,
  policyApprovalLevels,
  policySettings,
  policySetVersion,
  skillCosts,
} from "../db/schema.ts";
import type { AppEnv } from "../env.ts";
import { protectedRoute } from "../lib/auth.ts";
import { ApiError } from "../lib/errors.ts";
import { createRouter, errorResponse, jsonResponse } from "../lib/openapi.ts";
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
const CHECK_VIOLATION = "23514";

interface Resource {
  /** URL segment, e.g. "capability-rules". */
  path: string;
  /** OpenAPI component name of one row. */
  name: string;
  table: PgTable;
  idColumn: PgColumn;
  idParam: z.ZodType<string | number>;
  fields: z.ZodObject;
  /** Columns a list can be filtered on (their API names). */
  filters: string[];
}

// Rows travel in the API with the columns' SQL names (snake_case) and timestamps as ISO strings.
function toApi(table: PgTable, row: Record<string, unknown>): Record<string, unknown> {
  const columns = getTableColumns(table);
  return Object.fromEntries(
    Object.entries(row).map(([key, value]) => [
      columns[key]?.name ?? key,
      value instanceof Date ? value.toISOString() : value,
    ]),
  );
}

function toColumns(table: PgTable, body: Record<string, unknown>): Record<string, unknown> {
  const byName = new Map(Object.entries(getTableColumns(table)).map(([key, column]) => [column.name, key]));
  return Object.fromEntries(Object.entries(body).map(([name, value]) => [byName.get(name) ?? name, value]));
}

/** The statement that names who is changing policy, for the audit trigger, in this transaction only. */
function actorStatement(db: Database, c: Context<AppEnv>) {
  const principal = c.var.principal;
  return db.execute(sql`SELECT set_config('policy.actor', ${principal.principalId}, true),
    set_config('policy.actor_key_id', ${principal.keyId}, true),
    set_config('policy.request_id', ${c.var.requestId}, true)`);
}

function versionStatement(db: Database) {
  return db.select({ version: policySetVersion.version }).from(policySetVersion);
}

async function runChange<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const state = sqlState(error);
    if (state === UNIQUE_VIOLATION) {
      throw new ApiError("conflict", "A rule for exactly this scope already exists; update it instead");
    }
    if (state === CHECK_VIOLATION)
      throw new ApiError("bad_request", "The values break a policy table constraint");
    throw error;
  }
}

function registerResource(router: ReturnType<typeof createRouter>, resource: Resource) {
  const { table, idColumn } = resource;
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

  const route = (config: RouteConfig) => protectedRoute("policies:manage", { ...config, tags });
  const list = route({
    method: "get",
    path: `${BASE}/${resource.path}`,
    summary: `List ${resource.path}`,
    request: { query: listQuery },
    responses: { 200: jsonResponse(z.array(rowSchema), "The rows") },
  });
  const create = route({
    method: "post",
    path: `${BASE}/${resource.path}`,
    summary: `Create one of ${resource.path}`,
    request: {
      body: { required: true, content: { "application/json": { schema: resource.fields.strict() } } },
    },
    responses: {
      201: jsonResponse(withVersion, "The new row and the policy-set version after it"),
      409: errorResponse("Same scope exists"),
    },
  });
  const read = route({
    method: "get",
    path: item,
    summary: `Read one of ${resource.path}`,
    request: { params },
    responses: { 200: jsonResponse(rowSchema, "The row"), 404: errorResponse("No such row") },
  });
  const update = route({
    method: "patch",
    path: item,
    summary: `Change fields of one of ${resource.path}`,
    request: {
      params,
      body: { required: true, content: { "application/json": { schema: patchOf(resource.fields) } } },
    },
    responses: {
      200: jsonResponse(withVersion, "The changed row and the policy-set version"),
      404: errorResponse("No such row"),
    },
  });
  const remove = route({
    method: "delete",
    path: item,
    summary: `Delete one of ${resource.path}`,
    request: { params },
    responses: {
      200: jsonResponse(withVersion, "The deleted row and the policy-set version"),
      404: errorResponse("No such row"),
    },
  });

  // The handlers below work on any policy table; the route schemas above validated their input.
  const idOf = (c: Context<AppEnv>) =>
    (c.req.valid as (target: "param") => { id: string | number })("param").id;

  router.openapi(list, async (c) => {
    const query = (c.req.valid as (target: "query") => Record<string, string | number | undefined>)("query");
    const byName = new Map(Object.values(getTableColumns(table)).map((column) => [column.name, column]));
    const conditions: SQL[] = resource.filters.flatMap((filter) => {
      const value = query[filter];
      const column = byName.get(filter);
      return value === undefined || !column ? [] : [eq(column, value)];
    });
    const rows = await createDb(c.env)
      .select()
      .from(table)
      .where(conditions.length ? sql.join(conditions, sql` AND `) : undefined)
      .orderBy(asc(idColumn))
      .limit(Number(query.limit))
      .offset(Number(query.offset));
    return c.json(
      rows.map((row) => toApi(table, row as Record<string, unknown>)),
      200,
    );
  });

  router.openapi(read, async (c) => {
    const [row] = await createDb(c.env)
      .select()
      .from(table)
      .where(eq(idColumn, idOf(c)));
    if (!row) throw new ApiError("not_found", `No ${resource.path} row ${idOf(c)}`);
    return c.json(toApi(table, row as Record<string, unknown>), 200);
  });

  /**
   * One change, one round trip: name the actor for the audit trigger, run the mutation, read the
   * version the trigger left. Answers the changed row and that version, or 404 when no row matched.
   */
  async function applyChange(c: Context<AppEnv>, mutation: (db: Database) => BatchItem<"pg">) {
    const db = createDb(c.env);
    const [, rows, [version]] = await runChange(() =>
      db.batch([actorStatement(db, c), mutation(db), versionStatement(db)]),
    );
    const row = (rows as Record<string, unknown>[])[0];
    if (!row) throw new ApiError("not_found", `No ${resource.path} row ${idOf(c)}`);
    return { ...toApi(table, row), policy_version: Number(version?.version) };
  }

  // Policy tables share no insert/update type; each body was validated against its table's schema.
  router.openapi(create, async (c) => {
    const body = (c.req.valid as (target: "json") => Record<string, unknown>)("json");
    const created = await applyChange(c, (db) =>
      db
        .insert(table)
        .values(toColumns(table, body) as never)
        .returning(),
    );
    return c.json(created, 201);
  });

  router.openapi(update, async (c) => {
    const body = (c.req.valid as (target: "json") => Record<string, unknown>)("json");
    if (Object.keys(body).length === 0)
      throw new ApiError("bad_request", "Send at least one field to change");
    const updated = await applyChange(c, (db) =>
      db
        .update(table)
        .set({ ...toColumns(table, body), updatedAt: sql`now()` } as never)
        .where(eq(idColumn, idOf(c)))
        .returning(),
    );
    return c.json(updated, 200);
  });

  router.openapi(remove, async (c) => {
    const deleted = await applyChange(c, (db) =>
      db
        .delete(table)
        .where(eq(idColumn, idOf(c)))
        .returning(),
    );
    return c.json(deleted, 200);
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
    table: policyApprovalLevels,
    idColumn: policyApprovalLevels.id,
    idParam: numericId,
    fields: ApprovalLevelFields,
    filters: ["policy_type", "tenant_id", "agent_id", "skill_id"],
  },
  {
    path: "capability-rules",
    name: "CapabilityRule",
    table: capabilityRules,
    idColumn: capabilityRules.id,
    idParam: numericId,
    fields: CapabilityRuleFields,
    filters: ["tenant_id", "agent_id", "effect"],
  },
  {
    path: "budgets",
    name: "Budget",
    table: budgets,
    idColumn: budgets.id,
    idParam: numericId,
    fields: BudgetFields,
    filters: ["tenant_id", "agent_id", "period"],
  },
  {
    path: "skill-costs",
    name: "SkillCost",
    table: skillCosts,
    idColumn: skillCosts.skillId,
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

async function settingsResponse(db: Database) {
  const [row] = await db
    .select({ settings: policySettings, version: policySetVersion.version })
    .from(policySettings)
    .crossJoin(policySetVersion);
  if (!row) throw new Error("policy_settings row missing: run the migrations");
  return {
    capability_default_effect: row.settings.capabilityDefaultEffect,
    unknown_skill_cost_cents: row.settings.unknownSkillCostCents,
    policy_version: Number(row.version),
    updated_at: row.settings.updatedAt.toISOString(),
  };
}

const router = createRouter();
for (const resource of RESOURCES) registerResource(router, resource);

export const adminPolicyRoutes = router
  .openapi(readSettings, async (c) => c.json(await settingsResponse(createDb(c.env)), 200))
  .openapi(updateSettings, async (c) => {
    const body = c.req.valid("json");
    if (Object.keys(body).length === 0)
      throw new ApiError("bad_request", "Send at least one field to change");
    const db = createDb(c.env);
    await runChange(() =>
      db.batch([
        actorStatement(db, c),
        db
          .update(policySettings)
          .set({
            capabilityDefaultEffect: body.capability_default_effect,
            unknownSkillCostCents: body.unknown_skill_cost_cents,
            updatedAt: sql`now()`,
          })
          .where(eq(policySettings.id, 1)),
      ]),
    );
    return c.json(await settingsResponse(db), 200);
  });

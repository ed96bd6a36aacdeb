// /api/v1/admin/keys: create, list, read and revoke API keys (admin only).
// The secret is returned once, by create; nothing here ever returns a stored hash.
import { z } from "@hono/zod-openapi";
import { and, desc, eq, isNull, sql } from "drizzle-orm";
import { type KeySummary, newKeyRows, toKeySummary } from "../db/api-keys.ts";
import { createDb } from "../db/client.ts";
import { apiKeys, auditEvents } from "../db/schema.ts";
import { generateApiKey, ROLES } from "../domain/api-keys.ts";
import { APPROVAL_LEVELS, toLevel } from "../domain/vocabulary.ts";
import { forgetKey, KEY_CACHE_TTL_MS, protectedRoute } from "../lib/auth.ts";
import { ApiError, invalidField } from "../lib/errors.ts";
import { createRouter, errorResponse, jsonResponse } from "../lib/openapi.ts";

const identifier = (description: string) =>
  z
    .string()
    .min(1)
    .max(200)
    .regex(/^[\w.@:-]+$/, "use letters, digits and . _ @ : - only")
    .openapi({ description });

const LevelInput = z
  .union([
    z.number().int().min(1).max(5),
    z.enum(Object.keys(APPROVAL_LEVELS) as [keyof typeof APPROVAL_LEVELS]),
  ])
  .openapi({ description: "1–5 or a level name (auto_approve … owner_override)", example: "manual_approve" });

const KeySummarySchema = z
  .object({
    key_id: z.string(),
    name: z.string().nullable(),
    principal_id: z.string(),
    role: z.enum(ROLES),
    max_level: z.number().int(),
    max_level_name: z.string().nullable(),
    tenant_id: z.string().nullable(),
    created_by: z.string(),
    created_at: z.string(),
    revoked_at: z.string().nullable(),
    revoked_by: z.string().nullable(),
    last_used_at: z.string().nullable(),
  })
  .openapi("ApiKey");

const CreatedKeySchema = KeySummarySchema.extend({
  api_key: z.string().openapi({ description: "The key itself. Shown only in this response: store it now." }),
}).openapi("CreatedApiKey");

const CreateKeyBody = z
  .object({
    principal_id: identifier("Who the key acts as: recorded as the approver, requester or actor"),
    role: z.enum(ROLES),
    max_level: LevelInput.optional().openapi({
      description:
        "Highest approval level the key may act at. Required for approvers; agents default to 1, admins to 5.",
    }),
    tenant_id: identifier(
      "Confine the key to one tenant; omit or null for all tenants (not allowed for admins)",
    )
      .nullable()
      .optional(),
    name: z.string().max(200).optional().openapi({ description: "A label for people, e.g. 'ci-agent prod'" }),
  })
  .strict()
  .openapi("CreateApiKey");

const KeyIdParam = z.object({
  key_id: z
    .string()
    .regex(/^[0-9a-f]{16}$/, "a key id is 16 hex characters")
    .openapi({ param: { name: "key_id", in: "path" } }),
});

const ListQuery = z.object({
  role: z.enum(ROLES).optional(),
  tenant_id: z.string().max(200).optional(),
  principal_id: z.string().max(200).optional(),
  include_revoked: z
    .enum(["true", "false"])
    .default("false")
    .transform((value) => value === "true"),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

const createKey = protectedRoute("keys:manage", {
  method: "post",
  path: "/api/v1/admin/keys",
  tags: ["admin"],
  summary: "Create an API key (the secret is shown once)",
  request: { body: { required: true, content: { "application/json": { schema: CreateKeyBody } } } },
  responses: {
    201: jsonResponse(CreatedKeySchema, "The new key, with its secret"),
    400: errorResponse("Invalid body"),
  },
});

const listKeys = protectedRoute("keys:manage", {
  method: "get",
  path: "/api/v1/admin/keys",
  tags: ["admin"],
  summary: "List API keys, newest first",
  request: { query: ListQuery },
  responses: {
    200: jsonResponse(z.array(KeySummarySchema), "Keys (never their secrets)"),
    400: errorResponse("Bad filter"),
  },
});

const getKey = protectedRoute("keys:manage", {
  method: "get",
  path: "/api/v1/admin/keys/{key_id}",
  tags: ["admin"],
  summary: "Read one API key",
  request: { params: KeyIdParam },
  responses: { 200: jsonResponse(KeySummarySchema, "The key"), 404: errorResponse("No such key") },
});

const revokeKey = protectedRoute("keys:manage", {
  method: "delete",
  path: "/api/v1/admin/keys/{key_id}",
  tags: ["admin"],
  summary: "Revoke an API key (idempotent)",
  description: `Takes effect at once on this isolate and within ${KEY_CACHE_TTL_MS / 1000} seconds everywhere (key lookups are cached that long).`,
  request: { params: KeyIdParam },
  responses: { 200: jsonResponse(KeySummarySchema, "The revoked key"), 404: errorResponse("No such key") },
});

export const adminKeyRoutes = createRouter()
  .openapi(createKey, async (c) => {
    const body = c.req.valid("json");
    const principal = c.var.principal;
    const defaultLevel = { agent: 1, admin: 5, approver: undefined }[body.role];
    const maxLevel = body.max_level === undefined ? defaultLevel : toLevel(body.max_level);
    if (maxLevel === undefined) throw invalidField("max_level", "required for role approver");
    if (body.role === "admin" && body.tenant_id) {
      throw invalidField("tenant_id", "admin keys are not tenant-scoped: omit it or send null");
    }
    if (maxLevel > principal.maxLevel) {
      throw new ApiError("forbidden", `Cannot create a key above your own level (${principal.maxLevel})`);
    }

    const generated = await generateApiKey();
    const { key, audit } = newKeyRows(
      {
        principalId: body.principal_id,
        role: body.role,
        maxLevel,
        tenantId: body.tenant_id ?? null,
        name: body.name ?? null,
        createdBy: principal.principalId,
        actorKeyId: principal.keyId,
        requestId: c.var.requestId,
      },
      generated,
    );
    const db = createDb(c.env);
    // One round trip: the key and its audit event commit together or not at all.
    const [[row]] = await db.batch([
      db.insert(apiKeys).values(key).returning(),
      db.insert(auditEvents).values(audit),
    ]);
    if (!row) throw new Error("insert returned no row");
    c.var.log.info("api_key_created", { key_id: row.id, role: row.role, principal_id: row.principalId });
    return c.json({ ...toKeySummary(row), api_key: generated.token }, 201);
  })
  .openapi(listKeys, async (c) => {
    const query = c.req.valid("query");
    const filters = [
      query.role ? eq(apiKeys.role, query.role) : undefined,
      query.tenant_id ? eq(apiKeys.tenantId, query.tenant_id) : undefined,
      query.principal_id ? eq(apiKeys.principalId, query.principal_id) : undefined,
      query.include_revoked ? undefined : isNull(apiKeys.revokedAt),
    ];
    const rows = await createDb(c.env)
      .select()
      .from(apiKeys)
      .where(and(...filters))
      .orderBy(desc(apiKeys.createdAt), desc(apiKeys.id))
      .limit(query.limit)
      .offset(query.offset);
    return c.json(rows.map(toKeySummary), 200);
  })
  .openapi(getKey, async (c) => {
    const { key_id } = c.req.valid("param");
    const [row] = await createDb(c.env).select().from(apiKeys).where(eq(apiKeys.id, key_id));
    if (!row) throw new ApiError("not_found", `No API key ${key_id}`);
    return c.json(toKeySummary(row), 200);
  })
  .openapi(revokeKey, async (c) => {
    const { key_id } = c.req.valid("param");
    const principal = c.var.principal;
    const db = createDb(c.env);
    // One round trip, one transaction: revoke if not yet revoked; audit only a revocation this
    // transaction made (now() is the transaction's start time, so revoked_at = now() identifies it);
    // then read the row as it stands.
    const [, , [row]] = await db.batch([
      db
        .update(apiKeys)
        .set({ revokedAt: sql`now()`, revokedBy: principal.principalId })
        .where(and(eq(apiKeys.id, key_id), isNull(apiKeys.revokedAt))),
      db.execute(sql`
        INSERT INTO ${auditEvents} (actor, actor_key_id, action, target_type, target_id, before, after, request_id)
        SELECT ${principal.principalId}, ${principal.keyId}, 'api_key.revoke', 'api_key', id,
               jsonb_build_object('revoked_at', NULL),
               jsonb_build_object('revoked_at', revoked_at, 'revoked_by', revoked_by),
               ${c.var.requestId}
          FROM ${apiKeys} WHERE id = ${key_id} AND revoked_at = now()`),
      db.select().from(apiKeys).where(eq(apiKeys.id, key_id)),
    ]);
    if (!row) throw new ApiError("not_found", `No API key ${key_id}`);
    forgetKey(key_id);
    c.var.log.info("api_key_revoked", { key_id, by: principal.principalId });
    return c.json(toKeySummary(row) satisfies KeySummary, 200);
  });

// /api/v1/admin/keys: create, list, read and revoke API keys (admin only).
// The secret is returned once, by create; nothing here ever returns a stored hash.
import { z } from "@hono/zod-openapi";
import { KEY_ID_PATTERN } from "../domain/ids.ts";
import { ROLES, toLevel } from "../domain/vocabulary.ts";
import { createRouter, jsonResponse } from "../lib/openapi.ts";
import { protectedRoute } from "../middleware/require-permission.ts";
import { createKey, getKey, KEY_CACHE_TTL_MS, revokeKey, searchKeys } from "../services/keys.ts";
import { Identifier, LevelName } from "./policy-schemas.ts";

const identifier = (description: string) => Identifier.openapi({ description });

const LevelInput = z
  .union([z.number().int().min(1).max(5), LevelName])
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
    agent_ids: z.array(z.string()).nullable(),
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
    agent_ids: z.array(z.string().min(1).max(200)).min(1).max(100).nullable().optional().openapi({
      description:
        'Agent keys only: the agents the key may act for, as exact ids or prefixes ending in * (e.g. "billing-*"); ["*"] for a platform key acting for any agent. Omit it and the key acts only as its own principal.',
    }),
    name: z.string().max(200).optional().openapi({ description: "A label for people, e.g. 'ci-agent prod'" }),
  })
  .strict()
  .openapi("CreateApiKey");

const KeyIdParam = z.object({
  key_id: z
    .string()
    .regex(KEY_ID_PATTERN, "a key id is 16 hex characters")
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

const createKeyRoute = protectedRoute("keys:manage", {
  method: "post",
  path: "/api/v1/admin/keys",
  tags: ["admin"],
  summary: "Create an API key (the secret is shown once)",
  request: { body: { required: true, content: { "application/json": { schema: CreateKeyBody } } } },
  responses: { 201: jsonResponse(CreatedKeySchema, "The new key, with its secret") },
});

const listKeysRoute = protectedRoute("keys:manage", {
  method: "get",
  path: "/api/v1/admin/keys",
  tags: ["admin"],
  summary: "List API keys, newest first",
  request: { query: ListQuery },
  responses: { 200: jsonResponse(z.array(KeySummarySchema), "Keys (never their secrets)") },
});

const getKeyRoute = protectedRoute(
  "keys:manage",
  {
    method: "get",
    path: "/api/v1/admin/keys/{key_id}",
    tags: ["admin"],
    summary: "Read one API key",
    request: { params: KeyIdParam },
    responses: { 200: jsonResponse(KeySummarySchema, "The key") },
  },
  { 404: "No such key" },
);

const revokeKeyRoute = protectedRoute(
  "keys:manage",
  {
    method: "delete",
    path: "/api/v1/admin/keys/{key_id}",
    tags: ["admin"],
    summary: "Revoke an API key (idempotent)",
    description: `Takes effect at once on this isolate and within ${KEY_CACHE_TTL_MS / 1000} seconds everywhere (key lookups are cached that long).`,
    request: { params: KeyIdParam },
    responses: { 200: jsonResponse(KeySummarySchema, "The revoked key") },
  },
  { 404: "No such key" },
);

export const adminKeyRoutes = createRouter()
  .openapi(createKeyRoute, async (c) => {
    const body = c.req.valid("json");
    const created = await createKey(c.var.services, c.var.principal, {
      principalId: body.principal_id,
      role: body.role,
      maxLevel: body.max_level === undefined ? undefined : toLevel(body.max_level),
      tenantId: body.tenant_id ?? null,
      agentIds: body.agent_ids ?? null,
      name: body.name ?? null,
    });
    return c.json(created, 201);
  })
  .openapi(listKeysRoute, async (c) => {
    const query = c.req.valid("query");
    const rows = await searchKeys(
      c.var.services,
      {
        role: query.role,
        tenantId: query.tenant_id,
        principalId: query.principal_id,
        includeRevoked: query.include_revoked,
      },
      query,
    );
    return c.json(rows, 200);
  })
  .openapi(getKeyRoute, async (c) => c.json(await getKey(c.var.services, c.req.valid("param").key_id), 200))
  .openapi(revokeKeyRoute, async (c) => {
    return c.json(await revokeKey(c.var.services, c.var.principal, c.req.valid("param").key_id), 200);
  });

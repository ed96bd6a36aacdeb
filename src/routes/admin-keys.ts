// /api/v1/admin/keys: create, list, read and revoke API keys (admin only).
// The secret is returned once, by create; nothing here ever returns a stored hash.
import { z } from "@hono/zod-openapi";
import { createRouter, jsonResponse } from "../lib/openapi.ts";
import { protectedRoute } from "../middleware/require-permission.ts";
import {
  CreatedKeySchema,
  CreateKeyBody,
  KeyIdParam,
  KeyListQuery,
  KeySummarySchema,
  toKeyFilter,
  toNewKeyCommand,
} from "../schemas/keys.ts";
import { createKey, getKey, KEY_CACHE_TTL_MS, revokeKey, searchKeys } from "../services/keys.ts";

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
  request: { query: KeyListQuery },
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
    const created = await createKey(c.var.services, c.var.principal, toNewKeyCommand(c.req.valid("json")));
    return c.json(created, 201);
  })
  .openapi(listKeysRoute, async (c) => {
    const query = c.req.valid("query");
    return c.json(await searchKeys(c.var.services, toKeyFilter(query), query), 200);
  })
  .openapi(getKeyRoute, async (c) => c.json(await getKey(c.var.services, c.req.valid("param").key_id), 200))
  .openapi(revokeKeyRoute, async (c) => {
    return c.json(await revokeKey(c.var.services, c.var.principal, c.req.valid("param").key_id), 200);
  });

// /api/v1/delegations: a principal away names a delegate for a period (issue 25). Create, list, read
// and revoke; approvers manage their own, admins any in their scope; agents are refused.
import { z } from "@hono/zod-openapi";
import { createRouter, jsonResponse } from "../lib/openapi.ts";
import { protectedRoute } from "../middleware/require-permission.ts";
import {
  CreateDelegationBody,
  DelegationIdParam,
  DelegationListQuery,
  DelegationSchema,
  toDelegationQuery,
  toNewDelegationCommand,
} from "../schemas/delegations.ts";
import {
  createDelegation,
  getDelegation,
  revokeDelegation,
  searchDelegations,
} from "../services/delegations.ts";

const createRoute = protectedRoute(
  "delegations:manage",
  {
    method: "post",
    path: "/api/v1/delegations",
    tags: ["delegations"],
    summary: "Name a delegate for a period (the caller's own principal; admins may name another)",
    request: { body: { required: true, content: { "application/json": { schema: CreateDelegationBody } } } },
    responses: { 201: jsonResponse(DelegationSchema, "The delegation") },
  },
  { 409: "Too many open delegations, or it would make a cycle" },
);

const listRoute = protectedRoute("delegations:manage", {
  method: "get",
  path: "/api/v1/delegations",
  tags: ["delegations"],
  summary: "List delegations: an approver's own (as principal or delegate), an admin's every one",
  request: { query: DelegationListQuery },
  responses: { 200: jsonResponse(z.array(DelegationSchema), "Delegations, newest first") },
});

const getRoute = protectedRoute(
  "delegations:manage",
  {
    method: "get",
    path: "/api/v1/delegations/{id}",
    tags: ["delegations"],
    summary: "Read one delegation",
    request: { params: DelegationIdParam },
    responses: { 200: jsonResponse(DelegationSchema, "The delegation") },
  },
  { 404: "No such delegation (or not one this key may see)" },
);

const revokeRoute = protectedRoute(
  "delegations:manage",
  {
    method: "post",
    path: "/api/v1/delegations/{id}/revoke",
    tags: ["delegations"],
    summary: "Revoke a delegation at once (its principal or an admin; idempotent)",
    request: { params: DelegationIdParam },
    responses: { 200: jsonResponse(DelegationSchema, "The revoked delegation") },
  },
  { 404: "No such delegation (or not one this key may see)" },
);

export const delegationRoutes = createRouter()
  .openapi(createRoute, async (c) => {
    const command = toNewDelegationCommand(c.req.valid("json"));
    return c.json(await createDelegation(c.var.services, c.var.principal, command), 201);
  })
  .openapi(listRoute, async (c) => {
    const query = toDelegationQuery(c.req.valid("query"));
    return c.json(await searchDelegations(c.var.services, c.var.principal, query), 200);
  })
  .openapi(getRoute, async (c) =>
    c.json(await getDelegation(c.var.services, c.var.principal, c.req.valid("param").id), 200),
  )
  .openapi(revokeRoute, async (c) =>
    c.json(await revokeDelegation(c.var.services, c.var.principal, c.req.valid("param").id), 200),
  );

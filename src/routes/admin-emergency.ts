// /api/v1/admin/emergency/...: the runbook's emergency procedures as audited operations, and
// /api/v1/admin/stats: its database queries without psql. Thin: services/emergency.ts does the work.

import { createRouter, jsonResponse } from "../lib/openapi.ts";
import { protectedRoute } from "../middleware/require-permission.ts";
import {
  AutoApproveDisabledSchema,
  AutoApproveRestoredSchema,
  DatabaseStatsSchema,
  ReasonBody,
  StatsQuery,
} from "../schemas/operations.ts";
import { databaseStats, disableAutoApproval, restoreAutoApproval } from "../services/emergency.ts";

const disableRoute = protectedRoute("emergency", {
  method: "post",
  path: "/api/v1/admin/emergency/disable-auto-approve",
  tags: ["admin: emergency"],
  summary: "Raise every approval level below manual_approve to manual_approve, keeping a snapshot to restore",
  request: { body: { required: true, content: { "application/json": { schema: ReasonBody } } } },
  responses: {
    200: jsonResponse(AutoApproveDisabledSchema, "The rows raised, with the level each had"),
  },
});

const restoreRoute = protectedRoute(
  "emergency",
  {
    method: "post",
    path: "/api/v1/admin/emergency/restore-auto-approve",
    tags: ["admin: emergency"],
    summary: "Put back the levels the last disable-auto-approve changed (rows changed since are left alone)",
    request: { body: { required: true, content: { "application/json": { schema: ReasonBody } } } },
    responses: {
      200: jsonResponse(AutoApproveRestoredSchema, "The rows put back"),
    },
  },
  { 409: "Nothing to restore" },
);

const statsRoute = protectedRoute("emergency", {
  method: "get",
  path: "/api/v1/admin/stats",
  tags: ["admin: emergency"],
  summary:
    "The runbook's database queries: status distribution, recent requests with their history, table size, indexes",
  request: { query: StatsQuery },
  responses: { 200: jsonResponse(DatabaseStatsSchema, "The numbers") },
});

export const adminEmergencyRoutes = createRouter()
  .openapi(disableRoute, async (c) =>
    c.json(await disableAutoApproval(c.var.services, c.var.principal, c.req.valid("json").reason), 200),
  )
  .openapi(restoreRoute, async (c) =>
    c.json(await restoreAutoApproval(c.var.services, c.var.principal, c.req.valid("json").reason), 200),
  )
  .openapi(statsRoute, async (c) =>
    c.json(await databaseStats(c.var.services, c.req.valid("query").recent), 200),
  );

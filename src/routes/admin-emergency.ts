// /api/v1/admin/emergency/...: the runbook's emergency procedures as audited operations, and
// /api/v1/admin/stats: its database queries without psql. Thin: services/emergency.ts does the work.
import { z } from "@hono/zod-openapi";
import { createRouter, jsonResponse } from "../lib/openapi.ts";
import { protectedRoute } from "../middleware/require-permission.ts";
import { databaseStats, disableAutoApproval, restoreAutoApproval } from "../services/emergency.ts";
import { ReasonBody } from "./operator-schemas.ts";

const LevelRow = z.object({ id: z.number().int(), approval_level: z.string() });

const disableRoute = protectedRoute("emergency", {
  method: "post",
  path: "/api/v1/admin/emergency/disable-auto-approve",
  tags: ["admin: emergency"],
  summary: "Raise every approval level below manual_approve to manual_approve, keeping a snapshot to restore",
  request: { body: { required: true, content: { "application/json": { schema: ReasonBody } } } },
  responses: {
    200: jsonResponse(
      z.object({ snapshot_id: z.number().int(), changed: z.array(LevelRow) }).openapi("AutoApproveDisabled"),
      "The rows raised, with the level each had",
    ),
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
      200: jsonResponse(
        z
          .object({ snapshot_id: z.number().int(), restored: z.array(LevelRow) })
          .openapi("AutoApproveRestored"),
        "The rows put back",
      ),
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
  request: { query: z.object({ recent: z.coerce.number().int().min(1).max(100).default(10) }) },
  responses: {
    200: jsonResponse(
      z
        .object({
          status_distribution: z.record(z.string(), z.number()),
          recent_requests: z.array(z.record(z.string(), z.unknown())),
          table_size: z.string(),
          indexes: z.array(z.string()),
        })
        .openapi("DatabaseStats"),
      "The numbers",
    ),
  },
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

// POST /api/v1/policy/usage: actual spend reported by the platform, added to the budget ledger.
// Idempotent per tenant and usage_id: a retry returns the recorded entry; the same id with other values is 409.

import { createRouter, jsonResponse } from "../lib/openapi.ts";
import { protectedRoute } from "../middleware/require-permission.ts";
import { toUsageCommand, UsageBody, UsageEntrySchema, usageEntryToApi } from "../schemas/usage.ts";
import { reportUsage } from "../services/usage.ts";

const route = protectedRoute(
  "usage:report",
  {
    method: "post",
    path: "/api/v1/policy/usage",
    tags: ["policy"],
    summary: "Record actual spend against the tenant's budgets",
    request: { body: { required: true, content: { "application/json": { schema: UsageBody } } } },
    responses: {
      201: jsonResponse(UsageEntrySchema, "Recorded"),
      200: jsonResponse(UsageEntrySchema, "Already recorded (a retry)"),
    },
  },
  { 409: "usage_id already recorded with different values" },
);

export const usageRoutes = createRouter().openapi(route, async (c) => {
  const command = toUsageCommand(c.req.valid("json"));
  const { row, created } = await reportUsage(c.var.services, c.var.principal, command);
  return c.json(usageEntryToApi(row), created ? 201 : 200);
});
